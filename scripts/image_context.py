#!/usr/bin/env python3
"""Stage an image's build context and print its content tag.

    image_context.py --name spark --image-dir images/spark --out DIR \
        [--wheelhouse DIR] [--include apps/training ...] [--parent-id sha256:...] \
        [--models requirements|code --models-dir DIR --model NAME ...]

The context is the image directory, the wheels its requirements.txt pins (hard links
from the wheelhouse) under wheels/, and --include'd paths under apps/. With
--models requirements, the pins of the team's model packages (DIR/NAME) go into
models-requirements.txt and their wheels under wheels/ too; with --models code, the
packages go under models/ with a manifest models/models.json (the first is the default
model). The tag is a
hash of every staged file's path and content plus the parent image's ID, so an
unchanged input never rebuilds and any change always does. Prints JSON:
{"tag": "...", "context": "..."}.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

IGNORE = re.compile(r"(__pycache__|\.pyc$|\.pytest_cache|/tests?/|\.ruff_cache)")
COPY_IGNORE = ("__pycache__", "*.pyc", "tests", ".pytest_cache", ".ruff_cache")


def pinned(requirements: Path) -> list[tuple[str, str]]:
    pins = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        if not m:
            sys.exit(f"{requirements}: '{line}' is not pinned as name==version; pin it")
        pins.append((m.group(1), m.group(3)))
    return pins


def wheel_for(wheelhouse: Path, name: str, version: str) -> Path:
    norm = re.sub(r"[-_.]+", "_", name).lower()
    for whl in sorted(wheelhouse.glob("*.whl")):
        dist, ver = whl.name.split("-")[:2]
        if re.sub(r"[-_.]+", "_", dist).lower() == norm and ver == version:
            return whl
    sys.exit(f"no wheel for {name}=={version} in {wheelhouse}; run the wheelhouse step first")


def stage_models(args, out: Path) -> list[tuple[str, str]]:
    """Stage the model packages' part this image takes; returns the pins to install.

    `requirements`: their pins, merged, in models-requirements.txt (and their wheels);
    `code`: the packages under models/ with the manifest models/models.json.
    """
    lines, pins = [], []
    for name in args.model:
        src = Path(args.models_dir) / name
        if not (src / "__init__.py").is_file():
            sys.exit(f"model {name!r}: no package at {src}; check platform_models_dir")
        if args.models == "code":
            shutil.copytree(src, out / "models" / name, ignore=shutil.ignore_patterns(*COPY_IGNORE))
        req = src / "requirements.txt"
        if req.exists():
            for pin in pinned(req):
                if pin not in pins:
                    pins.append(pin)
                    lines.append(f"{pin[0]}=={pin[1]}")
    if args.models == "code":
        manifest = {"models": list(args.model), "default": args.model[0] if args.model else None}
        (out / "models" / "models.json").write_text(json.dumps(manifest) + "\n")
        return []
    (out / "models-requirements.txt").write_text("".join(f"{x}\n" for x in lines))
    return pins


def stage(args) -> Path:
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(args.image_dir, out)
    req = Path(args.image_dir) / "requirements.txt"
    pins = pinned(req) if req.exists() else []
    if args.models:
        pins += stage_models(args, out)
    if pins:
        (out / "wheels").mkdir()
        for name, version in pins:
            whl = wheel_for(Path(args.wheelhouse), name, version)
            if not (out / "wheels" / whl.name).exists():
                os.link(whl, out / "wheels" / whl.name)
    for inc in args.include:
        src = Path(inc)
        dst = out / "apps" / src.name
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*COPY_IGNORE))
    return out


def content_hash(root: Path, parent_id: str) -> str:
    h = hashlib.sha256(parent_id.encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if IGNORE.search("/" + rel):
            continue
        h.update(rel.encode() + b"\0")
        with open(path, "rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
        h.update(oct(path.stat().st_mode & 0o111).encode())
    return h.hexdigest()[:16]


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--name", required=True)
    p.add_argument("--image-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--wheelhouse", default="")
    p.add_argument("--include", action="append", default=[])
    p.add_argument("--parent-id", default="")
    p.add_argument("--models", choices=["requirements", "code"], help="the models' part to stage")
    p.add_argument("--models-dir", default="", help="folder of the team's model packages")
    p.add_argument("--model", action="append", default=[], help="a model package to bake in")
    args = p.parse_args()
    ctx = stage(args)
    print(
        json.dumps(
            {"name": args.name, "tag": content_hash(ctx, args.parent_id), "context": str(ctx)}
        )
    )


if __name__ == "__main__":
    main()
