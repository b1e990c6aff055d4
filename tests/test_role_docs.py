"""Each role's README variable table is the one its argument spec generates."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_tables_match_the_argument_specs():
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts/role_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_changed_spec_is_caught():
    """The check is not vacuous: a spec edit without a regenerated README fails it."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import role_docs

    role = ROOT / "roles/spark_master"
    table = role_docs.table(role)
    readme = (role / "README.md").read_text()
    assert role_docs.render(readme, table) == readme
    assert role_docs.render(readme, table.replace("JVM heap", "Heap")) != readme
