"""Shared fixtures for the repository-level tests."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    """A console script of the venv running pytest, else from PATH."""
    local = Path(sys.executable).with_name(name)
    return str(local) if local.exists() else (shutil.which(name) or name)


@pytest.fixture(scope="session")
def ansible_playbook():
    """Run ansible-playbook from the repository root; returns the CompletedProcess."""

    def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        env = dict(
            os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_CACHE_PLUGIN="memory"
        )
        return subprocess.run(
            [_tool("ansible-playbook"), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
