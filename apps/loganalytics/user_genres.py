#
# Favourite genre and distinct songs per user, from the users and plays logs.
#
# Usage: user_genres.py <minUserId> <maxUserId> <usersLog> <playsLog> <outputPath>
#
# Example:
#   spark-submit apps/loganalytics/user_genres.py 0 100000 \
#       file:///data/logs/test_log1.csv file:///data/logs/test_log2.csv /data/out/user_genres
#
"""Per user in [minUserId, maxUserId]: most played genre, its play count, distinct songs.

Writes one ';'-separated CSV file with a header and the columns
``userId;topGenderId;topGenderIdSongs;distSongIds;region;type;paid``, ordered by userId.
"""

import sys

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

USAGE = "Usage: user_genres.py <minUserId> <maxUserId> <usersLog> <playsLog> <outputPath>"

SEPARATOR = ";"
HOUR_FORMAT = "dd-MM-yyyy HH:mm:ss"

USERS_SCHEMA = StructType(
    [
        StructField("userId", IntegerType()),
        StructField("region", IntegerType()),
        StructField("type", IntegerType()),
        StructField("paid", BooleanType()),
    ]
)

# "hour" is read as text and parsed with HOUR_FORMAT by parse_plays().
PLAYS_SCHEMA = StructType(
    [
        StructField("hour", StringType()),
        StructField("userId", IntegerType()),
        StructField("songId", LongType()),
        StructField("genderId", IntegerType()),
        StructField("deviceId", StringType()),
    ]
)

OUTPUT_COLUMNS = [
    "userId",
    "topGenderId",
    "topGenderIdSongs",
    "distSongIds",
    "region",
    "type",
    "paid",
]


def parse_args(argv: list[str]) -> tuple[int, int, str, str, str] | None:
    """The arguments after the script name, checked; None when they are wrong."""
    if len(argv) != 5:
        return None
    min_user, max_user, users_log, plays_log, output = argv
    try:
        min_id, max_id = int(min_user), int(max_user)
    except ValueError:
        return None
    if min_id > max_id:
        return None
    return min_id, max_id, users_log, plays_log, output


def read_log(spark: SparkSession, path: str, schema: StructType) -> DataFrame:
    """A ';'-separated log with a header line (local path or file:// URI)."""
    return spark.read.csv(path, schema=schema, sep=SEPARATOR, header=True, mode="FAILFAST")


def parse_plays(plays: DataFrame) -> DataFrame:
    """The plays log with its "hour" column parsed into a timestamp."""
    return plays.withColumn("hour", F.to_timestamp("hour", HOUR_FORMAT))


def plays_in_range(plays: DataFrame, min_user_id: int, max_user_id: int) -> DataFrame:
    """Plays of the users whose id is within [min_user_id, max_user_id]."""
    return plays.where(F.col("userId").between(min_user_id, max_user_id))


def distinct_songs(plays: DataFrame) -> DataFrame:
    """userId, distSongIds: the number of different songs each user played."""
    return plays.groupBy("userId").agg(F.countDistinct("songId").alias("distSongIds"))


def top_genres(plays: DataFrame) -> DataFrame:
    """userId, topGenderId, topGenderIdSongs: each user's most played genre, and its plays.

    Ties go to the smallest genre id.
    """
    per_genre = plays.groupBy("userId", "genderId").agg(F.count("*").alias("topGenderIdSongs"))
    most_played_first = Window.partitionBy("userId").orderBy(
        F.col("topGenderIdSongs").desc(), F.col("genderId").asc()
    )
    return (
        per_genre.withColumn("rank", F.row_number().over(most_played_first))
        .where(F.col("rank") == 1)
        .select("userId", F.col("genderId").alias("topGenderId"), "topGenderIdSongs")
    )


def user_genres(
    users: DataFrame, plays: DataFrame, min_user_id: int, max_user_id: int
) -> DataFrame:
    """OUTPUT_COLUMNS for the users in range that have plays and a users-log entry."""
    selected = plays_in_range(plays, min_user_id, max_user_id)
    return (
        top_genres(selected)
        .join(distinct_songs(selected), "userId")
        .join(users, "userId")
        .select(*OUTPUT_COLUMNS)
        .orderBy("userId")
    )


def write_single_csv(result: DataFrame, output: str) -> None:
    """One ';'-separated CSV part file with a header under the directory `output`."""
    # Sorting inside the single partition keeps the file ordered whatever order
    # coalesce() concatenates the partitions of the global sort in.
    (
        result.coalesce(1)
        .sortWithinPartitions("userId")
        .write.mode("overwrite")
        .csv(output, sep=SEPARATOR, header=True)
    )


def part_files(spark: SparkSession, output: str) -> list[str]:
    """The part files Spark wrote under `output` (plain paths for the local file system)."""
    jvm = spark.sparkContext._jvm
    pattern = jvm.org.apache.hadoop.fs.Path(output.rstrip("/") + "/part-*")
    fs = pattern.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    paths = []
    for status in fs.globStatus(pattern) or []:
        uri = status.getPath().toUri()
        paths.append(uri.getPath() if uri.getScheme() == "file" else uri.toString())
    return sorted(paths)


def run(
    spark: SparkSession,
    min_user_id: int,
    max_user_id: int,
    users_log: str,
    plays_log: str,
    output: str,
) -> list[str]:
    """Read both logs, write the result under `output`; returns the part file paths."""
    users = read_log(spark, users_log, USERS_SCHEMA)
    plays = parse_plays(read_log(spark, plays_log, PLAYS_SCHEMA))
    write_single_csv(user_genres(users, plays, min_user_id, max_user_id), output)
    return part_files(spark, output)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args is None:
        print(USAGE, file=sys.stderr)
        return 1

    spark = SparkSession.builder.appName("UserGenres").getOrCreate()
    try:
        for path in run(spark, *args):
            print(path)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
