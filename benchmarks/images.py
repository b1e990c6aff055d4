#!/usr/bin/env python3
"""Measure what the images stage ships, and how long it takes (figures, never pass/fail).

On the lab (`make demo` up), runs the real `playbooks/images.yml` and prints, per host
and in total, the bytes shipped and the wall time of:

1. a fresh deploy: the platform's containers and images removed from the hosts first
   (volumes stay; site.yml restores the lab right after), copies in parallel (forks from
   ansible.cfg), then the same with `--forks 1` (one host at a time);
2. site.yml with nothing changed, then a one-line change to the training app
   (apps/training/train.py) deployed with site.yml as a user would (the spark-driver
   and JupyterLab containers restart on the new images; the Spark daemons run Spark
   alone and stay), each with its seconds per stage and slowest tasks; both
   under Ansible's own linear strategy (the default) and under Mitogen's
   (ANSIBLE_STRATEGY=mitogen_linear, README "Faster runs"), side by side;
3. a new pin in images/base/requirements.txt, images stage only: the venv layer of base
   and everything above it rebuild.

The changes are made in a copy of the sources (image_build_repo_root), never in the
checkout. Then the size of each image's archive and of each layer of the Spark image,
and zstd levels compared on the Spark image.

    .venv/bin/python benchmarks/images.py [--steps fresh,app,pin,levels]
                                          [--strategies linear,mitogen_linear]
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("ANALYTICS_PLATFORM_CACHE", Path.home() / ".cache/analytics-platform"))
INVENTORY = ROOT / "inventory/lab"
# A small pure-Python package none of the images has: a requirement change for real.
NEW_PIN = "termcolor==2.5.0"
# Actions that run on the controller alone: every other task result (each loop item) is
# a module run on the host, the work a run does whatever this machine's speed (a template
# or a copy counts once, though Ansible runs two modules for it).
CONTROLLER_ONLY = {
    "assert",
    "debug",
    "fail",
    "include_role",
    "include_tasks",
    "include_vars",
    "meta",
    "set_fact",
    "validate_argument_spec",
}


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e5 else f"{n / 1e3:,.1f} kB"


def ansible(
    tool: str, *args: str, json_out: bool = False, strategy: str = "linear"
) -> subprocess.CompletedProcess:
    """Run ansible or ansible-playbook of this venv on the lab; exits on a failure."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STRATEGY=strategy)
    if json_out:
        env.update(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    cmd = [str(Path(sys.executable).with_name(tool)), "-i", str(INVENTORY), *args]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(
            f"{shlex.join(cmd)} failed (rc={res.returncode}):\n"
            f"{res.stdout[-3000:]}{res.stderr[-2000:]}"
        )
    return res


def seconds(duration: dict) -> float:
    if "end" not in duration:  # a task no host ran
        return 0.0
    start, end = (
        datetime.fromisoformat(duration[k].replace("Z", "+00:00")) for k in ("start", "end")
    )
    return (end - start).total_seconds()


def reference_loop() -> float:
    """Wall seconds of a fixed pure-Python loop: this machine's speed at the moment. It
    varies by a third within minutes on a shared VM, so it is printed beside each time."""
    start, total = time.perf_counter(), 0
    for i in range(5_000_000):
        total += i
    return time.perf_counter() - start


def deploy(
    playbook: str, *extra: str, strategy: str = "linear"
) -> tuple[float, dict[str, list[dict]], dict]:
    """Run a playbook; returns its wall time, what each host was shipped, and where
    the time went (seconds per stage, and the slowest tasks)."""
    loop_s = reference_loop()
    start = time.monotonic()
    res = ansible("ansible-playbook", playbook, *extra, json_out=True, strategy=strategy)
    took = time.monotonic() - start
    shipped: dict[str, list[dict]] = {}
    stages: dict[str, float] = {}
    tasks: list[tuple[float, str]] = []
    runs: dict[str, int] = {}
    # the JSON document, whatever the other callbacks (profile_tasks) print around it
    begin = res.stdout.index("{\n")
    for play in json.JSONDecoder().raw_decode(res.stdout[begin:])[0]["plays"]:
        # a play's name is "<stage> | <what>": the stage is site.yml's unit
        stage = play["play"]["name"].split(" | ")[0]
        stages[stage] = stages.get(stage, 0.0) + seconds(play["play"]["duration"])
        for task in play["tasks"]:
            tasks.append((seconds(task["task"]["duration"]), f"{stage}: {task['task']['name']}"))
            for host, result in task["hosts"].items():
                action = result.get("action", "").split(".")[-1]
                if not result.get("skipped") and action not in CONTROLLER_ONLY:
                    items = [i for i in result.get("results", [result]) if not i.get("skipped")]
                    runs[host] = runs.get(host, 0) + len(items)
                facts = result.get("ansible_facts", {})
                if "image_ship_shipped" in facts:
                    shipped[host] = facts["image_ship_shipped"]
    spent = {"stages": stages, "tasks": sorted(tasks, reverse=True)[:8], "runs": runs}
    return took, shipped, spent | {"loop": loop_s}


def report(label: str, took: float, shipped: dict[str, list[dict]], spent: dict) -> None:
    total = sum(s["bytes"] for items in shipped.values() for s in items)
    print(f"\n{label}: {took:.1f} s, {mb(total)} shipped in total")
    tasks = len(spent["tasks"])
    print(
        "  seconds per stage: "
        + ", ".join(
            f"{name} {s:.1f}" for name, s in sorted(spent["stages"].items(), key=lambda i: -i[1])
        )
    )
    print(f"  slowest {tasks} tasks: " + "; ".join(f"{t} {s:.1f}" for s, t in spent["tasks"]))
    runs = spent["runs"]
    print(
        f"  module runs: {sum(runs.values())} ("
        + ", ".join(f"{h} {n}" for h, n in sorted(runs.items()))
        + f"); reference loop just before: {spent['loop']:.2f} s"
    )
    for host, items in sorted(shipped.items()):
        what = (
            ", ".join(
                f"{s['name']} {'full' if s['full'] else 'partial'}"
                f" {s['layers']}/{s['of']} layers {mb(s['bytes'])}"
                for s in items
            )
            or "nothing"
        )
        print(f"  {host:<16}{mb(sum(s['bytes'] for s in items)):>12}  {what}")


def on_hosts(cmd: str) -> None:
    ansible("ansible", "docker_hosts", "-b", "-m", "shell", "-a", cmd)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--steps", default="fresh,app,pin,levels", help="which measurements to run")
    ap.add_argument(
        "--strategies",
        default="linear,mitogen_linear",
        help="the Ansible strategies the app step compares",
    )
    args = ap.parse_args()
    steps = set(args.steps.split(","))
    if not (INVENTORY / "hosts.ini").exists():
        sys.exit("no lab: run `make demo` first")
    # A fresh deploy needs hosts without the platform: its containers are removed (their
    # volumes and data stay) and site.yml puts them back at the end.
    if "fresh" in steps:
        for label, extra in (
            ("Fresh deploy, parallel copies", []),
            ("Fresh deploy, --forks 1", ["--forks", "1"]),
        ):
            on_hosts(
                "docker ps -aq --filter label=analytics-platform.component | xargs -r docker rm -f;"
                " docker image ls -q 'analytics-platform/*' | sort -u"
                " | xargs -r docker rmi -f >/dev/null 2>&1; docker image prune -f >/dev/null"
            )
            report(label, *deploy("playbooks/images.yml", *extra))
        # the containers back, so that the next steps start from a running platform
        ansible("ansible-playbook", "site.yml")
    src = Path(tempfile.mkdtemp(prefix="bench-images-"))
    try:
        for part in ("images", "apps", "scripts", "models"):
            shutil.copytree(ROOT / part, src / part)
        repo = ["-e", f"image_build_repo_root={src}"]
        walls: dict[str, tuple[float, float]] = {}
        for strategy in args.strategies.split(",") if "app" in steps else []:
            # the same run with nothing changed: what site.yml costs whatever changed
            noop = deploy("site.yml", *repo, strategy=strategy)
            report(f"Nothing changed, site.yml, strategy {strategy}", *noop)
            # a line never seen before: a host keeps the previous version, so a change made
            # by an earlier run (or strategy) would already be there
            with open(src / "apps/training/train.py", "a") as f:
                f.write(f"# one-line change {time.time_ns()}\n")
            # the whole deploy, as a user runs it: spark-driver and JupyterLab restart
            change = deploy("site.yml", *repo, strategy=strategy)
            report(f"One-line change to the training app, site.yml, strategy {strategy}", *change)
            walls[strategy] = (noop[0], change[0])
        if len(walls) > 1:
            print("\nsite.yml wall time by strategy (nothing changed / one-line change)")
            base, (base_noop, base_change) = next(iter(walls.items()))
            for strategy, (noop_s, change_s) in walls.items():
                print(
                    f"  {strategy:<16}{noop_s:>7.1f} s{change_s:>8.1f} s   ratio to {base}:"
                    f" {noop_s / base_noop:.2f} / {change_s / base_change:.2f}"
                )
        if "pin" in steps:
            # a new pin (a comment alone rebuilds to the same layers: Docker's build cache)
            with open(src / "images/base/requirements.txt", "a") as f:
                f.write(f"{NEW_PIN}\n")
            report(
                f"New pin {NEW_PIN} in images/base/requirements.txt, images.yml",
                *deploy("playbooks/images.yml", *repo),
            )
    finally:
        shutil.rmtree(src)
    # the platform back on the hosts, as the checkout's sources say
    if "app" in steps:
        ansible("ansible-playbook", "site.yml")

    archives = sorted((CACHE / "archives").glob("*.tar.zst"), key=lambda p: p.stat().st_mtime)
    newest: dict[str, Path] = {}
    for a in archives:
        newest[a.name.split("-", 1)[0]] = a
    # written when some host needed the whole image (every one after a fresh deploy)
    print("\nFull archives (zstd -3) on the controller, newest of each image")
    for name, a in sorted(newest.items()):
        print(f"  {name:<16}{mb(a.stat().st_size):>12}")
    # the Spark archive a bare Spark host receives: the daemons' image (spark only adds
    # the apps, kilobytes, on the master host)
    spark = newest.get("spark_runtime")
    if "levels" in steps and not spark:
        print("\nzstd levels: no spark_runtime archive yet (run the fresh step first)")
    if spark and "levels" in steps:
        work = Path(tempfile.mkdtemp(prefix="bench-levels-"))
        try:
            tar = work / "spark.tar"
            subprocess.run(f"zstd -q -dc {spark} > {tar}", shell=True, check=True)
            size = mb(tar.stat().st_size)
            print(f"\nzstd levels on the Spark image, spark_runtime ({size} uncompressed)")
            print(f"  {'level':<12}{'archive':>12}{'compress s':>12}{'decompress s':>14}")
            for level in ("-3", "-6", "-9", "-12"):
                out = work / "c.zst"
                t0 = time.monotonic()
                subprocess.run(f"zstd -q -T0 {level} -c {tar} > {out}", shell=True, check=True)
                t1 = time.monotonic()
                subprocess.run(f"zstd -q -dc {out} > /dev/null", shell=True, check=True)
                t2 = time.monotonic()
                print(f"  {level:<12}{mb(out.stat().st_size):>12}{t1 - t0:>12.1f}{t2 - t1:>14.1f}")
        finally:
            shutil.rmtree(work)


if __name__ == "__main__":
    main()
