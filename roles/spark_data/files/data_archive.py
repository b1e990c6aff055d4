#!/usr/bin/env python3
"""Plan and pack the data files each Spark host lacks: one archive per distinct set.

    data_archive.py --source DIR --data-dir PATH --output-dir PATH < held.json > plan.json

Reads on stdin {host: "<size> <mtime> <mode> <uid> <path>" lines}: what
`find -printf '%s %T@ %m %U %P\\n'` printed on each host under the data directory. A
source file is sent to a host that holds no file at its path, or one of another size or
modification time (rsync's quick check; the archive keeps the source's time, so a sent
file matches next time), or one that is not root's with mode 0644. Files a host holds
that the source does not are left alone.

Prints {"dir": DIR or null, "hosts": {host: {"archive", "files", "bytes"}}}: hosts
lacking the same files share one gzip'd tar, written once into a new directory under the
system's temporary directory (removed by the role once every host unpacked it; one left
by an interrupted run is removed by the next, after a day). A host that lacks nothing
gets "archive": null. Members belong to root, files 0644 and directories 0755, whatever
the source's owner and mode; a symbolic link is followed, as ansible.builtin.copy does.

--data-dir and --output-dir: spark_data_dir and spark_data_output_dir on the hosts. When
the jobs' output folder lies under the data directory, the hosts' listing leaves it out,
and a source with files at that place is refused, with the fix.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path, PurePosixPath

PREFIX = "analytics-platform-data-"
FILE_MODE, DIR_MODE, OWNER = 0o644, 0o755, 0  # every member, whatever the source's
STALE = 24 * 3600


def source_files(source: Path) -> dict[str, tuple[int, int]]:
    """Every file under source: relative path -> (size, whole seconds of mtime)."""
    files: dict[str, tuple[int, int]] = {}
    for top, _dirs, names in os.walk(source):
        for name in names:
            path = Path(top, name)
            rel = path.relative_to(source).as_posix()
            if "\n" in rel:
                sys.exit(f"{path}: a file name with a line break. Fix: rename it.")
            try:
                st = path.stat()
            except FileNotFoundError:
                sys.exit(
                    f"{path}: a symbolic link to nothing. Fix: remove it or point it at a file."
                )
            files[rel] = (st.st_size, int(st.st_mtime))
    return files


def held_files(listing: str) -> dict[str, tuple[int, int]]:
    """A host's `find -printf '%s %T@ %m %U %P\\n'` output, as source_files returns;
    a file that is not root's with mode 0644 is left out (it is sent again)."""
    held = {}
    for line in listing.splitlines():
        size, mtime, mode, uid, rel = line.split(" ", 4)
        if (int(mode, 8), int(uid)) == (FILE_MODE, OWNER):
            held[rel] = (int(size), int(float(mtime)))
    return held


def pack(source: Path, wanted: dict[str, tuple[int, int]], out: Path) -> None:
    """A gzip'd tar of these files and their folders, root's, with the source's times."""
    dirs = sorted({p.as_posix() for rel in wanted for p in Path(rel).parents if p != Path(".")})
    partial = out.with_name(out.name + ".part")
    with tarfile.open(partial, "w:gz", format=tarfile.GNU_FORMAT, compresslevel=6) as tar:
        for rel in dirs:
            info = tarfile.TarInfo(rel)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, DIR_MODE, int(time.time())
            info.uid = info.gid = OWNER
            tar.addfile(info)
        for rel in sorted(wanted):
            info = tarfile.TarInfo(rel)
            info.size, info.mtime = wanted[rel]
            info.mode, info.uid, info.gid = FILE_MODE, OWNER, OWNER
            with open(source / rel, "rb") as f:
                tar.addfile(info, f)
    partial.rename(out)


def remove_stale(root: Path) -> None:
    """Directories an interrupted run left behind, a day old or more."""
    for old in root.glob(PREFIX + "*"):
        if old.is_dir() and time.time() - old.stat().st_mtime > STALE:
            shutil.rmtree(old, ignore_errors=True)


def plan(source: Path, skip: str, held: dict[str, str]) -> dict:
    files = source_files(source)
    if skip:
        clash = sorted(rel for rel in files if rel == skip or rel.startswith(skip + "/"))
        if clash:
            sys.exit(
                f"{source} has {clash[0]}: {skip}/ is where jobs write on the hosts "
                "(spark_data_output_dir), and the data stage does not send files there. "
                f"Fix: rename the folder {skip} in spark_data_source_dir, or set "
                "spark_data_output_dir outside spark_data_dir."
            )
    root = Path(tempfile.gettempdir())
    remove_stale(root)
    run_dir: Path | None = None
    hosts = {}
    for host, listing in sorted(held.items()):
        have = held_files(listing)
        wanted = {rel: meta for rel, meta in files.items() if have.get(rel) != meta}
        if not wanted:
            hosts[host] = {"archive": None, "files": 0, "bytes": 0}
            continue
        key = hashlib.sha256(json.dumps(sorted(wanted.items())).encode()).hexdigest()[:16]
        if run_dir is None:
            run_dir = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
        archive = run_dir / f"data-{key}.tar.gz"
        if not archive.exists():
            pack(source, wanted, archive)
        hosts[host] = {
            "archive": str(archive),
            "files": len(wanted),
            "bytes": sum(size for size, _ in wanted.values()),
        }
    return {"dir": str(run_dir) if run_dir else None, "hosts": hosts}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--source", type=Path, required=True, help="the controller's data directory")
    p.add_argument("--data-dir", type=PurePosixPath, required=True, help="spark_data_dir")
    p.add_argument("--output-dir", type=PurePosixPath, required=True, help="spark_data_output_dir")
    args = p.parse_args()
    skip = ""
    if args.output_dir.is_relative_to(args.data_dir) and args.output_dir != args.data_dir:
        skip = args.output_dir.relative_to(args.data_dir).as_posix()
    json.dump(plan(args.source, skip, json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
