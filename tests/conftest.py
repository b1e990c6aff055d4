"""Shared fixtures for the repository-level tests."""

import json
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
    """Run ansible-playbook from the repository root (keyword arguments: environment
    variables, e.g. ANSIBLE_STRATEGY); returns the CompletedProcess."""

    def run(*args: str, timeout: int = 300, **env_vars: str) -> subprocess.CompletedProcess:
        env = dict(
            os.environ,
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_CACHE_PLUGIN="memory",
            **env_vars,
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


PLATFORM_VALUES = """
- name: The platform's values, as Ansible resolves them
  hosts: localhost
  gather_facts: false
  roles:
    - role: platform
  tasks:
    - name: Write them
      ansible.builtin.copy:
        content: "{{{{ dict(names | zip(query('ansible.builtin.vars', *names))) | to_json }}}}"
        dest: "{out}"
        mode: "0600"
      vars:
        names: {names}
"""


@pytest.fixture(scope="session")
def platform_values(ansible_playbook, tmp_path_factory):
    """Values of the platform role (the defaults every play loads), resolved by Ansible
    itself rather than read from its defaults file: platform_values("name", ...)."""

    def read(*names: str) -> dict:
        work = tmp_path_factory.mktemp("platform")
        play = work / "play.yml"
        play.write_text(PLATFORM_VALUES.format(out=work / "values.json", names=list(names)))
        # localhost implicit (not in the inventory): the controller's own Python
        result = ansible_playbook(str(play), "-i", str(ROOT / "tests/inventories/good"))
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads((work / "values.json").read_text())

    return read
