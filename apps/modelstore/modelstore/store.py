"""PostgreSQL model store: versioned, atomically published per-scope models.

A *version* is one training run of one model (a package of the models directory, see
``contract``): its parameters, its summary metrics and one fitted object per scope.
Readers only look at published versions, so they see a complete version or nothing:

- a training run *stages* a version (``stage_version``: an unpublished row), its
  executors write the scope rows in batches as they fit them (``write_scopes``, from any
  process, idempotent so a retried task rewrites its rows), and the driver makes the
  whole version visible at once (``publish_staged``) or removes it (``discard_version``);
- ``publish_version`` does the three in one transaction (small versions, tests).

Publishing then prunes old versions so that at most ``keep`` published versions of that
model remain (in a transaction of its own: readers never wait for it).

Serving reads a version's metadata (``latest_versions``) and loads the scopes it needs
when it needs them (``load_scopes``, one query for any number of scopes); ``list_scopes``
pages through a version's scopes.

Models are stored as joblib pickles, zlib-compressed (``dumps_model``). Unpickling runs
code: only point readers at a store that only trusted writers (the training job) can
write to.

The DSN comes from the ``dsn`` argument or else from the ``MODEL_STORE_DSN`` environment
variable (any libpq connection string or URI).
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from importlib import resources
from typing import Any, NamedTuple

import joblib
import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

DSN_ENV = "MODEL_STORE_DSN"
DEFAULT_KEEP = 5
CONNECT_TIMEOUT = 5
# zlib level of the stored pickles (fitted arrays of floats shrink by a third to a half;
# level 1 costs about as much CPU as the pickling itself). joblib.load detects it.
COMPRESS_LEVEL = 1
# A staged version older than this (its run died without discarding it) is removed by
# the next publish of that model.
STALE_STAGED_HOURS = 24

# Arbitrary but fixed keys for pg_advisory_xact_lock: serialise schema creation and
# publishers (so version ids are ordered like commits and pruning never races).
_SCHEMA_LOCK = 0x6D6F64656C01
_PUBLISH_LOCK = 0x6D6F64656C02


class StoreError(Exception):
    """Base class of the model store's errors."""


class StoreConfigError(StoreError):
    """The store is not configured (no DSN)."""


class StoreUnavailable(StoreError):
    """The store could not be reached or did not answer."""


class VersionNotFound(StoreError):
    """No published version with that id."""


class VersionInfo(NamedTuple):
    id: int
    created: datetime
    params: dict
    metrics: dict
    model: str = ""
    scope_count: int = 0


def resolve_dsn(dsn: str | None = None) -> str:
    """The DSN to use: the argument, else $MODEL_STORE_DSN."""
    value = dsn if dsn else os.environ.get(DSN_ENV, "")
    if not value:
        raise StoreConfigError(
            f"no model store DSN: pass one (e.g. --store-dsn) or set {DSN_ENV}, "
            "e.g. postgresql://user:password@host:5432/modelstore"
        )
    return value


def connect(dsn: str | None = None, *, connect_timeout: int = CONNECT_TIMEOUT):
    """A new psycopg connection to the store; StoreUnavailable when it cannot connect."""
    target = resolve_dsn(dsn)
    try:
        return psycopg.connect(target, connect_timeout=connect_timeout)
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"cannot connect to the model store: {_first_line(exc)}") from exc


def schema_sql() -> str:
    """The text of schema.sql (idempotent DDL)."""
    return resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")


def ensure_schema(conn) -> None:
    """Create the store's tables if they do not exist (idempotent, concurrency safe)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        conn.execute(schema_sql())


def dumps_model(model: Any, compress: int = COMPRESS_LEVEL) -> bytes:
    """Serialise a model with joblib (zlib at ``compress``; 0: plain pickle)."""
    buf = io.BytesIO()
    joblib.dump(model, buf, compress=("zlib", compress) if compress else 0)
    return buf.getvalue()


def loads_model(data: bytes | memoryview) -> Any:
    """Inverse of dumps_model."""
    return joblib.load(io.BytesIO(bytes(data)))


def json_safe(value: Any) -> Any:
    """Plain JSON types: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def summarize_metrics(per_scope: Iterable[Mapping[str, Any]]) -> dict:
    """``{name_mean, name_max}`` over every numeric metric of the scopes."""
    values: dict[str, list[float]] = {}
    for metrics in per_scope:
        for name, value in (metrics or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isfinite(value):
                values.setdefault(name, []).append(float(value))
    summary: dict[str, float] = {}
    for name in sorted(values):
        vals = values[name]
        summary[f"{name}_mean"] = sum(vals) / len(vals)
        summary[f"{name}_max"] = max(vals)
    return summary


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(json_safe(value or {}), dumps=lambda obj: json.dumps(obj, allow_nan=False))


def _model_bytes(model: Any) -> bytes:
    if isinstance(model, bytes | bytearray | memoryview):
        return bytes(model)
    return dumps_model(model)


def _check_model_name(model: Any) -> None:
    if not isinstance(model, str) or not model:
        raise ValueError(f"a version needs the name of its model, got {model!r}")


def _check_keep(keep: Any) -> int:
    if keep is None or int(keep) < 1:
        raise ValueError(f"keep must be at least 1, got {keep!r}")
    return int(keep)


def _insert_version(conn, model: str, params: Mapping[str, Any]) -> int:
    row = conn.execute(
        "INSERT INTO model_versions (model, params) VALUES (%s, %s) RETURNING id",
        (model, _jsonb(params)),
    ).fetchone()
    return int(row[0])


def _write_rows(conn, version_id: int, rows: Iterable[tuple[Any, Any, Mapping | None]]) -> int:
    """Upsert scope rows (scope, model or its bytes, metrics) of one version; returns
    how many were written. A scope written again (a retried task) replaces its row."""
    rows = list(rows)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO scope_models (version_id, scope, model, metrics) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (version_id, scope) DO UPDATE"
            " SET model = EXCLUDED.model, metrics = EXCLUDED.metrics",
            [
                (version_id, str(scope), _model_bytes(fitted), _jsonb(metrics))
                for scope, fitted, metrics in rows
            ],
        )
    return len(rows)


def _make_visible(
    conn, version_id: int, model: str, summary: Mapping[str, Any] | None, names=None
) -> int:
    """Flip ``published`` on a staged version (in the caller's transaction); returns its
    scope count. The summary defaults to the mean/max of its scopes' numeric metrics
    (those in ``names`` only, when given), computed by the store."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PUBLISH_LOCK,))
    found = conn.execute(
        "SELECT model, published FROM model_versions WHERE id = %s FOR UPDATE", (version_id,)
    ).fetchone()
    if found is None or found[0] != model:
        raise VersionNotFound(f"no staged version {version_id} of model {model!r}")
    if found[1]:
        raise ValueError(f"version {version_id} of model {model!r} is published already")
    count = conn.execute(
        "SELECT count(*) FROM scope_models WHERE version_id = %s", (version_id,)
    ).fetchone()[0]
    if not count:
        raise ValueError("a version needs at least one scope model; got none")
    if summary is None:
        # summarize_metrics in SQL: a million scopes' metrics never leave the store.
        summary = {}
        for key, mean, top in conn.execute(
            "SELECT m.key, avg(m.value::float8), max(m.value::float8)"
            " FROM scope_models s, jsonb_each(s.metrics) m"
            " WHERE s.version_id = %s AND jsonb_typeof(m.value) = 'number'"
            " GROUP BY m.key ORDER BY m.key",
            (version_id,),
        ):
            if names is None or key in names:
                summary[f"{key}_mean"], summary[f"{key}_max"] = float(mean), float(top)
    conn.execute(
        "UPDATE model_versions SET metrics = %s, scope_count = %s, published = true,"
        " published_at = now() WHERE id = %s",
        (_jsonb(summary), int(count), version_id),
    )
    return int(count)


def _prune(dsn: str | None, model: str, keep: int) -> None:
    """Remove published versions of ``model`` beyond the newest ``keep`` (aliased versions
    and the last production ones aside), and staged ones older than STALE_STAGED_HOURS.
    A transaction of its own, after the publish: readers never wait for it (a reader in
    the middle of a pruned version keeps its snapshot)."""
    with connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PUBLISH_LOCK,))
        from .versions import production_versions

        # Never a version an alias points to, nor one of the last production versions;
        # `keep` counts the others.
        kept = production_versions(conn, model)
        conn.execute(
            "DELETE FROM model_versions WHERE model = %s AND id IN ("
            " SELECT id FROM model_versions v WHERE published AND model = %s"
            " AND NOT (id = ANY(%s))"
            " AND NOT EXISTS (SELECT 1 FROM model_aliases a WHERE a.version_id = v.id)"
            " ORDER BY id DESC OFFSET %s)"
            " OR (model = %s AND NOT published"
            "     AND created < now() - make_interval(hours => %s))",
            (model, model, kept, keep, model, STALE_STAGED_HOURS),
        )


def stage_version(dsn: str | None, params: Mapping[str, Any], *, model: str) -> int:
    """A new, unpublished version of ``model`` (its id): ``write_scopes`` fills it,
    ``publish_staged`` makes it visible, ``discard_version`` removes it."""
    _check_model_name(model)
    with connect(dsn) as conn:
        ensure_schema(conn)
        with conn.transaction():
            return _insert_version(conn, model, params)


def write_scopes(
    dsn: str | None, version_id: int, rows: Iterable[tuple[Any, Any, Mapping | None]], conn=None
) -> int:
    """Write scope rows ``(scope, model or its bytes, metrics)`` into a staged version, in
    one transaction (an executor calls it once per batch). Idempotent per scope. Pass an
    open ``conn`` to reuse it across batches. Returns the number of rows written."""
    rows = list(rows)
    if not rows:
        return 0
    if conn is not None:
        with conn.transaction():
            return _write_rows(conn, version_id, rows)
    with connect(dsn) as own, own.transaction():
        return _write_rows(own, version_id, rows)


def publish_staged(
    dsn: str | None,
    version_id: int,
    *,
    model: str,
    keep: int = DEFAULT_KEEP,
    metrics: Mapping[str, Any] | None = None,
    expected_scopes: int | None = None,
    summary_of=None,
    params: Mapping[str, Any] | None = None,
) -> int:
    """Make a staged version visible at once, then prune. With ``expected_scopes``, a
    version that holds another number of scopes is refused (nothing becomes visible).
    ``metrics`` (summary) defaults to the mean and max of the scopes' numeric metrics
    (of the names in ``summary_of`` only, when given); ``params`` replace the staged
    ones (what the run learnt while training: rows, counts). Returns the version id."""
    _check_model_name(model)
    keep = _check_keep(keep)
    with connect(dsn) as conn, conn.transaction():
        if params is not None:
            conn.execute(
                "UPDATE model_versions SET params = %s WHERE id = %s AND NOT published",
                (_jsonb(params), version_id),
            )
        count = _make_visible(conn, version_id, model, metrics, summary_of)
        if expected_scopes is not None and count != int(expected_scopes):
            raise ValueError(
                f"version {version_id} holds {count} scope models, the run trained "
                f"{expected_scopes}: not published"
            )
    _prune(dsn, model, keep)
    return version_id


def discard_version(dsn: str | None, version_id: int) -> None:
    """Remove a staged (unpublished) version and its rows; a published one is kept."""
    with connect(dsn) as conn, conn.transaction():
        conn.execute("DELETE FROM model_versions WHERE id = %s AND NOT published", (version_id,))


def publish_version(
    dsn: str | None,
    params: Mapping[str, Any],
    models: Mapping[Any, tuple[Any, Mapping[str, Any]]],
    keep: int = DEFAULT_KEEP,
    metrics: Mapping[str, Any] | None = None,
    *,
    model: str,
    alias: str | None = None,
) -> int:
    """Stage, write and publish a version of ``model`` in ONE transaction (pointing
    ``alias`` at it, a move by command, when given), then prune that model to its newest
    ``keep`` versions; returns the version id.

    ``models`` maps scope -> (model or its bytes, per-scope metrics). ``metrics``
    (summary) defaults to the mean and max of every numeric per-scope metric. On any
    error nothing is visible and the store is unchanged.
    """
    _check_model_name(model)
    keep = _check_keep(keep)
    keys = [str(scope) for scope in models]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"scope {dup!r} appears twice in the models")
    with connect(dsn) as conn:
        ensure_schema(conn)
        with conn.transaction():
            version_id = _insert_version(conn, model, params)
            _write_rows(conn, version_id, ((s, f, m) for s, (f, m) in models.items()))
            _make_visible(conn, version_id, model, metrics)
            if alias:
                from .versions import set_alias

                set_alias(None, model, alias, version_id, by="command", why="publish_version",
                          conn=conn)  # fmt: skip
    _prune(dsn, model, keep)
    return version_id


def _readonly_query(dsn: str | None, query: str, args: tuple = ()) -> list[tuple]:
    """Rows of a read query; [] when the schema does not exist yet."""
    with connect(dsn) as conn:
        try:
            return conn.execute(query, args).fetchall()
        except pg_errors.UndefinedTable:
            return []
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"model store query failed: {_first_line(exc)}") from exc


def latest_version(dsn: str | None = None, model: str | None = None) -> VersionInfo | None:
    """The newest published version of ``model`` (of any model when None), or None."""
    rows = _readonly_query(
        dsn,
        "SELECT id, created, params, metrics, model, scope_count FROM model_versions"
        " WHERE published AND (%s::text IS NULL OR model = %s) ORDER BY id DESC LIMIT 1",
        (model, model),
    )
    if not rows:
        return None
    vid, created, params, metrics, name, count = rows[0]
    return VersionInfo(int(vid), created, params or {}, metrics or {}, name, int(count))


def latest_versions(dsn: str | None = None) -> dict[str, VersionInfo]:
    """{model: its newest published version}, in one query (what serving polls)."""
    rows = _readonly_query(
        dsn,
        "SELECT DISTINCT ON (model) id, created, params, metrics, model, scope_count"
        " FROM model_versions WHERE published ORDER BY model, id DESC",
    )
    return {
        r[4]: VersionInfo(int(r[0]), r[1], r[2] or {}, r[3] or {}, r[4], int(r[5])) for r in rows
    }


def served_versions(dsn: str | None = None) -> dict[str, dict[str, VersionInfo]]:
    """{model: {alias: version}}, what serving polls (one query): every alias of every
    model, ``production`` being the newest published version of a model that has no
    production alias yet (or of every model in a store from before aliases)."""
    columns = "v.id, v.created, v.params, v.metrics, v.model, v.scope_count"
    rows = _readonly_query(
        dsn,
        f"SELECT a.alias, {columns} FROM model_aliases a"
        " JOIN model_versions v ON v.id = a.version_id AND v.published"
        f" UNION ALL (SELECT DISTINCT ON (v.model) 'production', {columns}"
        " FROM model_versions v WHERE v.published AND NOT EXISTS (SELECT 1 FROM model_aliases"
        " a WHERE a.model = v.model AND a.alias = 'production') ORDER BY v.model, v.id DESC)",
    )
    if not rows:  # no alias table yet (or nothing published): the newest versions
        return {name: {"production": info} for name, info in latest_versions(dsn).items()}
    out: dict[str, dict[str, VersionInfo]] = {}
    for alias, vid, created, params, metrics, model, count in rows:
        info = VersionInfo(int(vid), created, params or {}, metrics or {}, model, int(count))
        out.setdefault(model, {})[alias] = info
    return out


def version_info(dsn: str | None, model: str, version_id: int) -> VersionInfo | None:
    """One published version of ``model``, or None (never published, or pruned)."""
    rows = _readonly_query(
        dsn,
        "SELECT id, created, params, metrics, model, scope_count FROM model_versions"
        " WHERE published AND model = %s AND id = %s",
        (model, int(version_id)),
    )
    if not rows:
        return None
    vid, created, params, metrics, name, count = rows[0]
    return VersionInfo(int(vid), created, params or {}, metrics or {}, name, int(count))


def log_predictions(conn, entries: list[dict], keep_rows: int) -> int:
    """Append entries ({model, version, alias, scope, input, output, backend}) to the
    prediction log through the store's log_predictions function (what the read-only role
    may call), keeping its newest ``keep_rows``; returns the rows added."""
    row = conn.execute(
        "SELECT log_predictions(%s::jsonb, %s)", (json.dumps(json_safe(entries)), keep_rows)
    ).fetchone()
    return int(row[0])


def read_prediction_log(dsn: str | None = None, model: str | None = None, since=None,
                        limit: int = 100_000):  # fmt: skip
    """The prediction log (newest ``limit`` rows, oldest first) as a pandas DataFrame:
    logged_at, model, version_id, alias, scope, input and output (dicts, as logged).
    ``since``: a datetime or an ISO string. For a notebook or a training run:
    ``modelstore.read_prediction_log(model="sales_forecast")``."""
    import pandas as pd

    rows = _readonly_query(
        dsn,
        "SELECT * FROM (SELECT id, logged_at, model, version_id, alias, scope, input, output,"
        " backend FROM prediction_log WHERE (%s::text IS NULL OR model = %s)"
        " AND (%s::timestamptz IS NULL OR logged_at >= %s::timestamptz)"
        " ORDER BY id DESC LIMIT %s) p ORDER BY id",
        (model, model, since, since, int(limit)),
    )
    columns = ["id", "logged_at", "model", "version_id", "alias", "scope", "input", "output",
               "backend"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns).drop(columns="id")


def list_versions(dsn: str | None = None, model: str | None = None) -> list[dict]:
    """Published versions (of ``model``, or of all), newest first: id, model, created,
    scope_count, params, metrics."""
    rows = _readonly_query(
        dsn,
        "SELECT id, model, created, scope_count, params, metrics FROM model_versions"
        " WHERE published AND (%s::text IS NULL OR model = %s) ORDER BY id DESC",
        (model, model),
    )
    return [
        {"id": int(r[0]), "model": r[1], "created": r[2], "scope_count": r[3],
         "params": r[4], "metrics": r[5]}
        for r in rows
    ]  # fmt: skip


def _published_rows(
    dsn: str | None, version_id: int, columns: str, clause: str = "ORDER BY scope", args=()
) -> list[tuple]:
    """Rows of scope_models of a published version; VersionNotFound if there is none."""
    with connect(dsn) as conn:
        try:
            # One snapshot for the check and the rows (pruning may run concurrently).
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                found = conn.execute(
                    "SELECT 1 FROM model_versions WHERE id = %s AND published", (version_id,)
                ).fetchone()
                rows = (
                    conn.execute(
                        f"SELECT {columns} FROM scope_models WHERE version_id = %s {clause}",
                        (version_id, *args),
                    ).fetchall()
                    if found
                    else []
                )
        except pg_errors.UndefinedTable:
            found, rows = None, []
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"model store query failed: {_first_line(exc)}") from exc
    if not found:
        raise VersionNotFound(f"model version {version_id} is not published (or was pruned)")
    return rows


def load_version_rows(dsn: str | None, version_id: int) -> dict[str, tuple[bytes, dict]]:
    """{scope: (model_bytes, metrics)} of a published version; VersionNotFound if none."""
    rows = _published_rows(dsn, version_id, "scope, model, metrics")
    return {scope: (bytes(model), metrics or {}) for scope, model, metrics in rows}


def load_version(dsn: str | None, version_id: int) -> dict[str, Any]:
    """{scope: model} of a published version (models unpickled)."""
    rows = _published_rows(dsn, version_id, "scope, model")
    return {scope: loads_model(model) for scope, model in rows}


def load_scope_metrics(dsn: str | None, version_id: int) -> dict[str, dict]:
    """{scope: metrics} of a published version."""
    rows = _published_rows(dsn, version_id, "scope, metrics")
    return {scope: metrics or {} for scope, metrics in rows}


def load_scopes(
    dsn: str | None, version_id: int, scopes: Iterable[str], conn=None
) -> dict[str, bytes]:
    """{scope: model bytes} of the given scopes of a published version, in one query
    (a scope the version lacks is absent from the answer). VersionNotFound when the
    version is not published (pruned); StoreUnavailable when the store does not answer.
    Pass an open ``conn`` (autocommit) to reuse it: what serving does on a cache miss."""
    wanted = sorted({str(s) for s in scopes})
    query = (
        "SELECT s.scope, s.model FROM model_versions v"
        " JOIN scope_models s ON s.version_id = v.id"
        " WHERE v.id = %s AND v.published AND s.scope = ANY(%s)"
    )
    try:
        if conn is None:
            with connect(dsn) as own:
                rows = own.execute(query, (version_id, wanted)).fetchall()
                found = rows or _is_published(own, version_id)
        else:
            rows = conn.execute(query, (version_id, wanted)).fetchall()
            found = rows or _is_published(conn, version_id)
    except pg_errors.UndefinedTable:
        rows, found = [], False
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"model store query failed: {_first_line(exc)}") from exc
    if not found:
        raise VersionNotFound(f"model version {version_id} is not published (or was pruned)")
    return {scope: bytes(model) for scope, model in rows}


def _is_published(conn, version_id: int) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM model_versions WHERE id = %s AND published", (version_id,)
        ).fetchone()
    )


def list_scopes(
    dsn: str | None, version_id: int, after: str | None = None, limit: int = 100
) -> list[tuple[str, dict]]:
    """One page of a published version's scopes, in the store's order (text): up to
    ``limit`` (scope, metrics) after the scope ``after``. VersionNotFound if none."""
    rows = _published_rows(
        dsn,
        version_id,
        "scope, metrics",
        "AND (%s::text IS NULL OR scope > %s) ORDER BY scope LIMIT %s",
        (after, after, int(limit)),
    )
    return [(scope, metrics or {}) for scope, metrics in rows]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
