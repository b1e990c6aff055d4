"""A role run on its own checks its own inputs before it touches the host.

Its argument spec checks the types; its tasks/preflight.yml checks what a spec cannot
say (a port's range, a number above zero), naming the host, the variable and the fix.
Each case runs one role alone, in check mode, on a host of the good inventory (local
connection), with one wrong value; the role must stop before its first real task.
"""

import json

import pytest
from test_preflight import GOOD

PLAY = """
- name: One role on its own
  hosts: {host}
  gather_facts: true
  gather_subset: [min, hardware]
  roles:
    - role: {role}
"""

# A role's image is resolved from the images stage's build unless given: name one, as a
# user running a role alone would.
IMAGE = "analytics-platform/test:preflight"

# Every host of the good inventory is this machine: its cluster address is loopback.
ON_LOOPBACK = {"platform_address": "127.0.0.1"}

CASES = {
    "worker instances of the wrong type": (
        "spark_worker",
        "w2",
        {"spark_worker_instances": "two"},
        "argument 'spark_worker_instances' is of type str",
        "Validating arguments against arg spec 'main'",
    ),
    # a zero is not divided by on the way (the memory and core shares divide by it)
    "no worker instances": (
        "spark_worker",
        "w2",
        {"spark_worker_instances": 0},
        "Host w2: spark_worker_instances=0 is not a whole number above zero",
        "spark_worker : Check the numbers and ports",
    ),
    "worker port out of range": (
        "spark_worker",
        "w2",
        {"spark_worker_webui_port": 70000},
        "Host w2: spark_worker_webui_port=70000 is not a port",
        "spark_worker : Check the numbers and ports",
    ),
    "worker instances leave no room for their ports": (
        "spark_worker",
        "w2",
        {"spark_worker_webui_port": 65535, "spark_worker_instances": 2},
        "Host w2: spark_worker_webui_port=65535 is not a port (a whole number from 1 to 65535,"
        " with room for 2 consecutive ports)",
        "spark_worker : Check the numbers and ports",
    ),
    "no serving back-ends": (
        "serving",
        "s1",
        {"serving_backends_per_host": 0, "serving_image": IMAGE},
        "Host s1: serving_backends_per_host=0 is not a whole number above zero",
        "serving : Check the numbers and ports",
    ),
    "canary share above 100 %": (
        "serving",
        "s1",
        {"serving_canary_percent": 150, "serving_image": IMAGE},
        "Host s1: serving_canary_percent=150 is not a share of the traffic",
        "serving : Check the canary's share and the prediction log's",
    ),
    "nginx rate limit not a rate": (
        "nginx",
        "s1",
        {
            "nginx_rate_limit": "fast",
            "nginx_upstream_servers": ["127.0.0.1:8001"],
            "nginx_image": IMAGE,
        },
        'Host s1: nginx_rate_limit="fast"',
        "nginx : Check the rate limit",
    ),
    "model store keeps no backup": (
        "model_store",
        "m1",
        {"model_store_backup_keep": 0, "model_store_image": IMAGE},
        "Host m1: model_store_backup_keep=0 is not a whole number above zero",
        "model_store : Check the numbers and port",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_role_alone_fails_in_its_own_checks(case, tmp_path, ansible_playbook):
    role, host, values, message, failed_task = CASES[case]
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(host=host, role=role))
    result = ansible_playbook(
        str(play), "-i", str(GOOD), "--check", "-e", json.dumps(ON_LOOPBACK | values), timeout=300
    )
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert message in out, out
    if "Host " in message:
        assert "Fix:" in out, out
    # the failed task is the last one that ran: nothing after the checks was reached
    tasks = [line for line in result.stdout.splitlines() if line.startswith("TASK [")]
    assert failed_task in tasks[-1], tasks
