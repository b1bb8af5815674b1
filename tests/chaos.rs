//! Chaos: drover is killed with SIGKILL at random moments, again and again,
//! while a 50-task DAG mixing backends and deploy modes runs on a stand-in
//! cluster that outlives it, behind a fault-injecting proxy. Some kills come
//! while a submission is in flight on each backend (the cluster accepted it,
//! its answer is held back), some right after a run was marked failed. At
//! the end every run has finished, no submission key reached a cluster
//! twice, no task reached a cluster more often than its retries allow, no
//! run marked failed started another try, cluster-mode drivers were
//! re-attached, client-mode drivers were recorded lost and retried, and no
//! process is left behind.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};
use tokio::process::Command;

use support::child::{DROVER, Rng, kill9, none_left_under, spawn_with_url, start_drover};
use support::fixtures::chains_dag;
use support::drover::Api;
use support::proxy::{Proxy, SUBMITS};

const DEADLINE: Duration = Duration::from_secs(300);
/// The DAG's retries: no task may reach a cluster more often than 1 + this.
const RETRIES: usize = 15;

/// What happens before each kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Trigger a run, then kill at a random moment.
    Trigger,
    /// Kill at a random moment.
    Plain,
    /// Hold the cluster's answer to a submission it accepted (on a backend
    /// no such kill has hit yet), and kill while it is held.
    InFlight,
    /// Trigger a run, mark it failed once a driver runs, kill right after.
    MarkFailed,
}

const ROUNDS: &[Round] = {
    use Round::*;
    &[Trigger, InFlight, MarkFailed, Trigger, InFlight, Plain, InFlight, Trigger, MarkFailed, InFlight, Plain, InFlight]
};

/// Every task instance with its tries.
async fn tries(api: &Api, run: &str) -> Result<BTreeMap<String, Vec<Value>>> {
    let mut out = BTreeMap::new();
    for task in api.task_instances("chaos", run).await?.into_keys() {
        let t = api.tries("chaos", run, &task).await?;
        out.insert(task, t);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drover_killed_at_random_moments_loses_nothing_and_submits_nothing_twice() -> Result<()> {
    let mut rng = Rng::seeded();

    let root = tempfile::tempdir()?;
    let home: PathBuf = root.path().join("home");
    let dags = root.path().join("dags");
    std::fs::create_dir_all(&dags)?;
    let tasks = chains_dag(&dags, "chaos", RETRIES);
    assert!(tasks >= 50);

    let mut cluster_cmd = Command::new(DROVER);
    cluster_cmd.args(["devcluster", "--port", "0", "--work-dir"]).arg(root.path().join("cluster")).env("DROVER_LOG", "warn");
    let (mut cluster, cluster_url) = spawn_with_url(cluster_cmd, "devcluster listening").await?;
    // drover reaches the cluster only through the proxy.
    let proxy = Proxy::start(cluster_url.trim_start_matches("http://").trim_end_matches('/').parse()?).await;

    // Runs that must get through, and runs marked failed (with when).
    let mut runs = Vec::new();
    let mut doomed: Vec<(String, String)> = Vec::new();
    let mut kills = Vec::new();
    // Backends on which a kill came while a submission was in flight.
    let mut in_flight: BTreeSet<&str> = BTreeSet::new();
    for (round, kind) in ROUNDS.iter().enumerate() {
        let (mut drover, api) = start_drover(&home, &dags, &proxy.url(), &[]).await?;
        match kind {
            Round::Trigger | Round::Plain => {
                if *kind == Round::Trigger {
                    runs.push(api.trigger("chaos", json!({})).await?);
                }
                if round == 0 {
                    // The first kill waits until drivers of both modes are
                    // running, so both restart paths are exercised whatever
                    // the seed.
                    let until = tokio::time::Instant::now() + DEADLINE;
                    loop {
                        let tis = api.task_instances("chaos", &runs[0]).await?;
                        let running = |mode: &str| tis.values().any(|t| t["driver"]["state"] == "running" && t["driver"]["deploy_mode"] == mode);
                        if running("client") && running("cluster") {
                            break;
                        }
                        assert!(tokio::time::Instant::now() < until, "drivers never ran");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                tokio::time::sleep(rng.millis(200, 2500)).await;
                kill9(&mut drover).await?;
            }
            Round::InFlight => {
                let targets: Vec<_> = match SUBMITS.iter().filter(|b| !in_flight.contains(b.0)).collect::<Vec<_>>() {
                    left if left.is_empty() => SUBMITS.iter().collect(),
                    left => left,
                };
                for (_, _, method, path) in &targets {
                    proxy.hold(method, path);
                }
                let until = tokio::time::Instant::now() + DEADLINE;
                let held = loop {
                    let held: Vec<&str> = proxy
                        .seen()
                        .iter()
                        .filter(|r| r.held)
                        .filter_map(|r| targets.iter().find(|b| r.is(b.2, b.3)).map(|b| b.0))
                        .collect();
                    if !held.is_empty() {
                        break held;
                    }
                    // A run must be going for a submission to come.
                    if !any_open(&api, runs.iter()).await? {
                        runs.push(api.trigger("chaos", json!({})).await?);
                    }
                    assert!(tokio::time::Instant::now() < until, "no submission to {targets:?} within {DEADLINE:?}");
                    let _ = proxy.wait_held(1, Duration::from_secs(1)).await;
                };
                kill9(&mut drover).await?;
                proxy.release();
                println!("round {round}: killed with a submission in flight on {held:?}");
                in_flight.extend(held);
            }
            Round::MarkFailed => {
                let run = api.trigger("chaos", json!({})).await?;
                let until = tokio::time::Instant::now() + DEADLINE;
                while !api.task_instances("chaos", &run).await?.values().any(|t| t["driver"]["state"] == "running") {
                    assert!(tokio::time::Instant::now() < until, "run {run}: no driver ran");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let r = api.http.patch(format!("{}{}", api.base, Api::run_path("chaos", &run))).json(&json!({"state": "failed"})).send().await?;
                assert!(r.status().is_success(), "{}", r.text().await?);
                doomed.push((run, chrono_now()));
                kill9(&mut drover).await?;
            }
        }
        kills.push(chrono_now());
        println!("round {round} ({kind:?}): drover killed");
    }

    let (mut drover, api) = start_drover(&home, &dags, &proxy.url(), &[]).await?;
    let finishing = std::time::Instant::now();
    let mut in_doubt = 0;
    for run in &runs {
        let state = api.wait_run("chaos", run, DEADLINE).await?;
        if state == "success" {
            continue;
        }
        // Only a standalone submission left in doubt by a kill stops a run
        // with 15 retries: drover cannot look it up, so a person decides.
        assert_eq!(state, "failed", "run {run}");
        let mut here = 0;
        for (task, tries) in tries(&api, run).await? {
            let Some(last) = tries.last().map(|t| &t["driver"]) else { continue };
            if last["state"] == "unknown" {
                assert!(last["message"].as_str().unwrap_or_default().contains("up by key"), "{task} in run {run}: {last:#}");
                here += 1;
            }
        }
        assert!(here > 0, "with {RETRIES} retries every task gets through, or is left for a person: run {run}");
        in_doubt += here;
    }
    for (run, _) in &doomed {
        assert_eq!(api.wait_run("chaos", run, DEADLINE).await?, "failed", "run {run} was marked failed");
        let until = tokio::time::Instant::now() + DEADLINE;
        while any_open_task(&api, run).await? {
            assert!(tokio::time::Instant::now() < until, "run {run} marked failed still has open tasks");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    println!("runs finished {:?} after the last restart", finishing.elapsed());
    assert_eq!(in_flight.len(), SUBMITS.len(), "a kill came with a submission in flight on every backend: {in_flight:?}");
    let submissions: Vec<Value> = reqwest::get(format!("{cluster_url}/devcluster/submissions")).await?.json().await?;
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for s in &submissions {
        if let Some(k) = s["submission_key"].as_str() {
            *per_key.entry(k.to_string()).or_default() += 1;
        }
    }
    let mut known_keys = BTreeSet::new();
    let mut reattached = 0;
    let mut lost_client = 0;
    let mut retried_after_loss = 0;
    for run in runs.iter().chain(doomed.iter().map(|(r, _)| r)) {
        let marked_failed = doomed.iter().find(|(r, _)| r == run).map(|(_, at)| at.as_str());
        for (task, tries) in tries(&api, run).await? {
            let mut reached = 0;
            for (i, t) in tries.iter().enumerate() {
                let d = &t["driver"];
                let key = d["submission_key"].as_str().unwrap().to_string();
                let mode = d["deploy_mode"].as_str().unwrap();
                let times = per_key.get(&key).copied().unwrap_or(0);
                assert!(times <= 1, "{task} try {}: key {key} submitted {times} times", i + 1);
                reached += times;
                known_keys.insert(key.clone());
                let start = t["start_date"].as_str().unwrap_or_default();
                if let Some(at) = marked_failed {
                    assert!(start < at, "{task} try {} of run {run} started at {start}, after the run was marked failed at {at}", i + 1);
                }
                if mode != "client" && d["cluster_id"].is_string() {
                    assert_eq!(times, 1, "{task} try {}: the cluster never saw its key", i + 1);
                    let end = t["end_date"].as_str().unwrap_or("9999");
                    if t["state"] == "success" && kills.iter().any(|k| start < k.as_str() && k.as_str() < end) {
                        reattached += 1;
                    }
                }
                if mode == "client" && d["state"] == "lost" {
                    assert!(d["message"].as_str().unwrap_or_default().contains("died with it"), "{d:#}");
                    lost_client += 1;
                    if i + 1 < tries.len() {
                        retried_after_loss += 1;
                    }
                }
            }
            assert!(tries.len() <= RETRIES + 1, "{task} of run {run}: {} tries", tries.len());
            assert!(reached <= RETRIES + 1, "{task} of run {run} reached a cluster {reached} times");
        }
    }
    let strangers: Vec<_> = per_key.keys().filter(|k| !known_keys.contains(*k)).collect();
    assert!(strangers.is_empty(), "the cluster got submissions no try records: {strangers:?}");
    println!("re-attached cluster-mode drivers: {reattached}; client-mode drivers lost: {lost_client}, retried: {retried_after_loss}; left for a person: {in_doubt}");
    assert!(reattached > 0, "no cluster-mode driver outlived a kill and was re-attached");
    assert!(lost_client > 0 && retried_after_loss > 0, "no client-mode driver was lost and retried");

    kill9(&mut drover).await?;
    // SIGTERM lets the stand-in reap its drivers.
    if let Some(pid) = cluster.id() {
        std::process::Command::new("kill").arg(pid.to_string()).status()?;
    }
    tokio::time::timeout(Duration::from_secs(30), cluster.wait()).await??;
    none_left_under(root.path()).await;
    Ok(())
}

/// Whether any of `runs` is still queued or running.
async fn any_open(api: &Api, runs: impl Iterator<Item = &String>) -> Result<bool> {
    for run in runs {
        let state = api.get(&Api::run_path("chaos", run)).await?["state"].as_str().unwrap_or_default().to_string();
        if state != "success" && state != "failed" {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether a task of the run is still open (running, or waiting for a retry).
async fn any_open_task(api: &Api, run: &str) -> Result<bool> {
    let done = ["success", "failed", "skipped", "upstream_failed", "removed"];
    Ok(api.task_instances("chaos", run).await?.values().any(|t| !done.contains(&t["state"].as_str().unwrap_or_default())))
}

/// Now as the API writes timestamps (RFC 3339, UTC), for ordering by text.
fn chrono_now() -> String {
    let out = std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%S.%NZ"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
