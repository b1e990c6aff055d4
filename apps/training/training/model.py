"""One scikit-learn model per scope: fit, evaluate on the held-out tail, serialise.

``train_scope`` is plain pandas (testable without Spark); ``train_scopes`` runs it for
every scope in parallel on the executors with ``groupBy(scope).applyInPandas``.
"""

from __future__ import annotations

import json
import math
import traceback
from functools import partial

import numpy as np
import pandas as pd
from modelstore.features import FEATURE_NAMES, DateFeatures
from modelstore.store import dumps_model
from pyspark.sql import DataFrame
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

MODEL_DESCRIPTION = "DateFeatures(t, day-of-week one-hot) -> LinearRegression"
RESULT_SCHEMA = "scope string, rows long, model binary, metrics string, error string"


def build_model() -> Pipeline:
    """The per-scope estimator: date features then ordinary least squares."""
    return Pipeline([("features", DateFeatures()), ("regression", LinearRegression())])


def evaluate(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    """MAE, RMSE and MAPE (percent, over non-zero actuals; None if all are zero)."""
    err = predicted - actual
    nonzero = actual != 0
    mape = float(np.mean(np.abs(err[nonzero] / actual[nonzero])) * 100.0) if nonzero.any() else None
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(math.sqrt(np.mean(err**2))),
        "mape": mape,
    }


def train_scope(pdf: pd.DataFrame, holdout_days: int, min_train_days: int) -> dict:
    """Fit and evaluate one scope's rows (columns date, sales).

    The last ``holdout_days`` calendar days are held out for the metrics; the published
    model is then refitted on every row. Raises ValueError when there are too few rows.
    """
    data = pd.DataFrame(
        {
            "date": pd.to_datetime(pdf["date"]).values.astype("datetime64[D]"),
            "sales": pd.to_numeric(pdf["sales"], errors="coerce").astype(float),
        }
    ).dropna()
    data = data.sort_values("date", kind="stable").reset_index(drop=True)
    if data.empty:
        raise ValueError("no rows with a date and a sales value")
    last = data["date"].max()
    cutoff = last - np.timedelta64(holdout_days, "D")
    train = data[data["date"] <= cutoff]
    test = data[data["date"] > cutoff]
    if len(train) < min_train_days:
        raise ValueError(
            f"only {len(train)} training rows before the {holdout_days}-day holdout "
            f"(it has {len(data)} rows); needs at least {min_train_days}: widen the span, "
            "shorten --holdout-days or lower --min-train-days"
        )
    x_train = train[["date"]].to_numpy()
    model = build_model().fit(x_train, train["sales"].to_numpy())
    metrics = evaluate(test["sales"].to_numpy(), model.predict(test[["date"]].to_numpy()))
    metrics.update(
        {
            "train_rows": len(train),
            "holdout_rows": len(test),
            "first_date": pd.Timestamp(data["date"].min()).date().isoformat(),
            "last_date": pd.Timestamp(last).date().isoformat(),
        }
    )
    final = build_model().fit(data[["date"]].to_numpy(), data["sales"].to_numpy())
    regression = final.named_steps["regression"]
    metrics["trend_per_day"] = float(regression.coef_[FEATURE_NAMES.index("t")])
    return {"model": final, "metrics": metrics, "rows": len(data)}


def train_group(pdf: pd.DataFrame, holdout_days: int, min_train_days: int) -> pd.DataFrame:
    """applyInPandas body: one result row per scope; errors are returned, not raised.

    Returning the error (instead of failing the Spark task, which would be retried and
    then abort the job with a Java stack trace) lets the driver name every failed scope.
    """
    scope = str(pdf["scope"].iloc[0]) if len(pdf) else ""
    try:
        result = train_scope(pdf, holdout_days, min_train_days)
        row = {
            "scope": scope,
            "rows": result["rows"],
            "model": dumps_model(result["model"]),
            "metrics": json.dumps(result["metrics"]),
            "error": None,
        }
    except Exception as exc:  # reported per scope to the driver
        detail = str(exc) or exc.__class__.__name__
        if not isinstance(exc, ValueError):
            detail += "\n" + traceback.format_exc(limit=5)
        row = {"scope": scope, "rows": len(pdf), "model": None, "metrics": None, "error": detail}
    return pd.DataFrame([row])


def train_scopes(
    daily: DataFrame, holdout_days: int, min_train_days: int, partitions: int
) -> DataFrame:
    """DataFrame of (scope, date, sales) -> one row per scope: model bytes, metrics, error.

    The rows are hash-partitioned by scope into ``partitions`` partitions first (an
    explicit count, so adaptive execution does not merge the small-but-costly groups into
    one task); the grouping then reuses that partitioning.
    """
    body = partial(train_group, holdout_days=holdout_days, min_train_days=min_train_days)
    return (
        daily.repartition(partitions, "scope")
        .groupBy("scope")
        .applyInPandas(body, schema=RESULT_SCHEMA)
    )
