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
the full archive: `docker save`, compressed, written the first time some host needs it.
One that holds some gets a partial archive, cached by content (image ID and the layers
it carries), so hosts lacking the same layers share one file. Where the controller's
engine keeps the classic overlay2 store and this user can read it, the archive is
written from that store in place: the image's config and the missing layers' tarballs,
reassembled as the engine does and checked against the image ID and their diff IDs
(milliseconds, where `docker save` streams every layer of the image). Otherwise it is cut
from `docker save` as it streams (never from the full archive, which a change to the top
layer never needs; which `docker save` directory holds which layer is learnt while
cutting, kept in deltas/layer-names.json: next time the held layers are skipped unread).
Distinct archives are written side by side, one per core. Layers an earlier shipment to
the same host carries (base under spark and serving) are not sent twice. An
engine on the containerd image store gets full archives: its `docker load` wants every
blob. `--export NAME...` writes only the full archives of these images (the fallback
when a partial archive did not load).
"""

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
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


@contextmanager
def _replacing(out: Path):
    """A file beside `out` to write the archive in: moved onto `out` when the block ends,
    removed if it raises (or exits), so that no half archive is ever cached."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.part.{os.getpid()}")
    try:
        yield tmp
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def _zstd(level: int) -> list[str]:
    """The compressor of partial archives (stdin to stdout, every core)."""
    return ["zstd", "-q", "-T0", f"-{level}", "-c"]


def export_full(image: dict) -> None:
    """The full archive, written once when some host first needs it: `docker save`
    through image_build's compressor (image["compress"], its argv)."""
    out = Path(image["archive"])
    if out.exists():
        return
    with _replacing(out) as tmp, open(tmp, "wb") as sink:
        save = subprocess.Popen(["docker", "save", image["ref"]], stdout=subprocess.PIPE)
        pack = subprocess.run(image["compress"], stdin=save.stdout, stdout=sink)
        save.stdout.close()
        if save.wait() != 0 or pack.returncode != 0:
            sys.exit(f"could not export {image['ref']} to {out}: is it on this engine?")


def _copy(src, dst, size: int, digest=None) -> None:
    while size > 0:
        chunk = src.read(min(size, 1 << 20))
        if not chunk:
            raise EOFError("docker save ended inside a file")
        if digest is not None:
            digest.update(chunk)
        dst.write(chunk)
        size -= len(chunk)


def layer_names(full: Path) -> Path:
    """Which diff ID the layer tarball under each directory of `docker save` holds, as
    learnt while cutting (the name is a hash of the layer's chain: one name, one layer);
    one file for every image, beside their partial archives."""
    return cache_dir(full).parent / "layer-names.json"


def engine_store() -> Path | None:
    """The controller engine's data directory when its layers can be read in place (the
    classic overlay2 store, readable by this user), else None."""
    try:
        info = json.loads(
            subprocess.run(
                ["docker", "info", "--format", "{{json .}}"], capture_output=True, check=True
            ).stdout
        )
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None
    root = Path(info.get("DockerRootDir") or "/nonexistent")
    status = json.dumps(info.get("DriverStatus") or [])
    if info.get("Driver") != "overlay2" or CONTAINERD in status:
        return None
    if not os.access(root / "image/overlay2/layerdb", os.R_OK | os.X_OK):
        return None
    return root


def store_layer(root: Path, chain: str, diff: str, out) -> None:
    """Write one layer's tarball, byte for byte the one `docker save` streams, from the
    engine's layer store: its tar-split (the tar headers and padding, kept by the engine
    when the layer was made) with the files of its overlay2 directory in between, as the
    engine itself reassembles it. Its SHA-256 must be the diff ID, else ValueError."""
    layer = root / "image/overlay2/layerdb/sha256" / chain.split(":", 1)[1]
    files = root / "overlay2" / (layer / "cache-id").read_text().strip() / "diff"
    digest = hashlib.sha256()
    with gzip.open(layer / "tar-split.json.gz", "rt") as entries:
        for line in entries:
            entry = json.loads(line)
            if entry["type"] == 2:  # a segment: headers, padding, the end blocks
                chunk = base64.b64decode(entry["payload"])
                digest.update(chunk)
                out.write(chunk)
            elif entry.get("size"):  # a file's contents
                name = entry.get("name") or os.fsdecode(base64.b64decode(entry["name_raw"]))
                with open(files / name, "rb") as src:
                    _copy(src, out, entry["size"], digest)
    if f"sha256:{digest.hexdigest()}" != diff:
        raise ValueError(f"layer {diff} reassembled from the engine's store differs")


def build_delta_from_store(root: Path, image: dict, missing: list[int], out: Path, level: int):
    """The partial archive written from the engine's store, with no `docker save` (which
    streams every layer of the image, seconds for a large one, to keep a few kB): the
    image's config (its SHA-256 is the image ID), a manifest naming every layer as
    `docker save` does, and the tarballs of the missing layers only. Each piece is checked
    against its digest; ValueError or OSError when anything differs."""
    config_hex = image["id"].split(":", 1)[1]
    config = (root / "image/overlay2/imagedb/content/sha256" / config_hex).read_bytes()
    if hashlib.sha256(config).hexdigest() != config_hex:
        raise ValueError(f"config of {image['ref']} differs from its ID")
    chains = chain_ids(image["layers"])
    names = [f"{c.split(':', 1)[1]}/layer.tar" for c in chains]
    manifest = [{"Config": f"{config_hex}.json", "RepoTags": [image["ref"]], "Layers": names}]
    with _replacing(out) as tmp, open(tmp, "wb") as sink:
        pack = subprocess.Popen(_zstd(level), stdin=subprocess.PIPE, stdout=sink)
        with tarfile.open(fileobj=pack.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tout:

            def add(name: str, data, size: int) -> None:
                info = tarfile.TarInfo(name)
                info.size, info.mode = size, 0o644
                tout.addfile(info, data)

            add(f"{config_hex}.json", io.BytesIO(config), len(config))
            for i in missing:
                with tempfile.TemporaryFile(dir=out.parent) as layer:
                    store_layer(root, chains[i], image["layers"][i], layer)
                    size = layer.tell()
                    layer.seek(0)
                    add(names[i], layer, size)
            body = json.dumps(manifest).encode()
            add("manifest.json", io.BytesIO(body), len(body))
        pack.stdin.close()
        if pack.wait() != 0:
            raise OSError(f"zstd failed writing {out}")


def build_delta(image: dict, missing: list[int], out: Path, level: int, known: dict) -> dict:
    """`docker save` of the image without the tarballs of the layers the host holds.

    Which layer a tarball is shows only in manifest.json, at the end of the stream; but a
    tarball's SHA-256 is its diff ID. So a member is written to an uncompressed file as it
    streams, and a layer tarball whose diff ID only the held layers have is cut off again
    once read (a layer stored as a link to an identical one keeps its target: same diff
    ID). A tarball whose directory `known` names ({directory: diff ID}, from earlier cuts)
    as held is skipped unread. Only what stays is compressed. Returns what it learnt."""
    need = {image["layers"][i] for i in missing}
    drop = set(image["layers"]) - need
    learnt = {}
    raw_path = out.with_name(f"{out.name}.tar.{os.getpid()}")
    save = subprocess.Popen(["docker", "save", image["ref"]], stdout=subprocess.PIPE)
    try:
        with (
            _replacing(out) as tmp,
            open(raw_path, "w+b") as raw,
            tarfile.open(fileobj=save.stdout, mode="r|", bufsize=1 << 20) as tin,
        ):
            for member in tin:
                layer = member.isfile() and member.name.endswith("/layer.tar")
                folder = member.name.split("/")[0]
                if layer and known.get(folder) in drop:
                    learnt[folder] = known[folder]
                    continue
                start = raw.tell()
                raw.write(member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
                if not member.isfile():
                    continue
                digest = hashlib.sha256() if layer else None
                _copy(tin.extractfile(member), raw, member.size, digest)
                if layer:
                    learnt[folder] = f"sha256:{digest.hexdigest()}"
                if layer and learnt[folder] in drop:
                    raw.seek(start)
                    raw.truncate()
                else:
                    raw.write(b"\0" * (-member.size % tarfile.BLOCKSIZE))
            raw.write(b"\0" * tarfile.BLOCKSIZE * 2)
            raw.flush()
            raw.seek(0)
            with open(tmp, "wb") as sink:
                packed = subprocess.run(_zstd(level), stdin=raw, stdout=sink)
            if save.wait() != 0 or packed.returncode != 0:
                sys.exit(
                    f"could not cut {out} from docker save {image['ref']}: is it on this engine?"
                )
    finally:
        save.kill()
        raw_path.unlink(missing_ok=True)
    return learnt


def cut_delta(store: Path | None, image: dict, missing: list[int], out: Path, level, known):
    """A partial archive: from the engine's store where it can be read and every digest
    matches, else cut from `docker save` (any engine). Returns what build_delta learnt."""
    if store is not None:
        try:
            build_delta_from_store(store, image, missing, out, level)
            return {}
        except (OSError, ValueError, KeyError) as exc:
            print(f"{image['ref']}: {exc}; cutting from docker save instead", file=sys.stderr)
    return build_delta(image, missing, out, level, known)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--level", type=int, default=3, help="zstd level of partial archives")
    p.add_argument(
        "--export",
        nargs="*",
        metavar="NAME",
        help="only write these images' full archives (a partial one did not load); no plan",
    )
    args = p.parse_args()
    spec = json.load(sys.stdin)
    images, order = spec["images"], spec["order"]
    if args.export is not None:
        with ThreadPoolExecutor(os.cpu_count()) as pool:
            list(pool.map(export_full, (images[n] for n in args.export)))
        return
    plans = {host: decide(images, order, state) for host, state in sorted(spec["hosts"].items())}
    # each distinct archive once, however many hosts need it; side by side (one core each)
    work = {}
    # every archive of image_build's lives in one folder
    names = layer_names(Path(next(iter(images.values()))["archive"])) if images else None
    known = json.loads(names.read_text()) if names and names.exists() else {}
    # where the engine's layers are read in place: asked once, and only when a partial
    # archive is to be written (a run that ships nothing runs no `docker info`)
    store = cache(engine_store)
    for item in (i for plan in plans.values() for i in plan):
        image = images[item["name"]]
        item["archive"] = out = (
            Path(image["archive"]) if item["full"] else delta_path(image, item["missing"])
        )
        if item["full"]:
            work[out] = lambda image=image: export_full(image)
        elif not out.exists():
            root = store()
            work[out] = lambda image=image, item=item, out=out, root=root: cut_delta(
                root, image, item["missing"], out, args.level, known
            )
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        learnt = {
            k: v
            for found in pool.map(lambda job: job(), work.values())
            for k, v in (found or {}).items()
        }
    if learnt.keys() - known.keys():
        # newest last; the oldest names go first past a few thousand (an image version
        # adds one or two)
        merged = list({k: v for k, v in known.items() if k not in learnt}.items()) + list(
            learnt.items()
        )
        tmp = names.with_name(f"{names.name}.{os.getpid()}")
        tmp.write_text(json.dumps(dict(merged[-4000:])))
        tmp.replace(names)
    shipments = {}
    for host, plan in plans.items():
        shipments[host] = []
        for item in plan:
            image, archive = images[item["name"]], item["archive"]
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
