"""What the model store shows its clients and its operator (testinfra over Molecule's SSH
inventory; the clients are this controller, with psycopg, and the host itself).

The last tests lose the store and restore it, then back it up to the controller, with
the real playbooks, as an operator would.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).parents[5]
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
STATE_SQL = (
    "SELECT model, count(*), max(id), (SELECT count(*) FROM scope_models)"
    " FROM model_versions WHERE published GROUP BY model ORDER BY model"
)


@pytest.fixture(scope="module")
def dsn(values, secret):
    """dsn(user, password_name): a connection to the store from this controller."""
    return lambda user, password_name: psycopg.conninfo.make_conninfo(
        host=values["ansible_host"],
        port=values["model_store_port"],
        dbname=values["model_store_db"],
        user=user,
        password=secret(password_name),
        connect_timeout=5,
    )


@pytest.fixture(scope="module")
def writer(values, dsn) -> str:
    return dsn(values["model_store_user"], "model_store_password")


@pytest.fixture(scope="module")
def reader(values, dsn) -> str:
    return dsn(values["model_store_reader_user"], "model_store_reader_password")


def outcome(conninfo: str, sql: str) -> str:
    """ "ok <first row>" or "<error class>: <first line>", as a client sees it."""
    try:
        with psycopg.connect(conninfo) as conn:
            return f"ok {conn.execute(sql).fetchone()}"
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"


def test_it_listens_on_the_cluster_address_and_loopback_only(host, values):
    port = str(values["model_store_port"])
    listening = host.check_output("ss -Htln sport = :%s | awk '{print $4}' | sort", port)
    expected = [f"{values['ansible_host']}:{port}", f"127.0.0.1:{port}"]
    assert listening.splitlines() == sorted(expected)


def test_no_password_in_the_containers_environment_or_labels(values, secret, inspect):
    shown = json.dumps(inspect(values["model_store_container_name"]))
    for name in ("model_store_password", "model_store_reader_password"):
        assert secret(name) not in shown


def test_the_writer_publishes_from_an_allowed_address(writer):
    run = subprocess.run(
        [sys.executable, ROOT / "scripts/publish_test_model.py", "--scopes", "1,2"],
        env=dict(os.environ, MODEL_STORE_DSN=writer),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert int(run.stdout.strip()) > 0


def test_the_reader_reads_and_nothing_more(reader):
    assert outcome(reader, "SELECT count(*) FROM model_versions") == "ok (1,)"
    # serving's prediction log: through the writer's function, and only through it
    entry = '[{"model": "m", "version": 1, "scope": "1", "input": {}, "output": 1}]'
    assert outcome(reader, f"SELECT log_predictions('{entry}', 1000)") == "ok (1,)"
    for sql, refusal in [
        (
            "INSERT INTO prediction_log (model, version_id, scope, input) VALUES ('', 1, '', '{}')",
            "permission denied for table prediction_log",
        ),
        ("INSERT INTO model_versions (model) VALUES ('x')", "permission denied for table"),
        ("DELETE FROM scope_models", "permission denied for table scope_models"),
        ("CREATE TABLE intruder (x int)", "permission denied for schema public"),
        ("CREATE TEMP TABLE intruder (x int)", "permission denied to create temporary tables"),
    ]:
        assert outcome(reader, sql).startswith(f"InsufficientPrivilege: {refusal}"), sql


def test_the_superuser_may_not_log_in_over_the_network(dsn):
    got = outcome(dsn("postgres", "model_store_password"), "SELECT 1")
    assert "pg_hba.conf rejects connection for host" in got and 'user "postgres"' in got, got


def test_an_address_that_is_not_listed_is_refused(host, values):
    """The host's own cluster address is in no writer or reader group or source."""
    got = host.run(
        "docker exec %s psql -w -h %s -p %s -U %s -d %s -c 'SELECT 1'",
        values["model_store_container_name"],
        values["ansible_host"],
        str(values["model_store_port"]),
        values["model_store_reader_user"],
        values["model_store_db"],
    )
    assert got.rc != 0
    assert f'pg_hba.conf rejects connection for host "{values["ansible_host"]}"' in got.stderr


def test_the_backup_timer_is_armed_and_its_service_writes_a_dump(host):
    timer = host.service("analytics-model-store-backup.timer")
    assert timer.is_enabled and timer.is_running
    assert host.run("systemctl start analytics-model-store-backup.service").rc == 0
    journal = host.check_output(
        "journalctl -u analytics-model-store-backup.service -o cat --no-pager -n 5"
    )
    lines = journal.splitlines()
    dumps = [line.split()[1] for line in lines if line.startswith("model-store-backup: /")]
    assert dumps, journal
    assert host.file(dumps[-1]).size > 1024


def test_a_lost_store_is_made_again_and_restored(host, values, inspect, reader, playbook):
    container, volume = values["model_store_container_name"], values["model_store_volume"]
    before = outcome(reader, STATE_SQL)
    assert before.startswith("ok ('sales_forecast', 1,"), before
    # Stopped as Docker does (its stop signal, then its stop timeout): a clean shutdown.
    stop = host.run("docker stop %s && docker logs --tail 8 %s 2>&1", container, container)
    assert stop.rc == 0
    assert "received fast shutdown request" in stop.stdout, stop.stdout
    assert "database system is shut down" in stop.stdout, stop.stdout
    assert inspect(container)["State"]["ExitCode"] == 0
    assert host.run("docker rm -f %s && docker volume rm %s", container, volume).rc == 0

    made = playbook("converge.yml")
    assert made.returncode == 0, made.stdout + made.stderr
    assert outcome(reader, STATE_SQL).startswith("UndefinedTable")

    restored = playbook("../../../../playbooks/restore.yml", "-e", "model_store_restore=latest")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert outcome(reader, STATE_SQL) == before


def test_a_restore_without_a_dump_name_lists_the_dumps(host, playbook):
    run = playbook("../../../../playbooks/restore.yml")
    out = run.stdout + run.stderr
    assert run.returncode == 2, out
    assert "Which dump? Fix: -e model_store_restore=<name>" in out
    assert "forecasts-" in out


def test_backup_yml_copies_the_dump_to_the_controller(host, values, playbook):
    run = playbook("../../../../playbooks/backup.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    copies = sorted((EPHEMERAL / "backups").glob("*.dump"))
    assert copies
    newest = copies[-1]
    on_host = host.file(f"{values['model_store_backup_dir']}/{newest.name}")
    assert on_host.sha256sum == hashlib.sha256(newest.read_bytes()).hexdigest()
