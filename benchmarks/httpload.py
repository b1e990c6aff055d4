#!/usr/bin/env python3
"""A small HTTP load generator for POST /predict: threads, keep-alive, bounded.

Each thread keeps one keep-alive connection to one target (targets are shared out
round-robin) and sends POST /predict until the time, request count or stop condition is
reached. A request counts as OK when the answer is 200 with a prediction; everything
else (another status, a timeout, a refused or reset connection) is a failed request.

One exception, which every HTTP client makes: when the server closed a *reused*
keep-alive connection before sending a single byte of the answer (an Nginx reload
closing idle client connections races with the next request), the request is sent again
once on a new connection. /predict is a pure function, so this is safe; such retries
are counted (`stale_retries`) and reported, never hidden.

    python benchmarks/httpload.py --target http://10.0.0.21 --target http://10.0.0.22 \\
        --threads 4 --rate 50 --duration 60 --during "ansible-playbook playbooks/upgrade.yml"

With --during, the load runs while that command runs (plus --tail seconds) and the
summary carries its exit code. Prints one JSON summary with --json, else text.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from urllib.parse import urlsplit


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ok = 0
        self.failed = 0
        self.stale_retries = 0
        self.latencies: list[float] = []
        self.failures: Counter = Counter()
        self.backends: Counter = Counter()
        self.versions: Counter = Counter()
        self.first_failures: list[str] = []

    def record_ok(self, latency: float, backend: str, version) -> None:
        with self.lock:
            self.ok += 1
            self.latencies.append(latency)
            self.backends[backend] += 1
            self.versions[str(version)] += 1

    def record_failure(self, kind: str, detail: str) -> None:
        with self.lock:
            self.failed += 1
            self.failures[kind] += 1
            if len(self.first_failures) < 10:
                self.first_failures.append(f"{time.strftime('%H:%M:%S')} {kind}: {detail}")


def percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


class Worker(threading.Thread):
    def __init__(self, target: str, args, stats: Stats, stop: threading.Event, budget):
        super().__init__(daemon=True)
        parts = urlsplit(target)
        self.host = parts.hostname
        self.port = parts.port or 80
        self.args = args
        self.stats = stats
        self.stop = stop
        self.budget = budget
        self.conn: http.client.HTTPConnection | None = None
        self.used = False  # the current connection has carried a full answer

    def connect(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.args.timeout)
            self.used = False
        return self.conn

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def once(self, body: bytes):
        """(status, payload) of one request; raises on a connection problem."""
        conn = self.connect()
        conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        if response.getheader("Connection", "").lower() == "close":
            self.drop()
        else:
            self.used = True
        return response.status, data

    def run(self) -> None:
        interval = self.args.threads / self.args.rate if self.args.rate > 0 else 0.0
        next_at = time.monotonic()
        i = 0
        while not self.stop.is_set() and self.budget():
            scope = self.args.scope[i % len(self.args.scope)]
            i += 1
            body = json.dumps({"scope": scope, "date": self.args.date}).encode()
            start = time.monotonic()
            try:
                try:
                    status, data = self.once(body)
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    if not self.used:
                        raise
                    # The server closed a reused keep-alive connection before answering.
                    with self.stats.lock:
                        self.stats.stale_retries += 1
                    self.drop()
                    status, data = self.once(body)
                latency = time.monotonic() - start
                if status == 200:
                    payload = json.loads(data)
                    if "prediction" not in payload:
                        self.stats.record_failure(
                            "no-prediction", data[:200].decode(errors="replace")
                        )
                    else:
                        self.stats.record_ok(
                            latency, payload.get("backend", "?"), payload.get("model_version")
                        )
                else:
                    self.stats.record_failure(f"http-{status}", data[:200].decode(errors="replace"))
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.drop()
                self.stats.record_failure(type(exc).__name__, str(exc)[:200])
            if interval:
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)
                else:
                    next_at = time.monotonic()
        self.drop()


def run_load(
    targets: list[str],
    *,
    threads: int = 4,
    rate: float = 0.0,
    duration: float = 10.0,
    max_requests: int = 0,
    scope: list[str] | None = None,
    date: str = "2025-01-31",
    timeout: float = 10.0,
    during: str | None = None,
    warmup: float = 2.0,
    tail: float = 2.0,
    during_log: str | None = None,
) -> dict:
    """Run the load; returns the summary dict (see the module docstring)."""
    args = argparse.Namespace(
        threads=threads, rate=rate, scope=scope or ["1"], date=date, timeout=timeout
    )
    stats = Stats()
    stop = threading.Event()
    sent = [0]
    sent_lock = threading.Lock()

    def budget() -> bool:
        if not max_requests:
            return True
        with sent_lock:
            sent[0] += 1
            return sent[0] <= max_requests

    workers = [Worker(targets[i % len(targets)], args, stats, stop, budget) for i in range(threads)]
    start = time.monotonic()
    deadline = start + duration
    for w in workers:
        w.start()
    during_rc = None
    during_seconds = None
    if during:
        time.sleep(warmup)
        t0 = time.monotonic()
        log = open(during_log, "w") if during_log else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen(during, shell=True, stdout=log, stderr=subprocess.STDOUT)
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            if proc.poll() is None:
                proc.kill()
            during_rc = proc.wait()
        finally:
            if during_log:
                log.close()
        during_seconds = round(time.monotonic() - t0, 1)
        deadline = min(deadline, time.monotonic() + tail)
    while time.monotonic() < deadline and any(w.is_alive() for w in workers):
        time.sleep(0.1)
    stop.set()
    for w in workers:
        w.join(timeout + 1)
    elapsed = time.monotonic() - start
    lat = sorted(stats.latencies)
    total = stats.ok + stats.failed
    return {
        "targets": targets,
        "threads": threads,
        "seconds": round(elapsed, 2),
        "requests": total,
        "ok": stats.ok,
        "failed": stats.failed,
        "stale_retries": stats.stale_retries,
        "rps": round(total / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(lat, 50) * 1000, 2) if lat else None,
        "p99_ms": round(percentile(lat, 99) * 1000, 2) if lat else None,
        "failures": dict(stats.failures),
        "first_failures": stats.first_failures,
        "backends": dict(sorted(stats.backends.items())),
        "model_versions": dict(stats.versions),
        "during_rc": during_rc,
        "during_seconds": during_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", required=True, help="http://host[:port]")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s in all (0: no limit)")
    parser.add_argument("--duration", type=float, default=10.0, help="most seconds to run")
    parser.add_argument("--max-requests", type=int, default=0, help="most requests (0: no limit)")
    parser.add_argument("--scope", action="append", help="scope(s) to predict (default 1)")
    parser.add_argument("--date", default="2025-01-31")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--during", help="shell command to run while the load runs")
    parser.add_argument("--during-log", help="file for the --during command's output")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before --during")
    parser.add_argument("--tail", type=float, default=2.0, help="seconds of load after --during")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    a = parser.parse_args(argv)
    summary = run_load(
        a.target,
        threads=a.threads,
        rate=a.rate,
        duration=a.duration,
        max_requests=a.max_requests,
        scope=a.scope,
        date=a.date,
        timeout=a.timeout,
        during=a.during,
        warmup=a.warmup,
        tail=a.tail,
        during_log=a.during_log,
    )
    if a.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:15} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
