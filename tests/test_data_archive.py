"""The data stage's plan: which files each Spark host gets, in which archive.

roles/spark_data/files/data_archive.py, run as the role runs it (stdin: each host's
`find -printf` listing), its archives unpacked by GNU tar as the hosts unpack them, and
the unpacked folder listed again by the same `find`: a second plan sends nothing.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PLANNER = ROOT / "roles/spark_data/files/data_archive.py"
# The role's own `find` (roles/spark_data/tasks/main.yml), its values filled in per test.
FIND = next(
    task["ansible.builtin.command"]["argv"]
    for task in yaml.safe_load((ROOT / "roles/spark_data/tasks/main.yml").read_text())
    if task["name"] == "Read the files this host holds"
)


def plan(source: Path, held: dict[str, str], output_dir="/data/output"):
    """The role's planner; its archives go under the test's own folder (TMPDIR)."""
    return subprocess.run(
        [
            sys.executable,
            PLANNER,
            "--source",
            source,
            "--data-dir",
            "/data",
            "--output-dir",
            output_dir,
        ],
        input=json.dumps(held),
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(source.parent)},
    )


def listing(folder: Path) -> str:
    """What the role's `find` prints on a host whose data directory is this folder."""
    values = {
        "{{ spark_data_dir }}": str(folder),
        "{{ _spark_data_output_path }}": str(folder / "output"),
    }
    argv = [values.get(arg, arg) for arg in FIND]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    # On a host, root unpacks and the files keep the archive's owner (0); a test run by
    # another user owns what it unpacked: read its files as root's.
    me = str(os.geteuid())
    lines = [line.split(" ", 4) for line in out.stdout.splitlines()]
    return "".join(" ".join([s, t, m, "0" if u == me else u, p]) + "\n" for s, t, m, u, p in lines)


def unpack(archive: str, folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    subprocess.run(["tar", "-xzf", archive, "-C", folder], check=True)


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "source"
    (src / "logs").mkdir(parents=True)
    (src / "sales.csv").write_text("store,day,units\n1,2024-01-01,5\n")
    (src / "logs/access.log").write_text("GET / 200\n")
    (src / "sales.csv").chmod(0o600)
    (src / "logs").chmod(0o700)
    return src


def test_bare_hosts_share_one_archive_of_every_file(source, tmp_path):
    run = plan(source, {"w1": "", "w2": ""})
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    w1, w2 = out["hosts"]["w1"], out["hosts"]["w2"]
    assert w1 == w2 and w1["files"] == 2 and w1["bytes"] == 41
    assert Path(w1["archive"]).parent == Path(out["dir"])
    host = tmp_path / "host"
    unpack(w1["archive"], host)
    assert (host / "sales.csv").read_text() == (source / "sales.csv").read_text()
    assert oct((host / "sales.csv").stat().st_mode & 0o777) == "0o644"
    assert oct((host / "logs").stat().st_mode & 0o777) == "0o755"


def test_an_unpacked_host_gets_nothing_next_time(source, tmp_path):
    host = tmp_path / "host"
    unpack(json.loads(plan(source, {"h": ""}).stdout)["hosts"]["h"]["archive"], host)
    (host / "output").mkdir()
    (host / "output/part-0000.csv").write_text("job output, not the source's\n")
    out = json.loads(plan(source, {"h": listing(host)}).stdout)
    assert out == {"dir": None, "hosts": {"h": {"archive": None, "files": 0, "bytes": 0}}}


def test_only_a_file_of_another_size_or_time_is_sent_and_extra_files_stay(source, tmp_path):
    host = tmp_path / "host"
    unpack(json.loads(plan(source, {"h": ""}).stdout)["hosts"]["h"]["archive"], host)
    (host / "notes.txt").write_text("a file the source does not have\n")
    os.utime(host / "logs/access.log", (0, 0))  # edited on the host: another time
    out = json.loads(plan(source, {"h": listing(host)}).stdout)["hosts"]["h"]
    assert out["files"] == 1
    unpack(out["archive"], host)
    assert (host / "notes.txt").exists()
    assert json.loads(plan(source, {"h": listing(host)}).stdout)["hosts"]["h"]["files"] == 0


def test_a_file_of_another_mode_or_owner_is_sent_again(source, tmp_path):
    host = tmp_path / "host"
    unpack(json.loads(plan(source, {"h": ""}).stdout)["hosts"]["h"]["archive"], host)
    (host / "sales.csv").chmod(0o666)
    held = listing(host).replace(" 0 logs/access.log", " 1000 logs/access.log")
    assert json.loads(plan(source, {"h": held}).stdout)["hosts"]["h"]["files"] == 2


def test_a_source_with_files_where_jobs_write_is_refused_with_the_fix(source):
    (source / "output").mkdir()
    (source / "output/old.csv").write_text("x\n")
    run = plan(source, {"h": ""})
    assert run.returncode == 1
    assert "output/ is where jobs write on the hosts" in run.stderr
    assert "Fix: rename the folder output" in run.stderr
    # An output folder outside the data directory leaves the source's output/ alone.
    assert plan(source, {"h": ""}, output_dir="/elsewhere").returncode == 0
