"""Hourly bike rentals per station, from the hour, the day and the weather.

One model per station: scikit-learn's HistGradientBoostingRegressor (Poisson loss, the
categories as native categorical features, a missing humidity handled natively). A
random ``holdout_fraction`` of the rows is held out for the metrics, then the published
model is refitted on every row.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

DESCRIPTION = "Hourly rentals per station: HistGradientBoostingRegressor (Poisson)"
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEATHER = ["clear", "cloudy", "rain", "snow"]
SCHEMA = {
    "hour": {"type": "integer", "min": 0, "max": 23, "description": "hour of the day"},
    "weekday": {"type": "category", "values": WEEKDAYS},
    "temperature": {"type": "number", "min": -30, "max": 50, "description": "degrees C"},
    "humidity": {"type": "number", "min": 0, "max": 100, "required": False, "description": "%"},
    "weather": {"type": "category", "values": WEATHER},
    "holiday": {"type": "category", "values": ["no", "yes"]},
}
TARGET = "rentals"
SUMMARY = ("mae", "rmse")
# A new version serves (becomes production) only if its mean holdout MAE over the scopes
# it shares with production is at most 10 % worse; otherwise it is published as candidate.
GATE = {"metric": "mae", "direction": "min", "tolerance": 0.1}
SCOPE_COLUMN = "station"
PARAMS = {"max_iter": 150, "learning_rate": 0.1, "holdout_fraction": 0.2, "seed": 7}
# The file comes from sample_data.py (make sample-data), shipped by the data stage.
TRAINING = {"source": "parquet:{data_dir}/bike_rentals/rentals.parquet", "scopes": "all"}
EXAMPLE = {
    "scope": "3",
    "hour": 8,
    "weekday": "tue",
    "temperature": 18.5,
    "humidity": 55,
    "weather": "clear",
    "holiday": "no",
}
FEATURES = list(SCHEMA)
CATEGORIES = {name: spec["values"] for name, spec in SCHEMA.items() if spec["type"] == "category"}


def features(rows: pd.DataFrame) -> np.ndarray:
    """The model's matrix: categories as their index in SCHEMA's values, NaN if missing."""
    columns = []
    for name in FEATURES:
        if name in CATEGORIES:
            codes = pd.Categorical(rows[name], categories=CATEGORIES[name]).codes
            columns.append(np.where(codes < 0, np.nan, codes).astype(float))
        else:
            columns.append(
                pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            )
    return np.column_stack(columns)


def _estimator(params: dict) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(
        loss="poisson",
        max_iter=int(params["max_iter"]),
        learning_rate=float(params["learning_rate"]),
        categorical_features=[name in CATEGORIES for name in FEATURES],
        early_stopping=False,
        random_state=int(params["seed"]),
    )


def fit(rows: pd.DataFrame, params: dict) -> tuple[HistGradientBoostingRegressor, dict]:
    if len(rows) < 200:
        raise ValueError(f"only {len(rows)} rows: a station needs at least 200 hours of data")
    x, y = features(rows), rows[TARGET].to_numpy(dtype=float)
    rng = np.random.default_rng(int(params["seed"]))
    test = rng.random(len(rows)) < float(params["holdout_fraction"])
    model = _estimator(params).fit(x[~test], y[~test])
    predicted = model.predict(x[test])
    err = predicted - y[test]
    metrics = {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(math.sqrt(np.mean(err**2))),
        "mean_rentals": float(np.mean(y)),
        "train_rows": int((~test).sum()),
        "holdout_rows": int(test.sum()),
    }
    return _estimator(params).fit(x, y), metrics


def predict(fitted: HistGradientBoostingRegressor, rows: pd.DataFrame) -> np.ndarray:
    return fitted.predict(features(rows))
