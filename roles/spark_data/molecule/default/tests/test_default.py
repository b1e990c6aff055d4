"""What a Spark host shows once the data stage ran (testinfra over Molecule's SSH
inventory). The last tests change the controller's source folder and run the converge
playbook again, as a user re-running playbooks/data.yml would."""

import os
from pathlib import Path

SOURCE = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "data"


def knobs(values) -> tuple[str, int]:
    """The scenario's spark_data_dir and spark_container_uid (molecule.yml)."""
    return values["spark_data_dir"], int(values["spark_container_uid"])


def test_every_file_arrived_read_only_to_the_spark_user(host, values):
    data, _ = knobs(values)
    for rel in ("sales.csv", "logs/access.log"):
        copied = host.file(f"{data}/{rel}")
        assert copied.content_string == (SOURCE / rel).read_text()
        assert (copied.user, copied.group, copied.mode) == ("root", "root", 0o644)
    assert host.file(f"{data}/logs").mode == 0o755


def test_jobs_can_write_the_output_directory(host, values):
    data, uid = knobs(values)
    output = host.file(f"{data}/output")
    assert output.is_directory
    assert output.uid == uid
    assert (
        host.run(f"setpriv --reuid={uid} --regid={uid} --clear-groups touch {data}/output/probe").rc
        == 0
    )


def test_a_changed_file_is_copied_again_and_a_removed_one_stays(host, values, playbook):
    data, _ = knobs(values)
    (SOURCE / "sales.csv").write_text("store,day,units\n1,2024-01-02,7\n")
    (SOURCE / "logs/access.log").unlink()
    run = playbook("converge.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert host.file(f"{data}/sales.csv").content_string.endswith("1,2024-01-02,7\n")
    assert host.file(f"{data}/logs/access.log").exists


def test_a_file_edited_or_opened_up_on_the_host_is_sent_again(host, values, playbook):
    data, _ = knobs(values)
    host.run_expect([0], f"echo edited by hand >> {data}/sales.csv")
    (SOURCE / "logs").mkdir(exist_ok=True)
    (SOURCE / "logs/error.log").write_text("oops\n")
    assert playbook("converge.yml").returncode == 0
    host.run_expect([0], f"chmod 0666 {data}/logs/error.log && chown 1234 {data}/logs/error.log")
    run = playbook("converge.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert host.file(f"{data}/sales.csv").content_string == (SOURCE / "sales.csv").read_text()
    restored = host.file(f"{data}/logs/error.log")
    assert (restored.user, restored.mode) == ("root", 0o644)


def test_a_missing_source_is_refused_with_the_fix(playbook):
    run = playbook("converge.yml", "-e", "spark_data_source_dir=/nonexistent/data")
    out = run.stdout + run.stderr
    assert run.returncode == 2, out
    assert "spark_data_source_dir=/nonexistent/data is not a directory on the controller" in out
    assert "Fix:" in out
