"""What the Spark master shows its users and its operator (testinfra over Molecule's SSH
inventory; the UI client is this controller)."""

import json
import time
import urllib.request

import pytest

PI = "/opt/venv/lib/python3.11/site-packages/pyspark/examples/src/main/python/pi.py"


@pytest.fixture
def container(values, inspect):
    """container(): what docker inspect shows of the master's container now."""
    return lambda: inspect(values["spark_master_container_name"])


def master_json(values) -> dict:
    url = f"http://{values['ansible_host']}:{values['spark_master_webui_port']}/json/"
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def test_the_master_is_alive_on_its_own_address_and_ports(host, values):
    address, port = values["ansible_host"], values["spark_master_port"]
    state = master_json(values)
    assert state["status"] == "ALIVE"
    assert state["url"] == f"spark://{address}:{port}"
    assert state["workers"] == []
    assert host.socket(f"tcp://{address}:{port}").is_listening


def test_the_container_has_its_limits_and_no_privilege(values, container):
    c = container()
    assert c["State"]["Health"]["Status"] == "healthy"
    assert c["HostConfig"]["Memory"] == values["spark_master_memory_limit_mb"] * 1024 * 1024
    assert c["HostConfig"]["MemorySwap"] == c["HostConfig"]["Memory"]
    assert c["HostConfig"]["NanoCpus"] == values["spark_master_cpus"] * 1_000_000_000
    assert c["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in " ".join(c["HostConfig"]["SecurityOpt"])
    assert c["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert c["Config"]["User"] not in ("", "0", "root")


def test_no_secret_in_docker_inspect(secret, container, values, inspect):
    assert secret("spark_auth_secret") not in json.dumps(container())
    for name in ("spark_master_history_container_name", "spark_driver_container_name"):
        assert secret("spark_auth_secret") not in json.dumps(inspect(values[name]))


def test_jobs_are_submitted_in_the_driver_container_beside_a_master_without_apps(
    host, values, container, inspect
):
    """The daemons run Spark alone (an app change restarts none of them); the driver
    container has the apps, the models and the store's password file, read-only."""
    master, driver = values["spark_master_container_name"], values["spark_driver_container_name"]
    name, deadline = driver, time.monotonic() + 60
    c = inspect(name)
    while c["State"]["Health"]["Status"] == "starting" and time.monotonic() < deadline:
        time.sleep(2)
        c = inspect(name)
    assert c["State"]["Health"]["Status"] == "healthy"
    assert c["Config"]["Image"] != container()["Config"]["Image"]
    assert c["HostConfig"]["Memory"] == values["spark_master_driver_memory_limit_mb"] * 1024 * 1024
    assert c["HostConfig"]["NanoCpus"] == values["spark_master_driver_cpus"] * 1_000_000_000
    assert c["HostConfig"]["CapDrop"] == ["ALL"]
    assert c["HostConfig"]["NetworkMode"] == "host"
    env = dict(e.split("=", 1) for e in c["Config"]["Env"])
    passfile = env["PGPASSFILE"]
    assert any(m["Destination"] == passfile.rsplit("/", 1)[0] and not m["RW"] for m in c["Mounts"])
    assert host.run("docker exec %s test -f /opt/apps/training/train.py", driver).rc == 0
    assert host.run("docker exec %s ls /opt/models", driver).stdout.split()
    assert host.run("docker exec %s test -e /opt/apps", master).rc == 1
    for worker_image_tool in ("spark-submit", "java"):
        assert host.run("docker exec %s which %s", master, worker_image_tool).rc == 0


def test_the_history_server_answers_on_its_port_and_reads_the_event_logs(host, values, inspect):
    """Its listing after a master restart is the cluster scenario's (verify-faults.yml)."""
    url = f"http://{values['ansible_host']}:{values['spark_history_port']}/api/v1/version"
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert json.load(answer)["spark"].startswith("4.")
    # it answers (the role waited for that); its health check passes within an interval
    name, deadline = values["spark_master_history_container_name"], time.monotonic() + 60
    c = inspect(name)
    while c["State"]["Health"]["Status"] == "starting" and time.monotonic() < deadline:
        time.sleep(2)
        c = inspect(name)
    assert c["State"]["Health"]["Status"] == "healthy"
    assert c["HostConfig"]["Memory"] == values["spark_master_history_memory_limit_mb"] * 1024 * 1024
    assert c["HostConfig"]["CapDrop"] == ["ALL"]
    events = "/srv/analytics-platform/spark-events"
    assert any(m["Source"] == events and m["RW"] for m in c["Mounts"])
    assert host.file(events).is_directory and host.file(events).mode == 0o750


def test_the_configuration_is_for_root_and_the_spark_user_only(host, values, secret):
    conf = host.file("/etc/analytics-platform/spark/spark-defaults.conf")
    uid = host.check_output("docker exec %s id -u", values["spark_master_container_name"])
    assert (conf.user, conf.mode) == ("root", 0o640)
    assert conf.gid == int(uid)
    assert secret("spark_auth_secret") in conf.content_string


def test_a_job_without_the_secret_is_refused_by_the_master(host, values, container):
    address, master = values["ansible_host"], values["spark_master_container_name"]
    client = "job-without-the-secret"
    since = host.check_output("date +%s")
    # The client retries for a minute before giving up; the master refuses its first
    # attempt, which the master's log shows: the client is stopped once it does.
    host.check_output(
        "docker run -d --name %s --network=host %s spark-submit --master %s"
        " --conf spark.driver.host=%s %s 2",
        client,
        container()["Config"]["Image"],
        f"spark://{address}:{values['spark_master_port']}",
        address,
        PI,
    )
    try:
        refused = host.run(
            "for i in $(seq 60); do docker logs --since %s %s 2>&1 | grep -q %s && exit 0;"
            " sleep 1; done; exit 1",
            since,
            master,
            "Expected SaslMessage",
        )
        output = host.run("docker logs %s", client)
    finally:
        host.run("docker rm -f %s", client)
    assert refused.rc == 0, "the master's log shows no refused SASL handshake"
    assert "Pi is roughly" not in output.stdout + output.stderr
    assert master_json(values)["activeapps"] == []


def test_a_new_secret_restarts_the_master_in_its_container(values, container, playbook):
    before = container()
    run = playbook("converge.yml", "-e", "spark_auth_secret=another-secret-for-this-test")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "another-secret-for-this-test" not in run.stdout + run.stderr
    after = container()
    assert after["Id"] == before["Id"]
    assert after["State"]["StartedAt"] != before["State"]["StartedAt"]
    assert master_json(values)["status"] == "ALIVE"
