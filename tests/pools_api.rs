//! Pools over the HTTP API, as Airflow's `/api/v2/pools`: listed with the
//! default pool, created, read, resized and deleted, with the refusals
//! Airflow makes; a task waiting for a full pool says so on its task
//! instance, in its dependencies and in /metrics.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::drover::{Api, script, send, start, write};
use support::wait::eventually;

const DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test]
async fn pools_are_created_read_resized_and_deleted_as_in_airflow() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let url = |p: &str| format!("{}{p}", api.base);

    let list = api.get("/api/v2/pools").await.unwrap();
    assert_eq!(list["total_entries"], 1, "{list}");
    let default = &list["pools"][0];
    assert_eq!(default["name"], "default_pool", "{list}");
    assert_eq!(default["slots"], 128, "{list}");
    assert_eq!(default["open_slots"], 128, "{list}");
    assert_eq!(default["include_deferred"], false, "{list}");

    let (status, body) = send(api.http.post(url("/api/v2/pools")).json(&json!({"name": "spark", "slots": 3, "description": "the shared cluster"}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((&body["name"], &body["slots"], &body["open_slots"], &body["running_slots"]), (&json!("spark"), &json!(3), &json!(3), &json!(0)), "{body}");
    assert_eq!(body["description"], "the shared cluster");

    let got = api.get("/api/v2/pools/spark").await.unwrap();
    assert_eq!(got, body);
    let list = api.get("/api/v2/pools?order_by=-name").await.unwrap();
    let names: Vec<&str> = list["pools"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!((names, &list["total_entries"]), (vec!["spark", "default_pool"], &json!(2)));

    // Only the fields given change; with update_mask, only those it names.
    let (status, body) = send(api.http.patch(url("/api/v2/pools/spark")).json(&json!({"slots": 5}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((&body["slots"], &body["open_slots"], &body["description"]), (&json!(5), &json!(5), &json!("the shared cluster")));
    let (status, body) = send(
        api.http.patch(url("/api/v2/pools/spark?update_mask=description")).json(&json!({"slots": 9, "description": null})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((&body["slots"], &body["description"]), (&json!(5), &Value::Null), "{body}");
    let (status, body) = send(api.http.patch(url("/api/v2/pools/spark")).json(&json!({"slots": -1}))).await;
    assert_eq!((status, &body["slots"], &body["open_slots"]), (200, &json!(-1), &json!(-1)), "a pool without a limit: {body}");

    let refusals = [
        (api.http.post(url("/api/v2/pools")).json(&json!({"name": "spark", "slots": 1})), 409, "already exists"),
        (api.http.post(url("/api/v2/pools")).json(&json!({"name": "no spaces", "slots": 1})), 400, "invalid pool name"),
        (api.http.post(url("/api/v2/pools")).json(&json!({"name": "tiny", "slots": -2})), 400, "-1 (no limit) or more"),
        (api.http.post(url("/api/v2/pools")).json(&json!({"name": "tiny"})), 400, "slots"),
        (api.http.post(url("/api/v2/pools")).body("{not json").header("content-type", "application/json"), 400, "JSON"),
        (api.http.patch(url("/api/v2/pools/spark")).json(&json!({"slots": -5})), 400, "-1 (no limit) or more"),
        (api.http.patch(url("/api/v2/pools/spark")).json(&json!({"pool": "renamed"})), 400, "cannot be renamed"),
        (api.http.patch(url("/api/v2/pools/spark?update_mask=colour")).json(&json!({"slots": 1})), 400, "update_mask"),
        (api.http.patch(url("/api/v2/pools/nowhere")).json(&json!({"slots": 1})), 404, "pool `nowhere` not found"),
        (api.http.delete(url("/api/v2/pools/default_pool")), 400, "cannot be deleted"),
        (reqwest::Client::new().delete(url("/api/v2/pools/spark")), 401, "token"),
    ];
    for (req, want, says) in refusals {
        let (status, body) = send(req).await;
        assert_eq!(status, want, "{body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "`{says}` not in {body}");
    }
    assert_eq!(api.get("/api/v2/pools/spark").await.unwrap()["slots"], -1, "refused edits change nothing");

    let (status, body) = send(api.http.delete(url("/api/v2/pools/spark"))).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = send(api.http.get(url("/api/v2/pools/spark"))).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = send(api.http.delete(url("/api/v2/pools/spark"))).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(api.get("/api/v2/pools").await.unwrap()["total_entries"], 1);
    d.shutdown().await;
}

#[tokio::test]
async fn a_task_waiting_for_a_full_pool_says_why_until_the_pool_grows() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "ok.sh", "#!/bin/sh\necho ok\n");
    write(
        dags.path(),
        "pooled.toml",
        r#"
id = "pooled"
[[tasks]]
id = "heavy"
backend = "local"
pool = "tiny"
pool_slots = 2
priority_weight = 7
[tasks.application]
resource = "ok.sh"
deploy_mode = "client"
"#,
    );
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let url = |p: &str| format!("{}{p}", api.base);
    let (status, body) = send(api.http.post(url("/api/v2/pools")).json(&json!({"name": "tiny", "slots": 1}))).await;
    assert_eq!(status, 201, "{body}");

    let run = api.trigger("pooled", json!({})).await.unwrap();
    let ti_path = format!("{}/taskInstances/heavy", Api::run_path("pooled", &run));
    let ti = eventually("heavy is queued for the pool", DEADLINE, || async {
        let ti = api.get(&ti_path).await.ok()?;
        (ti["state"] == "queued").then_some(ti)
    })
    .await;
    assert_eq!((&ti["pool"], &ti["pool_slots"], &ti["priority_weight"]), (&json!("tiny"), &json!(2), &json!(7)), "{ti}");
    assert!(ti["queued_when"].is_string(), "{ti}");

    let deps = api.get(&format!("{ti_path}/dependencies")).await.unwrap();
    let deps = deps["dependencies"].as_array().unwrap();
    assert_eq!(deps.len(), 1, "{deps:?}");
    assert_eq!(deps[0]["name"], "Pool Slots Available");
    assert!(deps[0]["reason"].as_str().unwrap().contains("pool `tiny`"), "{deps:?}");

    let metrics = eventually("/metrics counts the queued slots", DEADLINE, || async {
        let text = api.http.get(url("/metrics")).send().await.ok()?.text().await.ok()?;
        text.lines().any(|l| l == "drover_pool_queued_slots{pool=\"tiny\"} 2").then_some(text)
    })
    .await;
    for line in ["drover_pool_slots{pool=\"tiny\"} 1", "drover_pool_open_slots{pool=\"tiny\"} 1", "drover_pool_slots{pool=\"default_pool\"} 128"] {
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in\n{metrics}");
    }
    assert_eq!(api.get("/api/v2/pools/tiny").await.unwrap()["queued_slots"], 2);

    let (status, body) = send(api.http.patch(url("/api/v2/pools/tiny")).json(&json!({"slots": 2}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.wait_run("pooled", &run, DEADLINE).await.unwrap(), "success");
    let deps = api.get(&format!("{ti_path}/dependencies")).await.unwrap();
    assert_eq!(deps, json!({"dependencies": []}));
    let tries = api.tries("pooled", &run, "heavy").await.unwrap();
    assert_eq!((&tries[0]["pool"], &tries[0]["pool_slots"]), (&json!("tiny"), &json!(2)), "{tries:?}");
    // Its driver gone, the pool is free again.
    let pool = api.get("/api/v2/pools/tiny").await.unwrap();
    assert_eq!((&pool["running_slots"], &pool["queued_slots"], &pool["open_slots"]), (&json!(0), &json!(0), &json!(2)), "{pool}");
    d.shutdown().await;
}
