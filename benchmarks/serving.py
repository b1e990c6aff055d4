#!/usr/bin/env python3
"""Measure online serving and print figures (never pass/fail).

POST /predict with keep-alive threads (benchmarks/httpload.py), in one run on this
machine: requests/s, p50 and p99 latency against one back-end directly, through one
Nginx (which spreads over every back-end of every serving host) and through every Nginx
at once; then the requests, failed requests and stale keep-alive retries while
playbooks/serving.yml rolls every back-end to a new image (the running image plus one
label, built on each serving host) under a steady load.

Needs a running platform: `make demo` (inventory/lab, the default) or any inventory
whose serving tier is up (e.g. a converged Molecule scenario's). When no model version is
loaded yet, a synthetic one is published (scripts/publish_test_model.py) if the model
store's DSN is known (--dsn, MODEL_STORE_DSN, or the lab's generated password).

    .venv/bin/python benchmarks/serving.py [-i inventory/lab] [--seconds 15] [--threads 8]
        [--no-upgrade]

After the upgrade the back-ends run that benchmark image; the next site.yml run rolls
them back to the image it builds (again without dropping a request).
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpload import run_load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CACHE = Path(os.environ.get("ANALYTICS_PLATFORM_CACHE", Path.home() / ".cache/analytics-platform"))
SERVING_DEFAULTS = yaml.safe_load((ROOT / "roles/serving/defaults/main.yml").read_text())
NGINX_DEFAULTS = yaml.safe_load((ROOT / "roles/nginx/defaults/main.yml").read_text())


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


def direct_backend(address: str) -> str:
    """URL of a healthy back-end on this address (either blue/green place of slot 1)."""
    for key in ("serving_backend_base_port", "serving_backend_alt_base_port"):
        url = f"http://{address}:{SERVING_DEFAULTS[key]}"
        try:
            if get_json(f"{url}/health")[0] == 200:
                return url
        except OSError:
            continue
    sys.exit(f"No healthy back-end answers on {address} (slot 1, either place).")


def line(label: str, r: dict) -> dict:
    print(
        f"{label:<44}{r['rps']:>9.1f}{r['p50_ms'] or 0:>9.1f}{r['p99_ms'] or 0:>9.1f}"
        f"{r['requests']:>10}{r['failed']:>8}"
    )
    return r


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-i", "--inventory", default=str(ROOT / "inventory/lab"))
    p.add_argument("--seconds", type=float, default=15.0, help="seconds per throughput run")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--upgrade-rate", type=float, default=100.0, help="req/s during the upgrade")
    p.add_argument("--dsn", default=os.environ.get("MODEL_STORE_DSN"))
    p.add_argument("--no-upgrade", action="store_true", help="skip the rolling-upgrade run")
    a = p.parse_args()

    serving, store = inventory(a.inventory)
    if not serving:
        sys.exit(f"No [serving] hosts in {a.inventory}: run `make demo` first.")
    port = NGINX_DEFAULTS["nginx_port"]
    fronts = [f"http://{addr}:{port}" for _, addr in serving]
    ensure_model(fronts[0], store, a.dsn)
    backend = direct_backend(serving[0][1])
    common = {"threads": a.threads, "duration": a.seconds, "scope": ["1", "2"]}

    print(f"POST /predict, {a.threads} keep-alive threads, {a.seconds:.0f} s a run, no rate limit")
    print(f"{'path':<44}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'failed':>8}")
    direct = line(f"one back-end direct ({backend[7:]})", run_load([backend], **common))
    proxied = run_load(fronts[:1], **common)
    line(f"one Nginx ({len(proxied['backends'])} back-ends answered)", proxied)
    if len(fronts) > 1:
        line(f"all {len(fronts)} Nginx", run_load(fronts, **common))
    if direct["rps"]:
        print(
            f"one Nginx / one back-end direct: {100 * proxied['rps'] / direct['rps']:.0f} %"
            f" (target >= 90 %; load generator, Nginx and back-ends share"
            f" {os.cpu_count()} CPUs here)"
        )

    if a.no_upgrade:
        return 0
    tag = f"analytics-platform/serving:bench-{int(time.time())}"
    build = (
        "set -e; img=$(docker ps --filter label=analytics-platform.component=serving-backend"
        " --format '{% raw %}{{.Image}}{% endraw %}' | head -1); "
        f"printf 'FROM %s\\nLABEL analytics-platform.bench=%s\\n' \"$img\" {tag.rsplit('-', 1)[1]}"
        f" | docker build -q -t {tag} -"
    )
    subprocess.run(
        [tool("ansible"), "serving", "-i", a.inventory, "-b", "-m", "ansible.builtin.shell"]
        + ["-a", build],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    log = CACHE / "benchmark-serving-upgrade.log"
    cmd = (
        f"{tool('ansible-playbook')} -i {a.inventory} {ROOT}/playbooks/upgrade.yml"
        f" -e serving_image={tag}"
    )
    r = run_load(
        fronts,
        threads=4,
        rate=a.upgrade_rate,
        duration=900,
        scope=["1", "2"],
        during=cmd,
        during_log=str(log),
    )
    print(f"\nRolling upgrade of every back-end to {tag} under {a.upgrade_rate:.0f} req/s")
    print(f"  playbook exit code        {r['during_rc']} ({r['during_seconds']} s; log {log})")
    print(f"  requests / ok / failed    {r['requests']} / {r['ok']} / {r['failed']}")
    print(f"  stale keep-alive retries  {r['stale_retries']}")
    print(f"  p50 / p99 ms              {r['p50_ms']} / {r['p99_ms']}")
    print(f"  answered by               {', '.join(r['backends'])}")
    if r["first_failures"]:
        print("  first failures:", *r["first_failures"], sep="\n    ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
