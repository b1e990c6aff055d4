"""playbooks/remove_worker.yml refuses what it cannot do before it touches any host.

The inventory is tests/inventories/good (hosts over the local connection); every case
here stops in the first play, which runs on the controller, so no host is changed. The
removals themselves (a dead host, a worker decommissioned under a job) are the cluster
scenario's (molecule/cluster/verify-remove-worker.yml).
"""

import re
import shutil
from pathlib import Path

import pytest

GOOD = Path(__file__).parent / "inventories" / "good"


def _inventory(tmp_path: Path, edit) -> Path:
    inv = tmp_path / "inv"
    shutil.copytree(GOOD, inv)
    hosts = inv / "hosts.ini"
    hosts.write_text(edit(hosts.read_text()))
    return inv


REFUSED = {
    "no host": (lambda h: h, [], "No host given. Fix: -e host=NAME with NAME one of: w1, w2"),
    "not a worker": (
        lambda h: h,
        ["-e", "host=s1"],
        "s1 is not in the spark_workers group of this inventory. Fix: -e host=NAME",
    ),
    "a serving host too": (
        lambda h: h.replace("[serving]\ns1\n", "[serving]\ns1\nw1\n"),
        ["-e", "host=w1"],
        "w1 is also in serving: remove_worker.yml takes out a host that only runs Spark "
        "workers. Fix: move that tier off it first",
    ),
    # Nothing listens on loopback port 1: the connection is refused at once.
    "unreachable": (
        lambda h: h.replace(
            "[spark_workers]\nw1\n",
            "[spark_workers]\nw1 ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=1\n",
        ),
        ["-e", "host=w1", "-e", "remove_worker_reach_timeout=3"],
        "w1 does not answer",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_refused_before_any_host_is_touched(ansible_playbook, tmp_path, case):
    edit, args, expected = REFUSED[case]
    inv = _inventory(tmp_path, edit)
    result = ansible_playbook("playbooks/remove_worker.yml", "-i", str(inv), *args)
    out = " ".join(result.stdout.split())
    assert result.returncode != 0, out
    assert expected in out, out
    # Only the checks ran (on the controller; the host only reached), changing nothing.
    recap = dict(re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.M))
    assert set(recap) <= {"localhost", "w1"} and set(recap.values()) == {"0"}, out
    assert "PLAY [Remove a worker | decommission" not in out, out
    if case == "unreachable":
        assert "re-run with -e remove_worker_dead=true" in out, out
