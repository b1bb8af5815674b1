"""Counts words in a text file and prints the most frequent ones.

A small stand-in for a PySpark job: with pyspark installed it runs on Spark,
otherwise on plain Python, so the example works on a machine with no Spark.
Relative input paths are read from the working directory (where a cluster
puts the DAG's `files`) or the dags/ folder.
"""
import argparse
import collections
import json
import os
import sys


def words_of(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield from line.split()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("input")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--run", default="")
    a = p.parse_args()
    path = a.input
    if not os.path.isabs(path):
        # On a cluster the DAG ships the input with `files` (spark-submit's
        # --files), which lands in the driver's working directory; otherwise
        # it is read from dags/.
        shipped = os.path.basename(path)
        path = shipped if os.path.isfile(shipped) else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", path)
    if not os.path.exists(path):
        print(f"wordcount: no such input {a.input}", file=sys.stderr)
        return 2
    try:
        from pyspark.sql import SparkSession  # noqa: F401

        spark = SparkSession.builder.getOrCreate()
        counts = dict(
            spark.sparkContext.textFile(path)
            .flatMap(str.split)
            .map(lambda w: (w, 1))
            .reduceByKey(lambda x, y: x + y)
            .collect()
        )
        spark.stop()
    except ImportError:
        counts = collections.Counter(words_of(path))
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: a.top]
    print(json.dumps({"run": a.run, "words": sum(counts.values()), "top": top}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
