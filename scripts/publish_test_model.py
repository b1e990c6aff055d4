#!/usr/bin/env python3
"""Publish a small synthetic version of the sales_forecast model into a model store (tests
and benchmarks).

One linear trend + day-of-week model per scope, fitted on 120 synthetic days, published
with apps/modelstore exactly as the training job publishes. Prints the version id.

    MODEL_STORE_DSN=postgresql://models:...@10.0.0.10:5432/models \\
        .venv/bin/python scripts/publish_test_model.py --scopes 1,2,3 --tag upgrade-test

Many scopes, each made heavy (--pad-kb of incompressible bytes in the fitted object),
then a check that a serving URL answers every scope with its own fitted object's value:

    .venv/bin/python scripts/publish_test_model.py --count 400 --pad-kb 512 --tag many
    .venv/bin/python scripts/publish_test_model.py --count 400 --check http://WEB/predict
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

CHECK_DAY = "2025-02-01"


def fitted(level: float, slope: float, pad_kb: int = 0) -> Pipeline:
    days = pd.date_range("2024-09-01", periods=120, freq="D")
    t = np.arange(len(days), dtype=float)
    weekend = (days.dayofweek >= 5).astype(float)
    y = level + slope * t + 20.0 * weekend
    x = np.asarray(days.strftime("%Y-%m-%d"), dtype=object).reshape(-1, 1)
    model = Pipeline([("features", DateFeatures()), ("regression", LinearRegression())]).fit(x, y)
    if pad_kb:  # weight that does not compress, as a large fitted object has
        model.padding_ = np.random.default_rng(int(level)).bytes(pad_kb * 1024)
    return model


def check(url: str, scopes: list[str]) -> int:
    """POST every scope to url; each answer must be that scope's own model's value."""
    import json
    import urllib.request

    wrong = []
    for i, scope in enumerate(scopes):
        body = json.dumps({"scope": scope, "date": CHECK_DAY}).encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            got = json.load(answer)["prediction"]
        want = float(fitted(100.0 + 10 * i, 0.5).predict(np.array([[CHECK_DAY]], dtype=object))[0])
        if abs(got - want) > 1e-6 * max(1.0, abs(want)):
            wrong.append(f"{scope}: {got} (expected {want})")
    print(json.dumps({"scopes": len(scopes), "wrong": wrong[:10], "wrong_count": len(wrong)}))
    return 1 if wrong else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("MODEL_STORE_DSN"))
    parser.add_argument("--scopes", default="1,2", help="comma-separated scope names")
    parser.add_argument("--count", type=int, default=0, help="scopes 1..COUNT (not --scopes)")
    parser.add_argument("--pad-kb", type=int, default=0, help="extra KB per fitted object")
    parser.add_argument("--tag", default="synthetic", help="recorded in the version's params")
    parser.add_argument("--check", metavar="URL", help="check the answers of URL, publish nothing")
    args = parser.parse_args()
    if args.count:
        scopes = [str(i) for i in range(1, args.count + 1)]
    else:
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    if args.check:
        return check(args.check, scopes)
    if not args.dsn:
        parser.error("give --dsn or set MODEL_STORE_DSN")
    models = {
        scope: (fitted(100.0 + 10 * i, 0.5, args.pad_kb), {"mae": 0.0, "rmse": 0.0})
        for i, scope in enumerate(scopes)
    }
    params = {"scope_type": "store", "source": "scripts/publish_test_model.py", "tag": args.tag}
    print(modelstore.publish_version(args.dsn, params, models, keep=3, model="sales_forecast"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
