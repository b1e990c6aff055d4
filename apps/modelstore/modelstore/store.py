"""PostgreSQL model store: versioned, atomically published per-scope models.

A *version* is one training run of one model (a package of the models directory, see
``contract``): its parameters, its summary metrics and one fitted object per scope.
``publish_version`` writes the version row, every scope row and flips the ``published``
flag in ONE transaction, so readers (who only look at published versions)
see either the complete version or nothing. Publishing also prunes old versions so that
at most ``keep`` published versions of that model remain.

Models are stored as joblib pickles. Unpickling runs code: only point readers at a store
that only trusted writers (the training job) can write to.

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


def dumps_model(model: Any) -> bytes:
    """Serialise a model with joblib."""
    buf = io.BytesIO()
    joblib.dump(model, buf)
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


def publish_version(
    dsn: str | None,
    params: Mapping[str, Any],
    models: Mapping[Any, tuple[Any, Mapping[str, Any]]],
    keep: int = DEFAULT_KEEP,
    metrics: Mapping[str, Any] | None = None,
    *,
    model: str,
) -> int:
    """Publish one version of ``model`` atomically and prune that model to its newest
    ``keep`` versions (other models are untouched); returns the version id.

    ``models`` maps scope -> (model_bytes, per-scope metrics). Model values that are not
    bytes are serialised with joblib. ``metrics`` (summary) defaults to the mean and max
    of every numeric per-scope metric. Nothing is visible to readers unless every scope
    was written: on any error the transaction rolls back and the store is unchanged.
    """
    if not isinstance(model, str) or not model:
        raise ValueError(f"a version needs the name of its model, got {model!r}")
    if keep is None or int(keep) < 1:
        raise ValueError(f"keep must be at least 1, got {keep!r}")
    keep = int(keep)
    with connect(dsn) as conn:
        ensure_schema(conn)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PUBLISH_LOCK,))
            row = conn.execute(
                "INSERT INTO model_versions (model, params) VALUES (%s, %s) RETURNING id",
                (model, _jsonb(params)),
            ).fetchone()
            version_id = int(row[0])
            seen: set[str] = set()
            scope_metrics: list[Mapping[str, Any]] = []
            with conn.cursor() as cur:
                for scope, value in models.items():
                    key = str(scope)
                    if key in seen:
                        raise ValueError(f"scope {key!r} appears twice in the models")
                    seen.add(key)
                    fitted, fitted_metrics = value
                    scope_metrics.append(fitted_metrics or {})
                    cur.execute(
                        "INSERT INTO scope_models (version_id, scope, model, metrics)"
                        " VALUES (%s, %s, %s, %s)",
                        (version_id, key, _model_bytes(fitted), _jsonb(fitted_metrics)),
                    )
            if not seen:
                raise ValueError("a version needs at least one scope model; got none")
            summary = dict(metrics) if metrics is not None else summarize_metrics(scope_metrics)
            conn.execute(
                "UPDATE model_versions SET metrics = %s, scope_count = %s, published = true,"
                " published_at = now() WHERE id = %s",
                (_jsonb(summary), len(seen), version_id),
            )
            conn.execute(
                "DELETE FROM model_versions WHERE id IN ("
                " SELECT id FROM model_versions WHERE published AND model = %s"
                " ORDER BY id DESC OFFSET %s)",
                (model, keep),
            )
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
        "SELECT id, created, params, metrics, model FROM model_versions"
        " WHERE published AND (%s::text IS NULL OR model = %s) ORDER BY id DESC LIMIT 1",
        (model, model),
    )
    if not rows:
        return None
    vid, created, params, metrics, name = rows[0]
    return VersionInfo(int(vid), created, params or {}, metrics or {}, name)


def latest_versions(dsn: str | None = None) -> dict[str, VersionInfo]:
    """{model: its newest published version}, in one query (what serving polls)."""
    rows = _readonly_query(
        dsn,
        "SELECT DISTINCT ON (model) id, created, params, metrics, model FROM model_versions"
        " WHERE published ORDER BY model, id DESC",
    )
    return {r[4]: VersionInfo(int(r[0]), r[1], r[2] or {}, r[3] or {}, r[4]) for r in rows}


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


def _published_rows(dsn: str | None, version_id: int, columns: str) -> list[tuple]:
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
                        f"SELECT {columns} FROM scope_models WHERE version_id = %s ORDER BY scope",
                        (version_id,),
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
