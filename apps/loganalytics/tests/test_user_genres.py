"""user_genres.py: exact output files, tie-breaking, and the usage errors.

The expected rows are worked out by hand from the files in tests/data/.
"""

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
import user_genres

DATA = Path(__file__).resolve().parent / "data"
SCRIPT = Path(__file__).resolve().parents[1] / "user_genres.py"
USERS = str(DATA / "test_log1.csv")
PLAYS = str(DATA / "test_log2.csv")

HEADER = "userId;topGenderId;topGenderIdSongs;distSongIds;region;type;paid"

# Every user plays one or two songs once each; with two, the two genres tie at one
# play and the smaller genre id wins (27103: 23 and 16 -> 16; 74637: 24 and 27 -> 24;
# 4052: 22 and 27 -> 22).
ALL_USERS = [
    HEADER,
    "4052;22;1;2;1;2;false",
    "12832;15;1;1;0;1;true",
    "27103;16;1;2;0;0;true",
    "36462;28;1;1;1;0;true",
    "55466;25;1;1;2;0;false",
    "74637;24;1;2;2;1;false",
]

# [4052, 36462]: both bounds are user ids (inclusive); 55466 and 74637 are out.
USERS_4052_TO_36462 = ALL_USERS[:5]

# tie_plays.csv: user 1 plays genres 10 and 9 twice each -> 9 (numeric, not "10" < "9");
# user 2 plays song 200 (genre 3) twice and three songs of genre 7 -> 7 with 3 plays,
# 4 distinct songs; user 3 has no plays and user 4 is not in tie_users.csv -> left out.
TIE_USERS = [
    HEADER,
    "1;9;2;4;0;0;true",
    "2;7;3;4;1;1;false",
]


def read_output(output: Path) -> list[str]:
    parts = sorted(output.glob("part-*"))
    assert len(parts) == 1, parts
    return parts[0].read_text().splitlines()


@pytest.mark.parametrize(
    ("min_id", "max_id", "expected"),
    [
        (0, 100000, ALL_USERS),
        (4052, 74637, ALL_USERS),
        (4052, 36462, USERS_4052_TO_36462),
        (12832, 12832, [HEADER, "12832;15;1;1;0;1;true"]),
        (1, 4051, [HEADER]),
    ],
)
def test_output_file(spark, tmp_path, min_id, max_id, expected):
    output = tmp_path / "out"
    parts = user_genres.run(spark, min_id, max_id, USERS, PLAYS, str(output))

    assert [Path(p) for p in parts] == sorted(output.glob("part-*"))
    assert read_output(output) == expected


def test_file_uris(spark, tmp_path):
    output = tmp_path / "out"
    user_genres.run(
        spark,
        0,
        100000,
        (DATA / "test_log1.csv").as_uri(),
        (DATA / "test_log2.csv").as_uri(),
        output.as_uri(),
    )
    assert read_output(output) == ALL_USERS


def test_tie_goes_to_smallest_genre_id(spark, tmp_path):
    output = tmp_path / "out"
    user_genres.run(
        spark, 0, 10, str(DATA / "tie_users.csv"), str(DATA / "tie_plays.csv"), str(output)
    )
    assert read_output(output) == TIE_USERS


def test_overwrites_previous_output(spark, tmp_path):
    output = tmp_path / "out"
    user_genres.run(spark, 0, 100000, USERS, PLAYS, str(output))
    user_genres.run(spark, 12832, 27103, USERS, PLAYS, str(output))
    assert read_output(output) == [HEADER, ALL_USERS[2], ALL_USERS[3]]


def test_hour_is_parsed_as_timestamp(spark):
    plays = user_genres.parse_plays(user_genres.read_log(spark, PLAYS, user_genres.PLAYS_SCHEMA))
    assert dict(plays.dtypes)["hour"] == "timestamp"
    first = plays.where("userId = 4052").orderBy("hour").first()
    assert first.hour == datetime.datetime(2017, 10, 18, 23, 2, 1)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["0", "100000", USERS, PLAYS],
        ["0", "100000", USERS, PLAYS, "out", "extra"],
        ["zero", "100000", USERS, PLAYS, "out"],
        ["0", "1e5", USERS, PLAYS, "out"],
        ["100000", "0", USERS, PLAYS, "out"],
    ],
)
def test_usage_errors_exit_1_without_spark(tmp_path, args):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    # Only the usage line: Spark, had it started, would have logged to stderr.
    assert result.stderr.strip() == user_genres.USAGE
    assert list(tmp_path.iterdir()) == []


def test_spark_submit(tmp_path):
    """The whole job as the cluster runs it: spark-submit, file:// inputs, part path printed."""
    bin_dir = Path(sys.executable).parent
    env = dict(
        os.environ,
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
    )
    output = tmp_path / "out"
    result = subprocess.run(
        [
            str(bin_dir / "spark-submit"),
            "--master",
            "local[2]",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.sql.shuffle.partitions=2",
            str(SCRIPT),
            "0",
            "100000",
            (DATA / "test_log1.csv").as_uri(),
            (DATA / "test_log2.csv").as_uri(),
            str(output),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [str(p) for p in sorted(output.glob("part-*"))]
    assert read_output(output) == ALL_USERS
