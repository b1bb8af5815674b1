"""Validates drover's answers against Airflow's own OpenAPI document.

Run by tests/airflow_schema.rs with DROVER_URL, DROVER_TOKEN, AIRFLOW_OPENAPI
(v2-rest-api-generated.yaml from the pinned apache-airflow-core wheel), DAG_ID,
RUN_ID and TASK_ID (a task of that finished run with a failed first try and a
second one) set. Calls every operation drover shares with Airflow (a path and
method both documents have), checks each answer's status is documented by
Airflow and its JSON body validates against Airflow's schema for that status
(JSON Schema 2020-12, $refs resolved within the document, formats checked).
Prints one JSON line: the operations checked and every problem found; exits
non-zero when there is a problem or a shared operation went unchecked.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

import jsonschema
import yaml

HOST = os.environ["DROVER_URL"].rstrip("/")
TOKEN = os.environ["DROVER_TOKEN"]
DAG_ID = os.environ["DAG_ID"]
RUN_ID = os.environ["RUN_ID"]
TASK_ID = os.environ["TASK_ID"]
METHODS = ("get", "post", "patch", "put", "delete")

with open(os.environ["AIRFLOW_OPENAPI"], encoding="utf-8") as f:
    AIRFLOW = yaml.safe_load(f)

FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER
# Without its optional dependency jsonschema skips date-time silently.
assert "date-time" in FORMATS.checkers, "jsonschema cannot check date-time: install rfc3339-validator"


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(HOST + path, data=data, method=method.upper())
    req.add_header("Authorization", f"Bearer {TOKEN}")
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get_content_type(), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get_content_type(), e.read()


def errors_against(template, method, status, content_type, body):
    """Everything wrong with one answer, by Airflow's document."""
    op = AIRFLOW["paths"][template][method]
    documented = op["responses"].get(str(status))
    if documented is None:
        return [f"status {status} is not documented by Airflow (it documents {sorted(op['responses'])})"]
    content = documented.get("content", {})
    if not content and not body:
        return []  # e.g. a delete's 204: no body, as documented
    if content_type not in content:
        return [f"content type {content_type} is not documented by Airflow for {status} (it documents {sorted(content)})"]
    try:
        instance = json.loads(body)
    except ValueError as e:
        return [f"body is not JSON: {e}"]
    # The response schema refers to "#/components/...": validate from a root
    # that holds the document's components.
    root = {"components": AIRFLOW["components"], "allOf": [content[content_type]["schema"]]}
    validator = jsonschema.Draft202012Validator(root, format_checker=FORMATS)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


def q(s):
    return urllib.parse.quote(s, safe="")


def main():
    dag = f"/api/v2/dags/{q(DAG_ID)}"
    run = f"{dag}/dagRuns/{q(RUN_ID)}"
    ti = f"{run}/taskInstances/{q(TASK_ID)}"
    T_DAG = "/api/v2/dags/{dag_id}"
    T_RUNS = T_DAG + "/dagRuns"
    T_RUN = T_RUNS + "/{dag_run_id}"
    T_TIS = T_RUN + "/taskInstances"
    T_TI = T_TIS + "/{task_id}"
    T_POOLS = "/api/v2/pools"
    T_POOL = T_POOLS + "/{pool_name}"
    T_BF = "/api/v2/backfills"
    bf_body = {"dag_id": DAG_ID, "from_date": "2026-01-01T00:00:00Z", "to_date": "2026-01-03T00:00:00Z",
               "max_active_runs": 1}
    # (method, Airflow's path template, concrete path, body, expected status)
    calls = [
        ("get", "/api/v2/monitor/health", "/api/v2/monitor/health", None, 200),
        ("get", "/api/v2/version", "/api/v2/version", None, 200),
        ("get", "/api/v2/dags", "/api/v2/dags", None, 200),
        ("get", T_DAG, dag, None, 200),
        ("patch", T_DAG, dag, {"is_paused": False}, 200),
        ("get", T_RUNS, f"{dag}/dagRuns", None, 200),
        ("get", T_RUN, run, None, 200),
        # A second run, with conf, marked failed as soon as it is triggered.
        ("post", T_RUNS, f"{dag}/dagRuns", {"conf": {"who": "schema"}, "logical_date": None}, 200),
        ("patch", T_RUN, None, {"state": "failed"}, 200),
        ("get", T_TIS, f"{run}/taskInstances", None, 200),
        ("get", T_TI, ti, None, 200),
        ("get", T_TI + "/tries", f"{ti}/tries", None, 200),
        ("get", T_TI + "/logs/{try_number}", f"{ti}/logs/1", None, 200),
        ("get", T_TI + "/logs/{try_number}", f"{ti}/logs/2", None, 200),
        ("get", T_TI + "/dependencies", f"{ti}/dependencies", None, 200),
        ("get", "/api/v2/importErrors", "/api/v2/importErrors", None, 200),
        # A pool's whole life, and the refusals Airflow documents.
        ("get", T_POOLS, T_POOLS, None, 200),
        ("post", T_POOLS, T_POOLS, {"name": "schema_pool", "slots": 2, "description": "checked"}, 201),
        ("post", T_POOLS, T_POOLS, {"name": "schema_pool", "slots": 2}, 409),
        ("get", T_POOL, f"{T_POOLS}/schema_pool", None, 200),
        ("patch", T_POOL, f"{T_POOLS}/schema_pool", {"slots": -1, "description": None}, 200),
        ("delete", T_POOL, f"{T_POOLS}/default_pool", None, 400),
        ("delete", T_POOL, f"{T_POOLS}/schema_pool", None, 204),
        ("get", T_POOL, f"{T_POOLS}/schema_pool", None, 404),
        # A backfill's life: a dry run, three daily ticks, one backfill of a
        # DAG at a time, paused, resumed, cancelled (then it has completed).
        ("post", T_BF + "/dry_run", T_BF + "/dry_run", bf_body, 200),
        ("post", T_BF, T_BF, bf_body, 200),
        ("post", T_BF, T_BF, bf_body, 409),
        ("get", T_BF, f"{T_BF}?dag_id={q(DAG_ID)}", None, 200),
        ("get", T_BF + "/{backfill_id}", f"{T_BF}/1", None, 200),
        ("put", T_BF + "/{backfill_id}/pause", f"{T_BF}/1/pause", None, 200),
        ("put", T_BF + "/{backfill_id}/unpause", f"{T_BF}/1/unpause", None, 200),
        ("put", T_BF + "/{backfill_id}/cancel", f"{T_BF}/1/cancel", None, 200),
        ("put", T_BF + "/{backfill_id}/cancel", f"{T_BF}/1/cancel", None, 409),
        ("get", T_BF + "/{backfill_id}", f"{T_BF}/999", None, 404),
        # drover's plugins are cluster backends, but the path is Airflow's.
        ("get", "/api/v2/plugins", "/api/v2/plugins", None, 200),
        ("post", T_DAG + "/clearTaskInstances", f"{dag}/clearTaskInstances",
         {"dag_run_id": RUN_ID, "dry_run": True, "only_failed": False}, 200),
        # Errors are Airflow-shaped too.
        ("get", T_DAG, "/api/v2/dags/no_such_dag", None, 404),
        ("get", T_RUN, f"{dag}/dagRuns/no_such_run", None, 404),
    ]

    problems = {}
    checked = set()
    triggered = None
    for method, template, path, body, expected in calls:
        if path is None:
            path = f"{dag}/dagRuns/{q(triggered or 'the-trigger-failed')}"
        status, content_type, raw = call(method, path, body)
        if method == "post" and template == T_RUNS and status == 200:
            triggered = json.loads(raw)["dag_run_id"]
        key = f"{method.upper()} {path}"
        found = [] if status == expected else [f"status {status}, expected {expected}: {raw[:300]!r}"]
        found += errors_against(template, method, status, content_type, raw)
        if found:
            problems[key] = found
        checked.add(f"{method.upper()} {template}")

    # Every operation both documents have is checked: a route drover adds on
    # one of Airflow's paths fails this test until it is listed above.
    status, _, raw = call("get", "/api/v2/openapi.json")
    assert status == 200, status
    drover = json.loads(raw)
    shared = {
        f"{m.upper()} {p}"
        for p, item in drover["paths"].items()
        if p in AIRFLOW["paths"]
        for m in item
        if m in METHODS and m in AIRFLOW["paths"][p]
    }
    unchecked = sorted(shared - checked)
    print(json.dumps({"checked": sorted(checked), "shared": sorted(shared), "unchecked": unchecked,
                      "problems": problems}, sort_keys=True))
    return 1 if problems or unchecked else 0


if __name__ == "__main__":
    sys.exit(main())
