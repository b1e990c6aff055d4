/*
 * Favourite genre and distinct songs per user, from the users and plays logs: the Scala
 * log job of the system this platform replaces, with the same arguments, rows and output
 * as user_genres.py (see ../../../../README.md).
 *
 * Usage: stubs.Example <minUserId> <maxUserId> <usersLog> <playsLog> <outputPath>
 *
 * Example (in the spark-driver container):
 *   cd /opt/apps/loganalytics && spark-submit --class stubs.Example \
 *       target/example-1.0.jar 1 49999 \
 *       file:///srv/analytics-platform/data/logs/test_log1.csv \
 *       file:///srv/analytics-platform/data/logs/test_log2.csv \
 *       /srv/analytics-platform/data/output/example
 */
package stubs

import org.apache.hadoop.fs.Path
import org.apache.spark.sql.expressions.Window
import org.apache.spark.sql.functions.{col, count, countDistinct, row_number, to_timestamp}
import org.apache.spark.sql.types._
import org.apache.spark.sql.{DataFrame, SparkSession}

object Example {
  val Usage = "Usage: stubs.Example <minUserId> <maxUserId> <usersLog> <playsLog> <outputPath>"

  val Separator = ";"
  val HourFormat = "dd-MM-yyyy HH:mm:ss"

  val UsersSchema: StructType = StructType(
    Seq(
      StructField("userId", IntegerType),
      StructField("region", IntegerType),
      StructField("type", IntegerType),
      StructField("paid", BooleanType)
    )
  )

  // "hour" is read as text and parsed with HourFormat by parsePlays.
  val PlaysSchema: StructType = StructType(
    Seq(
      StructField("hour", StringType),
      StructField("userId", IntegerType),
      StructField("songId", LongType),
      StructField("genderId", IntegerType),
      StructField("deviceId", StringType)
    )
  )

  val OutputColumns: Seq[String] =
    Seq("userId", "topGenderId", "topGenderIdSongs", "distSongIds", "region", "type", "paid")

  final case class Args(minUserId: Int, maxUserId: Int, usersLog: String, playsLog: String, output: String)

  /** The arguments, checked; None when they are wrong. */
  def parseArgs(argv: Array[String]): Option[Args] = argv match {
    case Array(min, max, users, plays, out) =>
      (min.toIntOption, max.toIntOption) match {
        case (Some(lo), Some(hi)) if lo <= hi => Some(Args(lo, hi, users, plays, out))
        case _ => None
      }
    case _ => None
  }

  /** A ';'-separated log with a header line (local path, file:// or hdfs:// URI). */
  def readLog(spark: SparkSession, path: String, schema: StructType): DataFrame =
    spark.read
      .schema(schema)
      .option("sep", Separator)
      .option("header", "true")
      .option("mode", "FAILFAST")
      .csv(path)

  /** The plays log with its "hour" column parsed into a timestamp. */
  def parsePlays(plays: DataFrame): DataFrame =
    plays.withColumn("hour", to_timestamp(col("hour"), HourFormat))

  /** Plays of the users whose id is within [minUserId, maxUserId]. */
  def playsInRange(plays: DataFrame, minUserId: Int, maxUserId: Int): DataFrame =
    plays.where(col("userId").between(minUserId, maxUserId))

  /** userId, distSongIds: the number of different songs each user played. */
  def distinctSongs(plays: DataFrame): DataFrame =
    plays.groupBy("userId").agg(countDistinct("songId").alias("distSongIds"))

  /** userId, topGenderId, topGenderIdSongs: each user's most played genre and its plays.
    * Ties go to the smallest genre id.
    */
  def topGenres(plays: DataFrame): DataFrame = {
    val perGenre = plays.groupBy("userId", "genderId").agg(count("*").alias("topGenderIdSongs"))
    val mostPlayedFirst =
      Window.partitionBy("userId").orderBy(col("topGenderIdSongs").desc, col("genderId").asc)
    perGenre
      .withColumn("rank", row_number().over(mostPlayedFirst))
      .where(col("rank") === 1)
      .select(col("userId"), col("genderId").alias("topGenderId"), col("topGenderIdSongs"))
  }

  /** OutputColumns for the users in range that have plays and a users-log entry. */
  def userGenres(users: DataFrame, plays: DataFrame, minUserId: Int, maxUserId: Int): DataFrame = {
    val selected = playsInRange(plays, minUserId, maxUserId)
    topGenres(selected)
      .join(distinctSongs(selected), "userId")
      .join(users, "userId")
      .select(OutputColumns.map(col): _*)
      .orderBy("userId")
  }

  /** One ';'-separated CSV part file with a header under the directory `output`. */
  def writeSingleCsv(result: DataFrame, output: String): Unit =
    // Sorting inside the single partition keeps the file ordered whatever order
    // coalesce() concatenates the partitions of the global sort in.
    result
      .coalesce(1)
      .sortWithinPartitions("userId")
      .write
      .mode("overwrite")
      .option("sep", Separator)
      .option("header", "true")
      .csv(output)

  /** The part files Spark wrote under `output` (plain paths for the local file system). */
  def partFiles(spark: SparkSession, output: String): Seq[String] = {
    val pattern = new Path(output.stripSuffix("/") + "/part-*")
    val fs = pattern.getFileSystem(spark.sparkContext.hadoopConfiguration)
    Option(fs.globStatus(pattern)).map(_.toSeq).getOrElse(Seq.empty).map { status =>
      val uri = status.getPath.toUri
      if (uri.getScheme == "file") uri.getPath else uri.toString
    }.sorted
  }

  /** Read both logs, write the result under `output`; returns the part file paths. */
  def run(spark: SparkSession, args: Args): Seq[String] = {
    val users = readLog(spark, args.usersLog, UsersSchema)
    val plays = parsePlays(readLog(spark, args.playsLog, PlaysSchema))
    writeSingleCsv(userGenres(users, plays, args.minUserId, args.maxUserId), args.output)
    partFiles(spark, args.output)
  }

  def main(argv: Array[String]): Unit = parseArgs(argv) match {
    case None =>
      System.err.println(Usage)
      sys.exit(1)
    case Some(args) =>
      val spark = SparkSession.builder().appName("Example").getOrCreate()
      try run(spark, args).foreach(println)
      finally spark.stop()
  }
}
