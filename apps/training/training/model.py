"""Any model of the contract, one per scope, in parallel on the executors.

``train_group`` is the body of ``groupBy(scope).applyInPandas``: it checks a scope's rows
against the model's schema, calls the package's ``fit`` through the contract's wrapper and
returns the fitted object serialised, or the error. ``train_scopes`` wires it into Spark.
"""

from __future__ import annotations

import json
import traceback
from functools import partial

import pandas as pd
from modelstore import contract
from modelstore.store import dumps_model, json_safe
from pyspark.sql import DataFrame

RESULT_SCHEMA = "scope string, rows long, invalid long, model binary, metrics string, error string"


def train_scope(model: contract.Model, pdf: pd.DataFrame, params: dict) -> dict:
    """Validate one scope's rows with the schema, fit, serialise (plain pandas)."""
    rows, invalid, problem = model.schema.clean_frame(pdf, model.target)
    if rows.empty:
        raise ValueError(
            f"none of its {len(pdf)} rows passes the schema of model '{model.name}'"
            + (f" (first problem: {problem})" if problem else "")
        )
    fitted, metrics = model.fit_scope(rows, params)
    return {"model": fitted, "metrics": metrics, "rows": len(rows), "invalid": invalid}


def train_group(pdf: pd.DataFrame, model_name: str, params: dict) -> pd.DataFrame:
    """applyInPandas body: one result row per scope; errors are returned, not raised.

    Returning the error (instead of failing the Spark task, which would be retried and
    then abort the job with a Java stack trace) lets the driver name every failed scope.
    """
    scope = str(pdf["scope"].iloc[0]) if len(pdf) else ""
    try:
        result = train_scope(contract.load(model_name), pdf, params)
        row = {
            "scope": scope,
            "rows": result["rows"],
            "invalid": result["invalid"],
            "model": dumps_model(result["model"]),
            "metrics": json.dumps(json_safe(result["metrics"])),
            "error": None,
        }
    except Exception as exc:  # reported per scope to the driver
        detail = str(exc) or exc.__class__.__name__
        if not isinstance(exc, ValueError):
            detail += "\n" + traceback.format_exc(limit=5)
        row = {"scope": scope, "rows": len(pdf), "invalid": 0, "model": None, "metrics": None,
               "error": detail}  # fmt: skip
    return pd.DataFrame([row])


def train_scopes(rows: DataFrame, model_name: str, params: dict, partitions: int) -> DataFrame:
    """DataFrame of (scope, fields..., target) -> one row per scope: model bytes,
    metrics, error.

    The rows are hash-partitioned by scope into ``partitions`` partitions first (an
    explicit count, so adaptive execution does not merge the small-but-costly groups into
    one task); the grouping then reuses that partitioning.
    """
    body = partial(train_group, model_name=model_name, params=params)
    return (
        rows.repartition(partitions, "scope")
        .groupBy("scope")
        .applyInPandas(body, schema=RESULT_SCHEMA)
    )
