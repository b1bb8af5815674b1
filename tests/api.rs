//! The HTTP API of issue 5: auth, clear (retry), the grid, backends and
//! plugins without secrets, conf validation by field, the OpenAPI document
//! and live events.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::drover::{Api, TEST_TOKEN, repo_dags, script, send, start, write};

const DEADLINE: Duration = Duration::from_secs(120);

/// A run of `a` then `b`; `a` fails until `flag` exists.
fn flaky_dag(dags: &Path, flag: &Path) {
    script(dags, "flaky", &format!("#!/bin/sh\n[ -e {} ] || {{ echo not yet >&2; exit 3; }}\necho fine\n", flag.display()));
    write(
        dags,
        "flaky.toml",
        r#"
id = "flaky"
[params]
n = { default = 1, type = "integer", minimum = 1 }
label = { default = "x", type = "string" }
[[tasks]]
id = "a"
backend = "local"
[tasks.application]
resource = "flaky"
main_class = "Flaky"
deploy_mode = "cluster"
[[tasks]]
id = "b"
backend = "local"
depends_on = ["a"]
[tasks.application]
resource = "flaky"
main_class = "Flaky"
deploy_mode = "cluster"
"#,
    );
}

#[tokio::test]
async fn clearing_a_failed_task_runs_it_and_its_downstream_again() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let flag = dags.path().join("fixed");
    flaky_dag(dags.path(), &flag);
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("flaky", json!({})).await.unwrap();
    assert_eq!(api.wait_run("flaky", &run, DEADLINE).await.unwrap(), "failed");
    let tis = api.task_instances("flaky", &run).await.unwrap();
    assert_eq!((tis["a"]["state"].as_str(), tis["b"]["state"].as_str()), (Some("failed"), Some("upstream_failed")));

    let clear = format!("{}/api/v2/dags/flaky/clearTaskInstances", api.base);
    // Airflow's default is a dry run: it says what would be cleared, and clears nothing.
    let (status, body) = send(api.http.post(&clear).json(&json!({"dag_run_id": run, "task_ids": ["a"]}))).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["task_instances"].as_array().unwrap().iter().map(|t| t["task_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "b"], "the downstream that never ran comes along: {body}");
    assert_eq!(api.get(&Api::run_path("flaky", &run)).await.unwrap()["state"], "failed", "a dry run changes nothing");

    std::fs::write(&flag, "").unwrap();
    let (status, body) =
        send(api.http.post(&clear).json(&json!({"dag_run_id": run, "task_ids": ["a"], "dry_run": false}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.wait_run("flaky", &run, DEADLINE).await.unwrap(), "success");
    let tis = api.task_instances("flaky", &run).await.unwrap();
    assert_eq!(tis["a"]["try_number"], 2, "the cleared task counts on: {}", tis["a"]);
    assert_eq!(tis["b"]["try_number"], 1);
    let tries = api.tries("flaky", &run, "a").await.unwrap();
    let states: Vec<&str> = tries.iter().map(|t| t["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["failed", "success"], "both tries are kept");

    // The grid shows the run by tasks.
    let grid = api.get("/api/v2/dags/flaky/grid?limit=5").await.unwrap();
    assert_eq!(grid["runs"][0]["dag_run_id"], run.as_str());
    assert_eq!(grid["runs"][0]["task_instances"]["a"]["state"], "success");
    assert_eq!(grid["runs"][0]["task_instances"]["a"]["try_number"], 2);

    // Every driver is listed with where it belongs; the failed one by state.
    let drivers = api.get("/api/v2/drivers").await.unwrap();
    assert_eq!(drivers["total_entries"], 3, "{drivers}");
    let failed = api.get("/api/v2/drivers?state=failed").await.unwrap();
    assert_eq!(failed["total_entries"], 1, "{failed}");
    let one = &failed["drivers"][0];
    assert_eq!((one["dag_run_id"].as_str(), one["task_id"].as_str(), one["try_number"].as_i64()), (Some(run.as_str()), Some("a"), Some(1)));
    let by_id = api.get(&format!("/api/v2/drivers/{}", one["try_id"])).await.unwrap();
    let history: Vec<&str> = by_id["history"].as_array().unwrap().iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert_eq!(history.first(), Some(&"pending"), "{by_id}");
    assert_eq!(history.last(), Some(&"failed"), "{by_id}");
    let (status, body) = send(api.http.get(format!("{}/api/v2/drivers?state=bogus", api.base))).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = send(api.http.get(format!("{}/api/v2/drivers/999999", api.base))).await;
    assert_eq!(status, 404);

    // Clearing what is not there, or with selections drover lacks, says so.
    let (status, body) = send(api.http.post(&clear).json(&json!({"dag_run_id": run, "task_ids": ["zz"], "dry_run": false}))).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("zz"), "{body}");
    let (status, body) = send(api.http.post(&clear).json(&json!({"task_ids": ["a"], "dry_run": false}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("dag_run_id"), "{body}");
    let (status, body) =
        send(api.http.post(&clear).json(&json!({"dag_run_id": run, "include_past": true, "dry_run": false}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("include_past"), "{body}");
    d.shutdown().await;
}

#[tokio::test]
async fn clearing_a_running_task_is_refused_until_it_ends() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let gate = dags.path().join("open");
    script(dags.path(), "gated", &format!("#!/bin/sh\nwhile [ ! -e {} ]; do sleep 0.1; done\n", gate.display()));
    write(
        dags.path(),
        "gated.toml",
        "id = \"gated\"\n[[tasks]]\nid = \"wait\"\nbackend = \"local\"\n[tasks.application]\nresource = \"gated\"\nmain_class = \"G\"\ndeploy_mode = \"cluster\"\n",
    );
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("gated", json!({})).await.unwrap();
    let until = tokio::time::Instant::now() + DEADLINE;
    while api.task_instances("gated", &run).await.unwrap()["wait"]["state"] != "running" {
        assert!(tokio::time::Instant::now() < until, "the task never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let clear = format!("{}/api/v2/dags/gated/clearTaskInstances", api.base);
    let (status, body) = send(
        api.http
            .post(&clear)
            .json(&json!({"dag_run_id": run, "task_ids": ["wait"], "dry_run": false, "only_failed": false})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("kill it first"), "{body}");
    std::fs::write(&gate, "").unwrap();
    assert_eq!(api.wait_run("gated", &run, DEADLINE).await.unwrap(), "success");
    d.shutdown().await;
}

#[tokio::test]
async fn changes_need_the_token_or_a_session_and_reads_are_public_by_default() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.unwrap();
    let base = d.api_url();
    let anonymous = reqwest::Client::new();
    let trigger = format!("{base}/api/v2/dags/wordcount_client/dagRuns");
    let token_file = std::fs::read_to_string(home.path().join("api-token")).unwrap();
    assert_eq!(token_file.trim(), d.api_token(), "the token is written to the home directory");

    let (status, body) = send(anonymous.get(format!("{base}/api/v2/dags"))).await;
    assert_eq!(status, 200, "reads are public by default: {body}");
    let (status, body) = send(anonymous.post(&trigger).json(&json!({}))).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("Bearer"), "says how to authenticate: {body}");
    let (status, body) = send(anonymous.post(&trigger).bearer_auth("wrong-token").json(&json!({}))).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = send(anonymous.patch(format!("{base}/api/v2/dags/wordcount_client")).json(&json!({"is_paused": true}))).await;
    assert_eq!(status, 401, "{body}");

    // Logging in with the token gives a session cookie that can change things.
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let (status, _) = send(browser.post(format!("{base}/auth/login")).json(&json!({"token": "nope"}))).await;
    assert_eq!(status, 401);
    let (status, body) = send(browser.get(format!("{base}/auth/session"))).await;
    assert_eq!((status, &body["authenticated"]), (200, &json!(false)));
    let (status, body) = send(browser.post(format!("{base}/auth/login")).json(&json!({"token": d.api_token()}))).await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = send(browser.get(format!("{base}/auth/session"))).await;
    assert_eq!(body["authenticated"], true);
    let (status, body) = send(browser.post(&trigger).json(&json!({"conf": {"top": 2}}))).await;
    assert_eq!(status, 200, "a session may trigger: {body}");
    // ...but not from another site's page.
    let (status, body) = send(browser.post(&trigger).header("origin", "http://evil.example").json(&json!({}))).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = send(browser.post(format!("{base}/auth/logout"))).await;
    assert_eq!(status, 200);
    let (status, _) = send(browser.post(&trigger).json(&json!({}))).await;
    assert_eq!(status, 401, "logged out");
    d.shutdown().await;
}

#[tokio::test]
async fn reads_can_require_the_token_too() {
    let home = tempfile::tempdir().unwrap();
    let dags = repo_dags();
    let d = drover::standalone::start(support::drover::options(drover::serve::ServeArgs {
        api_token_file: Some(write(home.path(), "token", &format!("{TEST_TOKEN}\n"))),
        read_access: drover_api::ReadAccess::Token,
        ..support::drover::serve_args(home.path(), &dags)
    }))
    .await
    .unwrap();
    assert_eq!(d.api_token(), TEST_TOKEN, "the configured token file is used");
    let base = d.api_url();
    let (status, body) = send(reqwest::Client::new().get(format!("{base}/api/v2/dags"))).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = send(reqwest::Client::new().get(format!("{base}/api/v2/monitor/health"))).await;
    assert_eq!(status, 200, "health stays open for probes");
    let (status, body) = send(reqwest::Client::new().get(format!("{base}/api/v2/dags")).bearer_auth(TEST_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    d.shutdown().await;
}

#[tokio::test]
async fn backends_and_plugins_are_listed_without_secrets() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.unwrap();
    let api = Api::new(&d);
    let backends = api.get("/api/v2/backends").await.unwrap();
    let names: Vec<&str> = backends["backends"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["eks", "k8s", "livy", "local", "serverless", "yarn"]);
    let serverless = backends["backends"].as_array().unwrap().iter().find(|b| b["name"] == "serverless").unwrap();
    let secret_keys: Vec<&String> = serverless["settings"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| *v == "***")
        .map(|(k, _)| k)
        .collect();
    assert!(!secret_keys.is_empty(), "the serverless secret is redacted: {serverless}");
    assert_eq!(serverless["deploy_modes"], json!(["service"]));

    // No answer anywhere carries the secret or the API token.
    let secret = drover_devcluster::serverless::SECRET_ACCESS_KEY;
    let plugins = api.get("/api/v2/plugins").await.unwrap();
    let openapi = api.get("/api/v2/openapi.json").await.unwrap();
    for body in [&backends, &plugins, &openapi] {
        let text = body.to_string();
        assert!(!text.contains(secret), "a secret leaked: {text}");
        assert!(!text.contains(d.api_token()), "the API token leaked: {text}");
    }
    let names: Vec<&str> = plugins["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for p in ["spark-standalone", "yarn", "kubernetes", "emr-serverless", "livy"] {
        assert!(names.contains(&p), "{p} in {names:?}");
    }
    let standalone = plugins["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "spark-standalone").unwrap();
    assert_eq!(standalone["backends"], json!(["local"]));
    assert!(standalone["settings"].as_array().unwrap().iter().any(|s| s["name"] == "rest_url"), "{standalone}");
    d.shutdown().await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.unwrap();
    let doc = Api::for_url(&d.api_url()).get("/api/v2/openapi.json").await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v2/dags", "get"),
        ("/api/v2/dags/{dag_id}", "patch"),
        ("/api/v2/dags/{dag_id}/dagRuns", "post"),
        ("/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}", "patch"),
        ("/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances", "get"),
        ("/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries", "get"),
        ("/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}", "get"),
        ("/api/v2/dags/{dag_id}/clearTaskInstances", "post"),
        ("/api/v2/drivers", "get"),
        ("/api/v2/drivers/{try_id}", "get"),
        ("/api/v2/backends", "get"),
        ("/api/v2/plugins", "get"),
        ("/api/v2/pools", "post"),
        ("/api/v2/pools/{pool_name}", "delete"),
        ("/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/dependencies", "get"),
        ("/api/v2/events", "get"),
        ("/auth/login", "post"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is not documented");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let dag = &schemas["DagResponse"]["properties"];
    assert!(dag.get("is_paused").is_some() && dag.get("timetable_summary").is_some(), "{dag}");
    assert!(doc["components"]["securitySchemes"].get("HTTPBearer").is_some());
    d.shutdown().await;
}

#[tokio::test]
async fn a_bad_conf_names_each_field_and_events_stream_the_run_live() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let flag = dags.path().join("fixed");
    std::fs::write(&flag, "").unwrap();
    flaky_dag(dags.path(), &flag);
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let trigger = format!("{}/api/v2/dags/flaky/dagRuns", api.base);
    let (status, body) = send(api.http.post(&trigger).json(&json!({"conf": {"n": 0, "label": 5}}))).await;
    assert_eq!(status, 400, "{body}");
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"n") && fields.contains(&"label"), "each bad field is named: {body}");

    // Subscribe first, then trigger: every state change arrives as an event.
    let mut events = reqwest::Client::new().get(format!("{}/api/v2/events", api.base)).send().await.unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let run = api.trigger("flaky", json!({"n": 3})).await.unwrap();
    let mut seen = String::new();
    let found = tokio::time::timeout(DEADLINE, async {
        while let Some(chunk) = events.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            let done = format!(r#""kind":"run","dag_id":"flaky","run_id":"{run}","state":"success""#);
            if seen.contains(&done) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "no success event for {run}; saw:\n{seen}");
    assert!(seen.contains("event: task"), "task events too:\n{seen}");
    assert!(seen.contains("event: driver"), "driver events too:\n{seen}");
    d.shutdown().await;
}

/// Regression: a 100 KB run id was stored (every per-run URL then answered
/// 414 and its try failed with "File name too long"), and a NUL byte in a run
/// id or a conf string failed the try later ("nul byte found").
#[tokio::test]
async fn trigger_refuses_run_ids_and_conf_that_could_never_reach_a_driver() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let flag = dags.path().join("fixed");
    flaky_dag(dags.path(), &flag);
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let trigger = format!("{}/api/v2/dags/flaky/dagRuns", api.base);
    let long = "r".repeat(100_000);
    let cases = [
        (json!({"dag_run_id": long}), "at most 250"),
        (json!({"dag_run_id": "a\u{0}b"}), "dag_run_id may only hold"),
        (json!({"dag_run_id": "../etc"}), "dag_run_id may only hold"),
        (json!({"dag_run_id": ""}), "must not be empty"),
        (json!({"conf": {"label": "x\u{0}y"}}), r#""field":"label""#),
        (json!({"conf": {"label": "x", "extra": {"deep": ["ok", "bad\u{0}"]}}}), r#""field":"extra.deep[1]""#),
        (json!({"conf": {"k\u{0}": 1}}), "NUL byte"),
    ];
    for (body, needle) in cases {
        let (status, answer) = send(api.http.post(&trigger).json(&body)).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["status"], 400, "{answer}");
        assert!(answer.to_string().contains(needle), "expected {needle:?} in {answer}");
    }
    let runs = api.get("/api/v2/dags/flaky/dagRuns").await.unwrap();
    assert_eq!(runs["total_entries"], 0, "nothing refused was stored: {runs}");

    // Airflow's whole alphabet is accepted, up to 250 characters.
    for id in ["my-run_1.2~x:y+z", "r".repeat(250).as_str()] {
        let (status, answer) = send(api.http.post(&trigger).json(&json!({"dag_run_id": id}))).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["dag_run_id"], id);
        api.get(&Api::run_path("flaky", id)).await.unwrap();
    }
    d.shutdown().await;
}

/// Sends `request` as is on a fresh connection; returns the status and the
/// body (the server closes after one answer).
async fn raw(base: &str, request: String) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    sock.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    sock.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Regression: 413 ("length limit exceeded"), 405 (empty) and malformed URLs
/// left the API as plain text or an empty body.
#[tokio::test]
async fn every_error_leaves_the_api_as_json_with_detail_and_status() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.unwrap();
    let base = d.api_url();
    let host = base.trim_start_matches("http://").to_string();
    let auth = format!("Authorization: Bearer {}\r\n", d.api_token());
    let get = |target: &str| format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n");
    let http = Api::new(&d).http;
    let too_big = http
        .post(format!("{base}/api/v2/dags/wordcount_client/dagRuns"))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 << 20])
        .send()
        .await
        .unwrap();
    let too_big = (too_big.status().as_u16(), too_big.text().await.unwrap());
    let cases = [
        (too_big, 413, "too large"),
        (raw(&base, format!("DELETE /api/v2/dags HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n")).await, 405, "does not take DELETE"),
        (raw(&base, format!("PUT /api/v2/dags/wordcount_client/dagRuns HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n")).await, 405, "does not take PUT"),
        (raw(&base, get("/api/v2/dags/%FF%FE")).await, 400, "invalid path"),
        (raw(&base, get("/api/v2/dags/wordcount_client/dagRuns?limit=%ZZ&offset=x")).await, 400, "query"),
        (raw(&base, get("/ui/%FF")).await, 400, ""),
        // Long, but under hyper's own 64 KiB URI limit: the API answers it.
        (raw(&base, get(&format!("/api/v2/dags/wordcount_client/dagRuns/{}", "r".repeat(60_000)))).await, 404, "not found"),
    ];
    for ((status, body), expected, needle) in cases {
        assert_eq!(status, expected, "{body}");
        let json: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{expected}: not JSON ({e}): {body:?}"));
        assert_eq!(json["status"], expected, "{json}");
        let detail = json["detail"].as_str().unwrap_or_else(|| panic!("no detail: {json}"));
        assert!(!detail.is_empty() && detail.contains(needle), "expected {needle:?} in {json}");
    }
    d.shutdown().await;
}

/// Regression: a symlink loop or a link to /dev/zero in the DAG folder was
/// skipped without a word.
#[tokio::test]
async fn dag_folder_entries_that_are_no_files_are_import_errors() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(dags.path().join("loop.toml"), dags.path().join("loop.toml")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dags.path().join("zero.toml")).unwrap();
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let errors = Api::new(&d).get("/api/v2/importErrors").await.unwrap();
    let found: Vec<(String, String)> = errors["import_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["filename"].as_str().unwrap().to_string(), e["stack_trace"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(found.len(), 2, "{errors:#}");
    assert!(found[0].0.ends_with("loop.toml") && found[0].1.contains("symlink"), "{found:?}");
    assert!(found[1].0.ends_with("zero.toml") && found[1].1.contains("character device"), "{found:?}");
    d.shutdown().await;
}

/// Regression (issue 9, finding 15): every DAG reported `max_active_tasks:
/// 16`, a cap drover never applied, while 100 tasks ran at once. drover caps
/// runs, not tasks: the answer is the bound that implies.
#[tokio::test]
async fn max_active_tasks_is_the_bound_max_active_runs_implies_not_a_fixed_16() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let task = |id: &str| {
        format!("[[tasks]]\nid = \"{id}\"\nbackend = \"local\"\n[tasks.application]\nresource = \"t.sh\"\nmain_class = \"T\"\n")
    };
    let wide: String = (0..40).map(|i| task(&format!("t{i}"))).collect();
    write(dags.path(), "wide.toml", &format!("id = \"wide\"\nmax_active_runs = 3\n{wide}"));
    write(dags.path(), "single.toml", &format!("id = \"single\"\n{}", task("only")));
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let wide = api.get("/api/v2/dags/wide").await.unwrap();
    assert_eq!((wide["max_active_runs"].as_u64(), wide["max_active_tasks"].as_u64()), (Some(3), Some(120)), "{wide}");
    let single = api.get("/api/v2/dags/single").await.unwrap();
    // max_active_runs defaults to 16: 16 runs of one task.
    assert_eq!((single["max_active_runs"].as_u64(), single["max_active_tasks"].as_u64()), (Some(16), Some(16)), "{single}");
    assert_eq!(wide["has_task_concurrency_limits"], false);
    d.shutdown().await;
}
