"""Any model of the contract, one per scope, in parallel on the executors.

The rows are hash-partitioned by scope and sorted, and each Spark task (``train_partition``,
the body of ``mapInPandas``) walks its partition one scope at a time: it checks the
scope's rows against the model's schema, calls the package's ``fit`` through the
contract's wrapper, and hands the fitted object to a ``sink``. The store's sink
(``StoreSink``) writes the objects into the run's staged version in batches over one
connection per task, so fitted models go from the executors to the store and never
through the driver: what a task returns is one small row per scope (counts, metrics,
the stored size, or the error).
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from modelstore import contract
from modelstore.store import connect, dumps_model, json_safe, write_scopes
from pyspark.sql import DataFrame

RESULT_SCHEMA = (
    "scope string, rows long, invalid long, stored_bytes long, metrics string, error string"
)
# What the executors' memory is raised with (named in the errors that need it).
MEMORY_FIX = (
    "raise the executors' memory: train_spark_submit_args: ['--executor-memory', '4g'] "
    "(at most spark_worker_memory_mb), or give the scope less data"
)


def train_scope(model: contract.Model, pdf: pd.DataFrame, params: dict) -> dict:
    """Validate one scope's rows with the schema, fit (plain pandas)."""
    rows, invalid, problem = model.schema.clean_frame(pdf, model.target)
    if rows.empty:
        raise ValueError(
            f"none of its {len(pdf)} rows passes the schema of model '{model.name}'"
            + (f" (first problem: {problem})" if problem else "")
        )
    fitted, metrics = model.fit_scope(rows, params)
    return {"model": fitted, "metrics": metrics, "rows": len(rows), "invalid": invalid}


def _error_text(exc: BaseException) -> str:
    detail = str(exc) or exc.__class__.__name__
    if isinstance(exc, MemoryError):
        return f"out of memory ({detail}) fitting or serialising this scope: {MEMORY_FIX}"
    if not isinstance(exc, ValueError):
        detail += "\n" + traceback.format_exc(limit=5)
    return detail


def train_one(model: contract.Model, scope: str, pdf: pd.DataFrame, params: dict, sink) -> dict:
    """One scope: fit, serialise, hand to the sink. Errors are returned, not raised.

    Returning the error (instead of failing the Spark task, which would be retried and
    then abort the job with a Java stack trace) lets the driver name every failed scope.
    """
    try:
        result = train_scope(model, pdf, params)
        data = dumps_model(result["model"])
        metrics = json_safe(result["metrics"])
        sink.add(scope, data, metrics)
        row = dict(rows=result["rows"], invalid=result["invalid"], stored_bytes=len(data),
                   metrics=json.dumps(metrics), error=None)  # fmt: skip
    except Exception as exc:  # reported per scope to the driver (MemoryError included)
        row = dict(rows=len(pdf), invalid=0, stored_bytes=0, metrics=None, error=_error_text(exc))
    return {"scope": scope, **row}


def _scopes_of(batches: Iterator[pd.DataFrame]) -> Iterator[tuple[str, pd.DataFrame]]:
    """(scope, its rows) of a partition sorted by scope, whatever the Arrow batches."""
    carry: pd.DataFrame | None = None
    for pdf in batches:
        if pdf.empty:
            continue
        if carry is not None:
            pdf = pd.concat([carry, pdf], ignore_index=True)
        keys = pdf["scope"].to_numpy()
        # Sorted rows: each scope is one run; the last may go on in the next batch.
        starts = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist()]
        for begin, end in zip(starts[:-1], starts[1:], strict=True):
            yield str(keys[begin]), pdf.iloc[begin:end].reset_index(drop=True)
        carry = pdf.iloc[starts[-1] :].reset_index(drop=True)
    if carry is not None and len(carry):
        yield str(carry["scope"].iloc[0]), carry


def train_partition(
    batches: Iterator[pd.DataFrame], model_name: str, params: dict, sink_factory: Callable
) -> Iterator[pd.DataFrame]:
    """mapInPandas body: every scope of the partition, one small result row each."""
    model = contract.load(model_name)
    out: list[dict] = []
    with sink_factory() as sink:
        for scope, pdf in _scopes_of(batches):
            out.append(train_one(model, scope, pdf, params, sink))
            if len(out) >= 1000:
                sink.flush()  # what is reported as trained is stored
                yield pd.DataFrame(out)
                out = []
        sink.flush()
    if out:
        yield pd.DataFrame(out)


@dataclass
class StoreSink:
    """Writes fitted objects into a staged version, in batches, over one connection per
    task. A batch is written when it holds ``batch_bytes`` or ``batch_scopes``."""

    dsn: str = field(repr=False)
    version_id: int
    batch_bytes: int = 8 * 1024 * 1024
    batch_scopes: int = 500

    def __post_init__(self):
        self._rows: list[tuple] = []
        self._size = 0
        self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._conn is not None:
            self._conn.close()
        return False

    def __call__(self):
        """A fresh sink for one task (the factory mapInPandas calls)."""
        return StoreSink(self.dsn, self.version_id, self.batch_bytes, self.batch_scopes)

    def add(self, scope: str, data: bytes, metrics: dict) -> None:
        self._rows.append((scope, data, metrics))
        self._size += len(data)
        if self._size >= self.batch_bytes or len(self._rows) >= self.batch_scopes:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        if self._conn is None:
            self._conn = connect(self.dsn)
        write_scopes(None, self.version_id, self._rows, conn=self._conn)
        self._rows, self._size = [], 0


def train_scopes(rows: DataFrame, model_name: str, params: dict, partitions: int,
                 sink: Callable) -> DataFrame:  # fmt: skip
    """DataFrame of (scope, fields..., target) -> one row per scope: rows, invalid rows,
    stored size, metrics (JSON) or error; the fitted objects go to ``sink``.

    The rows are hash-partitioned by scope into ``partitions`` partitions (an explicit
    count, so adaptive execution does not merge the small-but-costly scopes into one
    task) and sorted by scope within each, so a task sees one scope after the other.
    """
    body = partial(train_partition, model_name=model_name, params=params, sink_factory=sink)
    return (
        rows.repartition(partitions, "scope")
        .sortWithinPartitions("scope")
        .mapInPandas(body, schema=RESULT_SCHEMA)
    )
