//! drover's answers on the paths it shares with Airflow, validated against
//! Airflow's own OpenAPI document (from the pinned apache-airflow-core wheel,
//! which `.ci/run` downloads and never installs). drover's own document, which
//! the schemathesis test checks, describes drover; this one holds drover to
//! what Airflow's clients expect.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::drover::{Api, script, start, write};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_on_an_airflow_path_validates_against_airflows_document() {
    let python = support::peers::python_with("jsonschema, rfc3339_validator, yaml").unwrap();
    let document = support::peers::airflow_openapi().unwrap();
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    // Fails its first try (leaving a marker), succeeds on the retry: the run
    // has a failed try, a retried task instance and logs for both tries.
    script(
        dags.path(),
        "flaky.sh",
        "#!/bin/sh\necho \"hello $1\"\nif [ ! -e \"$2\" ]; then : > \"$2\"; echo 'first try fails' >&2; exit 1; fi\n",
    );
    let marker = home.path().join("flaky-ran-once");
    write(
        dags.path(),
        "tagged.toml",
        &format!(
            r#"
id = "tagged"
description = "tags, params and a retried task"
# Scheduled, but not before the test ends: the next run's dates are set
# and the triggered run is the only one.
schedule = "@daily"
start_date = "2099-01-01"
tags = ["example", "schema"]
[params]
who = {{ default = "world", type = "string", description = "who to greet" }}
times = {{ default = 1, type = "integer", minimum = 1 }}
[defaults]
backend = "local"
retries = 1
retry_delay = "1s"
[[tasks]]
id = "flaky"
[tasks.application]
resource = "flaky.sh"
main_class = "Flaky"
deploy_mode = "client"
args = ["{{{{ params.who }}}}", "{marker}"]
[[tasks]]
id = "after"
depends_on = ["flaky"]
[tasks.application]
resource = "flaky.sh"
main_class = "After"
deploy_mode = "cluster"
args = ["{{{{ params.who }}}}", "{marker}"]
"#,
            marker = marker.display()
        ),
    );
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("tagged", json!({"who": "airflow", "times": 2})).await.unwrap();
    let state = api.wait_run("tagged", &run, Duration::from_secs(120)).await.unwrap();
    assert_eq!(state, "success");
    let tries = api.tries("tagged", &run, "flaky").await.unwrap();
    let states: Vec<&Value> = tries.iter().map(|t| &t["state"]).collect();
    assert_eq!(states, [&json!("failed"), &json!("success")], "{tries:?}");

    let out = tokio::process::Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/python/airflow_schema_check.py"))
        .env("DROVER_URL", d.api_url())
        .env("DROVER_TOKEN", d.api_token())
        .env("AIRFLOW_OPENAPI", &document)
        .env("DAG_ID", "tagged")
        .env("RUN_ID", &run)
        .env("TASK_ID", "flaky")
        .output()
        .await
        .unwrap();
    d.shutdown().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let seen: Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}:\n{stdout}\n{stderr}"));
    assert_eq!(seen["problems"], json!({}), "answers Airflow's document does not allow:\n{seen:#}");
    assert_eq!(seen["unchecked"], json!([]), "operations shared with Airflow and not checked:\n{seen:#}");
    // The shared operations, as both documents list them: a route that
    // leaves Airflow's paths (or joins them) shows here.
    let shared: Vec<&str> = seen["shared"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(
        shared,
        [
            "DELETE /api/v2/pools/{pool_name}",
            "GET /api/v2/backfills",
            "GET /api/v2/backfills/{backfill_id}",
            "GET /api/v2/dags",
            "GET /api/v2/dags/{dag_id}",
            "GET /api/v2/dags/{dag_id}/dagRuns",
            "GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}",
            "GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances",
            "GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
            "GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/dependencies",
            "GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}",
            "GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries",
            "GET /api/v2/importErrors",
            "GET /api/v2/monitor/health",
            "GET /api/v2/plugins",
            "GET /api/v2/pools",
            "GET /api/v2/pools/{pool_name}",
            "GET /api/v2/version",
            "PATCH /api/v2/dags/{dag_id}",
            "PATCH /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}",
            "PATCH /api/v2/pools/{pool_name}",
            "POST /api/v2/backfills",
            "POST /api/v2/backfills/dry_run",
            "POST /api/v2/dags/{dag_id}/clearTaskInstances",
            "POST /api/v2/dags/{dag_id}/dagRuns",
            "POST /api/v2/pools",
            "PUT /api/v2/backfills/{backfill_id}/cancel",
            "PUT /api/v2/backfills/{backfill_id}/pause",
            "PUT /api/v2/backfills/{backfill_id}/unpause",
        ]
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
}
