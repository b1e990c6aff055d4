"""Preflight rejects broken inventories with a message naming host, variable and fix.

Every inventory here reaches its hosts over the local connection, and broken ones run
the real site.yml in check mode: preflight must stop it before the docker stage starts.
"""

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOOD = Path(__file__).parent / "inventories" / "good"
DOCKER_PLAY = "PLAY [Docker engine on every host]"


def make_inventory(tmp_path: Path, edit_hosts=None, group_vars: str | None = None) -> Path:
    inv = tmp_path / "inv"
    shutil.copytree(GOOD, inv)
    if edit_hosts:
        hosts = inv / "hosts.ini"
        before = hosts.read_text()
        after = edit_hosts(before)
        assert after != before, "the edit did not apply: fix the test to match hosts.ini"
        hosts.write_text(after)
    if group_vars is not None:
        (inv / "group_vars" / "all.yml").write_text(group_vars)
    return inv


# mitogen_linear: the opt-in strategy (README "Faster runs") loads from plugins/strategy
# with the pinned Mitogen and ansible-core (an unknown strategy fails the run), and runs
# the same checks to the same end.
@pytest.mark.parametrize("strategy", ["linear", "mitogen_linear"])
def test_good_inventory_passes(ansible_playbook, strategy):
    result = ansible_playbook("playbooks/preflight.yml", "-i", str(GOOD), ANSIBLE_STRATEGY=strategy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed=0" in result.stdout and "unreachable=0" in result.stdout


def test_prod_example_passes_syntax_check(ansible_playbook):
    result = ansible_playbook("site.yml", "-i", "inventory/prod", "--syntax-check")
    assert result.returncode == 0, result.stdout + result.stderr


SECRETS = 'spark_auth_secret: "test-secret-0123456789abcdef"\n'
MONITOR = 'model_store_monitor_password: "test-monitor-0123456789"\n'
READER = 'model_store_reader_password: "test-reader-0123456789"\n' + MONITOR
PASSWORD = 'model_store_password: "test-password-0123456789"\n' + READER

BROKEN = {
    "two masters": (
        lambda h: h.replace("[spark_master]\nm1\n", "[spark_master]\nm1\nw1\n"),
        None,
        "Group [spark_master] must hold exactly one host; it holds 2 (m1, w1)",
    ),
    "no master": (
        lambda h: h.replace("[spark_master]\nm1\n", "[spark_master]\n"),
        None,
        "Group [spark_master] must hold exactly one host; it holds 0",
    ),
    "no workers": (
        lambda h: h.replace("w1\nw2 spark_worker_cores=4 spark_worker_memory_mb=2048\n", ""),
        None,
        "Group [spark_workers] is empty",
    ),
    "serving not a docker host": (
        lambda h: h.replace("model_store\nserving\nmonitoring\n", "model_store\nmonitoring\n"),
        None,
        "Host(s) s1 of group [serving] are not in [docker_hosts]",
    ),
    "cores not a number": (
        lambda h: h.replace("w2 spark_worker_cores=4", "w2 spark_worker_cores=four"),
        None,
        'Host w2: spark_worker_cores="four" is not a whole number above zero',
    ),
    "memory zero": (
        lambda h: h.replace("spark_worker_memory_mb=2048", "spark_worker_memory_mb=0"),
        None,
        "Host w2: spark_worker_memory_mb=0 is not a whole number above zero",
    ),
    "port not a number": (
        lambda h: h.replace("[serving]\ns1\n", "[serving]\ns1 nginx_port=http\n"),
        None,
        'Host s1: nginx_port="http" is not a port',
    ),
    # a platform value (the master's port): named by the platform's own check, before the
    # roles' checks load its argument spec
    "master port not a number": (
        lambda h: h.replace("[spark_master]\nm1\n", "[spark_master]\nm1 spark_master_port=x\n"),
        None,
        'Host m1: spark_master_port="x" is not a port',
    ),
    "port out of range": (
        lambda h: h.replace("[serving]\ns1\n", "[serving]\ns1 nginx_port=70000\n"),
        None,
        "Host s1: nginx_port=70000 is not a port",
    ),
    "two services on one port": (
        lambda h: h.replace(
            "[spark_master]\nm1\n",
            "[spark_master]\nm1 spark_master_webui_port=5432 model_store_port=5432\n",
        ),
        None,
        "Host m1: port 5432 is used by",
    ),
    "backends overlap nginx": (
        lambda h: h.replace(
            "[serving]\ns1\n",
            "[serving]\ns1 nginx_port=8002 serving_backend_base_port=8001"
            " serving_backends_per_host=3\n",
        ),
        None,
        "Host s1: port 8002 is used by",
    ),
    "schedule not a calendar": (
        lambda h: h.replace("[spark_master]\nm1\n", "[spark_master]\nm1 train_schedule=nightly\n"),
        None,
        'Host m1: train_schedule="nightly" is not a systemd calendar',
    ),
    "secret missing": (None, PASSWORD, "Host m1: secret spark_auth_secret is not set"),
    "secret from a missing vault variable": (
        None,
        'spark_auth_secret: "{{ vault_spark_auth_secret }}"\n' + PASSWORD,
        "secret spark_auth_secret is not set",
    ),
    "password too short": (
        None,
        SECRETS + READER + 'model_store_password: "short"\n',
        "Host m1: secret model_store_password is too short",
    ),
    "reader password missing": (
        None,
        SECRETS + 'model_store_password: "test-password-0123456789"\n',
        "secret model_store_reader_password is not set",
    ),
    # With a monitoring host, the PostgreSQL exporter's login role needs its password.
    "monitor password missing": (
        None,
        SECRETS + PASSWORD.replace(MONITOR, ""),
        "Host m1: secret model_store_monitor_password is not set",
    ),
    "host unreachable": (
        lambda h: h.replace(
            "w2 spark_worker_cores=4",
            "w2 ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=9 spark_worker_cores=4",
        ),
        None,
        "Unreachable: w2",
    ),
    # Checked before any connection: the typo is named, not only the unreachable host.
    "typo on an unreachable host": (
        lambda h: h.replace(
            "w2 spark_worker_cores=4",
            "w2 ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=9"
            " spark_worker_cores=four",
        ),
        None,
        'Host w2: spark_worker_cores="four" is not a whole number above zero',
    ),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_inventory_is_rejected_before_any_change(case, tmp_path, ansible_playbook):
    edit, group_vars, message = BROKEN[case]
    inv = make_inventory(tmp_path, edit, group_vars)
    result = ansible_playbook("site.yml", "-i", str(inv), "--check")
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, out
    assert message in out, out
    assert "Fix:" in out, out
    assert DOCKER_PLAY not in result.stdout, "a stage ran after preflight failed"


def test_a_model_that_breaks_the_contract_stops_before_any_host(ansible_playbook, tmp_path):
    """The team's models folder holds a package without predict: preflight refuses it on
    the controller, naming the model and the fix, and never connects to a host (the good
    inventory's hosts do not exist)."""
    models = tmp_path / "team-models"
    shutil.copytree(ROOT / "models" / "sales_forecast", models / "sales_forecast")
    (models / "churn").mkdir()
    (models / "churn" / "__init__.py").write_text(
        "SCHEMA = {'tenure': {'type': 'integer', 'min': 0}}\nTARGET = 'churned'\n"
        "EXAMPLE = {'scope': 'eu', 'tenure': 3}\ndef fit(rows, params):\n    return None, {}\n"
    )
    result = ansible_playbook(
        "playbooks/preflight.yml", "-i", str(GOOD),
        "-e", f"platform_models_dir={models}",
        "-e", '{"platform_models": ["sales_forecast", "churn"]}',
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "model 'churn': no function predict. Fix: define predict(fitted, rows)" in out
    assert "Reach the host" not in out
