#!/usr/bin/env python3
"""Plan and build the image archives each host needs: only the layers it lacks.

    image_archive.py --level 3 < plan.json > shipments.json

Reads on stdin {"images": {name: {ref, id, layers, archive}}, "order": [names...],
"hosts": {host: {"want": [names], "store": "<docker info DriverStatus>",
"images": [{"id": ..., "layers": [diff IDs]}]}}}: image_build's result, and what each
host's engine reported. Prints {host: [shipment, ...]}, one shipment per image the host
lacks, in build order, each {name, archive, bytes, layers, of, full, reason}.

A layer is identified by its chain ID (its diff ID and every layer under it), as
`docker load` does: it skips a layer whose chain ID the engine holds, so an archive
without that layer's tarball still loads. A host that lacks every layer of an image gets
the full archive image_build exported; one that holds some gets a partial archive, built
once from the full one and cached by content (image ID and the layers it carries), so
hosts lacking the same layers share one file. Layers an earlier shipment to the same
host carries (base under spark and serving) are not sent twice. An engine on the
containerd image store gets full archives: its `docker load` wants every blob.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

CONTAINERD = "io.containerd.snapshotter"


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The chain ID of each layer: its own diff ID on top of the chain under it."""
    chain: list[str] = []
    for diff in diff_ids:
        if chain:
            diff = "sha256:" + hashlib.sha256(f"{chain[-1]} {diff}".encode()).hexdigest()
        chain.append(diff)
    return chain


def decide(images: dict, order: list[str], host: dict) -> list[dict]:
    """Which layers of which image this host needs, in build order (pure: no I/O)."""
    held_ids = {i["id"] for i in host.get("images", [])}
    held = {c for i in host.get("images", []) for c in chain_ids(i["layers"])}
    classic = CONTAINERD not in host.get("store", "")
    plan = []
    for name in [n for n in order if n in host["want"]]:
        image = images[name]
        if image["id"] in held_ids:
            continue
        chains = chain_ids(image["layers"])
        missing = [i for i, c in enumerate(chains) if c not in held]
        if not classic:
            plan.append(
                {
                    "name": name,
                    "missing": list(range(len(chains))),
                    "full": True,
                    "reason": "containerd image store: full archive",
                }
            )
        elif len(missing) == len(chains):
            plan.append(
                {
                    "name": name,
                    "missing": missing,
                    "full": True,
                    "reason": "no layer on the host yet",
                }
            )
        else:
            plan.append(
                {
                    "name": name,
                    "missing": missing,
                    "full": False,
                    "reason": f"{len(chains) - len(missing)} of its layers already on the host",
                }
            )
        plan[-1]["of"] = len(chains)
        held.update(chains)
        held_ids.add(image["id"])
    return plan


def delta_path(image: dict, missing: list[int]) -> Path:
    """The cache file of a partial archive: beside the full one, named by content."""
    full = Path(image["archive"])
    key = hashlib.sha256(
        (
            image["id"]
            + "".join(f",{i}:{d}" for i, d in enumerate(chain_ids(image["layers"])) if i in missing)
        ).encode()
    ).hexdigest()[:12]
    return cache_dir(full) / f"{full.name.split('.tar.')[0]}-{key}.tar.zst"


def cache_dir(full: Path) -> Path:
    """What image_ship derives from a full archive: deltas/<archive's name>/ beside it."""
    return full.parent / "deltas" / full.name


def _stream(archive: Path) -> subprocess.Popen:
    unpack = "zstd" if archive.name.endswith(".zst") else "gzip"
    return subprocess.Popen([unpack, "-q", "-dc", str(archive)], stdout=subprocess.PIPE)


def index(archive: Path) -> dict:
    """The archive's manifest and its symbolic links (one pass, cached beside it)."""
    cached = cache_dir(archive) / "index.json"
    if cached.exists():
        return json.loads(cached.read_text())
    links, manifest = {}, None
    proc = _stream(archive)
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for member in tar:
            if member.issym():
                links[member.name] = os.path.normpath(
                    os.path.join(os.path.dirname(member.name), member.linkname)
                )
            elif member.name == "manifest.json":
                manifest = json.load(tar.extractfile(member))
    if proc.wait() != 0 or manifest is None:
        sys.exit(
            f"{archive}: not a readable docker save archive; delete it and run the images stage"
        )
    found = {"layers": manifest[0]["Layers"], "links": links}
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}")
    tmp.write_text(json.dumps(found))
    tmp.replace(cached)
    return found


def build_delta(full: Path, missing: list[int], out: Path, level: int) -> None:
    """Copy the full archive without the tarballs of layers the host holds."""
    idx = index(full)
    keep = {idx["layers"][i] for i in missing}
    # a kept layer stored as a link to an identical layer lower down needs its target
    keep |= {idx["links"][p] for p in list(keep) if p in idx["links"]}
    drop = set(idx["layers"]) - keep
    tmp = out.with_name(f"{out.name}.part.{os.getpid()}")
    src = _stream(full)
    with open(tmp, "wb") as sink:
        dst = subprocess.Popen(
            ["zstd", "-q", "-T0", f"-{level}", "-c"], stdin=subprocess.PIPE, stdout=sink
        )
        with (
            tarfile.open(fileobj=src.stdout, mode="r|") as tin,
            tarfile.open(fileobj=dst.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tout,
        ):
            for member in tin:
                if member.name in drop:
                    continue
                tout.addfile(member, tin.extractfile(member) if member.isfile() else None)
        dst.stdin.close()
        if dst.wait() != 0 or src.wait() != 0:
            tmp.unlink(missing_ok=True)
            sys.exit(f"could not write {out} from {full}")
    tmp.replace(out)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--level", type=int, default=3, help="zstd level of partial archives")
    args = p.parse_args()
    spec = json.load(sys.stdin)
    images, order = spec["images"], spec["order"]
    shipments = {}
    for host, state in sorted(spec["hosts"].items()):
        shipments[host] = []
        for item in decide(images, order, state):
            image = images[item["name"]]
            archive = Path(image["archive"])
            if not item["full"]:
                archive = delta_path(image, item["missing"])
                if not archive.exists():
                    build_delta(Path(image["archive"]), item["missing"], archive, args.level)
            shipments[host].append(
                {
                    "name": item["name"],
                    "archive": str(archive),
                    "full_archive": image["archive"],
                    "bytes": archive.stat().st_size,
                    "layers": len(item["missing"]),
                    "of": item["of"],
                    "full": item["full"],
                    "reason": item["reason"],
                }
            )
    json.dump(shipments, sys.stdout)


if __name__ == "__main__":
    main()
