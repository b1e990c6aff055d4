"""The training job end to end on local Spark and a real PostgreSQL model store."""

import json
import os
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import modelstore
import numpy as np
import pandas as pd
import pytest
from modelstore import contract
from training.job import EXIT_OK, EXIT_TRAINING, EXIT_USAGE, RESULT_PREFIX, main
from training.sources import synthetic_sales

TRAIN_PY = Path(__file__).resolve().parents[1] / "train.py"
START, END = date(2024, 1, 1), date(2024, 4, 29)  # 120 days
SPAN = ["--start", START.isoformat(), "--end", END.isoformat()]


def result_line(out: str) -> dict:
    lines = [line for line in out.splitlines() if line.startswith(RESULT_PREFIX)]
    assert len(lines) == 1, out
    return json.loads(lines[0][len(RESULT_PREFIX) :])


def version_count(dsn: str) -> int:
    return len(modelstore.list_versions(dsn))


@pytest.fixture(scope="module")
def sales_pdf(spark) -> pd.DataFrame:
    """6 synthetic stores x 120 days, as pandas (for the file inputs)."""
    return (
        synthetic_sales(spark, "store", [str(i) for i in range(1, 7)], START, END)
        .toPandas()
        .sort_values(["scope", "date"])
    )


def test_train_scope_in_pandas():
    days = pd.date_range("2024-01-01", periods=84, freq="D")
    t = np.arange(84)
    sales = 100 + 0.5 * t + np.where(days.dayofweek >= 5, 20.0, 0.0)
    model = contract.load("sales_forecast")
    params = model.run_params({"holdout_days": "14"})
    fitted, metrics = model.fit_scope(pd.DataFrame({"date": days, "sales": sales}), params)
    assert metrics["mae"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["trend_per_day"] == pytest.approx(0.5)
    assert (metrics["train_rows"], metrics["holdout_rows"]) == (70, 14)
    row = model.schema.validate({"scope": "1", "date": "2024-03-30"})  # a Saturday, t = 89
    assert model.predict_rows(fitted, [row])[0] == pytest.approx(100 + 0.5 * 89 + 20)
    with pytest.raises(ValueError, match="only 6 training rows"):
        model.fit_scope(pd.DataFrame({"date": days[:20], "sales": sales[:20]}), params)


def test_synthetic_training_publishes_one_version(spark, store_dsn, capsys):
    rc = main(["--scope-type", "store", "--scopes", "1-5,9", *SPAN, "--store-dsn", store_dsn],
              spark=spark)  # fmt: skip
    out = capsys.readouterr().out
    assert rc == EXIT_OK
    result = result_line(out)
    assert result["status"] == "ok" and result["scope_count"] == 6
    assert set(result["metrics"]) == {
        f"{m}_{s}" for m in ("mae", "rmse", "mape") for s in ("mean", "max")
    }
    assert result["metrics"]["mape_mean"] < 10  # noise is 5% of the level
    assert result["seconds"] > 0

    info = modelstore.latest_version(store_dsn)
    assert info.id == result["version_id"]
    assert info.params["scope_type"] == "store" and info.params["scope_count"] == 6
    assert info.metrics == pytest.approx(result["metrics"])
    models = modelstore.load_version(store_dsn, info.id)
    assert sorted(models) == ["1", "2", "3", "4", "5", "9"]
    per_scope = modelstore.load_scope_metrics(store_dsn, info.id)
    assert per_scope["9"]["holdout_rows"] == 28 and per_scope["9"]["train_rows"] == 92

    # The next two weeks against the noise-free synthetic signal.
    future = (
        synthetic_sales(spark, "store", ["1", "9"], START, END + timedelta(days=14), noise=0.0)
        .where(f"date > DATE'{END.isoformat()}'")
        .toPandas()
    )
    for scope, rows in future.groupby("scope"):
        predicted = models[scope].predict(rows[["date"]].astype(str).to_numpy())
        error = np.abs(predicted - rows["sales"].to_numpy()) / rows["sales"].to_numpy()
        assert error.mean() < 0.05, (scope, error)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_file_inputs(spark, store_dsn, sales_pdf, tmp_path, fmt, capsys):
    path = tmp_path / f"sales.{fmt}"
    df = spark.createDataFrame(sales_pdf)
    if fmt == "parquet":
        df.write.parquet(str(path))
    else:
        df.coalesce(1).write.option("header", "true").csv(str(path))
    rc = main(
        [
            "--source", f"{fmt}:{path}", "--scopes", "2-4",
            "--start", "2024-01-15", "--end", END.isoformat(),
            "--param", "holdout_days=14", "--store-dsn", store_dsn,
        ],
        spark=spark,
    )  # fmt: skip
    assert rc == EXIT_OK, capsys.readouterr().err
    result = result_line(capsys.readouterr().out)
    assert result["scope_count"] == 3
    params = modelstore.latest_version(store_dsn).params
    assert params["source"] == f"{fmt}:{path}" and params["start"] == "2024-01-15"
    metrics = modelstore.load_scope_metrics(store_dsn, result["version_id"])
    assert metrics["3"]["first_date"] == "2024-01-15"
    assert metrics["3"]["holdout_rows"] == 14


def test_all_scopes_of_a_file(spark, store_dsn, sales_pdf, tmp_path, capsys):
    path = tmp_path / "upper.parquet"
    # Several rows a day (summed) and capitalised column names are fine.
    doubled = pd.concat([sales_pdf, sales_pdf]).rename(columns=str.capitalize)
    spark.createDataFrame(doubled).write.parquet(str(path))
    assert main(["--source", f"parquet:{path}", "--store-dsn", store_dsn], spark=spark) == 0
    assert result_line(capsys.readouterr().out)["scope_count"] == 6


def _write(spark, pdf, path) -> str:
    spark.createDataFrame(pdf).write.parquet(str(path))
    return str(path)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_columns", "lacks column(s) sales (it has: scope, date, amount)"),
        ("absent_scopes", "2 requested scope(s) are absent from input parquet:"),
        ("empty_span", "has no usable rows between 2030-01-01 and 2030-12-31"),
        ("not_parquet", "cannot read input parquet:"),
    ],
)
def test_bad_input_exits_2_and_publishes_nothing(
    spark, store_dsn, sales_pdf, tmp_path, case, message, capsys
):
    args = ["--scopes", "1-6"]
    if case == "missing_columns":
        path = _write(spark, sales_pdf.rename(columns={"sales": "amount"}), tmp_path / "x")
    elif case == "absent_scopes":
        path = _write(spark, sales_pdf, tmp_path / "x")
        args = ["--scopes", "1-3,77,78"]
    elif case == "empty_span":
        path = _write(spark, sales_pdf, tmp_path / "x")
        args = ["--start", "2030-01-01", "--end", "2030-12-31"]
    else:
        path = tmp_path / "x.parquet"
        path.write_text("scope,date,sales\n1,2024-01-01,3\n")
        path = str(path)
    rc = main(["--source", f"parquet:{path}", *args, "--store-dsn", store_dsn], spark=spark)
    captured = capsys.readouterr()
    assert rc == EXIT_USAGE
    assert message in captured.err
    assert "TRAINING_RESULT" not in captured.out
    assert version_count(store_dsn) == 0


def test_a_failing_scope_publishes_nothing(spark, store_dsn, sales_pdf, tmp_path, capsys):
    good = _write(spark, sales_pdf, tmp_path / "good")
    assert main(["--source", f"parquet:{good}", "--store-dsn", store_dsn], spark=spark) == 0
    assert version_count(store_dsn) == 1
    capsys.readouterr()

    short = sales_pdf[(sales_pdf["scope"] != "4") | (sales_pdf["date"] > date(2024, 4, 1))]
    bad = _write(spark, short, tmp_path / "bad")
    rc = main(["--source", f"parquet:{bad}", "--store-dsn", store_dsn], spark=spark)
    captured = capsys.readouterr()
    assert rc == EXIT_TRAINING
    assert "scope 4 failed: only 0 training rows" in captured.err
    assert "nothing was published" in captured.err
    result = result_line(captured.out)
    assert result["status"] == "failed" and result["failed_scopes"] == ["4"]
    assert version_count(store_dsn) == 1


def test_keep_versions_prunes(spark, store_dsn, capsys):
    """Five runs, each production in turn (no gate), --keep-versions 1: the last three
    production versions stay (what a rollback needs), and one of the others."""
    args = ["--scopes", "1-2", *SPAN, "--keep-versions", "1", "--gate", "none",
            "--store-dsn", store_dsn]  # fmt: skip
    ids = []
    for seed in (1, 2, 3, 4, 5):
        assert main([*args, "--seed", str(seed)], spark=spark) == 0
        ids.append(result_line(capsys.readouterr().out)["version_id"])
    assert [v["id"] for v in modelstore.list_versions(store_dsn)] == ids[:0:-1]
    assert modelstore.latest_version(store_dsn).params["seed"] == 5


def test_readers_never_see_a_partial_version(store_dsn):
    """A slow publish of many scopes: a reader polling meanwhile sees no version at
    all, then the complete one; a publish failing midway leaves no trace."""
    model = modelstore.dumps_model(train_scope_model())
    scopes = 40

    class SlowModels(dict):
        def items(self):
            for key, value in super().items():
                time.sleep(0.02)
                yield key, value

    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            info = modelstore.latest_version(store_dsn)
            if info is not None:
                seen.append((info.id, len(modelstore.load_version(store_dsn, info.id))))
            time.sleep(0.005)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        vid = modelstore.publish_version(
            store_dsn,
            {},
            SlowModels({str(i): (model, {"mae": i}) for i in range(scopes)}),
            model="sales_forecast",
        )
        wait = time.monotonic() + 5
        while not seen and time.monotonic() < wait:  # let the reader see the result
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert seen, "the reader never saw the published version"
    assert all(count == scopes and v == vid for v, count in seen), seen[:5]

    class FailingModels(dict):
        def items(self):
            for n, (key, value) in enumerate(super().items()):
                if n == 5:
                    raise RuntimeError("executor lost")
                yield key, value

    with pytest.raises(RuntimeError, match="executor lost"):
        modelstore.publish_version(
            store_dsn,
            {},
            FailingModels({str(i): (model, {}) for i in range(10)}),
            model="sales_forecast",
        )
    assert [v["id"] for v in modelstore.list_versions(store_dsn)] == [vid]
    assert modelstore.latest_version(store_dsn).id == vid


def train_scope_model():
    days = pd.date_range("2024-01-01", periods=60, freq="D")
    model = contract.load("sales_forecast")
    rows = pd.DataFrame({"date": days, "sales": np.arange(60.0)})
    return model.fit_scope(rows, model.run_params({"holdout_days": "7"}))[0]


def test_spark_submit_end_to_end(store_dsn, spark_env, tmp_path):
    """The real entry point: its own named session, code shipped to the executors
    (no PYTHONPATH), one TRAINING_RESULT line on stdout."""
    env = dict(os.environ, **spark_env)
    env.pop("PYTHONPATH", None)  # the code must reach the executors by itself
    spark_submit = Path(sys.executable).with_name("spark-submit")
    proc = subprocess.run(
        [
            str(spark_submit), "--master", "local[2]",
            "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=4",
            "--driver-memory", "1g",
            str(TRAIN_PY), "--scope-type", "product", "--scopes", "1-3", *SPAN,
            "--store-dsn", store_dsn,
        ],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    # spark-submit merges the driver's stderr into stdout: the result is the one line
    # that starts with the prefix.
    result = result_line(proc.stdout)
    assert result["scope_count"] == 3 and result["scope_type"] == "product"
    info = modelstore.latest_version(store_dsn)
    assert info.id == result["version_id"]
    assert info.params["spark_app_id"].startswith("local-")


def test_the_gate_keeps_a_spoiled_run_out_of_production(spark, store_dsn, sales_pdf, tmp_path,
                                                        capsys):  # fmt: skip
    """A good run is production; a run on data spoiled on purpose (its last week zeros) is
    published as candidate with both figures, and serving keeps the good one; a forced
    run, and a good run again, pass."""
    good = _write(spark, sales_pdf, tmp_path / "good")
    spoiled_pdf = sales_pdf.copy()
    last_week = pd.to_datetime(spoiled_pdf["date"]) > pd.Timestamp(END) - pd.Timedelta(days=7)
    spoiled_pdf.loc[last_week.to_numpy(), "sales"] = 0.0
    spoiled = _write(spark, spoiled_pdf, tmp_path / "spoiled")

    def train(path, *extra):
        rc = main(["--source", f"parquet:{path}", "--store-dsn", store_dsn, *extra], spark=spark)
        assert rc == EXIT_OK
        return result_line(capsys.readouterr().out)

    first = train(good)
    assert first["alias"] == "production" and "first version" in first["gate"]["reason"]
    bad = train(spoiled)
    gate = bad["gate"]
    assert bad["alias"] == "candidate"
    assert gate["metric"] == "mae" and gate["scopes"] == 6
    assert gate["new"] > 1.1 * gate["production"]
    assert f"against production {first['version_id']}'s" in gate["reason"]
    assert (
        modelstore.served_versions(store_dsn)["sales_forecast"]["production"].id
        == first["version_id"]
    )
    forced = train(spoiled, "--force")
    assert forced["alias"] == "production"
    assert (
        modelstore.served_versions(store_dsn)["sales_forecast"]["production"].id
        == forced["version_id"]
    )
    again = train(good, "--gate", "mae:min:0")
    assert again["alias"] == "production"  # better than the forced spoiled one
    from modelstore import versions

    moves = versions.moves(store_dsn, "sales_forecast")
    assert [(m["alias"], m["to"], m["by"]) for m in moves] == [
        ("production", first["version_id"], "gate"),
        ("candidate", bad["version_id"], "gate"),
        ("production", forced["version_id"], "command"),
        ("production", again["version_id"], "gate"),
    ]
    assert main(["--gate", "mae:sideways", "--store-dsn", store_dsn]) == EXIT_USAGE
    assert "GATE direction must be 'min' or 'max'" in capsys.readouterr().err
