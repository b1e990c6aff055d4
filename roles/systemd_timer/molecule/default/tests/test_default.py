"""What a host shows once systemd_timer ran (testinfra over Molecule's SSH inventory).

The last two tests run the converge playbook again with another calendar, as a calling
role would pass it: one systemd cannot parse, then an empty one.
"""

import os
import subprocess
from pathlib import Path

SCENARIO = Path(__file__).resolve().parents[1]
UNITS = "/etc/systemd/system/molecule-demo"


def converge(host, calendar: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            "--limit",
            host.backend.get_hostname(),
            "-e",
            f"systemd_timer_calendar={calendar!r}",
            str(SCENARIO / "converge.yml"),
        ],
        env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_timer_is_enabled_and_waiting_for_its_next_run(host):
    timer = host.service("molecule-demo.timer")
    assert timer.is_enabled
    assert timer.is_running
    assert "OnCalendar=daily" in host.file(f"{UNITS}.timer").content_string
    assert host.check_output("systemctl show -P NextElapseUSecRealtime molecule-demo.timer")


def test_its_service_runs_the_command(host):
    host.run_expect([0], "rm -f /var/tmp/molecule-demo-ran")
    host.run_expect([0], "systemctl start molecule-demo.service")
    assert host.file("/var/tmp/molecule-demo-ran").exists


def test_a_calendar_systemd_cannot_parse_is_refused_and_nothing_changes(host):
    before = host.file(f"{UNITS}.timer").content_string
    run = converge(host, "nightly")
    out = run.stdout + run.stderr
    assert run.returncode == 2, out
    assert 'systemd_timer_calendar="nightly" is not a systemd calendar' in out, out
    assert "Fix:" in out, out
    assert host.file(f"{UNITS}.timer").content_string == before
    assert host.service("molecule-demo.timer").is_running


def test_an_empty_calendar_removes_both_units(host):
    run = converge(host, "")
    assert run.returncode == 0, run.stdout + run.stderr
    assert not host.file(f"{UNITS}.timer").exists
    assert not host.file(f"{UNITS}.service").exists
    assert not host.service("molecule-demo.timer").is_running
