"""The Scala log job (stubs.Example) agrees with user_genres.py row for row.

The jar is built by scripts/maven_jar.py into the controller's cache (the one the images
stage uses, so a machine builds it once per content of pom.xml and src/), then run the
way the seed ran it: `spark-submit --class stubs.Example target/example-1.0.jar MIN MAX
LOG1 LOG2 OUT`. The PySpark job runs in this process on the same inputs.
"""

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import user_genres

APP = Path(__file__).resolve().parents[1]
ROOT = APP.parents[1]
DATA = Path(__file__).resolve().parent / "data"
SEED = (DATA / "test_log1.csv", DATA / "test_log2.csv")
JARS = Path.home() / ".cache/analytics-platform/jars"

sys.path.insert(0, str(ROOT / "scripts"))
from maven_jar import build, jar_for  # noqa: E402

# The venv's spark-submit runs with its own bin first on PATH.
BIN = Path(sys.executable).parent
ENV = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
LOCAL = [
    "--master",
    "local[2]",
    "--conf",
    "spark.ui.enabled=false",
    "--conf",
    "spark.driver.host=127.0.0.1",
    "--conf",
    "spark.sql.shuffle.partitions=2",
]


@pytest.fixture(scope="module")
def jar():
    build(JARS, APP)
    return jar_for(JARS, APP)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """Users and plays logs of 400 users with ids across 1..99999: repeated songs, tied
    genres and users on only one side, in the seed's format."""
    rng = random.Random(40)
    folder = tmp_path_factory.mktemp("logs")
    ids = sorted(rng.sample(range(1, 100000), 400))
    users = ["userId;region;type;paid"]
    users += [
        f"{u};{rng.randrange(3)};{rng.randrange(3)};{str(rng.random() < 0.5).lower()}"
        for u in ids[:380]  # the last 20 have plays and no users-log entry
    ]
    plays = ["hour;userId;songId;genderId;deviceId"]
    for u in ids[20:]:  # the first 20 have no plays
        songs = [rng.randrange(1000, 1050) for _ in range(rng.randrange(1, 12))]
        for song in songs:
            minute = rng.randrange(60)
            plays.append(f"18-10-2017 10:{minute:02d}:00;{u};{song};{song % 7 + 1};1_{u}")
    (folder / "users.csv").write_text("\n".join(users) + "\n")
    (folder / "plays.csv").write_text("\n".join(plays) + "\n")
    return folder / "users.csv", folder / "plays.csv"


def rows(output: Path) -> list[str]:
    parts = sorted(output.glob("part-*"))
    assert len(parts) == 1, parts
    return parts[0].read_text().splitlines()


def scala(jar: Path, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["spark-submit", *LOCAL, "--class", "stubs.Example", str(jar), *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    ("source", "min_id", "max_id"),
    [
        ("seed", 1, 49999),  # the seed's own command
        ("synthetic", 0, 100000),
        ("synthetic", 1, 49999),
        ("synthetic", 31000, 61999),
    ],
)
def test_scala_and_pyspark_jobs_agree(spark, jar, logs, tmp_path, source, min_id, max_id):
    users, plays = SEED if source == "seed" else logs
    args = [str(min_id), str(max_id), f"file://{users}", f"file://{plays}"]
    done = scala(jar, [*args, str(tmp_path / "scala")])
    assert done.returncode == 0, done.stderr[-3000:]
    # The job prints the part file it wrote.
    assert [Path(p) for p in done.stdout.split()] == sorted((tmp_path / "scala").glob("part-*"))

    user_genres.run(spark, min_id, max_id, *args[2:], str(tmp_path / "python"))

    expected = rows(tmp_path / "python")
    assert len(expected) > 2  # the header and more than one user: the range selects
    assert rows(tmp_path / "scala") == expected


@pytest.mark.parametrize("args", [["1"], ["x", "9", "a", "b", "c"], ["9", "1", "a", "b", "c"]])
def test_scala_job_wrong_arguments_give_usage(jar, args):
    done = scala(jar, args)
    assert done.returncode == 1
    assert "Usage: stubs.Example <minUserId> <maxUserId>" in done.stderr
