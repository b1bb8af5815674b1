//! drover's core promise on the paths where an outside probe broke it
//! (issue 9, "Duplicate runs"): no application runs twice. A try stopped on
//! purpose (run marked failed, user kill) is never retried, whatever happens
//! in between; an unreachable cluster is tolerated by time, not by a count of
//! calls; a submit that meets an outage waits for the cluster without
//! spending retries; and a driver whose fate drover cannot know is recorded
//! `unknown` for a person to decide instead of being submitted again.
//!
//! Every fault goes through the real path: a proxy in front of the stand-in
//! cluster (503s, answers held back after the cluster accepted a request,
//! kills it pretends to accept), and SIGKILL of a drover process.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Child;

use drover::config::{self, StandIn};
use drover::serve::{self, ServeArgs, Server};
use drover_devcluster::{DevCluster, DevClusterConfig};
use support::child::{kill9, start_drover};
use support::drover::{Api, script, standalone_status, write};
use support::proxy::{Mode, Proxy, SUBMITS};

const DEADLINE: Duration = Duration::from_secs(120);
/// Spark standalone's submit.
const CREATE: (&str, &str) = ("POST", "/v1/submissions/create");
/// States a task instance does not leave.
const TI_DONE: &[&str] = &["success", "failed", "skipped", "upstream_failed", "removed"];
/// Driver states that are final.
const DRIVER_DONE: &[&str] = &["succeeded", "failed", "killed", "lost", "submit_failed", "unknown"];

/// A stand-in cluster that outlives any drover, a proxy in front of it that
/// every drover talks to, and a DAG `promise` of independent tasks that each
/// run until the file `gate` appears.
struct Setup {
    root: tempfile::TempDir,
    dags: PathBuf,
    gate: PathBuf,
    cluster: DevCluster,
    proxy: Proxy,
}

impl Setup {
    /// `tasks` are (id, backend, deploy mode), each with `retries`.
    async fn new(tasks: &[(&str, &str, &str)], retries: u32) -> Setup {
        let root = tempfile::tempdir().unwrap();
        let dags = root.path().join("dags");
        std::fs::create_dir_all(&dags).unwrap();
        let gate = root.path().join("gate");
        script(&dags, "gated", &format!("#!/bin/sh\nwhile [ ! -e {} ]; do sleep 0.1; done\necho released\n", gate.display()));
        let mut text = String::from("id = \"promise\"\n");
        for (id, backend, mode) in tasks {
            text.push_str(&format!(
                "[[tasks]]\nid = \"{id}\"\nbackend = \"{backend}\"\nretries = {retries}\nretry_delay = \"100ms\"\n\
                 [tasks.application]\nresource = \"gated\"\nmain_class = \"Gated\"\ndeploy_mode = \"{mode}\"\n"
            ));
        }
        write(&dags, "promise.toml", &text);
        let cluster = DevCluster::start(DevClusterConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            work_dir: root.path().join("cluster"),
            ..DevClusterConfig::default()
        })
        .await
        .expect("stand-in starts");
        let proxy = Proxy::start(cluster.addr()).await;
        Setup { root, dags, gate, cluster, proxy }
    }

    fn home(&self) -> PathBuf {
        self.root.path().join("drover")
    }

    /// drover in this process, reaching the cluster through the proxy.
    async fn serve(&self, cluster_grace: Duration, kill_confirm_timeout: Duration) -> (Server, Api) {
        let args = ServeArgs { cluster_grace, kill_confirm_timeout, ..support::drover::serve_args(&self.home(), &self.dags) };
        let stand_in = StandIn {
            rest_url: self.proxy.url(),
            master_url: format!("spark://{}", self.proxy.addr()),
            spark_submit: env!("CARGO_BIN_EXE_drover-spark-submit").to_string(),
            s3: self.cluster.own_s3_url(),
        };
        let backends = config::backend_configs(&stand_in, None);
        let server = serve::start(&args, serve::prepare_home(&args).unwrap(), &backends).await.expect("drover starts");
        let api = Api::with_token(&server.api_url(), &server.api_token);
        (server, api)
    }

    /// drover as a child process (to be killed with SIGKILL), reaching the
    /// cluster through the proxy.
    async fn spawn(&self) -> (Child, Api) {
        start_drover(&self.home(), &self.dags, &self.proxy.url(), &[]).await.expect("drover starts")
    }

    fn open_gate(&self) {
        std::fs::write(&self.gate, "").unwrap();
    }

    /// How many submissions the stand-in `manager` accepted.
    fn accepted(&self, manager: &str) -> usize {
        self.cluster.submissions().iter().filter(|s| s.manager == manager).count()
    }

    async fn shutdown(self) {
        self.open_gate();
        self.cluster.shutdown().await;
    }
}

/// Polls `check` (with a generous deadline) until it gives a value.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < until, "never happened within {DEADLINE:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn tries(api: &Api, run: &str, task: &str) -> Vec<Value> {
    api.tries("promise", run, task).await.unwrap()
}

/// Waits until the latest try of `task` satisfies `done`; returns it.
async fn wait_try(api: &Api, run: &str, task: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    eventually(&format!("{task}: {what}"), async || {
        let t = tries(api, run, task).await;
        t.last().filter(|t| done(t)).cloned()
    })
    .await
}

fn driver_state(t: &Value) -> &str {
    t["driver"]["state"].as_str().unwrap_or_default()
}

fn message(t: &Value) -> &str {
    t["driver"]["message"].as_str().unwrap_or_default()
}

/// Waits until every driver of the run is running.
async fn wait_running(api: &Api, run: &str) {
    eventually("every driver running", async || {
        let tis = api.task_instances("promise", run).await.unwrap();
        tis.values().all(|t| t["driver"]["state"] == "running").then_some(())
    })
    .await
}

/// Waits until every task instance of the run is in a final state; returns
/// them.
async fn wait_settled(api: &Api, run: &str) -> std::collections::BTreeMap<String, Value> {
    eventually("every task instance settled", async || {
        let tis = api.task_instances("promise", run).await.unwrap();
        tis.values().all(|t| TI_DONE.contains(&t["state"].as_str().unwrap_or_default())).then_some(tis)
    })
    .await
}

async fn patch_run_failed(api: &Api, run: &str) {
    let r = api
        .http
        .patch(format!("{}{}", api.base, Api::run_path("promise", run)))
        .json(&json!({"state": "failed"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

async fn kill_task(api: &Api, run: &str, task: &str) {
    let r = api.kill("promise", run, task).await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// What Spark standalone's driver status says about a driver, asked of the
/// stand-in directly (not through the proxy).
async fn standalone_state(cluster: &DevCluster, id: &str) -> String {
    let status: Value = standalone_status(cluster, id).await;
    status["driverState"].as_str().unwrap_or_default().to_string()
}

/// A cluster-mode and a client-mode task, two retries each.
const BOTH_MODES: &[(&str, &str, &str)] = &[("far", "local", "cluster"), ("near", "local", "client")];

/// After the restart: the stop recorded before the crash is honoured (the
/// killed tries end, nothing is retried), even once the gate lets any
/// wrongly retried driver run to success.
async fn assert_stopped_tries_not_retried(s: &Setup, api: &Api, run: &str) {
    for (task, _, _) in BOTH_MODES {
        let t = wait_try(api, run, task, "the stopped try ends", |t| DRIVER_DONE.contains(&driver_state(t))).await;
        assert_eq!(t["try_number"], 1, "{task}: {t:#}");
    }
    // A retry, if drover wrongly made one, would now run to success.
    s.open_gate();
    let tis = wait_settled(api, run).await;
    for (task, _, _) in BOTH_MODES {
        let tries = tries(api, run, task).await;
        assert_eq!(tries.len(), 1, "{task}: a try stopped on purpose is not retried after a crash: {tries:#?}");
        assert_eq!(tis[*task]["state"], "failed", "{task}: {:#}", tis[*task]);
        let d = driver_state(&tries[0]);
        assert!(["killed", "lost"].contains(&d), "{task}: the stopped driver ended: {:#}", tries[0]);
    }
    let far = tries(api, run, "far").await;
    assert_eq!(far[0]["driver"]["state"], "killed", "the cluster confirmed the kill: {:#}", far[0]);
    let id = far[0]["driver"]["cluster_id"].as_str().unwrap();
    assert_eq!(standalone_state(&s.cluster, id).await, "KILLED", "killed on the cluster, before or after the restart");
    assert_eq!(s.proxy.forwarded(CREATE.0, CREATE.1), 1, "one submission reached the cluster");
    assert_eq!(s.accepted("spark-standalone"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_marked_failed_is_not_retried_after_a_crash() {
    let s = Setup::new(BOTH_MODES, 2).await;
    let (mut first, api) = s.spawn().await;
    let run = api.trigger("promise", json!({})).await.unwrap();
    wait_running(&api, &run).await;

    patch_run_failed(&api, &run).await;
    kill9(&mut first).await.unwrap();

    let (mut second, api) = s.spawn().await;
    assert_eq!(api.wait_run("promise", &run, DEADLINE).await.unwrap(), "failed");
    assert_stopped_tries_not_retried(&s, &api, &run).await;
    kill9(&mut second).await.unwrap();
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_try_is_not_retried_after_a_crash() {
    let s = Setup::new(BOTH_MODES, 2).await;
    let (mut first, api) = s.spawn().await;
    let run = api.trigger("promise", json!({})).await.unwrap();
    wait_running(&api, &run).await;

    kill_task(&api, &run, "far").await;
    kill_task(&api, &run, "near").await;
    kill9(&mut first).await.unwrap();

    let (mut second, api) = s.spawn().await;
    assert_stopped_tries_not_retried(&s, &api, &run).await;
    assert_eq!(api.wait_run("promise", &run, DEADLINE).await.unwrap(), "failed");
    kill9(&mut second).await.unwrap();
    s.shutdown().await;
}

/// Status polls (by driver or the master's whole view) answered 503.
fn unavailable_polls(seen: &[support::proxy::Seen]) -> usize {
    seen.iter().filter(|r| r.status == Some(503) && r.method == "GET").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_cluster_outage_does_not_lose_the_driver() {
    let s = Setup::new(&[("wait", "local", "cluster")], 2).await;
    let (server, api) = s.serve(Duration::from_secs(300), Duration::from_secs(120)).await;
    let run = api.trigger("promise", json!({})).await.unwrap();
    wait_running(&api, &run).await;

    s.proxy.set_mode(Mode::Unavailable);
    // More failed polls in a row than the 6 after which the old tracker
    // declared the driver lost.
    s.proxy.wait_until("8 status polls answered 503", DEADLINE, |seen| unavailable_polls(seen) >= 8).await.unwrap();
    let during = wait_try(&api, &run, "wait", "the outage shows", |t| message(t).contains("cluster unreachable since")).await;
    assert_eq!(driver_state(&during), "running", "not lost during a short outage: {during:#}");
    assert_eq!(during["try_number"], 1, "{during:#}");
    s.proxy.set_mode(Mode::Pass);

    s.open_gate();
    assert_eq!(api.wait_run("promise", &run, DEADLINE).await.unwrap(), "success");
    let tries = tries(&api, &run, "wait").await;
    assert_eq!(tries.len(), 1, "no second try while the driver may run: {tries:#?}");
    assert_eq!(driver_state(&tries[0]), "succeeded", "{:#}", tries[0]);
    let history = tries[0]["driver"]["history"].as_array().unwrap();
    assert!(history.iter().all(|e| e["state"] != "lost"), "never recorded lost: {history:#?}");
    assert_eq!(s.proxy.forwarded(CREATE.0, CREATE.1), 1);
    assert_eq!(s.accepted("spark-standalone"), 1);
    server.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_resetting_connections_for_a_while_does_not_lose_the_driver() {
    let s = Setup::new(&[("wait", "local", "cluster")], 2).await;
    let (server, api) = s.serve(Duration::from_secs(300), Duration::from_secs(120)).await;
    let run = api.trigger("promise", json!({})).await.unwrap();
    wait_running(&api, &run).await;

    s.proxy.set_mode(Mode::Reset);
    let before = s.proxy.seen().len();
    s.proxy
        .wait_until("8 connections reset", DEADLINE, |seen| seen[before..].iter().filter(|r| r.reset).count() >= 8)
        .await
        .unwrap();
    let during = wait_try(&api, &run, "wait", "the outage shows", |t| message(t).contains("cluster unreachable since")).await;
    assert_eq!(driver_state(&during), "running", "not lost while connections are reset: {during:#}");
    s.proxy.set_mode(Mode::Pass);

    s.open_gate();
    assert_eq!(api.wait_run("promise", &run, DEADLINE).await.unwrap(), "success");
    let tries = tries(&api, &run, "wait").await;
    assert_eq!(tries.len(), 1, "no second try while the driver may run: {tries:#?}");
    assert_eq!(s.accepted("spark-standalone"), 1);
    server.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_grace_leaves_the_try_unknown() {
    let s = Setup::new(&[("wait", "local", "cluster")], 2).await;
    let (server, api) = s.serve(Duration::from_secs(2), Duration::from_secs(2)).await;
    let run = api.trigger("promise", json!({})).await.unwrap();
    wait_running(&api, &run).await;

    s.proxy.set_mode(Mode::Unavailable);
    let t = wait_try(&api, &run, "wait", "the driver's fate is unknown", |t| DRIVER_DONE.contains(&driver_state(t))).await;
    assert_eq!(driver_state(&t), "unknown", "{t:#}");
    assert!(message(&t).contains("may still be running"), "says the driver may still run: {t:#}");
    assert_eq!(api.wait_run("promise", &run, DEADLINE).await.unwrap(), "failed");
    let tries = tries(&api, &run, "wait").await;
    assert_eq!(tries.len(), 1, "retries = 2 notwithstanding, no second try while the driver may run: {tries:#?}");
    assert_eq!(s.proxy.forwarded(CREATE.0, CREATE.1), 1);
    server.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_during_an_outage_waits_for_the_cluster_without_spending_retries() {
    let s = Setup::new(&[("wait", "local", "cluster")], 0).await;
    s.open_gate();
    let (server, api) = s.serve(Duration::from_secs(300), Duration::from_secs(120)).await;
    s.proxy.set_mode(Mode::Unavailable);
    let run = api.trigger("promise", json!({})).await.unwrap();

    let t = wait_try(&api, &run, "wait", "the submit waits for the cluster", |t| message(t).contains("cluster unreachable since")).await;
    assert_eq!(t["try_number"], 1, "{t:#}");
    assert!(!DRIVER_DONE.contains(&driver_state(&t)), "{t:#}");
    assert!(s.proxy.seen().iter().any(|r| r.is(CREATE.0, CREATE.1) && r.status == Some(503)), "the submit met the outage");
    assert_eq!(s.proxy.forwarded(CREATE.0, CREATE.1), 0);
    s.proxy.set_mode(Mode::Pass);

    assert_eq!(api.wait_run("promise", &run, DEADLINE).await.unwrap(), "success");
    let tries = tries(&api, &run, "wait").await;
    assert_eq!(tries.len(), 1, "retries = 0, and the outage spent none: {tries:#?}");
    assert_eq!(s.proxy.forwarded(CREATE.0, CREATE.1), 1);
    server.shutdown().await;
    s.shutdown().await;
}

/// Starts a run of one cluster-mode task on `backend` in a drover process,
/// holds the cluster's answer to its submission (the cluster accepted it),
/// kills drover with SIGKILL in that window, lets the answer go (to no one)
/// and starts drover again. Returns the run and the new drover.
async fn crash_during_submission(s: &Setup, backend: &str) -> (String, Child, Api) {
    let (_, manager, method, path) = SUBMITS.iter().find(|b| b.0 == backend).copied().unwrap();
    s.proxy.hold(method, path);
    let (mut first, api) = s.spawn().await;
    let run = api.trigger("promise", json!({})).await.unwrap();
    s.proxy.wait_held(1, DEADLINE).await.unwrap();
    assert_eq!(s.accepted(manager), 1, "the cluster accepted the submission");
    kill9(&mut first).await.unwrap();
    s.proxy.release();
    let (second, api) = s.spawn().await;
    (run, second, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_submission_in_flight_at_a_crash_is_not_submitted_again() {
    let s = Setup::new(&[("wait", "local", "cluster")], 2).await;
    let (run, mut second, api) = crash_during_submission(&s, "local").await;

    let t = wait_try(&api, &run, "wait", "the in-doubt try ends", |t| DRIVER_DONE.contains(&driver_state(t))).await;
    assert_eq!(driver_state(&t), "unknown", "{t:#}");
    let m = message(&t);
    assert!(m.contains("up by key"), "says the backend cannot look the submission up by its key: {t:#}");
    assert!(m.contains("may be running") || m.contains("may still be running"), "says the driver may run: {t:#}");
    assert_eq!(api.wait_run("promise", &run, DEADLINE).await.unwrap(), "failed");
    let tries = tries(&api, &run, "wait").await;
    assert_eq!(tries.len(), 1, "not submitted again while the master may run it: {tries:#?}");
    assert_eq!(s.proxy.forwarded(CREATE.0, CREATE.1), 1, "one create reached the master");
    assert_eq!(s.accepted("spark-standalone"), 1);
    kill9(&mut second).await.unwrap();
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_in_flight_at_a_crash_is_found_by_its_key_on_yarn_kubernetes_and_serverless() {
    for (backend, mode) in [("yarn", "cluster"), ("k8s", "cluster"), ("serverless", "service")] {
        let s = Setup::new(&[("wait", backend, mode)], 2).await;
        let (run, mut second, api) = crash_during_submission(&s, backend).await;
        let manager = SUBMITS.iter().find(|b| b.0 == backend).unwrap().1;

        let t = wait_try(&api, &run, "wait", "found running", |t| driver_state(t) == "running" || DRIVER_DONE.contains(&driver_state(t))).await;
        assert_eq!(driver_state(&t), "running", "{backend}: {t:#}");
        s.open_gate();
        assert_eq!(api.wait_run("promise", &run, DEADLINE).await.unwrap(), "success", "{backend}");
        let tries = tries(&api, &run, "wait").await;
        assert_eq!(tries.len(), 1, "{backend}: found by its key, not submitted again: {tries:#?}");
        assert_eq!(s.accepted(manager), 1, "{backend}: the cluster ran it once");
        kill9(&mut second).await.unwrap();
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_the_cluster_never_confirms_ends_the_try_unknown() {
    let s = Setup::new(&[("wait", "local", "cluster")], 2).await;
    let (server, api) = s.serve(Duration::from_secs(300), Duration::from_secs(2)).await;
    let run = api.trigger("promise", json!({})).await.unwrap();
    wait_running(&api, &run).await;
    let id = tries(&api, &run, "wait").await[0]["driver"]["cluster_id"].as_str().unwrap().to_string();

    // The master says yes to every kill and never does it.
    s.proxy.answer("POST", "/v1/submissions/kill/*", |path| {
        let id = path.rsplit('/').next().unwrap_or_default();
        let body = json!({
            "action": "KillSubmissionResponse",
            "message": format!("Kill request for {id} submitted"),
            "serverSparkVersion": drover_devcluster::standalone::SERVER_SPARK_VERSION,
            "submissionId": id,
            "success": true,
        });
        (200, body.to_string())
    });
    kill_task(&api, &run, "wait").await;

    let pending = wait_try(&api, &run, "wait", "the pending kill shows", |t| {
        message(t).contains("kill sent") || DRIVER_DONE.contains(&driver_state(t))
    })
    .await;
    assert!(message(&pending).contains("kill sent"), "a pending kill shows before the deadline: {pending:#}");
    let t = wait_try(&api, &run, "wait", "the try ends", |t| DRIVER_DONE.contains(&driver_state(t))).await;
    assert_eq!(driver_state(&t), "unknown", "{t:#}");
    assert!(message(&t).contains("may still be running"), "{t:#}");
    assert_eq!(api.wait_run("promise", &run, DEADLINE).await.unwrap(), "failed");
    assert_eq!(tries(&api, &run, "wait").await.len(), 1, "no second try while the driver may run");
    assert!(s.proxy.seen().iter().any(|r| r.is("POST", "/v1/submissions/kill/*")), "drover sent the kill");
    assert_eq!(s.proxy.forwarded("POST", "/v1/submissions/kill/*"), 0);
    assert_eq!(standalone_state(&s.cluster, &id).await, "RUNNING", "the driver indeed still runs");
    server.shutdown().await;
    s.shutdown().await;
}
