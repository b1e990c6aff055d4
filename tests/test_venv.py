"""The pinned venv (scripts/venv.sh) works without being activated: its tools run each
other by name (molecule runs ansible-config, ansible-playbook and pytest)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"


@pytest.mark.skipif(
    Path(sys.prefix).resolve() != VENV.resolve(),
    reason="pytest is not running from this checkout's .venv",
)
def test_a_tool_of_the_venv_finds_the_others_with_the_venv_not_on_path():
    which = "import shutil; print(shutil.which('ansible-playbook'))"
    found = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", which],
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # .venv links to the venv cached by content (scripts/venv.sh)
    assert Path(found).resolve() == (VENV / "bin" / "ansible-playbook").resolve()
