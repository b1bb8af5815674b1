"""A tiny PySpark app for drover's end-to-end tests (client mode).

Word count of the text file given as argv[1] (or of a built-in list when no
argument is given). Prints `count=<total words>` and `distinct=<distinct words>`
to stdout and exits 0.

    spark-submit --master spark://127.0.0.1:P --deploy-mode client \
        --conf spark.driver.host=127.0.0.1 tests/apps/pyspark_count.py [FILE]
"""

import sys

from pyspark.sql import SparkSession

INLINE = [
    "the quick brown fox",
    "jumps over the lazy dog",
    "the end",
]


def main(argv):
    spark = SparkSession.builder.appName("drover-pyspark-count").getOrCreate()
    try:
        sc = spark.sparkContext
        if len(argv) > 1:
            lines = sc.textFile(argv[1])
        else:
            lines = sc.parallelize(INLINE, 2)
        words = lines.flatMap(lambda line: line.split()).map(lambda w: (w, 1))
        counts = words.reduceByKey(lambda a, b: a + b).collect()
        total = sum(n for _, n in counts)
        print(f"count={total}", flush=True)
        print(f"distinct={len(counts)}", flush=True)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
