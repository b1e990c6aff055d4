"""The sample data synced to every Spark host, and the example notebook that reads it."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
NOTEBOOK = ROOT / "notebooks" / "log_analytics.ipynb"


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


def test_notebook_is_a_clean_nbformat4_notebook():
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "no code cells"
    # Committed without outputs: the deploy copies it as is into the notebooks volume.
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)


def test_notebook_reads_files_that_the_sample_data_has():
    source = "".join("".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"])
    paths = re.findall(r"\{DATA_DIR\}/([\w./-]+\.csv)", source)
    assert paths, "the notebook names no data file"
    for rel in paths:
        assert (SAMPLE / rel).is_file(), rel
    assert "spark.stop()" in source
