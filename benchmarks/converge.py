#!/usr/bin/env python3
"""Time site.yml on the lab and print figures (never pass/fail).

Three runs, each timed and with the tasks changed per host:
  1. fresh: the lab recreated from bare hosts, then site.yml;
  2. no-op: site.yml again (targets: changed=0 on every host, under 60 s for 4 hosts);
  3. scale-out: one more worker host (lab_workers + 1), then site.yml (target: < 3 min).

It recreates the lab (`make demo-down` first unless --keep-lab), so run it when no one
else uses the lab. Images come from the controller's cache when their inputs did not
change (build time is benchmarks/images.py's business).

    .venv/bin/python benchmarks/converge.py [--workers 2] [--serving 1] [--keep-lab]
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def playbook(*args: str, tool: str = "ansible-playbook") -> tuple[float, dict[str, int]]:
    """Seconds and tasks changed per host of one run of the venv's `tool` (exits if it fails)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    start = time.monotonic()
    out = subprocess.run(
        [str(ROOT / ".venv/bin" / tool), *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    seconds = time.monotonic() - start
    if out.returncode != 0:
        sys.stdout.write(out.stdout[-4000:])
        sys.exit(f"{tool} {' '.join(args)} failed (exit {out.returncode})")
    changed = {h: int(c) for h, _ok, c, _u, _f in RECAP.findall(out.stdout)}
    return seconds, changed


def lab(workers: int, serving: int, state: str = "present") -> None:
    playbook(
        "playbooks/lab.yml",
        "-e",
        f"lab_workers={workers}",
        "-e",
        f"lab_serving={serving}",
        "-e",
        f"lab_hosts_state={state}",
    )


def row(name: str, seconds: float, changed: dict[str, int]) -> None:
    hosts = {h: c for h, c in sorted(changed.items()) if h != "localhost"}
    total = sum(hosts.values())
    detail = ", ".join(f"{h}={c}" for h, c in hosts.items())
    print(f"{name:<10} {seconds:8.1f} s   {len(hosts)} hosts   changed {total:>3}   ({detail})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--serving", type=int, default=1)
    ap.add_argument("--keep-lab", action="store_true", help="do not recreate the lab first")
    a = ap.parse_args()

    if not a.keep_lab:
        lab(a.workers, a.serving, "absent")
    lab(a.workers, a.serving)
    print(f"{'run':<10} {'wall':>10}")
    row("fresh", *playbook("site.yml", "-i", "inventory/lab"))
    row("no-op", *playbook("site.yml", "-i", "inventory/lab"))
    lab(a.workers + 1, a.serving)
    row("scale-out", *playbook("site.yml", "-i", "inventory/lab"))


if __name__ == "__main__":
    main()
