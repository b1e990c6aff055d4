#!/usr/bin/env python3
"""Measure online serving and print figures (never pass/fail).

0. First, on loopback (no lab needed): one back-end of this checkout (2 workers x 4
   threads, its gunicorn.conf.py, one sales_forecast scope on a throwaway PostgreSQL)
   beside bare Gunicorn apps with the same workers and threads: one that answers a
   constant JSON (with the back-end's gunicorn.conf.py, access log as the serving role
   sets it, and with Gunicorn's defaults), and one that also does the model's own work
   (its package's predict on a fitted scope, the frame built once). wrk -t2 -c8
   alternates between them, --rounds times each; the ratios of the medians say what the
   platform costs above its framework and the model.

Then on the lab. All load comes from Debian's wrk (keep-alive, no retries:
benchmarks/wrkload.py), POST /predict, in one run on this machine. For the throughput
runs the back-ends are pinned to one CPU set and Nginx plus wrk to another (`docker
update --cpuset-cpus` on the running containers, taskset for wrk; unpinned again
afterwards), so that the ratio measures Nginx's overhead rather than every process
sharing the cores:

1. requests/s, p50 and p99 against one back-end directly, against every back-end
   directly at once, and through one Nginx; the ratio through Nginx against direct;
2. the socket errors and non-2xx answers while the tier is upgraded to a new image (the
   running one plus a label, built on each serving host) and rolled back, each under a
   steady wrk load through Nginx.

To pin them for good, set serving_cpuset_cpus and nginx_cpuset_cpus.

Parts 1 and 2 need a running platform: `make demo` (inventory/lab, the default) or any
inventory whose serving tier is up (--loopback-only skips them). When no model version
is loaded yet, a synthetic one is published (scripts/publish_test_model.py) if the model
store's DSN is known (--dsn, MODEL_STORE_DSN, or the lab's generated password).

    .venv/bin/python benchmarks/serving.py [-i inventory/lab] [--seconds 15]
        [--connections 8] [--no-upgrade] [--rounds 3] [--loopback-only]
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serving_contract  # noqa: E402
from wrkload import run as wrk  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CACHE = Path(os.environ.get("ANALYTICS_PLATFORM_CACHE", Path.home() / ".cache/analytics-platform"))
SERVING_DEFAULTS = yaml.safe_load((ROOT / "roles/serving/defaults/main.yml").read_text())
PLATFORM = yaml.safe_load((ROOT / "roles/platform/defaults/main.yml").read_text())


def tool(name: str) -> str:
    local = BIN / name
    return str(local) if local.exists() else name


def inventory(path: str) -> tuple[list[tuple[str, str]], str | None]:
    """[(serving host, address)], the model store's address."""
    out = subprocess.run(
        [tool("ansible-inventory"), "-i", path, "--list"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    hostvars = data.get("_meta", {}).get("hostvars", {})

    def addr(host: str) -> str:
        return hostvars.get(host, {}).get("ansible_host", host)

    serving = [(h, addr(h)) for h in data.get("serving", {}).get("hosts", [])]
    store = data.get("model_store", {}).get("hosts", [])
    return serving, (addr(store[0]) if store else None)


def get_json(url: str, timeout: float = 3.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def ensure_model(front: str, store: str | None, dsn: str | None) -> None:
    status, body = get_json(f"{front}/health")
    if status == 200:
        return
    if not dsn and store:
        secret = CACHE / "lab/model_store_password"
        if secret.exists():
            dsn = f"postgresql://models:{secret.read_text().strip()}@{store}:5432/models"
    if not dsn:
        sys.exit(f"No model version is served ({body}); give --dsn to publish a synthetic one.")
    print("No model version loaded: publishing a synthetic one (scopes 1, 2).")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts/publish_test_model.py"), "--tag", "benchmark"],
        env=dict(os.environ, MODEL_STORE_DSN=dsn),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    for _ in range(60):
        if get_json(f"{front}/health")[0] == 200:
            return
        time.sleep(1)
    sys.exit("The back-ends did not load the published version within 60 s.")


def line(label: str, r: dict) -> dict:
    print(
        f"{label:<40}{r['rps']:>9.1f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
        f"{r['requests']:>10}{r['socket_errors']:>8}{r['non_2xx']:>8}"
    )
    return r


def together(urls: list[str], connections: int, **kw) -> dict:
    """wrk against every url at once (one wrk each), figures added up."""
    per = max(1, connections // len(urls))
    with ThreadPoolExecutor(len(urls)) as pool:
        runs = list(pool.map(lambda u: wrk(u, connections=per, **kw), urls))
    return {
        "rps": sum(r["rps"] for r in runs),
        "p50_ms": max(r["p50_ms"] for r in runs),
        "p99_ms": max(r["p99_ms"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "socket_errors": sum(r["socket_errors"] for r in runs),
        "non_2xx": sum(r["non_2xx"] for r in runs),
    }


BARE_APP = """import json
BODY = json.dumps({"model": "bare", "prediction": 196.0, "backend": "bare"}).encode()
def app(environ, start_response):
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(BODY)))])
    return [BODY]
"""

# The same, plus the model's own work: the package's predict on a fitted scope (fitted
# at start, as serving_contract publishes it) and a one-row frame built once.
BARE_MODEL_APP = """import json, sys
sys.path[:0] = [ROOT + "/apps/modelstore", ROOT + "/models"]
import pandas as pd
from modelstore import contract
model = contract.load("sales_forecast")
days = pd.date_range("2024-01-01", periods=120, freq="D")
t = pd.Series(range(120), dtype=float)
fitted, _ = model.fit_scope(pd.DataFrame({"date": days, "sales": 100 + 0.5 * t
                                          + 20.0 * (days.dayofweek >= 5)}), model.run_params())
rows = model.schema.frame([model.schema.validate({"date": "2024-06-01"})])
def app(environ, start_response):
    environ["wsgi.input"].read()
    value = float(model.module.predict(fitted, rows)[0])
    body = json.dumps({"model": "bare", "prediction": value, "backend": "bare"}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""


def loopback(seconds: int, rounds: int) -> None:
    """Part 0: one back-end against a bare Gunicorn app, on loopback, side by side."""
    sys.path.insert(0, str(ROOT / "apps"))
    from conftest import free_port, remove_pg_server, start_pg_server

    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    server = start_pg_server()
    procs: list[subprocess.Popen] = []
    try:
        dsn = server.create_database()
        subprocess.run([sys.executable, "-c", serving_contract.PUBLISH_NOW, dsn, str(ROOT)],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        (work / "models.json").write_text(
            json.dumps({"models": ["sales_forecast"], "default": "sales_forecast"})
        )
        (work / "bare.py").write_text(BARE_APP)
        (work / "bare_model.py").write_text(f"ROOT = {str(ROOT)!r}\n" + BARE_MODEL_APP)
        script = work / "post.lua"
        script.write_text(serving_contract.LUA)
        serving = ROOT / "apps/serving"
        gunicorn = str(BIN / "gunicorn")
        env = dict(os.environ, **serving_contract.serving_env())
        ports = {name: free_port() for name in ("backend", "bare-model", "bare", "bare-defaults")}
        procs.append(serving_contract.start_backend(
            serving, dsn, ports["backend"], {"ANALYTICS_MODELS_PATH": str(work)}))  # fmt: skip
        for name, argv, module in (
            ("bare-model", ["-c", str(serving / "gunicorn.conf.py")], "bare_model:app"),
            ("bare", ["-c", str(serving / "gunicorn.conf.py")], "bare:app"),
            ("bare-defaults", ["--workers", "2", "--threads", "4"], "bare:app"),
        ):
            procs.append(subprocess.Popen(
                [gunicorn, *argv, "--chdir", str(work), "--bind", f"127.0.0.1:{ports[name]}",
                 module],
                env=dict(env, SERVING_BIND=f"127.0.0.1:{ports[name]}"),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
        for name in ("bare-model", "bare", "bare-defaults"):
            for _ in range(150):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{ports[name]}/", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
        runs: dict[str, list[dict]] = {name: [] for name in ports}
        for _ in range(rounds):
            for name, port in ports.items():
                runs[name].append(serving_contract.wrk(port, seconds, script))
        labels = {
            "backend": "one back-end (apps/serving)",
            "bare-model": "bare app + the model's predict",
            "bare": "bare app, the back-end's gunicorn.conf",
            "bare-defaults": "bare app, Gunicorn's defaults",
        }
        print(f"\n0. On loopback: POST /predict, wrk -t2 -c8, {seconds} s a run, {rounds} rounds"
              " (2 workers x 4 threads each, one at a time)")  # fmt: skip
        print(f"{'app':<42}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'failed':>8}")
        for name, label in labels.items():
            for r in runs[name]:
                print(f"{label:<42}{r['rps']:>9.1f}{r['p50']:>9.2f}{r['p99']:>9.2f}"
                      f"{r['requests']:>10}{r['failed']:>8}")  # fmt: skip
        median = {name: statistics.median(r["rps"] for r in rs) for name, rs in runs.items()}
        for name in ("bare-model", "bare", "bare-defaults"):
            print(f"one back-end / {labels[name]}: {median['backend'] / median[name]:.0%}"
                  " of its req/s (median)")  # fmt: skip
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        remove_pg_server(server)
        subprocess.run(["rm", "-rf", str(work)], check=False)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-i", "--inventory", default=str(ROOT / "inventory/lab"))
    p.add_argument("--seconds", type=float, default=15.0, help="seconds per throughput run")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--front-cpus", default="0", help="CPUs of Nginx and wrk")
    p.add_argument("--backend-cpus", default=f"1-{max(1, (os.cpu_count() or 2) - 1)}")
    p.add_argument("--dsn", default=os.environ.get("MODEL_STORE_DSN"))
    p.add_argument("--no-upgrade", action="store_true", help="skip the upgrade and rollback")
    p.add_argument("--rounds", type=int, default=3, help="rounds of part 0 (loopback)")
    p.add_argument("--loopback-only", action="store_true", help="part 0 only: no lab needed")
    a = p.parse_args()

    loopback(int(a.seconds), a.rounds)
    if a.loopback_only:
        return 0

    serving, store = inventory(a.inventory)
    if not serving:
        sys.exit(f"No [serving] hosts in {a.inventory}: run `make demo` first.")
    port = PLATFORM["nginx_port"]
    base = SERVING_DEFAULTS["serving_backend_base_port"]
    slots = SERVING_DEFAULTS["serving_backends_per_host"]
    front = f"http://{serving[0][1]}:{port}/predict"
    backends = [f"http://{addr}:{base + i}/predict" for _, addr in serving for i in range(slots)]
    ensure_model(front.rsplit("/", 1)[0], store, a.dsn)
    playbook = f"{tool('ansible-playbook')} -i {a.inventory} {ROOT}/playbooks"
    every_cpu = f"0-{(os.cpu_count() or 1) - 1}"
    rollouts = []

    def on_serving_hosts(cmd: str) -> None:
        """A shell command on every serving host (as root, through Ansible)."""
        subprocess.run(
            [tool("ansible"), "serving", "-i", a.inventory, "-b", "-m", "ansible.builtin.shell"]
            + ["-a", cmd],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip

    def pin(backend_cpus: str, front_cpus: str) -> None:
        """Docker's cpuset of the running containers (docker update: no restart)."""
        on_serving_hosts(
            f"docker update --cpuset-cpus {backend_cpus} $(docker ps -q --filter"
            " label=analytics-platform.component=serving-backend) >/dev/null"
            f" && docker update --cpuset-cpus {front_cpus} nginx >/dev/null"
        )

    def rollout(label: str, command: str) -> None:
        log = CACHE / f"benchmark-serving-{label.split()[0]}.log"
        r = wrk(front, seconds=900, connections=4, during=command, during_log=str(log), tail=0,
                cpus=a.front_cpus)  # fmt: skip
        rollouts.append((label, r))

    pin(a.backend_cpus, a.front_cpus)

    print(
        f"\nPOST /predict with wrk, {a.connections} keep-alive connections,"
        f" {a.seconds:.0f} s a run;"
        f" back-ends on CPUs {a.backend_cpus}, Nginx and wrk on CPUs {a.front_cpus}"
    )
    print(
        f"{'path':<40}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}"
        f"{'sockerr':>8}{'non2xx':>8}"
    )
    kw = {"seconds": a.seconds, "cpus": a.front_cpus}
    one = line(
        f"one back-end direct ({backends[0][7:-8]})",
        wrk(backends[0], connections=a.connections, **kw),
    )
    every = line(
        f"every back-end direct ({len(backends)})", together(backends, a.connections, **kw)
    )
    nginx = line("through one Nginx", wrk(front, connections=a.connections, **kw))
    for label, direct in (("one back-end", one), ("every back-end", every)):
        if direct["rps"]:
            print(
                f"through Nginx / {label} direct:"
                f" {100 * nginx['rps'] / direct['rps']:.0f} % (target >= 90 %)"
            )

    pin(every_cpu, every_cpu)
    if not a.no_upgrade:
        tag = f"analytics-platform/serving:bench-{int(time.time())}"
        on_serving_hosts(
            "set -e; img=$(docker ps --filter label=analytics-platform.component=serving-backend"
            " --format '{% raw %}{{.Image}}{% endraw %}' | head -1); "
            "printf 'FROM %s\\nLABEL analytics-platform.bench=%s\\n' \"$img\""
            f" {tag.rsplit('-', 1)[1]}"
            f" | docker build -q -t {tag} -"
        )
        rollout(f"upgrade to {tag}", f"{playbook}/upgrade.yml -e serving_image={tag}")
        rollout("rollback (playbooks/rollback.yml)", f"{playbook}/rollback.yml")

    print("\nRoll-outs of every back-end under wrk through one Nginx (4 connections, no retries)")
    print(f"{'roll-out':<56}{'exit':>5}{'seconds':>9}{'requests':>10}{'sockerr':>8}{'non2xx':>8}")
    for label, r in rollouts:
        print(
            f"{label:<56}{r['during_rc']:>5}{r['during_seconds']:>9.0f}{r['requests']:>10}"
            f"{r['socket_errors']:>8}{r['non_2xx']:>8}"
        )
    print(f"(playbook logs: {CACHE}/benchmark-serving-*.log)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
