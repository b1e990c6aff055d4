"""What Prometheus and the node exporter show the controller and the operator (testinfra
over Molecule's SSH inventory; the client is this controller)."""

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ALERTS = {
    "SparkWorkerDown",
    "ServingBackendDown",
    "ServingModelNotLoaded",
    "ModelStoreUnreachable",
    "DiskAlmostFull",
    "TargetDown",
    "Nginx5xxRate",
    "TrainingOverdue",
}
RULES_TEST = Path(__file__).resolve().parents[1] / "rules-test.yml"


@pytest.fixture(scope="module")
def api(values):
    """api(path) -> the JSON Prometheus answers the controller at that path."""
    base = f"http://{values['ansible_host']}:{values['prometheus_port']}"

    def get(path: str):
        with urllib.request.urlopen(base + path, timeout=5) as answer:
            return json.load(answer)

    return get


def _eventually(check, seconds=30):
    """check()'s first truthy result within `seconds` (Prometheus scrapes every 2 s here)."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(1)


def test_it_scrapes_this_hosts_node_exporter_and_itself(api, values, host):
    def targets():
        """{job: (host label, scrape URL, health)}, once every target is up."""
        active = api("/api/v1/targets?state=active")["data"]["activeTargets"]
        found = {
            t["labels"]["job"]: (t["labels"]["host"], t["scrapeUrl"], t["health"]) for t in active
        }
        return found if found and all(t["health"] == "up" for t in active) else None

    name, address = host.backend.get_hostname(), values["ansible_host"]
    assert _eventually(targets) == {
        "node": (name, f"http://{address}:{values['node_exporter_port']}/metrics", "up"),
        "prometheus": (name, f"http://{address}:{values['prometheus_port']}/metrics", "up"),
    }, api("/api/v1/targets")


def test_the_platforms_alert_rules_are_loaded_and_none_fires(api):
    groups = api("/api/v1/rules")["data"]["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert set(rules) == ALERTS
    assert all(r["health"] == "ok" for r in rules.values()), rules
    assert api("/api/v1/alerts")["data"]["alerts"] == []


def test_it_listens_on_the_cluster_address_only(host, values):
    address, port = values["ansible_host"], values["prometheus_port"]
    assert host.socket(f"tcp://{address}:{port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert host.socket(f"tcp://{address}:{values['node_exporter_port']}").is_listening


def test_both_run_unprivileged_with_the_retention_asked(inspect, values):
    prometheus = inspect("prometheus")
    exporter = inspect("node-exporter")
    for c in (prometheus, exporter):
        assert c["HostConfig"]["ReadonlyRootfs"] is True
        assert c["HostConfig"]["CapDrop"] == ["ALL"]
        # (Docker adds label=disable to a container in the host's PID namespace)
        assert "no-new-privileges" in c["HostConfig"]["SecurityOpt"]
        assert c["Config"]["User"] not in ("", "root", "0")
    args = prometheus["Args"]
    assert f"--storage.tsdb.retention.time={values['prometheus_retention_time']}" in args
    assert f"--storage.tsdb.retention.size={values['prometheus_retention_size']}" in args


def test_the_alerts_fire_on_promtools_series(host, inspect):
    """promtool's unit test (rules-test.yml) against the rules the role rendered here."""
    image = inspect("prometheus")["Config"]["Image"]
    host.ansible(
        "copy", f"src={RULES_TEST} dest=/tmp/rules-test.yml mode=0644", check=False, become=True
    )
    result = host.run(
        "docker run --rm --network none --entrypoint /usr/bin/promtool"
        " -v /etc/analytics-platform/prometheus:/etc/prometheus:ro"
        f" -v /tmp/rules-test.yml:/tmp/rules-test.yml:ro {image} test rules /tmp/rules-test.yml"
    )
    assert result.rc == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_a_prom_file_on_the_host_becomes_a_series(host, api):
    path = "/var/lib/analytics-platform/metrics/molecule.prom"
    write = f"printf 'molecule_probe_value 42\\n' > {path}.tmp && mv {path}.tmp {path}"
    host.run_expect([0], write)
    query = urllib.parse.quote("molecule_probe_value")

    def value():
        result = api(f"/api/v1/query?query={query}")["data"]["result"]
        return result[0]["value"][1] if result else None

    try:
        assert _eventually(value) == "42"
    finally:
        host.run(f"rm -f {path}")


def test_a_changed_value_reloads_it_without_a_restart(playbook, inspect, api):
    before = inspect("prometheus")
    result = playbook("converge.yml", "-e", "prometheus_scrape_interval=3s")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RUNNING HANDLER [prometheus : Reload Prometheus]" in result.stdout, result.stdout
    after = inspect("prometheus")
    assert after["Id"] == before["Id"]
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"]

    def reloaded():
        return "scrape_interval: 3s" in api("/api/v1/status/config")["data"]["yaml"]

    assert _eventually(reloaded)
    # Back to the scenario's value (the idempotence step comes after verify).
    result = playbook("converge.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_bad_value_is_refused_before_the_host_is_touched(playbook, host):
    config = "/etc/analytics-platform/prometheus/prometheus.yml"
    before = host.file(config).content_string
    result = playbook("converge.yml", "-e", "prometheus_alert_disk_used_percent=150")
    assert result.returncode != 0
    out = " ".join((result.stdout + result.stderr).split())
    assert "prometheus_alert_disk_used_percent=" in out and "the percentage 1 to 99" in out, out
    assert "Fix: correct them in group_vars/monitoring.yml" in out, out
    assert host.file(config).content_string == before
