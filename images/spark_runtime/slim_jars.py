"""Drop what a standalone Spark cluster on Linux x86-64 never loads (run in the build stage).

    python3 slim_jars.py JARS_DIR

- the Kubernetes and YARN resource managers, and the HTTP client only Kubernetes uses;
- netty's native transports and TLS for other systems (macOS, Windows, arm64, riscv64);
- in RocksDB's jar (the history store and state stores use it), the native libraries for
  other systems: only Linux x86-64 with glibc stays.
"""

import fnmatch
import shutil
import sys
import zipfile
from pathlib import Path

UNUSED = [
    "kubernetes-*.jar",
    "spark-kubernetes_*.jar",
    "spark-yarn_*.jar",
    "zjsonpatch-*.jar",
    "vertx-*.jar",
    "netty-*-osx-*.jar",
    "netty-*-windows-*.jar",
    "netty-*-linux-aarch_64.jar",
    "netty-*-linux-riscv64.jar",
    "netty-transport-classes-kqueue-*.jar",
]
ROCKSDB_NATIVE = "librocksdbjni-*"
ROCKSDB_KEEP = "librocksdbjni-linux64.so"


def main(jars: Path) -> None:
    for jar in sorted(jars.glob("*.jar")):
        if any(fnmatch.fnmatch(jar.name, pattern) for pattern in UNUSED):
            jar.unlink()
    for jar in jars.glob("rocksdbjni-*.jar"):
        slim = jar.with_suffix(".slim")
        with zipfile.ZipFile(jar) as src, zipfile.ZipFile(slim, "w") as dst:
            names = src.namelist()
            if ROCKSDB_KEEP not in names:
                sys.exit(f"{jar.name} has no {ROCKSDB_KEEP}; check the RocksDB version")
            for info in src.infolist():
                if fnmatch.fnmatch(info.filename, ROCKSDB_NATIVE) and info.filename != ROCKSDB_KEEP:
                    continue
                with src.open(info) as data, dst.open(info, "w") as out:
                    shutil.copyfileobj(data, out)
        slim.replace(jar)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
