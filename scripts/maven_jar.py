#!/usr/bin/env python3
"""Build the repository's Maven projects on the controller, cached by content.

    maven_jar.py CACHE_DIR PROJECT_DIR [PROJECT_DIR ...]

A project is a folder holding a pom.xml (and its sources under src/). Its jar goes to
CACHE_DIR/<artifactId>-<version>-<hash>.jar, where the hash covers pom.xml and every
file under src/: an unchanged project is never built again, and the image that takes the
jar (image_context.py: a project among an image's includes) gets the same bytes, so the
same tag. The build runs `mvn package` in a copy of the project, so the repository stays
as it was. Prints "maven: built NAME" per jar built, then "maven: updated" or
"maven: complete".

Maven and a JDK 17 are installed (Debian's maven and openjdk-17-jdk-headless) when
missing and this is root on Debian/Ubuntu; otherwise the error says how to install them.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
TOOLS = ("maven", "openjdk-17-jdk-headless")


def sources(project: Path) -> list[Path]:
    """The files a build reads: pom.xml and everything under src/."""
    src = sorted(p for p in (project / "src").rglob("*") if p.is_file())
    return [project / "pom.xml", *src]


def jar_name(project: Path) -> str:
    """<artifactId>-<version>: the jar `mvn package` writes under target/."""
    pom = ET.parse(project / "pom.xml").getroot()
    artifact = pom.findtext("m:artifactId", namespaces=POM_NS)
    version = pom.findtext("m:version", namespaces=POM_NS)
    if not artifact or not version:
        sys.exit(f"{project}/pom.xml: no artifactId or version; set both")
    return f"{artifact}-{version}"


def jar_for(cache: Path, project: Path) -> Path:
    """Where the jar of this content of the project is cached (built or not)."""
    h = hashlib.sha256()
    for path in sources(project):
        h.update(path.relative_to(project).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return Path(cache) / f"{jar_name(project)}-{h.hexdigest()[:16]}.jar"


def maven() -> str:
    """The mvn command, installed first when missing and we may."""
    found = shutil.which("mvn")
    if found and shutil.which("javac"):
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit(
            "maven: no `mvn` or `javac` on this controller, and this is not root on "
            "Debian/Ubuntu, so I will not install them. Fix: install Maven 3.8+ and a "
            f"JDK 17 (on Debian/Ubuntu: sudo apt-get install {' '.join(TOOLS)}), then re-run."
        )
    print(f"maven: installing {' '.join(TOOLS)}", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *TOOLS],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return shutil.which("mvn") or sys.exit("maven: installed, but `mvn` is still not found")


def build(cache: Path, project: Path) -> bool:
    """Build the project's jar into the cache unless there; True when it built."""
    jar = jar_for(cache, project)
    if jar.is_file():
        return False
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".build-") as work:
        copy = Path(work) / project.name
        copy.mkdir()
        shutil.copy2(project / "pom.xml", copy / "pom.xml")
        shutil.copytree(project / "src", copy / "src")
        done = subprocess.run(
            [maven(), "--batch-mode", "--quiet", "package"],
            cwd=copy,
            capture_output=True,
            text=True,
            check=False,
        )
        built = copy / "target" / f"{jar_name(project)}.jar"
        if done.returncode != 0 or not built.is_file():
            out = (done.stdout + done.stderr).strip().splitlines()
            sys.exit(
                f"maven: `mvn package` failed for {project} (exit {done.returncode}); "
                "its last lines:\n" + "\n".join(out[-40:])
            )
        os.replace(built, jar)  # whole or absent: a crash never leaves half a jar
    print(f"maven: built {jar.name}")
    return True


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    cache, projects = Path(argv[0]), [Path(p) for p in argv[1:]]
    for project in projects:
        if not (project / "pom.xml").is_file():
            sys.exit(f"maven: {project} holds no pom.xml")
    built = [build(cache, p) for p in projects]
    print("maven: updated" if any(built) else "maven: complete")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
