#!/usr/bin/env python3
"""Measure the image pipeline and print figures (never pass/fail).

For each image: uncompressed size, archive size, build seconds (a --no-cache rebuild
of the staged context), export seconds (docker save | compressor), copy seconds
(scp to a lab host) and load seconds (decompress | docker load on that host).
Then a comparison of compressors on the Spark image, and the wall time of a no-op
re-run of playbooks/images.yml against two lab hosts.

Needs `make demo` (the lab) to be up for the copy/load and re-run figures.

    .venv/bin/python benchmarks/images.py [--images base,spark,...] [--skip-build] [--slow]
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("ANALYTICS_PLATFORM_CACHE", Path.home() / ".cache/analytics-platform"))
KEY = CACHE / "ssh/id_ed25519"
SSH = [
    "-i",
    str(KEY),
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
]
# The images, their parents and included paths: the same list the image_build role uses.
IMAGES = yaml.safe_load((ROOT / "roles/image_build/defaults/main.yml").read_text())[
    "image_build_images"
]
ORDER = [i["name"] for i in IMAGES]
PARENT = {i["name"]: i["parent"] for i in IMAGES if "parent" in i}
INCLUDE = {i["name"]: i.get("include", []) for i in IMAGES}


def sh(cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, shell=True, check=True, executable="/bin/bash", **kw)


def timed(cmd: str) -> float:
    start = time.monotonic()
    sh(cmd, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def image_id(ref: str) -> str:
    return sh(
        f"docker image inspect -f '{{{{.Id}}}}' {ref}", capture_output=True, text=True
    ).stdout.strip()


def lab_hosts() -> list[tuple[str, str]]:
    inv = ROOT / "inventory/lab/hosts.ini"
    if not inv.exists():
        return []
    hosts = []
    section = None
    for line in inv.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif line and not line.startswith("#") and section == "spark_workers":
            name, *rest = line.split()
            addr = dict(x.split("=", 1) for x in rest).get("ansible_host", name)
            hosts.append((name, addr))
    return hosts


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--images", default=",".join(ORDER))
    ap.add_argument("--skip-build", action="store_true", help="do not time a --no-cache rebuild")
    ap.add_argument("--slow", action="store_true", help="also try zstd -19 --long (minutes)")
    args = ap.parse_args()
    names = [n for n in ORDER if n in args.images.split(",")]
    hosts = lab_hosts()
    target = hosts[0][1] if hosts else None
    work = Path(tempfile.mkdtemp(prefix="bench-images-"))
    python = sys.executable
    ids: dict[str, str] = {}
    refs: dict[str, str] = {}
    rows = []
    for name in names:
        cmd = [
            python,
            str(ROOT / "scripts/image_context.py"),
            "--name",
            name,
            "--image-dir",
            str(ROOT / next(i["dir"] for i in IMAGES if i["name"] == name)),
            "--out",
            str(CACHE / "contexts" / name),
            "--wheelhouse",
            str(CACHE / "wheels"),
            "--parent-id",
            ids.get(PARENT.get(name, ""), ""),
        ]
        for inc in INCLUDE.get(name, []):
            cmd += ["--include", str(ROOT / inc)]
        ctx = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        ref = f"analytics-platform/{name}:{ctx['tag']}"
        build_args = "--build-arg DEBIAN_IMAGE=debian:bookworm-slim"
        if name in PARENT:
            build_args += f" --build-arg BASE_IMAGE={refs[PARENT[name]]}"
        build_s = None
        if not args.skip_build:
            build_s = timed(
                f"docker build -q --no-cache {build_args} -t bench/{name}:x {ctx['context']}"
            )
            sh(f"docker rmi bench/{name}:x", stdout=subprocess.DEVNULL)
        sh(
            f"docker image inspect {ref} >/dev/null 2>&1"
            f" || docker build -q {build_args} -t {ref} {ctx['context']}",
            stdout=subprocess.DEVNULL,
        )
        ids[name], refs[name] = image_id(ref), ref
        size = int(
            sh(
                f"docker image inspect -f '{{{{.Size}}}}' {ref}", capture_output=True, text=True
            ).stdout
        )
        archive = work / f"{name}.tar.zst"
        export_s = timed(f"set -o pipefail; docker save {ref} | zstd -q -T0 -3 > {archive}")
        copy_s = load_s = None
        if target:
            copy_s = timed(
                f"scp -q {shlex.join(SSH)} {archive} root@{target}:/var/tmp/bench.tar.zst"
            )
            load_s = timed(
                f"ssh {shlex.join(SSH)} root@{target} "
                "'zstd -dc /var/tmp/bench.tar.zst | docker load -q && rm -f /var/tmp/bench.tar.zst'"
            )
        rows.append((name, size, archive.stat().st_size, build_s, export_s, copy_s, load_s))
        archive.unlink()

    def f(x):
        return "-" if x is None else f"{x:.1f}"

    print(f"\nImages (zstd -3 -T0; copy/load to {target or 'no lab host: run make demo'})")
    print(
        f"{'image':<12}{'size':>10}{'archive':>10}{'build s':>9}"
        f"{'export s':>10}{'copy s':>8}{'load s':>8}"
    )
    for name, size, arch, b, e, c, ld in rows:
        print(f"{name:<12}{mb(size):>10}{mb(arch):>10}{f(b):>9}{f(e):>10}{f(c):>8}{f(ld):>8}")

    if "spark" in refs:
        tar = work / "spark.tar"
        save_s = timed(f"docker save -o {tar} {refs['spark']}")
        print(
            "\nCompressors on the Spark image"
            f" (docker save to a plain tar: {save_s:.1f} s, {mb(tar.stat().st_size)})"
        )
        print(f"{'compressor':<22}{'archive':>10}{'compress s':>12}{'decompress s':>14}")
        trials = [
            ("gzip -6", "gzip -6 -c", "gzip -dc"),
            ("pigz -6", "pigz -6 -c", "pigz -dc"),
            ("zstd -3 -T0", "zstd -q -3 -T0 -c", "zstd -q -dc"),
            ("zstd -9 -T0", "zstd -q -9 -T0 -c", "zstd -q -dc"),
        ]
        if args.slow:
            trials.append(
                ("zstd -19 --long=27", "zstd -q -19 --long=27 -T0 -c", "zstd -q -dc --long=27")
            )
        for label, comp, decomp in trials:
            out = work / "spark.cmp"
            c = timed(f"{comp} {tar} > {out}")
            d = timed(f"{decomp} {out} > /dev/null")
            print(f"{label:<22}{mb(out.stat().st_size):>10}{c:>12.1f}{d:>14.1f}")
            out.unlink()
        tar.unlink()

    if len(hosts) >= 2:
        limit = ",".join(["localhost"] + [h for h, _ in hosts[:2]])
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
        cmd = [
            str(Path(python).with_name("ansible-playbook")),
            "playbooks/images.yml",
            "-i",
            "inventory/lab",
            "-l",
            limit,
        ]
        # The first run converges (ships whatever the lab lacks); the second is the no-op.
        for label in ("Converging run", "No-op re-run"):
            start = time.monotonic()
            res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            took = time.monotonic() - start
            print(
                f"\n{label} of playbooks/images.yml for 2 hosts: {took:.1f} s (rc={res.returncode})"
            )
            for ln in res.stdout.splitlines():
                if "changed=" in ln and " : ok=" in ln:
                    print("  " + " ".join(ln.split()[:4]))
    os.rmdir(work)


if __name__ == "__main__":
    main()
