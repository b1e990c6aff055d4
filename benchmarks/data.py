#!/usr/bin/env python3
"""The data stage against ansible.builtin.copy of the same folder, side by side (figures only).

On the lab's Spark hosts (`make demo` up), a generated folder of --files small files in
ten subfolders is sent three times by each way: to bare folders, again with nothing
changed, and again after one file changed. The role (playbooks/data.yml) writes into its
own folder (spark_data_dir overridden for the run), copy into another; both are removed
at the end. Prints seconds and the ratio of copy's time to the role's for each step.

    .venv/bin/python benchmarks/data.py [--files 200]
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from converge import playbook  # noqa: E402

HOSTS = "spark_master:spark_workers"
ROLE_DIR = "/srv/analytics-platform/bench-data-role"
COPY_DIR = "/srv/analytics-platform/bench-data-copy"


def role(source: Path) -> float:
    return playbook(
        "playbooks/data.yml",
        "-e",
        f"spark_data_source_dir={source}",
        "-e",
        f"spark_data_dir={ROLE_DIR}",
    )[0]


def copy(source: Path) -> float:
    args = f"src={source}/ dest={COPY_DIR}/ owner=root group=root mode=0644 directory_mode=0755"
    return playbook(HOSTS, "-m", "ansible.builtin.copy", "-a", args, tool="ansible")[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp)
        for i in range(a.files):
            part = source / f"part-{i % 10}"
            part.mkdir(exist_ok=True)
            (part / f"rows-{i:05d}.csv").write_text(
                f"store,day,units\n{i},2024-01-01,{i % 7}\n" * 200
            )
        changed = source / "part-0" / "rows-00000.csv"
        size = sum(f.stat().st_size for f in source.rglob("*.csv"))
        print(f"{a.files} files, {size / 1e6:.1f} MB, hosts {HOSTS}")
        print(f"{'step':<22} {'data stage':>11} {'copy':>9} {'copy / stage':>13}")
        try:
            for step in ("bare hosts", "nothing changed", "one file changed"):
                if step == "one file changed":
                    changed.write_text(changed.read_text() + "0,2024-01-02,1\n")
                ours, theirs = role(source), copy(source)
                print(f"{step:<22} {ours:9.1f} s {theirs:7.1f} s {theirs / ours:12.1f}x")
        finally:
            for folder in (ROLE_DIR, COPY_DIR):
                playbook(
                    HOSTS,
                    "-m",
                    "ansible.builtin.file",
                    "-a",
                    f"path={folder} state=absent",
                    tool="ansible",
                )


if __name__ == "__main__":
    main()
