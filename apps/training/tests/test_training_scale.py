"""Fitted models go from the executors to the store, never through the driver.

A model of this file keeps ~200 KB of incompressible bytes per scope: a run of 24 scopes
(4.8 MB of fitted objects) publishes under ``spark.driver.maxResultSize=1m``, which the
old collect-to-the-driver design could not. A scope that runs out of memory names the
knob to raise; a failed run leaves no staged row behind.
"""

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import modelstore
import numpy as np
import pandas as pd
import psycopg
import pytest
from training.job import EXIT_OK, EXIT_TRAINING, main

TRAIN_PY = Path(__file__).resolve().parents[1] / "train.py"

BLOB = '''
"""A model that is mostly bytes: ~KB kilobytes of noise per scope (tests only)."""
import numpy as np

SCHEMA = {"x": {"type": "number"}}
TARGET = "y"
PARAMS = {"kb": 200}
EXAMPLE = {"scope": "s1", "x": 1.0}
TRAINING = {"source": "csv:{data_dir}/blob.csv", "scopes": "all"}


def fit(rows, params):
    if rows["x"].max() > 1e6:  # what a scope too large for its executor looks like
        np.ones(10**14)
    seed = int(rows["y"].iloc[0])
    noise = np.random.default_rng(seed).integers(0, 256, params["kb"] * 1024, dtype=np.uint8)
    return {"offset": float(seed), "noise": noise}, {"rows": len(rows)}


def predict(fitted, rows):
    return rows["x"].to_numpy(dtype=float) + fitted["offset"]
'''


@pytest.fixture
def blob_models(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    (folder / "blob").mkdir(parents=True)
    (folder / "blob" / "__init__.py").write_text(textwrap.dedent(BLOB))
    monkeypatch.syspath_prepend(str(folder))
    return folder


def _csv(path: Path, scopes: int, huge: str = "") -> Path:
    rows = [(f"s{i:02d}", float(j), float(i)) for i in range(scopes) for j in range(3)]
    if huge:
        rows.append((huge, 2e6, 0.0))
    pd.DataFrame(rows, columns=["scope", "x", "y"]).to_csv(path / "blob.csv", index=False)
    return path


def _staged_rows(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        versions = conn.execute("SELECT count(*) FROM model_versions").fetchone()[0]
        scopes = conn.execute("SELECT count(*) FROM scope_models").fetchone()[0]
    return versions, scopes


def test_fitted_models_larger_than_the_driver_takes_publish(store_dsn, spark_env, blob_models,
                                                            tmp_path):  # fmt: skip
    data = _csv(tmp_path, 24)
    env = dict(os.environ, **spark_env, PYTHONPATH=str(blob_models))
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("spark-submit")), "--master", "local[2]",
            "--conf", "spark.ui.enabled=false", "--conf", "spark.driver.maxResultSize=1m",
            "--driver-memory", "512m",
            str(TRAIN_PY), "--model", "blob", "--data-dir", str(data), "--store-dsn", store_dsn,
        ],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    info = modelstore.latest_version(store_dsn, "blob")
    assert info.params["scope_count"] == 24 and info.params["rows"] == 72
    with psycopg.connect(store_dsn) as conn:
        stored = conn.execute("SELECT sum(length(model)) FROM scope_models").fetchone()[0]
    assert stored > 24 * 200 * 1024  # 4.8 MB went to the store, past a 1 MB result limit
    fitted = modelstore.loads_model(modelstore.load_scopes(store_dsn, info.id, ["s07"])["s07"])
    assert fitted["offset"] == 7.0 and len(fitted["noise"]) == 200 * 1024


def test_a_scope_out_of_memory_names_the_knob_and_leaves_nothing(
    spark, store_dsn, blob_models, tmp_path, capsys
):
    shipped = tmp_path / "blob.zip"  # the package to the executors, as train.py ships it
    with zipfile.ZipFile(shipped, "w") as zf:
        zf.write(blob_models / "blob" / "__init__.py", "blob/__init__.py")
    spark.sparkContext.addPyFile(str(shipped))
    data = _csv(tmp_path, 6, huge="s99")
    rc = main(["--model", "blob", "--data-dir", str(data), "--store-dsn", store_dsn,
               "--param", "kb=4"], spark=spark)  # fmt: skip
    err = capsys.readouterr().err
    assert rc == EXIT_TRAINING
    assert "scope s99 failed: out of memory" in err
    assert "train_spark_submit_args: ['--executor-memory'" in err
    assert "nothing was published" in err
    # The six good scopes were written to the staged version, which the failure removed.
    assert _staged_rows(store_dsn) == (0, 0)
    # The same data without the huge scope trains.
    data = _csv(tmp_path, 6)
    rc = main(["--model", "blob", "--data-dir", str(data), "--store-dsn", store_dsn,
               "--param", "kb=4"], spark=spark)  # fmt: skip
    assert rc == EXIT_OK
    assert _staged_rows(store_dsn) == (1, 6)


def test_the_partition_walk_splits_scopes_across_batches():
    from training.model import _scopes_of

    frame = pd.DataFrame({"scope": ["a"] * 3 + ["b"] * 4 + ["c"], "v": np.arange(8)})
    batches = [frame.iloc[0:2], frame.iloc[2:5], frame.iloc[5:5], frame.iloc[5:8]]
    got = [(s, list(pdf["v"])) for s, pdf in _scopes_of(iter(batches))]
    assert got == [("a", [0, 1, 2]), ("b", [3, 4, 5, 6]), ("c", [7])]
