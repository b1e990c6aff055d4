"""Daily sales per store (or product): trend plus day of week, least squares.

One model per scope: a scikit-learn pipeline of ``DateFeatures`` (days since the first
training date, day-of-week one-hot) and ``LinearRegression``. The last ``holdout_days``
days are held out for the metrics, then the published model is refitted on every day.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from .features import FEATURE_NAMES, DateFeatures

DESCRIPTION = "Daily sales forecast: DateFeatures(t, day-of-week one-hot) -> LinearRegression"
SCHEMA = {
    "date": {
        "type": "date",
        "min": "2000-01-01",
        "max": "2099-12-31",
        "description": "the day to forecast",
    },
}
TARGET = "sales"
SUMMARY = ("mae", "rmse", "mape")
# A new version serves (becomes production) only if its mean holdout MAE over the scopes
# it shares with production is at most 10 % worse; otherwise it is published as candidate.
GATE = {"metric": "mae", "direction": "min", "tolerance": 0.1}
PARAMS = {"holdout_days": 28, "min_train_days": 28}
# The platform's synthetic source writes exactly these columns: scope, date, sales.
TRAINING = {"source": "synthetic", "scopes": "1-20", "start": "2024-01-01", "end": "2024-12-31"}
EXAMPLE = {"scope": "1", "date": "2025-01-31"}


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


def fit(rows: pd.DataFrame, params: dict) -> tuple[Pipeline, dict]:
    """One scope's rows (date, sales; several rows of a day are summed)."""
    holdout_days, min_train_days = int(params["holdout_days"]), int(params["min_train_days"])
    data = (
        pd.DataFrame(
            {
                "date": pd.to_datetime(rows["date"]).values.astype("datetime64[D]"),
                "sales": pd.to_numeric(rows["sales"], errors="coerce").astype(float),
            }
        )
        .dropna()
        .groupby("date", as_index=False)["sales"]
        .sum()
        .sort_values("date", kind="stable")
        .reset_index(drop=True)
    )
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
            "lower --param holdout_days or --param min_train_days"
        )
    model = build_model().fit(train[["date"]].to_numpy(), train["sales"].to_numpy())
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
    metrics["trend_per_day"] = float(
        final.named_steps["regression"].coef_[FEATURE_NAMES.index("t")]
    )
    return final, metrics


def predict(fitted: Pipeline, rows: pd.DataFrame) -> np.ndarray:
    # One column as a numpy array (rows[["date"]] would copy through a new DataFrame).
    return fitted.predict(rows["date"].to_numpy().reshape(-1, 1))
