#!/usr/bin/env python3
"""Scopes at scale on this machine: publish, store size, and one back-end's serving of
many scopes within its memory budget. Prints figures (never pass/fail).

For each shape, on a throwaway PostgreSQL (Debian's binaries, loopback) and one Gunicorn
back-end of apps/serving (2 workers x 4 threads, as a serving slot runs it):

1. publish: the scopes written into a staged version in batches of 1,000 (as the
   training job's executors write them), then made visible at once; seconds, and the
   store's size on disk;
2. serving under Debian's wrk (keep-alive, no retries) with benchmarks/wrk/scopes.lua:
   first-touch scopes (each request a scope never asked for: a load from the store) and
   hot scopes (random among a set already in memory): req/s, p50 and p99;
3. the back-end's resident memory (all its processes) before and after, beside its
   budget (SERVING_CACHE_MB per worker).

Shapes: ``sales_forecast`` (a date pipeline of a few kB per scope) and ``heavy`` (the same
with 600 kB of incompressible bytes per scope, the size of a larger scikit-learn model).
Objects are pickled from 50 fitted templates (the store and serving see one object per
scope; fitting a million models would measure scikit-learn, not the platform).

    .venv/bin/python benchmarks/scale.py [--forecast-scopes 100000] [--heavy-scopes 2000]
        [--seconds 10] [--cache-mb 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "apps"), str(ROOT / "scripts"), str(ROOT / "benchmarks")]

import conftest  # noqa: E402  (apps/conftest.py: the throwaway PostgreSQL)
import modelstore  # noqa: E402
from modelstore import contract  # noqa: E402
from publish_test_model import fitted  # noqa: E402
from serving_contract import start_backend  # noqa: E402

SERVING = ROOT / "apps" / "serving"
LUA = ROOT / "benchmarks" / "wrk" / "scopes.lua"
TEMPLATES = 50
BATCH = 1000


def publish(dsn: str, scopes: int, pad_kb: int) -> dict:
    blobs = [modelstore.dumps_model(fitted(100.0 + i, 0.5, pad_kb)) for i in range(TEMPLATES)]
    started = time.monotonic()
    vid = modelstore.stage_version(dsn, {"scope_count": scopes}, model="sales_forecast")
    with modelstore.connect(dsn) as conn:
        for first in range(1, scopes + 1, BATCH):
            rows = [(str(i), blobs[i % TEMPLATES], {"mae": 0.0})
                    for i in range(first, min(first + BATCH, scopes + 1))]  # fmt: skip
            modelstore.write_scopes(None, vid, rows, conn=conn)
    modelstore.publish_staged(dsn, vid, model="sales_forecast", expected_scopes=scopes)
    seconds = time.monotonic() - started
    with modelstore.connect(dsn) as conn:
        size = conn.execute("SELECT pg_total_relation_size('scope_models')").fetchone()[0]
    return {"version": vid, "publish_s": seconds, "store_mb": size / 2**20,
            "object_kb": len(blobs[0]) / 1024}  # fmt: skip


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (MB)."""
    pids = [pid] + [
        int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                       text=True, check=False).stdout.split()
    ]  # fmt: skip
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def wrk(url: str, seconds: float, threads: int, connections: int, *args: str) -> dict:
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "-s", str(LUA),
         url, "--", *args],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    line = json.loads(out.strip().splitlines()[-1])
    if args and args[0] == "sequence":
        # The sequence stops once every scope was asked, but wrk waits out -d: the rate
        # while it ran, by Little's law (every connection always had a request out).
        line["rps"] = connections / (line["mean_ms"] / 1000) if line["mean_ms"] else 0.0
    else:
        line["rps"] = line["requests"] / line["seconds"]
    return line


def serve(dsn: str, workdir: Path, cache_mb: float, port: int) -> subprocess.Popen:
    """One back-end on loopback (serving_contract's), with a cache budget and a disk cache."""
    manifest = workdir / "manifest"
    manifest.mkdir(exist_ok=True)
    contract.write_manifest(manifest, ["sales_forecast"])
    return start_backend(SERVING, dsn, port, {
        "SERVING_CACHE_MB": str(cache_mb), "SERVING_CACHE_DIR": str(workdir / "cache"),
        "ANALYTICS_MODELS_PATH": str(manifest),
        "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2"),
        "MALLOC_MMAP_THRESHOLD_": os.environ.get("MALLOC_MMAP_THRESHOLD_", "131072"),
    })  # fmt: skip


def shape(server, name: str, scopes: int, pad_kb: int, args) -> dict:
    dsn = server.create_database()
    figures = {"shape": name, "scopes": scopes, **publish(dsn, scopes, pad_kb)}
    port = conftest.free_port()
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        proc = serve(dsn, Path(tmp), args.cache_mb, port)
        try:
            url = f"http://127.0.0.1:{port}/predict"
            figures["rss_before_mb"] = rss_mb(proc.pid)
            figures["first_touch"] = wrk(url, args.seconds, 1, 4, "sequence", "1", str(scopes))
            hot = str(min(scopes, 200))
            wrk(url, 3, 2, 8, "random", "1", hot)  # warm the hot set in every worker
            figures["hot"] = wrk(url, args.seconds, 2, 8, "random", "1", hot)
            figures["rss_after_mb"] = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forecast-scopes", type=int, default=100_000)
    parser.add_argument("--heavy-scopes", type=int, default=2_000)
    parser.add_argument("--heavy-kb", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--cache-mb", type=float, default=64, help="SERVING_CACHE_MB per worker")
    args = parser.parse_args()
    server = conftest.start_pg_server()
    try:
        rows = [
            shape(server, "sales_forecast", args.forecast_scopes, 0, args),
            shape(server, f"heavy {args.heavy_kb} kB", args.heavy_scopes, args.heavy_kb, args),
        ]
    finally:
        conftest.remove_pg_server(server)
    print(f"One back-end (2 workers x 4 threads), cache budget {args.cache_mb:g} MB per worker; "
          f"wrk {args.seconds:g} s per figure")  # fmt: skip
    print(
        "| shape | scopes | stored object | publish | store size | first-touch req/s, "
        "p50 / p99 | hot req/s, p50 / p99 | back-end memory before -> after (budget) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ft, hot = r["first_touch"], r["hot"]
        print(
            f"| {r['shape']} | {r['scopes']:,} | {r['object_kb']:.1f} kB | {r['publish_s']:.1f} s"
            f" | {r['store_mb']:,.0f} MB | {ft['rps']:,.0f}, {ft['p50_ms']:.1f} / "
            f"{ft['p99_ms']:.1f} ms ({ft['non2xx']} non-2xx) | {hot['rps']:,.0f}, "
            f"{hot['p50_ms']:.1f} / {hot['p99_ms']:.1f} ms ({hot['non2xx']} non-2xx) | "
            f"{r['rss_before_mb']:.0f} -> {r['rss_after_mb']:.0f} MB "
            f"({2 * args.cache_mb:g} MB) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
