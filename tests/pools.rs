//! Pools, priorities and driver caps, counted where the drivers run: each
//! driver appends its start and end to a file, and the tests read how many
//! ran at once (and in which order they started) from there, not from
//! drover's own tables. drover runs as a child process on a stand-in
//! cluster that outlives it, so one test can kill it with SIGKILL midway.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use tokio::process::{Child, Command};

use support::child::{DROVER, kill9, spawn_with_url, start_drover};
use support::drover::{Api, script, write};
use support::records::{events, most_at_once, started};

const DEADLINE: Duration = Duration::from_secs(300);

/// A driver that records `<name> start|end <unix nanos>` in the file it is
/// given (`$1`) around sleeping the seconds it is given (`$3`).
const RECORD_SH: &str = "#!/bin/sh\necho \"$2 start $(date +%s%N)\" >> \"$1\"\nsleep \"$3\"\necho \"$2 end $(date +%s%N)\" >> \"$1\"\n";

struct Setup {
    root: tempfile::TempDir,
    cluster: Child,
    cluster_url: String,
}

impl Setup {
    /// A stand-in cluster of its own, in a fresh folder.
    async fn new() -> Result<Setup> {
        let root = tempfile::tempdir()?;
        let mut cmd = Command::new(DROVER);
        cmd.args(["devcluster", "--port", "0", "--work-dir"]).arg(root.path().join("cluster")).env("DROVER_LOG", "warn");
        let (cluster, cluster_url) = spawn_with_url(cmd, "devcluster listening").await?;
        std::fs::create_dir_all(root.path().join("dags"))?;
        script(&root.path().join("dags"), "record", RECORD_SH);
        Ok(Setup { root, cluster, cluster_url })
    }

    fn dags(&self) -> PathBuf {
        self.root.path().join("dags")
    }

    fn log(&self) -> PathBuf {
        self.root.path().join("drivers.log")
    }

    /// drover on the cluster with a config file holding `config`.
    async fn drover(&self, config: &str) -> Result<(Child, Api)> {
        let file = write(self.root.path(), "drover.toml", config);
        let config = file.to_string_lossy().to_string();
        start_drover(&self.root.path().join("home"), &self.dags(), &self.cluster_url, &["--config", &config]).await
    }

    /// The lines of a task: `id`, on `backend` in `mode`, recording as `id`
    /// and running `seconds`, with `extra` lines.
    fn task(&self, id: &str, backend: &str, mode: &str, seconds: &str, extra: &str) -> String {
        format!(
            "[[tasks]]\nid = \"{id}\"\nbackend = \"{backend}\"\n{extra}\n[tasks.application]\nresource = \"record\"\nmain_class = \"Record\"\n\
             deploy_mode = \"{mode}\"\nargs = [{:?}, \"{id}\", \"{seconds}\"]\n",
            self.log().to_string_lossy()
        )
    }

    /// The drivers' records, in time order: (when, task, started).
    fn events(&self) -> Vec<(u128, String, bool)> {
        events(&std::fs::read_to_string(self.log()).unwrap_or_default())
    }

    async fn stop(mut self) -> Result<()> {
        if let Some(pid) = self.cluster.id() {
            std::process::Command::new("kill").arg(pid.to_string()).status()?;
        }
        tokio::time::timeout(Duration::from_secs(30), self.cluster.wait()).await??;
        Ok(())
    }
}

/// How often each task's driver started.
fn starts(events: &[(u128, String, bool)]) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for (_, name, start) in events {
        if *start {
            *out.entry(name.clone()).or_default() += 1;
        }
    }
    out
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = tokio::time::Instant::now() + DEADLINE;
    while !done() {
        assert!(tokio::time::Instant::now() < until, "{what} within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_three_never_runs_more_than_three_drivers_even_across_a_kill_9() -> Result<()> {
    let s = Setup::new().await?;
    let mut dag = String::from("id = \"fan\"\n");
    for i in 0..50 {
        dag.push_str(&s.task(&format!("t{i:02}"), "local", "cluster", "0.3", "pool = \"tight\""));
    }
    write(&s.dags(), "fan.toml", &dag);
    let config = "[pools.tight]\nslots = 3\ndescription = \"three at a time\"\n";
    let (mut drover, api) = s.drover(config).await?;
    let run = api.trigger("fan", json!({})).await?;

    // The tasks without a slot wait as queued.
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let tis = api.task_instances("fan", &run).await?;
        if tis.values().filter(|t| t["state"] == "queued").count() >= 40 {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "the tasks never queued for the pool: {tis:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    wait_for("ten drivers ended", || s.events().iter().filter(|e| !e.2).count() >= 10).await;
    kill9(&mut drover).await?;
    let (mut drover, api) = s.drover(config).await?;
    assert_eq!(api.wait_run("fan", &run, DEADLINE).await?, "success");

    let events = s.events();
    let most = most_at_once(&events);
    println!("at most {most} drivers at once");
    assert!(most <= 3, "{most} drivers ran at once in a pool of 3");
    let starts = starts(&events);
    assert_eq!(starts.len(), 50, "every task ran: {starts:?}");
    assert!(starts.values().all(|n| *n == 1), "a driver started twice: {starts:?}");
    kill9(&mut drover).await?;
    s.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heaviest_ready_task_gets_the_free_slot_first() -> Result<()> {
    let s = Setup::new().await?;
    // Written in neither order; absolute weights, so the graph adds nothing.
    let weights = [3, 7, 1, 9, 5, 4];
    let mut dag = String::from("id = \"prio\"\n[defaults]\npool = \"single\"\nweight_rule = \"absolute\"\n");
    for w in weights {
        dag.push_str(&s.task(&format!("w{w}"), "local", "cluster", "0.1", &format!("priority_weight = {w}")));
    }
    write(&s.dags(), "prio.toml", &dag);
    let (mut drover, api) = s.drover("[pools.single]\nslots = 1\n").await?;
    let run = api.trigger("prio", json!({})).await?;
    assert_eq!(api.wait_run("prio", &run, DEADLINE).await?, "success");

    let order = started(&s.events());
    assert_eq!(order, ["w9", "w7", "w5", "w4", "w3", "w1"]);
    assert_eq!(most_at_once(&s.events()), 1);
    kill9(&mut drover).await?;
    s.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_running_drivers_caps_a_backend_across_dags_and_deploy_modes() -> Result<()> {
    let s = Setup::new().await?;
    for (dag_id, mode) in [("client_side", "client"), ("cluster_side", "cluster")] {
        let mut dag = format!("id = \"{dag_id}\"\n");
        for i in 0..4 {
            dag.push_str(&s.task(&format!("{dag_id}_{i}"), "capped", mode, "0.4", ""));
        }
        write(&s.dags(), &format!("{dag_id}.toml"), &dag);
    }
    let addr = s.cluster_url.trim_start_matches("http://").trim_end_matches('/');
    let config = format!(
        "[backends.capped]\nplugin = \"spark-standalone\"\nmax_running_drivers = 2\n\
         settings = {{ master = \"spark://{addr}\", rest_url = \"http://{addr}\", master_ui_url = \"http://{addr}\", spark_submit = \"{DROVER} spark-submit\" }}\n"
    );
    let (mut drover, api) = s.drover(&config).await?;
    let a = api.trigger("client_side", json!({})).await?;
    let b = api.trigger("cluster_side", json!({})).await?;
    assert_eq!(api.wait_run("client_side", &a, DEADLINE).await?, "success");
    assert_eq!(api.wait_run("cluster_side", &b, DEADLINE).await?, "success");

    let events = s.events();
    assert_eq!(starts(&events).len(), 8);
    let most = most_at_once(&events);
    assert!(most <= 2, "{most} drivers of a backend capped at 2 ran at once");
    kill9(&mut drover).await?;
    s.stop().await
}

/// The records read the way the tests read them, on lines written by hand.
#[test]
fn overlap_is_counted_from_starts_and_ends() {
    let events = events("a start 1\nb start 2\na end 3\nc start 3\nb end 4\nc end 5\nnoise\n");
    assert_eq!(most_at_once(&events), 2, "c starts as a ends");
    assert_eq!(started(&events), ["a", "b", "c"]);
}
