//! Airflow's official Python client (apache-airflow-client, from PyPI)
//! against drover: its models parse drover's answers strictly, so this
//! proves the API is Airflow-shaped where both have the concept.

mod support;

use serde_json::{Value, json};
use support::drover::{Api, script, start, write};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_airflow_client_lists_tagged_dags_triggers_waits_and_reads_task_instances_and_logs() {
    let python = support::peers::python_with("airflow_client.client").unwrap();
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "hello.sh", "#!/bin/sh\ni=0\nwhile [ $i -lt \"$2\" ]; do i=$((i+1)); echo \"hello $1\"; done\n");
    write(
        dags.path(),
        "greetings.toml",
        r#"
id = "greetings"
tags = ["greeting", "example"]
[params]
who = { default = "world", type = "string" }
times = { default = 1, type = "integer", minimum = 1 }
[[tasks]]
id = "hello"
backend = "local"
[tasks.application]
resource = "hello.sh"
main_class = "Hello"
deploy_mode = "cluster"
args = ["{{ params.who }}", "{{ params.times }}"]
[[tasks]]
id = "again"
backend = "local"
depends_on = ["hello"]
[tasks.application]
resource = "hello.sh"
main_class = "Hello"
deploy_mode = "client"
args = ["{{ params.who }}", "1"]
"#,
    );
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/airflow_client_check.py");
    let out = tokio::process::Command::new(&python)
        .arg(script)
        .env("DROVER_URL", d.api_url())
        .env("DROVER_TOKEN", d.api_token())
        .env("DAG_ID", "greetings")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the Airflow client failed:\n{stdout}\n{stderr}");
    let seen: Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(seen["dags"], json!(["greetings"]));
    // Regression: every tag lacked Airflow's required dag_display_name, so
    // the client refused the DAG list of any DAG with tags.
    assert_eq!(seen["tags"], json!({"greetings": ["example", "greeting"]}));
    assert_eq!(seen["is_paused"], false);
    assert_eq!(seen["conf"], json!({"who": "airflow-client", "times": 3}));
    assert_eq!(seen["state"], "success");
    assert_eq!(seen["task_instances"], json!({"hello": ["success", 1], "again": ["success", 1]}));
    assert_eq!(seen["bad_conf"][0], 400);
    assert_eq!(seen["bad_conf"][1][0]["field"], "times", "{}", seen["bad_conf"]);
    assert_eq!(seen["bad_token"], 401);
    assert_eq!(seen["log"][0], "hello");
    let client_log = seen["log"][1].as_str().unwrap();
    assert_eq!(client_log.matches("hello airflow-client").count(), 3, "{client_log}");

    // The conf the client sent reached the driver.
    let api = Api::new(&d);
    let run = seen["run_id"].as_str().unwrap();
    let log = api.log("greetings", run, "hello", 1).await.unwrap();
    assert_eq!(log.matches("hello airflow-client").count(), 3, "{log}");
    d.shutdown().await;
}
