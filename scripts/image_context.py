#!/usr/bin/env python3
"""Stage an image's build context and print its content tag.

    image_context.py --name spark_runtime --image-dir images/spark_runtime [--out DIR] \
        [--wheelhouse DIR] [--requirements FILE ...] [--include apps/training ...] \
        [--jars DIR] [--parent-id sha256:...] \
        [--models requirements|code --models-dir DIR --model NAME ...] [--label KEY ...] \
        [--arg NAME=VALUE ...]

The context is the image directory, the wheels its requirements.txt pins (hard links
from the wheelhouse) under wheels/ (with --requirements, the pins of those files too,
merged into the context's requirements.txt: optional libraries chosen by a knob), and
--include'd paths under apps/ (an included Maven project, a folder with a pom.xml,
takes its jar from --jars, built by maven_jar.py, as apps/NAME/target/ARTIFACT-VERSION.jar,
instead of any target/ folder of its own). With
--models requirements, the pins of the team's model packages (DIR/NAME) go into
models-requirements.txt and their wheels under wheels/ too; with --models code, the
packages go under models/ with a manifest models/models.json (the first is the default
model). The tag is a hash of every context file's path and content plus the parent
image's ID, the keys of the labels the build sets (--label) and the build arguments
(--arg), so an unchanged input never rebuilds and any change always does. Prints
JSON: {"name": ..., "tag": ..., "context": DIR}. Without --out nothing is written: the
tag only (how a stage run on its own finds the references of images already built).
"""

import argparse
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from maven_jar import jar_for, jar_name

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


def _tree(src: Path, dst: str, ignore: bool) -> dict[str, Path]:
    """The files under src as context paths under dst (COPY_IGNORE'd names left out)."""
    files = {}
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if ignore and any(fnmatch.fnmatch(part, pat) for part in rel.parts for pat in COPY_IGNORE):
            continue
        if path.is_file():
            files[(Path(dst) / rel).as_posix()] = path
    return files


def models_part(args) -> tuple[dict[str, Path | bytes], list[tuple[str, str]]]:
    """The model packages' part this image takes, and the pins to install.

    `requirements`: their pins, merged, in models-requirements.txt (and their wheels);
    `code`: the packages under models/ with the manifest models/models.json.
    """
    files: dict[str, Path | bytes] = {}
    lines, pins = [], []
    for name in args.model:
        src = Path(args.models_dir) / name
        if not (src / "__init__.py").is_file():
            sys.exit(f"model {name!r}: no package at {src}; check platform_models_dir")
        if args.models == "code":
            files.update(_tree(src, f"models/{name}", ignore=True))
        req = src / "requirements.txt"
        if req.exists():
            for pin in pinned(req):
                if pin not in pins:
                    pins.append(pin)
                    lines.append(f"{pin[0]}=={pin[1]}")
    if args.models == "code":
        manifest = {"models": list(args.model), "default": args.model[0] if args.model else None}
        files["models/models.json"] = (json.dumps(manifest) + "\n").encode()
        return files, []
    files["models-requirements.txt"] = "".join(f"{x}\n" for x in lines).encode()
    return files, pins


def merged_requirements(image_dir: Path, extra: list[Path]) -> tuple[bytes, list]:
    """The image's requirements.txt followed by the pins of the extra files, and every pin.
    A project pinned twice at different versions stops with both files named."""
    req = image_dir / "requirements.txt"
    pins = pinned(req) if req.exists() else []
    where = {re.sub(r"[-_.]+", "-", n).lower(): (v, req) for n, v in pins}
    text = req.read_text() if req.exists() else ""
    for path in extra:
        if not path.is_file():
            sys.exit(f"{path}: no such requirements file; fix the path or leave it out")
        text += f"# from {path.name}\n"
        for name, version in pinned(path):
            key = re.sub(r"[-_.]+", "-", name).lower()
            if key in where and where[key][0] != version:
                sys.exit(
                    f"{path}: {name}=={version}, but {where[key][1]} pins {name}=={where[key][0]}; "
                    "pin one version"
                )
            if key not in where:
                where[key] = (version, path)
                pins.append((name, version))
                text += f"{name}=={version}\n"
    return text.encode(), pins


def context(args) -> dict[str, Path | bytes]:
    """Every file of the build context: its path there -> a source file or the content."""
    files: dict[str, Path | bytes] = dict(_tree(Path(args.image_dir), "", ignore=False))
    extra = [Path(p) for p in args.requirements]
    text, pins = merged_requirements(Path(args.image_dir), extra)
    if extra:
        files["requirements.txt"] = text
    if args.models:
        more, model_pins = models_part(args)
        files.update(more)
        pins += model_pins
    for name, version in pins:
        whl = wheel_for(Path(args.wheelhouse), name, version)
        files[f"wheels/{whl.name}"] = whl
    for inc in map(Path, args.include):
        app = f"apps/{inc.name}"
        tree = _tree(inc, app, ignore=True)
        if (inc / "pom.xml").is_file():
            tree = {rel: src for rel, src in tree.items() if not rel.startswith(f"{app}/target/")}
            jar = jar_for(Path(args.jars), inc)
            if not jar.is_file():
                sys.exit(
                    f"no jar for {inc} in {args.jars}; run the Maven step first (maven_jar.py)"
                )
            tree[f"{app}/target/{jar_name(inc)}.jar"] = jar
        files.update(tree)
    return files


def stage(files: dict[str, Path | bytes], out: Path) -> None:
    """Write the context (wheels as hard links into the wheelhouse)."""
    if out.exists():
        shutil.rmtree(out)
    for rel, src in files.items():
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, bytes):
            dst.write_bytes(src)
        elif rel.startswith("wheels/"):
            os.link(src, dst)
        else:
            shutil.copy2(src, dst)


def content_hash(files: dict[str, Path | bytes], parent_id: str, labels=(), args=()) -> str:
    h = hashlib.sha256(parent_id.encode())
    for key in sorted(labels):
        h.update(b"label\0" + key.encode() + b"\0")
    for arg in sorted(args):
        h.update(b"arg\0" + arg.encode() + b"\0")
    for rel in sorted(files):
        if IGNORE.search("/" + rel):
            continue
        src = files[rel]
        h.update(rel.encode() + b"\0")
        if isinstance(src, bytes):
            h.update(hashlib.sha256(src).digest())
            h.update(oct(0).encode())
        else:
            with open(src, "rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest())
            h.update(oct(src.stat().st_mode & 0o111).encode())
    return h.hexdigest()[:16]


def inspect(ref: str) -> dict | None:
    """What the engine holds under ref, or None (not there, or no engine)."""
    try:
        out = subprocess.run(
            ["docker", "image", "inspect", ref], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return None
    return json.loads(out.stdout)[0] if out.returncode == 0 else None


def plan(spec: dict) -> dict:
    root = Path(spec["repo_root"])
    resolved: dict[str, dict] = {}
    pending: list[str] = []
    reasons: dict[str, str] = {}
    for image in spec["images"]:
        name, parent = image["name"], image.get("parent")
        if parent and parent not in resolved:
            pending.append(name)
            reasons[name] = f"its parent {parent} is to build first"
            continue
        args = argparse.Namespace(
            image_dir=root / image["dir"],
            wheelhouse=spec["wheelhouse"],
            requirements=spec.get("requirements", {}).get(name, []),
            jars=spec["jars"],
            include=[root / path for path in image.get("include", [])],
            models=image.get("models"),
            models_dir=spec["models_dir"],
            model=spec["models"] if image.get("models") else [],
        )
        try:
            files = context(args)
        except SystemExit as stop:  # a missing wheel: never built from these sources
            pending.append(name)
            reasons[name] = str(stop)
            continue
        build_args = [f"{k}={v}" for k, v in spec["args"].get(name, {}).items()]
        parent_id = resolved[parent]["id"] if parent else ""
        tag = content_hash(files, parent_id, spec["label_keys"], build_args)
        repo = f"{spec['namespace']}/{name}"
        found = inspect(f"{repo}:{tag}")
        if found is None:
            pending.append(name)
            reasons[name] = f"{repo}:{tag} is not on this engine"
            continue
        resolved[name] = {
            "repo": repo,
            "ref": f"{repo}:{tag}",
            "id": found["Id"],
            "layers": found["RootFS"]["Layers"],
            "archive": archive_path(spec, name, tag, found["Id"]),
            "compress": spec["compress"],
        }
    return {
        "resolved": resolved,
        "pending": pending,
        "reasons": reasons,
        "stale_archives": stale_archives(spec, resolved),
    }


def archive_path(spec: dict, name: str, tag: str, image_id: str) -> str:
    """Where an image's archive lives: named by its content tag and its image ID, so that an
    image built again under the same tag (its engine copy was removed; a build is not
    byte-for-byte reproducible) gets a new archive instead of shipping the old one."""
    short = image_id.split(":")[-1][:12]
    return f"{spec['archive_dir']}/{name}-{tag}-{short}.tar.{spec['archive_ext']}"


def stale_archives(spec: dict, resolved: dict) -> list[str]:
    """The archives beyond keep_versions per image, newest first kept (the one of the
    current version always: an image still to build gets a new one, the newest), and an
    image no host needs keeps none; with each, its partial archives (deltas/<archive>/)."""
    keep, folder = int(spec["keep_versions"]), Path(spec["archive_dir"])
    if keep <= 0 or not folder.is_dir():
        return []
    stale = []
    deltas = folder / "deltas"
    for image in spec["images"]:
        name = image["name"]
        # a version is its full archive, its partial archives (deltas/<archive's name>/),
        # or both: image_ship writes a full one only when some host needs the whole image
        mine = sorted(
            {
                folder / p.name
                for where in (folder, deltas)
                for ext in ("zst", "gz")
                for p in where.glob(f"{name}-*.tar.{ext}")
            },
            key=lambda p: max(q.stat().st_mtime for q in (p, deltas / p.name) if q.exists()),
            reverse=True,
        )
        if name in spec["needed"]:
            current = resolved.get(name, {}).get("archive")
            old = [p for p in mine if str(p) != current][keep - 1 :]
        else:
            old = mine
        for path in old:
            stale += [str(path), str(deltas / path.name)]
    return stale


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--plan", action="store_true", help="plan every image (a JSON spec on stdin)")
    p.add_argument("--name")
    p.add_argument("--image-dir")
    p.add_argument("--out", help="where to stage the context (none: print the tag only)")
    p.add_argument("--wheelhouse", default="")
    p.add_argument("--requirements", action="append", default=[], help="more pins to install")
    p.add_argument("--include", action="append", default=[])
    p.add_argument("--jars", default="", help="folder of the Maven projects' jars")
    p.add_argument("--parent-id", default="")
    p.add_argument("--models", choices=["requirements", "code"], help="the models' part to stage")
    p.add_argument("--models-dir", default="", help="folder of the team's model packages")
    p.add_argument("--model", action="append", default=[], help="a model package to bake in")
    p.add_argument("--label", action="append", default=[], help="key of a label the build sets")
    p.add_argument("--arg", action="append", default=[], help="a build argument, NAME=VALUE")
    args = p.parse_args()
    if args.plan:
        print(json.dumps(plan(json.load(sys.stdin))))
        return
    if not (args.name and args.image_dir):
        p.error("--name and --image-dir are required (or --plan)")
    files = context(args)
    found = {"name": args.name, "tag": content_hash(files, args.parent_id, args.label, args.arg)}
    if args.out:
        stage(files, Path(args.out))
        found["context"] = args.out
    print(json.dumps(found))


if __name__ == "__main__":
    main()
