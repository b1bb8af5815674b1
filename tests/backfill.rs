//! Backfills through the API, counted where the drivers run: each driver
//! appends its logical date's start and end to a file.

mod support;

use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};

use support::drover::{Api, script, send, start, write};
use support::records::{events, most_at_once, started};

const DEADLINE: Duration = Duration::from_secs(120);

/// Records `<ds> start|end <unix nanos>` in `$1`; fails when `$2` is listed
/// in the file `$3`.
const DAY_SH: &str = "#!/bin/sh\necho \"$2 start $(date +%s%N)\" >> \"$1\"\nsleep 0.3\necho \"$2 end $(date +%s%N)\" >> \"$1\"\n\
                      if grep -qx \"$2\" \"$3\" 2>/dev/null; then exit 3; fi\n";

/// A daily DAG (from 2099, so only backfills make its runs) whose task
/// records its logical date in `log` and fails for the dates listed in
/// `failing`.
fn daily_dag(dags: &std::path::Path, log: &std::path::Path, failing: &std::path::Path) {
    script(dags, "day", DAY_SH);
    write(
        dags,
        "daily.toml",
        &format!(
            "id = \"daily\"\nschedule = \"@daily\"\nstart_date = \"2099-01-01\"\n[[tasks]]\nid = \"load\"\nbackend = \"local\"\n\
             [tasks.application]\nresource = \"day\"\nargs = [{:?}, \"{{{{ ds }}}}\", {:?}]\n",
            log.to_string_lossy(),
            failing.to_string_lossy()
        ),
    );
}

async fn post(api: &Api, path: &str, body: Value) -> Result<(u16, Value)> {
    Ok(send(api.http.post(format!("{}{path}", api.base)).json(&body)).await)
}

async fn put(api: &Api, path: &str) -> Result<(u16, Value)> {
    Ok(send(api.http.put(format!("{}{path}", api.base))).await)
}

/// Waits until the backfill has completed; returns it.
async fn wait_completed(api: &Api, id: i64) -> Result<Value> {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let b = api.get(&format!("/api/v2/backfills/{id}")).await?;
        if !b["completed_at"].is_null() {
            return Ok(b);
        }
        assert!(tokio::time::Instant::now() < until, "backfill {id} not completed: {b:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_runs_every_tick_two_at_a_time_and_reruns_only_the_failed_ones() -> Result<()> {
    let home = tempfile::tempdir()?;
    let dags = tempfile::tempdir()?;
    let log = dags.path().join("days.log");
    let failing = dags.path().join("failing");
    std::fs::write(&failing, "2026-01-03\n2026-01-07\n")?;
    daily_dag(dags.path(), &log, &failing);
    let d = start(home.path(), dags.path(), None).await?;
    let api = Api::new(&d);
    let dag = api.get("/api/v2/dags/daily").await?;
    assert_eq!(dag["next_dagrun_logical_date"], "2099-01-01T00:00:00Z", "the schedule starts at its start date");
    let body = json!({"dag_id": "daily", "from_date": "2026-01-01T00:00:00Z", "to_date": "2026-01-10T00:00:00Z", "max_active_runs": 2});

    let (status, dry) = post(&api, "/api/v2/backfills/dry_run", body.clone()).await?;
    assert_eq!(status, 200, "{dry:#}");
    assert_eq!(dry["total_entries"], 10);
    assert_eq!(dry["backfills"][0]["logical_date"], "2026-01-01T00:00:00Z");
    assert!(api.get("/api/v2/dags/daily/dagRuns").await?["dag_runs"].as_array().unwrap().is_empty(), "a dry run creates nothing");

    let (status, b) = post(&api, "/api/v2/backfills", body.clone()).await?;
    assert_eq!(status, 200, "{b:#}");
    let id = b["id"].as_i64().unwrap();
    assert_eq!((b["max_active_runs"].as_i64(), b["runs_total"].as_i64()), (Some(2), Some(10)));
    let (status, again) = post(&api, "/api/v2/backfills", body.clone()).await?;
    assert_eq!(status, 409, "one backfill of a DAG at a time: {again:#}");
    let b = wait_completed(&api, id).await?;
    assert_eq!(b["runs_done"], 10);

    let first = events(&std::fs::read_to_string(&log)?);
    let most = most_at_once(&first);
    assert!(most <= 2, "{most} runs of a backfill with max_active_runs 2 ran at once");
    let mut days = started(&first);
    days.sort();
    let expected: Vec<String> = (1..=10).map(|d| format!("2026-01-{d:02}")).collect();
    assert_eq!(days, expected, "every logical date once");
    let runs = api.get("/api/v2/dags/daily/dagRuns?limit=100").await?;
    let failed: Vec<&str> = runs["dag_runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "failed")
        .filter_map(|r| r["logical_date"].as_str())
        .collect();
    assert_eq!(failed.len(), 2, "{runs:#}");
    assert!(runs["dag_runs"].as_array().unwrap().iter().all(|r| r["run_type"] == "backfill"), "{runs:#}");

    // Fixed: run the failed ones again, and only them.
    std::fs::write(&failing, "")?;
    let rerun = json!({"dag_id": "daily", "from_date": "2026-01-01T00:00:00Z", "to_date": "2026-01-10T00:00:00Z", "reprocess_behavior": "failed"});
    let (_, dry) = post(&api, "/api/v2/backfills/dry_run", rerun.clone()).await?;
    assert_eq!(dry["total_entries"], 2, "{dry:#}");
    let (status, b) = post(&api, "/api/v2/backfills", rerun).await?;
    assert_eq!(status, 200, "{b:#}");
    wait_completed(&api, b["id"].as_i64().unwrap()).await?;
    let all = events(&std::fs::read_to_string(&log)?);
    let mut again = started(&all[first.len()..]);
    again.sort();
    assert_eq!(again, ["2026-01-03", "2026-01-07"]);
    let runs = api.get("/api/v2/dags/daily/dagRuns?limit=100").await?;
    let states: Vec<&str> = runs["dag_runs"].as_array().unwrap().iter().filter_map(|r| r["state"].as_str()).collect();
    assert_eq!(states.len(), 10, "reruns reuse their runs: {runs:#}");
    assert!(states.iter().all(|s| *s == "success"), "{states:?}");
    d.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_backfill_starts_nothing_until_unpaused_and_a_cancel_fails_what_never_started() -> Result<()> {
    let home = tempfile::tempdir()?;
    let dags = tempfile::tempdir()?;
    let log = dags.path().join("days.log");
    daily_dag(dags.path(), &log, std::path::Path::new("/nonexistent"));
    let d = start(home.path(), dags.path(), None).await?;
    let api = Api::new(&d);
    let (status, b) = post(
        &api,
        "/api/v2/backfills",
        json!({"dag_id": "daily", "from_date": "2026-02-01T00:00:00Z", "to_date": "2026-02-06T00:00:00Z", "max_active_runs": 1, "run_backwards": true}),
    )
    .await?;
    assert_eq!(status, 200, "{b:#}");
    let id = b["id"].as_i64().unwrap();
    let (status, paused) = put(&api, &format!("/api/v2/backfills/{id}/pause")).await?;
    assert_eq!((status, paused["is_paused"].as_bool()), (200, Some(true)));
    // The newest ran or was running when the pause came; nothing else starts.
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let b = api.get(&format!("/api/v2/backfills/{id}")).await?;
        let runs = api.get("/api/v2/dags/daily/dagRuns?limit=100").await?;
        let running = runs["dag_runs"].as_array().unwrap().iter().filter(|r| r["state"] == "running").count();
        if running == 0 && b["runs_done"].as_i64() <= Some(1) {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "{runs:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = |text: &str| started(&events(text));
    let before = started(&std::fs::read_to_string(&log).unwrap_or_default());
    assert!(before.len() <= 1 && before.iter().all(|d| d == "2026-02-06"), "newest first, then paused: {before:?}");

    put(&api, &format!("/api/v2/backfills/{id}/unpause")).await?;
    let until = tokio::time::Instant::now() + DEADLINE;
    while started(&std::fs::read_to_string(&log).unwrap_or_default()).len() < before.len() + 1 {
        assert!(tokio::time::Instant::now() < until, "nothing started after unpausing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Paused again, then cancelled: what never started ends failed.
    put(&api, &format!("/api/v2/backfills/{id}/pause")).await?;
    let (status, cancelled) = put(&api, &format!("/api/v2/backfills/{id}/cancel")).await?;
    assert_eq!(status, 200, "{cancelled:#}");
    assert!(!cancelled["completed_at"].is_null());
    let (status, _) = put(&api, &format!("/api/v2/backfills/{id}/pause")).await?;
    assert_eq!(status, 409, "a completed backfill cannot be paused");
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let runs = api.get("/api/v2/dags/daily/dagRuns?limit=100").await?;
        let list = runs["dag_runs"].as_array().unwrap();
        if list.iter().all(|r| r["state"] == "success" || r["state"] == "failed") {
            let failed = list.iter().filter(|r| r["state"] == "failed").count();
            let ran = started(&std::fs::read_to_string(&log)?).len();
            assert_eq!(list.len(), 6);
            assert_eq!(failed + ran, 6, "the runs that never started ended failed, the others succeeded: {runs:#}");
            break;
        }
        assert!(tokio::time::Instant::now() < until, "{runs:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = post(&api, "/api/v2/backfills", json!({"dag_id": "daily", "from_date": "2026-02-02T00:00:00Z", "to_date": "2026-02-01T00:00:00Z"})).await?;
    assert_eq!(status, 400, "{body:#}");

    // The CLI: a dry run prints the dates, the list shows the backfill.
    let cli = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_drover-cli-under-test"));
        cmd.args(["backfill"]).args(args).args(["--server", &d.api_url(), "--token", d.api_token()]);
        cmd.output()
    };
    let out = cli(&["create", "daily", "--from", "2026-03-01", "--to", "2026-03-04", "--run-backwards", "--dry-run"])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout)?;
    assert_eq!(printed.lines().collect::<Vec<_>>(), ["2026-03-04T00:00:00Z", "2026-03-03T00:00:00Z", "2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z"]);
    let out = cli(&["list", "daily"])?;
    let listed = String::from_utf8(out.stdout)?;
    assert!(listed.lines().any(|l| l.starts_with(&format!("{id} ")) && l.contains("completed")), "{listed}");
    let out = cli(&["create", "daily", "--from", "March 1st", "--to", "2026-03-04"])?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from `March 1st` is not a date"), "{}", String::from_utf8_lossy(&out.stderr));
    d.shutdown().await;
    Ok(())
}
