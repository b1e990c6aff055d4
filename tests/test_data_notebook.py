"""The sample data synced to every Spark host, and the example notebook that reads it."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_sample_logs_are_the_seed_logs_the_job_is_tested_on():
    tested = ROOT / "apps" / "loganalytics" / "tests" / "data"
    for name in ("test_log1.csv", "test_log2.csv"):
        assert (SAMPLE / "logs" / name).read_bytes() == (tested / name).read_bytes(), name


def test_sample_logs_have_the_job_headers():
    assert (SAMPLE / "logs" / "test_log1.csv").read_text().splitlines()[0] == (
        "userId;region;type;paid"
    )
    assert (SAMPLE / "logs" / "test_log2.csv").read_text().splitlines()[0] == (
        "hour;userId;songId;genderId;deviceId"
    )


def test_the_example_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == ["bike_rentals_xgboost.ipynb", "log_analytics.ipynb"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_a_clean_nbformat4_notebook(notebook):
    nb = json.loads(notebook.read_text())
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "no code cells"
    # Committed without outputs: the deploy copies it as is into the notebooks volume.
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_reads_files_that_the_sample_data_has(notebook):
    source = "".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"])
    paths = re.findall(r"\{DATA_DIR\}/([\w./-]+\.(?:csv|parquet))", source)
    assert paths, "the notebook names no data file"
    for rel in paths:
        assert (SAMPLE / rel).is_file(), rel
    assert "spark.stop()" in source
