"""The training job: validate, read or generate, train per scope, publish atomically.

Exit codes: 0 published; 2 bad arguments or input (nothing trained); 3 at least one
scope failed to train (nothing published); 4 model store unreachable or publish failed
(nothing published); 1 anything unexpected.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import modelstore
import psycopg
from modelstore import versions
from pyspark.sql import functions as F

from .args import Config, UsageError, parse_args
from .model import MEMORY_FIX, StoreSink, train_scopes
from .sources import (
    InputError,
    filter_scopes,
    filter_span,
    model_columns,
    normalize,
    read_source,
    scope_stats,
    synthetic_sales,
)

APP_NAME = "ModelTraining"
RESULT_PREFIX = "TRAINING_RESULT "
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_TRAINING, EXIT_STORE = 0, 1, 2, 3, 4

log = logging.getLogger("training")


MAX_REPORTED = 50  # failed scopes the driver fetches and prints


class TrainingFailed(RuntimeError):
    def __init__(self, failures: dict[str, str], count: int | None = None):
        self.failures = failures
        self.count = count or len(failures)
        super().__init__(f"{self.count} scope(s) failed to train")


class TrainingError(RuntimeError):
    """The training job itself failed (not a scope's fit); the message names the fix."""


def emit_result(result: dict, stream=None) -> None:
    """The one machine-readable line of the job (stdout)."""
    stream = stream or sys.stdout
    stream.write(RESULT_PREFIX + json.dumps(result, sort_keys=True, default=str) + "\n")
    stream.flush()


def package_zip(directory: str | None = None, models: tuple = ()) -> str:
    """A zip of the training and modelstore packages and of the given model packages
    (imported modules), for SparkContext.addPyFile."""
    import training

    roots = [Path(training.__file__).parent, Path(modelstore.__file__).parent]
    roots += [Path(m.__file__).parent for m in models]
    target = Path(directory or tempfile.mkdtemp(prefix="training-pyfiles-")) / "training_app.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for root in roots:
            for path in sorted(root.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    if path.suffix in (".py", ".sql"):
                        zf.write(path, Path(root.name) / path.relative_to(root))
    return str(target)


def check_store(dsn: str) -> None:
    """Reach the store and create its schema, before Spark does any work."""
    with modelstore.connect(dsn) as conn:
        modelstore.ensure_schema(conn)


def load_input(spark, config: Config):
    """(DataFrame of scope, the model's fields and target; sorted list of scopes)."""
    model = config.model
    if config.source.kind == "synthetic":
        df = synthetic_sales(
            spark,
            config.scope_type,
            list(config.scopes),
            config.start,
            config.end,
            seed=config.seed,
        )
        return df, list(config.scopes)

    describe = f"input {config.source.describe()}"
    raw = read_source(spark, config.source)
    rows = normalize(model_columns(raw, model, describe), model)
    date_field = next((f.name for f in model.schema.fields if f.type == "date"), None)
    if date_field:
        rows = filter_span(rows, config.start, config.end, date_field)
    rows = filter_scopes(rows, config.scopes)
    try:
        stats = scope_stats(rows).collect()
    except Exception as exc:  # the read itself failed (corrupt file, bad JDBC table, ...)
        raise InputError(
            f"cannot read {describe}: {str(exc).strip().splitlines()[0][:300]}. Check the "
            "input's format and content"
        ) from exc
    span = (
        f" between {config.start or 'the beginning'} and {config.end or 'the end'}"
        if (config.start or config.end)
        else ""
    )
    present = {r["scope"] for r in stats if r["scope"] is not None and r["rows"]}
    if not present:
        raise InputError(
            f"{describe} has no usable rows{span} for scopes {config.scopes_spec}: check "
            "--start/--end and --scopes against the data"
        )
    if config.scopes is not None:
        absent = [s for s in config.scopes if s not in present]
        if absent:
            shown = ", ".join(absent[:20]) + (" ..." if len(absent) > 20 else "")
            raise InputError(
                f"{len(absent)} requested scope(s) are absent from {describe}{span}: {shown}. "
                "Drop them from --scopes or fix the input"
            )
    unscoped = sum(int(r["rows"]) for r in stats if r["scope"] is None)
    if unscoped:
        log.warning("ignoring %d row(s) without a %s", unscoped, model.scope_column)
    return rows.where("scope IS NOT NULL"), sorted(present)


def executor_dsn(dsn: str) -> str:
    """The store's DSN for the executors: with the password the driver logged in with.

    On the cluster the writer's password is in a file only the driver's container holds
    (PGPASSFILE); the executors get it inside the task (Spark's authenticated RPC), never
    in an environment, a command line or a log."""
    from psycopg.conninfo import make_conninfo

    with modelstore.connect(dsn) as conn:
        password = conn.info.password
    return make_conninfo(modelstore.resolve_dsn(dsn), password=password) if password else dsn


def _job_failure(exc: Exception) -> TrainingError | None:
    """A clear TrainingError for what Spark reports when an executor ran out of memory or
    its Python worker died; None for anything else."""
    text = str(exc)
    if "OutOfMemoryError" in text or "MemoryError" in text:
        what = "an executor ran out of memory"
    elif "Python worker exited unexpectedly" in text or "exited with code 137" in text:
        what = "a Python worker died (killed for memory, most likely)"
    else:
        return None
    return TrainingError(
        f"{what} while training: one scope's rows or fitted model do not fit in an "
        f"executor's memory. Fix: {MEMORY_FIX}"
    )


def run(spark, config: Config, started: float | None = None) -> dict:
    """Train and publish; returns the result dict. Raises InputError, TrainingFailed,
    TrainingError, modelstore.StoreError.

    The version is staged first; the executors write each fitted object into it as they
    train; it becomes visible only once every scope is in, and is removed on any failure.
    The driver holds counts, never the fitted objects."""
    started = started or time.monotonic()
    model = config.model
    rows, scopes = load_input(spark, config)
    parallelism = spark.sparkContext.defaultParallelism
    partitions = config.partitions or max(1, min(len(scopes), parallelism * 3))
    log.info(
        "training model %s: %d %s scope(s) from %s in %d partition(s)",
        model.name,
        len(scopes),
        config.scope_type,
        config.source.describe(),
        partitions,
    )
    import sklearn

    params = {
        "model": model.name,
        "description": model.description,
        "input_schema": model.schema.describe(),
        "target": model.target,
        "params": config.params,
        "scope_type": config.scope_type,
        "scopes": config.scopes_spec,
        "source": config.source.describe(),
        "start": config.start.isoformat() if config.start else None,
        "end": config.end.isoformat() if config.end else None,
        "seed": config.seed if config.source.kind == "synthetic" else None,
        "sklearn_version": sklearn.__version__,
        "spark_version": spark.version,
        "spark_app_id": spark.sparkContext.applicationId,
    }
    version_id = modelstore.stage_version(config.store_dsn, params, model=model.name)
    sink = StoreSink(executor_dsn(config.store_dsn), version_id)
    published = False
    try:
        results = train_scopes(rows, model.name, config.params, partitions, sink).persist()
        try:
            totals = results.agg(
                F.count(F.when(F.col("error").isNull(), 1)).alias("trained"),
                F.count(F.col("error")).alias("failed"),
                F.sum(F.when(F.col("error").isNull(), F.col("rows"))).alias("rows"),
                F.sum("invalid").alias("invalid"),
                F.sum("stored_bytes").alias("stored_bytes"),
            ).first()
        except Exception as exc:  # a Spark job failure (Py4JJavaError and the like)
            failure = _job_failure(exc)
            if failure is None:
                raise
            raise failure from exc
        failures = {}
        if totals["failed"]:
            failures = {
                r["scope"]: r["error"]
                for r in results.where("error IS NOT NULL").limit(MAX_REPORTED).collect()
            }
        elif totals["trained"] != len(scopes):
            trained = {r["scope"] for r in results.select("scope").collect()}
            failures = {s: "no rows reached training" for s in scopes if s not in trained}
        results.unpersist()
        if failures:
            raise TrainingFailed(failures, int(totals["failed"]) or len(failures))
        invalid = int(totals["invalid"] or 0)
        if invalid:
            log.warning("ignored %d row(s) that break the schema of model %s", invalid, model.name)
        modelstore.publish_staged(
            config.store_dsn,
            version_id,
            model=model.name,
            keep=config.keep_versions,
            expected_scopes=len(scopes),
            summary_of=model.summary or None,
            params={**params, "scope_count": len(scopes), "rows": int(totals["rows"] or 0),
                    "invalid_rows": invalid},
        )  # fmt: skip
        published = True
    finally:
        if not published:
            _discard(config.store_dsn, version_id)
    decision = versions.gate(config.store_dsn, model.name, version_id, config.gate,
                             force=config.force, by=config.moved_by)  # fmt: skip
    log.info("version %s of model %s is %s: %s", version_id, model.name, decision["alias"],
             decision["reason"])  # fmt: skip
    info = modelstore.latest_version(config.store_dsn, model.name)
    summary = info.metrics if info is not None and info.id == version_id else {}
    return {
        "status": "ok",
        "model": model.name,
        "version_id": version_id,
        "scope_type": config.scope_type,
        "scope_count": len(scopes),
        "rows": int(totals["rows"] or 0),
        "invalid_rows": invalid,
        "stored_bytes": int(totals["stored_bytes"] or 0),
        "alias": decision["alias"],
        "gate": decision,
        "metrics": summary,
        "seconds": round(time.monotonic() - started, 3),
    }


def _discard(dsn: str, version_id: int) -> None:
    """Remove a staged version after a failed run; a store that is down now leaves it to
    the next publish (STALE_STAGED_HOURS)."""
    try:
        modelstore.discard_version(dsn, version_id)
    except Exception as exc:
        log.warning("could not remove staged version %s: %s", version_id, exc)


def _configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=os.environ.get("TRAINING_LOG_LEVEL", "INFO"),
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )


def main(argv: list[str] | None = None, spark=None) -> int:
    """Entry point. Builds (and stops) its own SparkSession unless one is given."""
    started = time.monotonic()
    _configure_logging()
    try:
        config = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        check_store(config.store_dsn)
    except (modelstore.StoreError, OSError) as exc:
        print(
            f"train.py: error: model store: {exc}. Check --store-dsn/MODEL_STORE_DSN "
            "and that the store is up",
            file=sys.stderr,
        )
        return EXIT_STORE
    except psycopg.Error as exc:  # permissions, ...
        print(f"train.py: error: model store: {exc}", file=sys.stderr)
        return EXIT_STORE

    own_session = spark is None
    if own_session:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.appName(APP_NAME).getOrCreate()
        spark.sparkContext.setLogLevel(os.environ.get("TRAINING_SPARK_LOG_LEVEL", "WARN"))
    workdir = tempfile.TemporaryDirectory(prefix="training-pyfiles-")
    try:
        if config.ship_code if config.ship_code is not None else own_session:
            spark.sparkContext.addPyFile(package_zip(workdir.name, (config.model.module,)))
        result = run(spark, config, started)
    except InputError as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TrainingFailed as exc:
        for scope, error in sorted(exc.failures.items()):
            print(f"train.py: scope {scope} failed: {error}", file=sys.stderr)
        if exc.count > len(exc.failures):
            print(f"train.py: ... and {exc.count - len(exc.failures)} more", file=sys.stderr)
        print(f"train.py: error: {exc}; nothing was published", file=sys.stderr)
        emit_result(
            {
                "status": "failed",
                "failed_scopes": sorted(exc.failures),
                "model": config.model.name,
                "scope_type": config.scope_type,
                "seconds": round(time.monotonic() - started, 3),
            }
        )
        return EXIT_TRAINING
    except TrainingError as exc:
        print(f"train.py: error: {exc}; nothing was published", file=sys.stderr)
        return EXIT_TRAINING
    except modelstore.StoreError as exc:
        print(f"train.py: error: model store: {exc}; nothing was published", file=sys.stderr)
        return EXIT_STORE
    except psycopg.Error as exc:
        print(f"train.py: error: publishing failed: {exc}; nothing was published", file=sys.stderr)
        return EXIT_STORE
    finally:
        if own_session:
            spark.stop()
        workdir.cleanup()
    emit_result(result)
    return EXIT_OK
