"""What a host shows once systemd_timer ran (testinfra over Molecule's SSH inventory).

The last two tests run the converge playbook again with another calendar, as a calling
role would pass it: one systemd cannot parse, then an empty one.
"""

UNITS = "/etc/systemd/system/molecule-demo"


def converge(playbook, calendar: str):
    return playbook("converge.yml", "-e", f"systemd_timer_calendar={calendar!r}")


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


def test_a_calendar_systemd_cannot_parse_is_refused_and_nothing_changes(host, playbook):
    before = host.file(f"{UNITS}.timer").content_string
    run = converge(playbook, "nightly")
    out = run.stdout + run.stderr
    assert run.returncode == 2, out
    assert 'systemd_timer_calendar="nightly" is not a systemd calendar' in out, out
    assert "Fix:" in out, out
    assert host.file(f"{UNITS}.timer").content_string == before
    assert host.service("molecule-demo.timer").is_running


def test_an_empty_calendar_removes_both_units(host, playbook):
    run = converge(playbook, "")
    assert run.returncode == 0, run.stdout + run.stderr
    assert not host.file(f"{UNITS}.timer").exists
    assert not host.file(f"{UNITS}.service").exists
    assert not host.service("molecule-demo.timer").is_running
