"""Shared by the role scenarios' testinfra tests (roles/<role>/molecule/default/tests).

pytest loads this file for them: the repository's pytest.ini makes the repository the
rootdir, and roles/ lies between it and each scenario's tests.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def values(host) -> dict:
    """This host's inventory values, read once per test module: each scenario's
    molecule.yml sets the knobs its tests read to values that are not the defaults."""
    return host.ansible.get_variables()


@pytest.fixture(scope="session")
def secret():
    """secret(name): a platform secret generated for this scenario run
    (.config/molecule/config.yml), as the plays read it."""
    folder = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets"
    return lambda name: (folder / name).read_text().strip()


@pytest.fixture(scope="module")
def inspect(host):
    """inspect(container): what `docker inspect` shows of that container on this host."""
    return lambda name: json.loads(host.check_output("docker inspect %s", name))[0]


@pytest.fixture(scope="module")
def playbook(host, request):
    """Run a playbook of the scenario (or a path relative to it) on this host and the
    controller only, as a user re-running it would:
    playbook("converge.yml", "-e", "name=value", env={...}) -> CompletedProcess."""
    scenario = request.path.parents[1]

    def run(name: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                "ansible-playbook",
                "-i",
                os.environ["MOLECULE_INVENTORY_FILE"],
                "--limit",
                f"{host.backend.get_hostname()},localhost",
                *args,
                str(scenario / name),
            ],
            env=dict(os.environ, ANSIBLE_NOCOLOR="1", **(env or {})),
            capture_output=True,
            text=True,
            check=False,
        )

    return run
