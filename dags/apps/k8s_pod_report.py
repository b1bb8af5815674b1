#!/usr/bin/env python3
"""Line and word counts of a text file, and where the driver ran: the
Kubernetes example's driver.

In a real cluster this is the application the Spark image's entrypoint
starts in the driver pod; on the stand-in cluster the pod's container is a
local process. Relative inputs are read from the working directory (where
a cluster puts the DAG's `files`) or the dags/ folder. Exits 1 when
the file has fewer lines than --min-lines.
"""
import argparse
import json
import os
import sys

p = argparse.ArgumentParser()
p.add_argument("input")
p.add_argument("--min-lines", type=int, default=0)
a = p.parse_args()
path = a.input
if not os.path.isabs(path):
    # On a cluster the DAG ships the input with `files` (spark-submit's
    # --files), which lands in the driver's working directory; otherwise it
    # is read from dags/.
    shipped = os.path.basename(path)
    path = shipped if os.path.isfile(shipped) else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", path)
with open(path, encoding="utf-8") as f:
    text = f.read()
report = {
    "lines": len(text.splitlines()),
    "words": len(text.split()),
    "spark_app_id": os.environ.get("SPARK_APPLICATION_ID", ""),
    "pod_ip": os.environ.get("SPARK_DRIVER_BIND_ADDRESS", ""),
}
print(json.dumps(report))
if report["lines"] < a.min_lines:
    print(f"only {report['lines']} lines, wanted {a.min_lines}", file=sys.stderr)
    sys.exit(1)
