"""platform_files (roles/platform/library): a role's directories and files in one module run.

The real module, run by ansible-playbook over the local connection on a temporary
folder: what a host shows afterwards (content, mode, what was left alone) and what the
run reports (changed paths, diffs, the failure that names the file).
"""

import json
import os
import stat
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def apply(ansible_playbook, tmp_path):
    """Run one platform_files task with `args`; returns (rc, the task's result, stdout)."""

    def run(args: dict, *flags: str):
        play = [
            {
                "hosts": "localhost",
                "gather_facts": False,
                "tasks": [{"name": "files", "platform_files": args}],
            }
        ]
        book = tmp_path / "play.yml"
        book.write_text(json.dumps(play))
        result = ansible_playbook(
            str(book),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            *flags,
            ANSIBLE_LIBRARY=str(ROOT / "roles/platform/library"),
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        )
        out = result.stdout
        doc = json.JSONDecoder().raw_decode(out[out.index("{\n") :])[0]
        task = doc["plays"][0]["tasks"][0]["hosts"]["localhost"]
        return result.returncode, task, out

    return run


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_creates_then_changes_nothing(apply, tmp_path):
    conf = tmp_path / "etc" / "app"
    args = {
        "paths": [
            {"path": str(conf), "state": "directory", "mode": "0750"},
            {"path": str(conf / "app.conf"), "content": "port = 8080\n", "mode": "0640"},
        ]
    }
    rc, first, _ = apply(args)
    assert rc == 0 and first["changed"]
    assert first["changed_paths"] == [str(conf), str(conf / "app.conf")]
    assert mode(conf) == 0o750 and mode(conf / "app.conf") == 0o640
    assert (conf / "app.conf").read_text() == "port = 8080\n"

    rc, again, _ = apply(args)
    assert rc == 0 and not again["changed"] and again["changed_paths"] == []


def test_sets_a_drifted_mode_and_leaves_the_content(apply, tmp_path):
    f = tmp_path / "app.conf"
    f.write_text("port = 8080\n")
    os.chmod(f, 0o666)
    rc, res, _ = apply({"paths": [{"path": str(f), "content": "port = 8080\n", "mode": "0644"}]})
    assert rc == 0 and res["changed_paths"] == [str(f)]
    assert mode(f) == 0o644 and f.read_text() == "port = 8080\n"


def test_content_that_fails_validation_leaves_the_file(apply, tmp_path):
    f = tmp_path / "rules.conf"
    f.write_text("good\n")
    rc, res, _ = apply(
        {"paths": [{"path": str(f), "content": "bad\n", "validate": "grep -q good %s"}]}
    )
    assert rc != 0 and res["failed"]
    assert str(f) in res["msg"] and "failed validation" in res["msg"]
    assert f.read_text() == "good\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["play.yml", "rules.conf"]


def test_check_mode_writes_nothing_and_diff_shows_the_change(apply, tmp_path):
    f = tmp_path / "app.conf"
    f.write_text("port = 8080\n")
    rc, res, out = apply(
        {"paths": [{"path": str(f), "content": "port = 9090\n"}]}, "--check", "--diff"
    )
    assert rc == 0 and res["changed"]
    assert f.read_text() == "port = 8080\n"
    assert (
        res["diff"][0]["before"] == "port = 8080\n" and res["diff"][0]["after"] == "port = 9090\n"
    )


def test_absent_removes(apply, tmp_path):
    f = tmp_path / "password"
    f.write_text("old\n")
    rc, res, _ = apply({"paths": [{"path": str(f), "state": "absent"}]})
    assert rc == 0 and res["changed_paths"] == [str(f)] and not f.exists()


def test_a_file_whose_directory_is_missing_names_the_fix(apply, tmp_path):
    f = tmp_path / "nowhere" / "app.conf"
    rc, res, _ = apply({"paths": [{"path": str(f), "content": "x\n"}]})
    assert rc != 0 and "state=directory" in res["msg"] and not f.exists()
