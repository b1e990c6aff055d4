"""Argument validation: every bad argument exits 2 with a message naming the fix,
before Spark or the store are touched."""

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from training.args import UsageError, parse_args, parse_scopes, parse_source
from training.job import EXIT_USAGE, main

TRAIN_PY = Path(__file__).resolve().parents[1] / "train.py"
DSN = ["--store-dsn", "postgresql://u:p@127.0.0.1:1/none"]
DATA = str(Path(__file__).resolve().parents[3] / "data" / "sample")


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("1-5,9", ("1", "2", "3", "4", "5", "9")),
        ("3", ("3",)),
        (" 7 - 8 , 007 ", ("7", "8")),
        ("1-3,2-4", ("1", "2", "3", "4")),
        ("north,south", ("north", "south")),
        ("all", None),
    ],
)
def test_parse_scopes(spec, expected):
    assert parse_scopes(spec) == expected


def test_parse_source_forms(tmp_path):
    assert parse_source("synthetic").kind == "synthetic"
    assert parse_source(f"parquet:{tmp_path}").location == str(tmp_path)
    assert parse_source("csv:s3a://bucket/sales/").kind == "csv"  # remote: not checked here
    jdbc = parse_source("jdbc:postgresql://db:5432/shop?user=a&password=secret#public.sales")
    assert (jdbc.kind, jdbc.table) == ("jdbc", "public.sales")
    assert jdbc.location.startswith("jdbc:postgresql://db:5432/shop")
    assert "secret" not in jdbc.describe()


def test_defaults_for_synthetic():
    config = parse_args(DSN)
    assert config.scopes == tuple(str(i) for i in range(1, 21))
    assert (config.start, config.end) == (date(2024, 1, 1), date(2024, 12, 31))
    assert (config.params["holdout_days"], config.keep_versions) == (28, 5)
    assert config.model.name == "sales_forecast"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scope-type", "planet"], "--scope-type 'planet' is unknown: use one of store, product"),
        (["--scopes", "5-1"], "range '5-1' is empty (start 5 > end 1)"),
        (["--scopes", ""], "--scopes is empty"),
        (["--scopes", "1-"], "item '1-' is malformed"),
        (["--scopes", "a-b"], "item 'a-b' is malformed"),
        (["--scopes", "1,,3"], "has an empty item"),
        (["--scopes", "1-999999"], "more than 100000 scopes"),
        (["--scopes", "north"], "synthetic scopes are integer ids"),
        (["--start", "2024-03-01", "--end", "2024-02-01"], "--end 2024-02-01 is before --start"),
        (["--start", "01/02/2024"], "--start '01/02/2024' is not a date: use YYYY-MM-DD"),
        (["--end", "2024-02-30"], "--end '2024-02-30' is not a date"),
        (["--source", "hive:sales"], "--source 'hive:sales' is not a known source"),
        (["--source", "parquet:/nonexistent/sales"], "does not exist"),
        (["--source", "csv:"], "has no path"),
        (["--source", "jdbc:postgresql://db/x"], "needs a JDBC URL and a table"),
        (["--param", "holdout_days=x"], "parameter holdout_days='x' is not a int"),
        (["--param", "horizon=3"], "has no parameter 'horizon'. Fix: use one of: holdout_days"),
        (["--param", "holdout_days"], "is not NAME=VALUE"),
        (["--model", "nope"], "model 'nope' is not installed here"),
        (["--model", "bike_rentals", "--source", "synthetic"], "train it from a file"),
        (
            ["--model", "bike_rentals", "--data-dir", DATA, "--start", "2024-01-01"],
            "has no date field",
        ),
        (["--keep-versions", "0"], "--keep-versions must be at least 1"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_exit_2(args, message, capsys):
    assert main(args + DSN) == EXIT_USAGE
    err = capsys.readouterr()
    assert message in err.err
    assert "TRAINING_RESULT" not in err.out


def test_missing_store_dsn(monkeypatch, capsys):
    monkeypatch.delenv("MODEL_STORE_DSN", raising=False)
    assert main(["--scopes", "1-3"]) == EXIT_USAGE
    assert "set MODEL_STORE_DSN" in capsys.readouterr().err


def test_usage_error_is_a_value_error():
    with pytest.raises(UsageError):
        parse_args(["--scope-type", "x"] + DSN)


def test_unreachable_store_exits_before_spark(closed_port_dsn, capsys):
    assert main(["--scopes", "1-2", "--store-dsn", closed_port_dsn]) == 4
    assert "model store" in capsys.readouterr().err


def test_script_rejects_bad_arguments_without_starting_spark():
    proc = subprocess.run(
        [sys.executable, str(TRAIN_PY), "--scopes", "9-2", *DSN],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "range '9-2' is empty" in proc.stderr
    assert proc.stdout == ""
