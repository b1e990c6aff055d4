#!/usr/bin/env python3
"""Publish a small synthetic version of the sales_forecast model into a model store (tests
and benchmarks).

One linear trend + day-of-week model per scope, fitted on 120 synthetic days, published
with apps/modelstore exactly as the training job publishes. Prints the version id.

    MODEL_STORE_DSN=postgresql://models:...@10.0.0.10:5432/models \\
        .venv/bin/python scripts/publish_test_model.py --scopes 1,2,3 --tag upgrade-test
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "apps/modelstore"), str(ROOT / "models")]

import modelstore  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sales_forecast.features import DateFeatures  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402


def fitted(level: float, slope: float) -> Pipeline:
    days = pd.date_range("2024-09-01", periods=120, freq="D")
    t = np.arange(len(days), dtype=float)
    weekend = (days.dayofweek >= 5).astype(float)
    y = level + slope * t + 20.0 * weekend
    x = np.asarray(days.strftime("%Y-%m-%d"), dtype=object).reshape(-1, 1)
    return Pipeline([("features", DateFeatures()), ("regression", LinearRegression())]).fit(x, y)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("MODEL_STORE_DSN"))
    parser.add_argument("--scopes", default="1,2", help="comma-separated scope names")
    parser.add_argument("--tag", default="synthetic", help="recorded in the version's params")
    args = parser.parse_args()
    if not args.dsn:
        parser.error("give --dsn or set MODEL_STORE_DSN")
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    models = {
        scope: (fitted(100.0 + 10 * i, 0.5), {"mae": 0.0, "rmse": 0.0})
        for i, scope in enumerate(scopes)
    }
    params = {"scope_type": "store", "source": "scripts/publish_test_model.py", "tag": args.tag}
    print(modelstore.publish_version(args.dsn, params, models, keep=3, model="sales_forecast"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
