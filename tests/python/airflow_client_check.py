"""Drives drover with Airflow's official Python client (apache-airflow-client).

Run by tests/airflow_client.rs with DROVER_URL, DROVER_TOKEN and DAG_ID set.
Lists DAGs (with their tags), triggers a run with conf, waits for it, reads
its task instances and the first task's log, and checks that a bad conf and a missing token are refused. Prints
one JSON line with what it saw; exits non-zero on any mismatch.
"""

import json
import os
import sys
import time

import airflow_client.client as airflow
from airflow_client.client.api import dag_api, dag_run_api, task_instance_api
from airflow_client.client.exceptions import ApiException
from airflow_client.client.models.trigger_dag_run_post_body import TriggerDAGRunPostBody

HOST = os.environ["DROVER_URL"]
TOKEN = os.environ["DROVER_TOKEN"]
DAG_ID = os.environ["DAG_ID"]


def client(token):
    return airflow.ApiClient(airflow.Configuration(host=HOST, access_token=token))


def main():
    seen = {}
    with client(TOKEN) as api:
        dags = dag_api.DAGApi(api).get_dags()
        seen["dags"] = sorted(d.dag_id for d in dags.dags)
        assert DAG_ID in seen["dags"], seen["dags"]
        seen["tags"] = {d.dag_id: sorted(t.name for t in d.tags) for d in dags.dags}
        dag = dag_api.DAGApi(api).get_dag(DAG_ID)
        seen["is_paused"] = dag.is_paused

        runs = dag_run_api.DagRunApi(api)
        body = TriggerDAGRunPostBody(conf={"who": "airflow-client", "times": 3}, logical_date=None)
        run = runs.trigger_dag_run(DAG_ID, body)
        seen["run_id"] = run.dag_run_id
        seen["conf"] = run.conf

        deadline = time.monotonic() + 120
        while True:
            run = runs.get_dag_run(DAG_ID, run.dag_run_id)
            if run.state.value in ("success", "failed"):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"run {run.dag_run_id} still {run.state.value} after 120 s")
            time.sleep(0.2)
        seen["state"] = run.state.value

        tis = task_instance_api.TaskInstanceApi(api).get_task_instances(DAG_ID, run.dag_run_id)
        seen["task_instances"] = {t.task_id: [t.state.value if t.state else None, t.try_number] for t in tis.task_instances}
        first = tis.task_instances[0].task_id
        log = task_instance_api.TaskInstanceApi(api).get_log(DAG_ID, run.dag_run_id, first, 1)
        seen["log"] = [first, "".join(log.content.actual_instance)]

        try:
            runs.trigger_dag_run(DAG_ID, TriggerDAGRunPostBody(conf={"times": "many"}, logical_date=None))
            raise SystemExit("a conf of the wrong type was accepted")
        except ApiException as e:
            seen["bad_conf"] = [e.status, json.loads(e.body)["errors"]]

    with client("not-the-token") as api:
        try:
            dag_run_api.DagRunApi(api).trigger_dag_run(DAG_ID, TriggerDAGRunPostBody(conf={}, logical_date=None))
            raise SystemExit("a trigger with a wrong token was accepted")
        except ApiException as e:
            seen["bad_token"] = e.status

    print(json.dumps(seen, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
