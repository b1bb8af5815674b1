//! `GET /api/v2/plugins` and `/api/v2/backends` show what each plugin
//! costs: its component's size, compile time and contract version, and per
//! call name the count, errors and latency of the calls drover made.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::drover::{Api, script, start, write};

fn call<'a>(calls: &'a Value, name: &str) -> &'a Value {
    calls
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["call"] == name)
        .unwrap_or_else(|| panic!("no `{name}` in {calls}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_calls_are_counted_with_their_errors_and_latency() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    // The misbehaving test plugin as a backend: `ok` submits and succeeds,
    // `stderr` makes submit fail with the plugin's own error.
    let wasm = home.path().join("misbehave.wasm");
    std::fs::write(&wasm, drover_plugin_host::bundled::MISBEHAVE).unwrap();
    let config = write(
        home.path(),
        "drover.toml",
        &format!("[backends.odd]\nplugin = \"{}\"\ncall_timeout = \"20s\"\n", wasm.display()),
    );
    script(dags.path(), "ok", "#!/bin/sh\nexit 0\n");
    write(
        dags.path(),
        "odd.toml",
        r#"
id = "odd"
[[tasks]]
id = "good"
backend = "odd"
[tasks.application]
resource = "ok"
main_class = "ok"
deploy_mode = "cluster"
[[tasks]]
id = "bad"
backend = "odd"
[tasks.application]
resource = "ok"
main_class = "stderr"
deploy_mode = "cluster"
"#,
    );
    let d = start(home.path(), dags.path(), Some(config)).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("odd", json!({})).await.unwrap();
    let state = api.wait_run("odd", &run, Duration::from_secs(120)).await.unwrap();
    assert_eq!(state, "failed");
    let tis = api.task_instances("odd", &run).await.unwrap();
    assert_eq!(tis["good"]["state"], "success", "{tis:?}");

    let backends = api.get("/api/v2/backends").await.unwrap();
    let odd = backends["backends"].as_array().unwrap().iter().find(|b| b["name"] == "odd").unwrap();
    assert_eq!(odd["call_timeout"], "20s", "{odd}");
    assert_eq!(odd["memory_mb"], 64, "{odd}");
    let submit = call(&odd["calls"], "submit");
    assert_eq!(submit["count"], 2, "{submit}");
    assert_eq!(submit["errors"], 1, "the failed submission is counted: {submit}");
    assert!(submit["max_ms"].as_f64().unwrap() > 0.0, "{submit}");
    assert!(submit["mean_ms"].as_f64().unwrap() <= submit["max_ms"].as_f64().unwrap(), "{submit}");
    let status = call(&odd["calls"], "status");
    let status_many = call(&odd["calls"], "status-many");
    let polls = status["count"].as_u64().unwrap() + status_many["count"].as_u64().unwrap();
    assert!(polls > 0, "the good driver was followed: {status} {status_many}");
    assert_eq!(call(&odd["calls"], "kill")["count"], 0);

    let plugins = api.get("/api/v2/plugins").await.unwrap();
    let misbehave = plugins["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "misbehave").unwrap();
    assert_eq!(misbehave["backends"], json!(["odd"]));
    assert_eq!(misbehave["contract_version"], "0.2.0");
    assert_eq!(misbehave["size_bytes"], drover_plugin_host::bundled::MISBEHAVE.len());
    assert!(misbehave["compile_ms"].as_f64().unwrap() > 0.0, "{misbehave}");
    assert_eq!(call(&misbehave["calls"], "submit")["errors"], 1, "{misbehave}");
    // Backends that made no calls show zero counts, not nothing.
    let standalone = plugins["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "spark-standalone").unwrap();
    assert!(standalone["size_bytes"].as_u64().unwrap() > 0);
    assert_eq!(call(&standalone["calls"], "submit")["count"], 0, "{standalone}");
    d.shutdown().await;
}
