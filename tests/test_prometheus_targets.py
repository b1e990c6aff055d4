"""The prometheus role's scrape targets (roles/prometheus/filter_plugins/prometheus.py)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "prometheus_filters", ROOT / "roles/prometheus/filter_plugins/prometheus.py"
)
prometheus_filters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prometheus_filters)

HOSTVARS = {
    "master": {"preflight_listen_ports": [{"name": "node_exporter_port", "port": 9100}]},
    "w1": {"preflight_listen_ports": [{"name": "node_exporter_port", "port": 9100}]},
    "s1": {
        "preflight_listen_ports": [
            {"name": "node_exporter_port", "port": "9100"},
            {"name": "serving_backend_base_port+1", "port": 8002},
            {"name": "serving_backend_base_port+0", "port": 8001},
        ]
    },
}
ADDRESSES = {"w1": "10.0.0.3", "master": "10.0.0.2", "s1": "fd00::5"}


def targets(job, addresses):
    return prometheus_filters.prometheus_static_configs(job, HOSTVARS, addresses)


def test_one_target_per_host_and_port_named_by_the_job():
    serving = targets({"job": "serving", "port": "serving_backend_base_port"}, ADDRESSES)
    assert serving == [{"targets": ["[fd00::5]:8001", "[fd00::5]:8002"], "labels": {"host": "s1"}}]


def test_the_same_hosts_render_the_same_file_whatever_their_order():
    # the cluster scenario: remove_worker.yml and site.yml handed the same hosts in another
    # order, and the configuration changed (Prometheus reloaded) with nothing to change
    job = {"job": "node", "port": "node_exporter_port"}
    reordered = dict(reversed(list(ADDRESSES.items())))
    assert targets(job, ADDRESSES) == targets(job, reordered)
    assert [t["labels"]["host"] for t in targets(job, ADDRESSES)] == ["master", "s1", "w1"]
