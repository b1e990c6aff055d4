"""What a Spark host shows once the data stage ran (testinfra over Molecule's SSH
inventory). The last tests change the controller's source folder and run the converge
playbook again, as a user re-running playbooks/data.yml would."""

import os
import subprocess
from pathlib import Path

SCENARIO = Path(__file__).resolve().parents[1]
SOURCE = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "data"


def knobs(host) -> tuple[str, int]:
    """The scenario's spark_data_dir and spark_container_uid (molecule.yml)."""
    values = host.ansible.get_variables()
    return values["spark_data_dir"], int(values["spark_container_uid"])


def converge(host, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            "--limit",
            host.backend.get_hostname(),
            *extra,
            str(SCENARIO / "converge.yml"),
        ],
        env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_file_arrived_read_only_to_the_spark_user(host):
    data, _ = knobs(host)
    for rel in ("sales.csv", "logs/access.log"):
        copied = host.file(f"{data}/{rel}")
        assert copied.content_string == (SOURCE / rel).read_text()
        assert (copied.user, copied.group, copied.mode) == ("root", "root", 0o644)
    assert host.file(f"{data}/logs").mode == 0o755


def test_jobs_can_write_the_output_directory(host):
    data, uid = knobs(host)
    output = host.file(f"{data}/output")
    assert output.is_directory
    assert output.uid == uid
    assert (
        host.run(f"setpriv --reuid={uid} --regid={uid} --clear-groups touch {data}/output/probe").rc
        == 0
    )


def test_a_changed_file_is_copied_again_and_a_removed_one_stays(host):
    data, _ = knobs(host)
    (SOURCE / "sales.csv").write_text("store,day,units\n1,2024-01-02,7\n")
    (SOURCE / "logs/access.log").unlink()
    run = converge(host)
    assert run.returncode == 0, run.stdout + run.stderr
    assert host.file(f"{data}/sales.csv").content_string.endswith("1,2024-01-02,7\n")
    assert host.file(f"{data}/logs/access.log").exists


def test_a_missing_source_is_refused_with_the_fix(host):
    run = converge(host, "-e", "spark_data_source_dir=/nonexistent/data")
    out = run.stdout + run.stderr
    assert run.returncode == 2, out
    assert "spark_data_source_dir=/nonexistent/data is not a directory on the controller" in out
    assert "Fix:" in out
