#!/usr/bin/env python3
"""What the model contract costs a back-end: requests/s of one Gunicorn back-end for a
single forecast, the code before the contract against this checkout, side by side.

    .venv/bin/python benchmarks/serving_contract.py [--before 199bdab] [--seconds 10] [--rounds 2]

Everything runs on loopback: a throwaway PostgreSQL (Debian's binaries, as the tests
use), one model version published by each code's own store client, and two Gunicorn
back-ends with the image's settings (2 workers x 4 threads). Debian's `wrk` (keep-alive,
no retries) loads one back-end at a time, alternating, `--rounds` times each. Prints
req/s, p50/p99 latency and failed requests per run, and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "apps")]

PUBLISH_BEFORE = """
import sys
sys.path[:0] = [sys.argv[2] + "/apps/modelstore"]
import modelstore, numpy as np, pandas as pd
from modelstore.features import DateFeatures
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
days = pd.date_range("2024-01-01", periods=120, freq="D")
x = np.asarray(days.strftime("%Y-%m-%d"), dtype=object).reshape(-1, 1)
y = 100 + 0.5 * np.arange(120) + 20.0 * (days.dayofweek >= 5)
m = Pipeline([("features", DateFeatures()), ("regression", LinearRegression())]).fit(x, y)
print(modelstore.publish_version(sys.argv[1], {}, {"1": (m, {})}))
"""

PUBLISH_NOW = """
import sys
sys.path[:0] = [sys.argv[2] + "/apps/modelstore", sys.argv[2] + "/models"]
import modelstore, pandas as pd
from modelstore import contract
model = contract.load("sales_forecast")
days = pd.date_range("2024-01-01", periods=120, freq="D")
t = pd.Series(range(120), dtype=float)
rows = pd.DataFrame({"date": days, "sales": 100 + 0.5 * t + 20.0 * (days.dayofweek >= 5)})
fitted, metrics = model.fit_scope(rows, model.run_params())
print(modelstore.publish_version(sys.argv[1], {}, {"1": (fitted, metrics)}, model="sales_forecast"))
"""

LUA = """wrk.method = "POST"
wrk.body = '{"scope": "1", "date": "2024-06-01"}'
wrk.headers["Content-Type"] = "application/json"
"""


def free_port() -> int:
    from conftest import free_port as fp

    return fp()


def serving_env() -> dict[str, str]:
    """A serving slot's Gunicorn settings, as the serving role's defaults set them."""
    import yaml

    defaults = yaml.safe_load((ROOT / "roles/serving/defaults/main.yml").read_text())
    return {"SERVING_WORKERS": "2", "SERVING_THREADS": "4", "SERVING_LOG_LEVEL": "warning",
            "SERVING_ACCESS_LOG": "1" if defaults["serving_access_log"] else "0"}  # fmt: skip


def start_backend(serving_dir: Path, dsn: str, port: int, env_extra: dict) -> subprocess.Popen:
    """A back-end with a serving slot's settings (its access log, if on, to /dev/null)."""
    env = dict(os.environ, MODEL_STORE_DSN=dsn, SERVING_BIND=f"127.0.0.1:{port}",
               **serving_env(), **env_extra)  # fmt: skip
    env.pop("PYTHONPATH", None)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = ["--access-logfile", "/dev/null"] if env["SERVING_ACCESS_LOG"] == "1" else []
    proc = subprocess.Popen(
        [str(gunicorn), "-c", "gunicorn.conf.py", *log, "wsgi:app"],
        cwd=serving_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"the back-end in {serving_dir} never became healthy on port {port}")


def wrk(port: int, seconds: int, script: Path) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}/predict"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = (sum(int(g) for g in errors.groups()) if errors else 0) + (
        int(non2xx.group(1)) if non2xx else 0
    )
    return {"rps": rps, "p50": ms("50%"), "p99": ms("99%"), "requests": total, "failed": failed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="199bdab", help="commit before the contract")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    from conftest import remove_pg_server, start_pg_server

    work = Path(tempfile.mkdtemp(prefix="bench-contract-"))
    old = work / "before"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.before],
                   check=True, capture_output=True)  # fmt: skip
    server = start_pg_server()
    procs = []
    try:
        dsn_old, dsn_new = server.create_database(), server.create_database()
        for code, dsn, root in ((PUBLISH_BEFORE, dsn_old, old), (PUBLISH_NOW, dsn_new, ROOT)):
            subprocess.run([sys.executable, "-c", code, dsn, str(root)], check=True)
        manifest = work / "manifest"
        manifest.mkdir()
        (manifest / "models.json").write_text(
            json.dumps({"models": ["sales_forecast"], "default": "sales_forecast"})
        )
        script = work / "post.lua"
        script.write_text(LUA)
        ports = {"before": free_port(), "now": free_port()}
        procs.append(start_backend(old / "apps/serving", dsn_old, ports["before"], {}))
        procs.append(
            start_backend(
                ROOT / "apps/serving",
                dsn_new,
                ports["now"],
                {"ANALYTICS_MODELS_PATH": str(manifest)},
            )
        )
        runs: dict[str, list[dict]] = {"before": [], "now": []}
        for _ in range(args.rounds):
            for name in ("before", "now"):
                runs[name].append(wrk(ports[name], args.seconds, script))
        print(f"{'code':<34}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'failed':>8}")
        for name, label in (
            ("before", f"before the contract ({args.before})"),
            ("now", "with the contract (this checkout)"),
        ):
            for r in runs[name]:
                print(
                    f"{label:<34}{r['rps']:>9.1f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['requests']:>10}{r['failed']:>8}"
                )
        before = statistics.median(r["rps"] for r in runs["before"])
        now = statistics.median(r["rps"] for r in runs["now"])
        print(
            f"\nmedian req/s: before {before:.1f}, now {now:.1f}; now / before = {now / before:.1%}"
            " (one back-end, 2 workers x 4 threads, wrk -t2 -c8, all on this machine's cores)"
        )
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        remove_pg_server(server)
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False
        )
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
