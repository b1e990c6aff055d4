"""What the worker host gives the cluster, seen from the master's JSON and from a job
(testinfra over Molecule's SSH inventory, on the worker host)."""

import json
import re
import time
import urllib.request

import pytest

testinfra_hosts = ["ansible://spark_workers"]

PI = "/opt/venv/lib/python3.11/site-packages/pyspark/examples/src/main/python/pi.py"
EVENTS = "/tmp/spark-events-test"


def worker(values, i: int) -> str:
    return f"{values['spark_worker_container_prefix']}-{i}"


@pytest.fixture(scope="module")
def master_url(values, inspect) -> str:
    """The spark:// URL the first worker was started with (its last argument)."""
    return inspect(worker(values, 1))["Args"][-1]


@pytest.fixture
def alive_here(values, master_url):
    """alive_here(): the master's ALIVE workers on this host, {host, cores, memory,
    webuiaddress} each."""
    master = master_url.removeprefix("spark://").rsplit(":", 1)[0]
    ui = f"http://{master}:{values['spark_master_webui_port']}/json/"
    keys = ("host", "cores", "memory", "webuiaddress")

    def read() -> list[dict]:
        with urllib.request.urlopen(ui, timeout=10) as answer:
            workers = json.load(answer)["workers"]
        return sorted(
            (
                {k: w[k] for k in keys}
                for w in workers
                if w["state"] == "ALIVE" and w["host"] == values["ansible_host"]
            ),
            key=lambda w: w["webuiaddress"],
        )

    return read


def test_the_master_lists_each_worker_with_its_share_of_the_host(host, values, alive_here):
    instances = values["spark_worker_instances"]
    cpus = int(host.check_output("grep -c ^processor /proc/cpuinfo"))
    mem_mb = int(host.check_output("awk '/^MemTotal:/ {print $2}' /proc/meminfo")) // 1024
    address, port = values["ansible_host"], values["spark_worker_webui_port"]
    share = {
        "cores": max(cpus // instances, 1),
        "memory": max((mem_mb - values["spark_worker_memory_reserve_mb"]) // instances, 512),
    }
    assert alive_here() == [
        {"host": address, **share, "webuiaddress": f"http://{address}:{port + i}"}
        for i in range(instances)
    ]


def test_pi_runs_executors_on_both_workers(host, values, master_url):
    submit = host.run(
        "docker exec %s sh -c %s",
        worker(values, 1),
        f"rm -rf {EVENTS} && mkdir -p {EVENTS} && spark-submit --master {master_url}"
        f" --conf spark.eventLog.enabled=true --conf spark.eventLog.compress=false"
        f" --conf spark.eventLog.dir=file://{EVENTS} {PI} 8",
    )
    assert submit.rc == 0, submit.stderr[-2000:]
    assert "Pi is roughly 3.1" in submit.stdout
    # Each executor's log URL names the UI port of the worker that ran it.
    events = host.check_output(
        "docker exec %s grep -rh SparkListenerExecutorAdded %s", worker(values, 1), EVENTS
    )
    ports = {
        int(m)
        for line in events.splitlines()
        if '"SparkListenerExecutorAdded"' in line
        for m in re.findall(r":(\d+)/logPage/", line)
    }
    port = values["spark_worker_webui_port"]
    assert ports == {port, port + 1}


def test_a_bad_instance_count_is_refused_and_nothing_changes(host, playbook):
    before = host.check_output("docker ps -q --no-trunc | sort")
    run = playbook("converge.yml", "-e", '{"spark_worker_instances": 0}')
    out = run.stdout + run.stderr
    assert run.returncode == 2, out
    assert "spark_worker_instances=0 is not a whole number above zero. Fix:" in out
    assert host.check_output("docker ps -q --no-trunc | sort") == before


def test_one_instance_fewer_removes_a_worker(host, values, alive_here, playbook):
    run = playbook("converge.yml", "-e", "spark_worker_instances=1")
    assert run.returncode == 0, run.stdout + run.stderr
    assert host.run("docker inspect %s", worker(values, 2)).rc != 0
    deadline = time.monotonic() + 30
    while len(alive_here()) != 1 and time.monotonic() < deadline:
        time.sleep(2)
    assert len(alive_here()) == 1
