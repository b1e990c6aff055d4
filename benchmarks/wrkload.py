#!/usr/bin/env python3
"""Load with Debian's wrk (keep-alive, no retries), optionally while a command runs.

wrk POSTs one forecast (benchmarks/wrk/predict.lua) and reports every socket error
(connect, read, write, timeout) and every non-2xx answer: nothing is retried, so "zero
failed" means zero for any client. The script also counts which back-end answered.

    python benchmarks/wrkload.py http://10.0.0.21/predict --seconds 30
    python benchmarks/wrkload.py http://10.0.0.21/models/NAME/predict --connections 4 \\
        --during "ansible-playbook playbooks/upgrade.yml" --during-log upgrade.log --rate 200

With --during, wrk runs until that command ends (at most --seconds), plus --tail
seconds, and the summary carries the command's exit code. With --rate, each connection
pauses between requests so that all of them together send at most that many a second
(wrk's delay() hook): still keep-alive and concurrent, but the machine keeps CPU for the
command under test. Without it, wrk sends as fast as the tier answers. Prints one JSON
summary.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "wrk" / "predict.lua"
DEFAULT_BODY = '{"scope": "1", "date": "2025-01-31"}'


def run(
    url: str,
    seconds: float = 15,
    threads: int = 1,
    connections: int = 4,
    body: str = DEFAULT_BODY,
    during: str | None = None,
    during_log: str | None = None,
    tail: float = 2.0,
    cpus: str | None = None,
    rate: float | None = None,
) -> dict:
    """Run wrk against url and return its figures. cpus: a CPU list for taskset; rate:
    at most this many requests a second over all connections (none: as fast as answered)."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s"]
    argv += ["-s", str(SCRIPT), url, "--", body]
    if cpus:
        argv = ["taskset", "-c", cpus, *argv]
    start = time.monotonic()
    env = dict(os.environ)
    env.pop("WRK_DELAY_MS", None)
    if rate:
        env["WRK_DELAY_MS"] = str(max(1, round(1000 * connections / rate)))
    load = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    result: dict = {}
    if during:
        time.sleep(1)  # the load is running before the command starts
        log = open(during_log, "w") if during_log else subprocess.DEVNULL  # noqa: SIM115
        try:
            cmd_start = time.monotonic()
            rc = subprocess.run(
                shlex.split(during), stdout=log, stderr=subprocess.STDOUT
            ).returncode
            result.update(during_rc=rc, during_seconds=round(time.monotonic() - cmd_start, 1))
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        time.sleep(tail)
        if load.poll() is None:
            load.send_signal(signal.SIGINT)  # wrk stops and prints its report
    out, _ = load.communicate(timeout=seconds + 60)
    report = next((line for line in out.splitlines() if line.startswith('{"wrk"')), None)
    if load.returncode != 0 or report is None:
        raise RuntimeError(f"wrk failed (exit {load.returncode}): {out.strip()}")
    figures = json.loads(report)["wrk"]
    errors = sum(figures[k] for k in ("connect", "read", "write", "timeout"))
    result.update(
        figures,
        url=url,
        rps=round(figures["requests"] / figures["seconds"], 1) if figures["seconds"] else 0.0,
        socket_errors=errors,
        failed=errors + figures["non_2xx"],
        wall_seconds=round(time.monotonic() - start, 1),
        report=out.splitlines()[:12],
    )
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("url")
    p.add_argument("--seconds", type=float, default=15, help="duration (with --during: at most)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--body", default=DEFAULT_BODY, help="the JSON body POSTed")
    p.add_argument("--during", help="a command to run under the load")
    p.add_argument("--during-log", help="file for the command's output")
    p.add_argument("--tail", type=float, default=2.0, help="seconds of load after the command")
    p.add_argument("--cpus", help="run wrk on these CPUs (taskset list, e.g. 0)")
    p.add_argument(
        "--rate", type=float, help="at most this many requests a second, over all connections"
    )
    a = p.parse_args()
    r = run(
        a.url, a.seconds, a.threads, a.connections, a.body, a.during, a.during_log, a.tail,
        a.cpus, a.rate,
    )  # fmt: skip
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
