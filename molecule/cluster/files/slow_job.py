"""A job long enough to lose a worker host in the middle: 48 tasks of 3 s each.

Prints SLOW_JOB_OK <tasks> <hosts it ran on> when every task finished.
"""

import socket
import sys
import time

from pyspark.sql import SparkSession


def work(i):
    time.sleep(3)
    return i, socket.gethostbyname(socket.gethostname())


if __name__ == "__main__":
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 48
    spark = SparkSession.builder.appName("SlowJob").getOrCreate()
    rows = spark.sparkContext.parallelize(range(tasks), tasks).map(work).collect()
    spark.stop()
    done = sorted(i for i, _ in rows)
    assert done == list(range(tasks)), done
    print("SLOW_JOB_OK", len(done), " ".join(sorted({h for _, h in rows})))
