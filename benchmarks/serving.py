#!/usr/bin/env python3
"""Measure online serving and print figures (never pass/fail).

All load comes from Debian's wrk (keep-alive, no retries: benchmarks/wrkload.py), POST
/predict, in one run on this machine. For the throughput runs the back-ends are pinned
to one CPU set and Nginx plus wrk to another (`docker update --cpuset-cpus` on the
running containers, taskset for wrk; unpinned again afterwards), so that the ratio
measures Nginx's overhead rather than every process sharing the cores:

1. requests/s, p50 and p99 against one back-end directly, against every back-end
   directly at once, and through one Nginx; the ratio through Nginx against direct;
2. the socket errors and non-2xx answers while the tier is upgraded to a new image (the
   running one plus a label, built on each serving host) and rolled back, each under a
   steady wrk load through Nginx.

To pin them for good, set serving_cpuset_cpus and nginx_cpuset_cpus.

Needs a running platform: `make demo` (inventory/lab, the default) or any inventory
whose serving tier is up. When no model version is loaded yet, a synthetic one is
published (scripts/publish_test_model.py) if the model store's DSN is known (--dsn,
MODEL_STORE_DSN, or the lab's generated password).

    .venv/bin/python benchmarks/serving.py [-i inventory/lab] [--seconds 15]
        [--connections 8] [--no-upgrade]
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-i", "--inventory", default=str(ROOT / "inventory/lab"))
    p.add_argument("--seconds", type=float, default=15.0, help="seconds per throughput run")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--front-cpus", default="0", help="CPUs of Nginx and wrk")
    p.add_argument("--backend-cpus", default=f"1-{max(1, (os.cpu_count() or 2) - 1)}")
    p.add_argument("--dsn", default=os.environ.get("MODEL_STORE_DSN"))
    p.add_argument("--no-upgrade", action="store_true", help="skip the upgrade and rollback")
    a = p.parse_args()

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
