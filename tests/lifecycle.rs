//! The driver lifecycle across restarts and kills: a cluster-mode driver
//! outlives drover and is re-attached; a submission whose answer was never
//! recorded is not submitted twice; a driver that never starts is stopped by
//! its start timeout; a run marked failed kills its drivers.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use support::drover::{Api, cluster, rewind_to_mid_submission, script, serve_on, standalone_status, write};


use drover::serve::Server;
use drover_devcluster::{DevCluster, DevClusterConfig};

const DEADLINE: Duration = Duration::from_secs(120);


fn api(s: &Server) -> Api {
    Api::with_token(&s.api_url(), &s.api_token)
}

/// A cluster-mode task that runs until the file `release` appears.
fn gated_dag(dags: &Path, gate: &Path) {
    gated_dag_on(dags, gate, "local");
}

fn gated_dag_on(dags: &Path, gate: &Path, backend: &str) {
    script(
        dags,
        "gated",
        &format!("#!/bin/sh\nwhile [ ! -e {} ]; do sleep 0.1; done\necho released\n", gate.display()),
    );
    write(
        dags,
        "gated.toml",
        r#"
id = "gated"
[[tasks]]
id = "wait"
backend = "BACKEND"
retries = 1
retry_delay = "100ms"
[tasks.application]
resource = "gated"
main_class = "Gated"
deploy_mode = "cluster"
[[tasks]]
id = "after"
backend = "local"
depends_on = ["wait"]
[tasks.application]
resource = "gated"
main_class = "Gated"
deploy_mode = "cluster"
"#
        .replace("BACKEND", backend)
        .as_str(),
    );
}

/// A gated DAG on `backend` and a stand-in cluster, with a first drover
/// (returned beside it) whose run's `wait` driver is running.
struct Gated {
    home: tempfile::TempDir,
    dags: tempfile::TempDir,
    gate: PathBuf,
    cluster: DevCluster,
    run: String,
    driver: Value,
}

async fn gated_run_on(backend: &str) -> (Gated, Server) {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let gate = home.path().join("release");
    gated_dag_on(dags.path(), &gate, backend);
    let cluster = cluster(home.path()).await;
    let first = serve_on(&cluster, home.path(), dags.path()).await;
    let run = api(&first).trigger("gated", json!({})).await.unwrap();
    let ti = api(&first).wait_driver("gated", &run, "wait", "running").await;
    let driver = ti["driver"].clone();
    (Gated { home, dags, gate, cluster, run, driver }, first)
}

impl Gated {
    /// Another drover on the same home, DAGs and cluster: a restart.
    async fn restart(&self) -> Server {
        serve_on(&self.cluster, self.home.path(), self.dags.path()).await
    }
}

#[tokio::test]
async fn a_restarted_drover_reattaches_to_a_running_cluster_mode_driver_without_resubmitting() {
    let (g, first) = gated_run_on("local").await;
    let (run, cluster) = (&g.run, &g.cluster);
    let cluster_id = g.driver["cluster_id"].as_str().unwrap().to_string();
    first.shutdown().await;

    // drover is gone; the driver is not.
    std::fs::write(&g.gate, "").unwrap();
    let second = g.restart().await;
    let api = api(&second);
    assert_eq!(api.wait_run("gated", run, DEADLINE).await.unwrap(), "success");
    let tries = api.tries("gated", run, "wait").await.unwrap();
    assert_eq!(tries.len(), 1, "re-attached, not retried: {tries:#?}");
    assert_eq!(tries[0]["driver"]["cluster_id"], cluster_id.as_str());
    assert_eq!(tries[0]["driver"]["raw_state"], "FINISHED");
    let subs = cluster.submissions();
    assert_eq!(subs.len(), 2, "one submission per task, none repeated: {subs:#?}");
    second.shutdown().await;
    g.cluster.shutdown().await;
}

#[tokio::test]
async fn a_submission_whose_answer_was_never_recorded_is_not_submitted_again() {
    let (g, first) = gated_run_on("local").await;
    let (run, cluster) = (&g.run, &g.cluster);
    first.shutdown().await;

    rewind_to_mid_submission(g.home.path()).await;

    std::fs::write(&g.gate, "").unwrap();
    let second = g.restart().await;
    let api = api(&second);
    assert_eq!(api.wait_run("gated", run, DEADLINE).await.unwrap(), "failed");
    let tries = api.tries("gated", run, "wait").await.unwrap();
    // Spark standalone cannot look a submission up by its key: the in-doubt
    // try is recorded unknown (saying why) and left to a person, neither
    // submitted again nor retried (issue 9: a task ran 4 times in one run).
    assert_eq!(tries.len(), 1, "an in-doubt try is not retried: {tries:#?}");
    let first_try = &tries[0]["driver"];
    assert_eq!(first_try["state"], "unknown", "{first_try:#}");
    assert_eq!(first_try["needs_decision"], true, "{first_try:#}");
    assert!(first_try["message"].as_str().unwrap().contains("cannot look submissions up by key"), "{first_try:#}");
    let subs = cluster.submissions();
    let keys: Vec<_> = subs.iter().filter_map(|s| s.submission_key.clone()).collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(keys.len(), unique.len(), "no key was submitted twice: {subs:#?}");
    assert!(keys.contains(&first_try["submission_key"].as_str().unwrap().to_string()));
    second.shutdown().await;
    g.cluster.shutdown().await;
}

#[tokio::test]
async fn a_driver_that_never_starts_is_killed_by_its_start_timeout() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "ok", "#!/bin/sh\nexit 0\n");
    write(
        dags.path(),
        "huge.toml",
        r#"
id = "huge"
[[tasks]]
id = "big"
backend = "local"
start_timeout = "1s"
[tasks.application]
resource = "ok"
main_class = "Ok"
deploy_mode = "cluster"
driver = { memory = "512g", cores = 1 }
"#,
    );
    let d = support::drover::start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("huge", json!({})).await.unwrap();
    assert_eq!(api.wait_run("huge", &run, DEADLINE).await.unwrap(), "failed");
    let tries = api.tries("huge", &run, "big").await.unwrap();
    let driver = &tries[0]["driver"];
    assert_eq!(driver["state"], "killed");
    let message = tries[0]["driver"]["message"].as_str().unwrap();
    assert!(message.contains("start timeout"), "{message}");
    assert!(message.contains("SUBMITTED"), "names the state it was stuck in: {message}");
    let id = driver["cluster_id"].as_str().unwrap();
    let status: Value = standalone_status(&d.cluster, &id).await;
    assert_eq!(status["driverState"], "KILLED", "killed on the cluster too: {status:#}");
    d.shutdown().await;
}

#[tokio::test]
async fn a_run_marked_failed_kills_its_drivers_and_skips_the_rest() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let gate = home.path().join("never");
    gated_dag(dags.path(), &gate);
    let d = support::drover::start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("gated", json!({})).await.unwrap();
    let ti = api.wait_driver("gated", &run, "wait", "running").await;
    let id = ti["driver"]["cluster_id"].as_str().unwrap().to_string();

    let resp = api
        .http
        .patch(format!("{}{}", d.api_url(), Api::run_path("gated", &run)))
        .json(&json!({"state": "failed"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    assert_eq!(api.wait_run("gated", &run, DEADLINE).await.unwrap(), "failed");
    let tis = api.task_instances("gated", &run).await.unwrap();
    assert_eq!(tis["wait"]["state"], "failed");
    assert_eq!(tis["wait"]["driver"]["state"], "killed");
    assert_eq!(tis["after"]["state"], "skipped");
    assert_eq!(api.tries("gated", &run, "wait").await.unwrap().len(), 1, "a killed run is not retried");
    let status: Value = standalone_status(&d.cluster, &id).await;
    assert_eq!(status["driverState"], "KILLED");
    d.shutdown().await;
}

#[tokio::test]
async fn a_restarted_cluster_that_forgot_its_drivers_is_not_mistaken_for_them() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let gate = home.path().join("release");
    gated_dag(dags.path(), &gate);
    let old = cluster(home.path()).await;
    let addr = old.addr();
    let d = serve_on(&old, home.path(), dags.path()).await;
    let api = api(&d);
    let run = api.trigger("gated", json!({})).await.unwrap();
    api.wait_driver("gated", &run, "wait", "running").await;

    // The master restarts on the same address and knows nothing of before.
    old.shutdown().await;
    let new = DevCluster::start(DevClusterConfig {
        bind: addr,
        work_dir: home.path().join("cluster2"),
        ..DevClusterConfig::default()
    })
    .await
    .expect("the restarted stand-in binds the same address");
    std::fs::write(&gate, "").unwrap();

    assert_eq!(api.wait_run("gated", &run, DEADLINE).await.unwrap(), "success");
    let tries = api.tries("gated", &run, "wait").await.unwrap();
    assert_eq!(tries.len(), 2, "{tries:#?}");
    let first = &tries[0]["driver"];
    assert_eq!(first["state"], "lost", "{first:#}");
    assert!(first["message"].as_str().unwrap().contains("no longer knows"), "{first:#}");
    assert_eq!(tries[1]["driver"]["state"], "succeeded");
    assert_eq!(new.submissions().len(), 2, "the retry and the downstream task, on the new master");
    d.shutdown().await;
    new.shutdown().await;
}

#[tokio::test]
async fn after_a_crash_mid_submission_the_try_is_found_by_its_key_not_submitted_again() {
    let (g, first) = gated_run_on("yarn").await;
    let (run, cluster) = (&g.run, &g.cluster);
    let app_id = g.driver["cluster_id"].as_str().unwrap().to_string();
    first.shutdown().await;

    rewind_to_mid_submission(g.home.path()).await;

    let second = g.restart().await;
    let api = api(&second);
    // Found by its application tag and followed again: the same application.
    let ti = api.wait_driver("gated", run, "wait", "running").await;
    assert_eq!(ti["driver"]["cluster_id"], app_id.as_str(), "{ti:#}");
    std::fs::write(&g.gate, "").unwrap();
    assert_eq!(api.wait_run("gated", run, DEADLINE).await.unwrap(), "success");
    let tries = api.tries("gated", run, "wait").await.unwrap();
    assert_eq!(tries.len(), 1, "found, not retried: {tries:#?}");
    let history: Vec<&str> = tries[0]["driver"]["history"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap_or("")).collect();
    assert!(history.iter().any(|m| m.contains("found on the cluster by its submission key")), "{history:?}");
    let on_yarn = cluster.submissions().into_iter().filter(|s| s.manager == "yarn").count();
    assert_eq!(on_yarn, 1, "the ResourceManager saw the application once");
    second.shutdown().await;
    g.cluster.shutdown().await;
}

/// A second drover on a home another one is using refuses to start, naming
/// the first (pid, address), instead of taking over its live tries; once
/// the first has stopped, it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_drover_on_the_same_home_refuses_to_start_while_the_first_runs() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let first = support::drover::start(home.path(), dags.path(), None).await.unwrap();
    let refused = match support::drover::start(home.path(), dags.path(), None).await {
        Ok(_) => panic!("two drovers ran on one home"),
        Err(e) => format!("{e:#}"),
    };
    assert!(refused.contains("another drover is running on home"), "{refused}");
    assert!(refused.contains(&format!("pid={}", std::process::id())), "{refused}");
    assert!(refused.contains(&first.api_url()), "{refused}");
    first.shutdown().await;
    let second = support::drover::start(home.path(), dags.path(), None).await.unwrap();
    second.shutdown().await;
}

/// `drover db clean` forgets ended runs with their log files and keeps the
/// rest; `drover db migrate` waits for no drover on the home.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_clean_forgets_ended_runs_and_their_logs_and_migrate_refuses_a_running_home() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "ok.sh", "#!/bin/sh\necho ok\n");
    write(dags.path(), "done.toml", "id = \"done\"\n[[tasks]]\nid = \"t\"\nbackend = \"local\"\n[tasks.application]\nresource = \"ok.sh\"\n");
    let d = support::drover::start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("done", json!({})).await.unwrap();
    assert_eq!(api.wait_run("done", &run, DEADLINE).await.unwrap(), "success");
    let drover = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_drover-cli-under-test"))
            .arg("db")
            .args(args)
            .arg("--home")
            .arg(home.path())
            .output()
            .unwrap()
    };
    let refused = drover(&["migrate"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("another drover is running"), "{refused:?}");
    d.shutdown().await;

    let logs = drover_scheduler::run_log_dir(&home.path().join("logs"), "done", &run);
    assert!(logs.exists(), "{} has the client-mode log", logs.display());
    let dry = drover(&["clean", "--older-than", "0s", "--dry-run"]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains(&format!("done {run} ended")), "{dry:?}");
    let kept = drover(&["clean", "--older-than", "30d"]);
    assert!(String::from_utf8_lossy(&kept.stdout).contains("0 runs deleted"), "{kept:?}");
    let cleaned = drover(&["clean", "--older-than", "0s"]);
    assert!(String::from_utf8_lossy(&cleaned.stdout).contains("1 run deleted"), "{cleaned:?}");
    assert!(!logs.exists());
    assert!(drover(&["migrate"]).status.success());
    let d = support::drover::start(home.path(), dags.path(), None).await.unwrap();
    assert!(Api::new(&d).get(&Api::run_path("done", &run)).await.is_err(), "the run is gone");
    d.shutdown().await;
}
