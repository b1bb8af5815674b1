//! Several drovers on one PostgreSQL database: one schedules (it holds the
//! scheduler lease), the others stand by and take over when it dies or
//! stalls. Each test starts its own PostgreSQL server, stand-in cluster and
//! drover processes, and stops them all. Throughout, no submission key
//! reaches the cluster twice, every submission belongs to a try, and a
//! scheduler resumed after its lease moved on sends nothing.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use drover_store::pg_server::PgServer;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use support::child::{DROVER, Instance, Rng, kill9, none_left_under, spawn_with_url};
use support::drover::{Api, script, write};
use support::fixtures::chains_dag;
use support::proxy::{Proxy, SUBMITS};

const DEADLINE: Duration = Duration::from_secs(180);
const TTL: &str = "2s";
const TTL_MS: u64 = 2000;

/// Cluster-mode tasks on each backend, and a client-mode one, in chains.
fn write_dag(dags: &Path) {
    script(dags, "work", "#!/bin/sh\nsleep \"$1\"\necho worked \"$1\"\n");
    let kinds = [("local", "cluster"), ("yarn", "cluster"), ("k8s", "cluster"), ("serverless", "service"), ("local", "client")];
    let mut text = String::from("id = \"ha\"\n[defaults]\nretries = 5\nretry_delay = \"200ms\"\n");
    for (i, (backend, mode)) in kinds.iter().enumerate() {
        for step in 0..3 {
            let deps = if step == 0 { String::new() } else { format!("depends_on = [\"t{i}_{}\"]\n", step - 1) };
            text.push_str(&format!(
                "[[tasks]]\nid = \"t{i}_{step}\"\nbackend = \"{backend}\"\n{deps}[tasks.application]\nresource = \"work\"\nmain_class = \"Work\"\ndeploy_mode = \"{mode}\"\nargs = [\"1.5\"]\n"
            ));
        }
    }
    write(dags, "ha.toml", &text);
}

/// The stand-in's submissions, by key: how many times each reached it.
async fn submissions(cluster: &str) -> Result<BTreeMap<String, usize>> {
    let all: Vec<Value> = reqwest::get(format!("{cluster}/devcluster/submissions")).await?.json().await?;
    let mut per_key = BTreeMap::new();
    for s in &all {
        if let Some(k) = s["submission_key"].as_str() {
            *per_key.entry(k.to_string()).or_default() += 1;
        }
    }
    Ok(per_key)
}

/// Every submission key the run's tries recorded.
async fn try_keys(api: &Api, run: &str) -> Result<BTreeSet<String>> {
    let mut keys = BTreeSet::new();
    for task in api.task_instances("ha", run).await?.into_keys() {
        for t in api.tries("ha", run, &task).await? {
            keys.insert(t["driver"]["submission_key"].as_str().unwrap_or_default().to_string());
        }
    }
    Ok(keys)
}

/// Waits until a cluster-mode driver of the run is running.
async fn a_cluster_driver_runs(api: &Api, run: &str) -> Result<()> {
    let until = Instant::now() + DEADLINE;
    loop {
        let tis = api.task_instances("ha", run).await?;
        if tis.values().any(|t| t["driver"]["state"] == "running" && t["driver"]["deploy_mode"] == "cluster") {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < until, "no cluster-mode driver ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The checks every test ends with: no key twice, no stranger.
async fn each_key_once(api: &Api, run: &str, cluster: &str) -> Result<()> {
    let per_key = submissions(cluster).await?;
    let twice: Vec<_> = per_key.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "keys submitted more than once: {twice:?}");
    let known = try_keys(api, run).await?;
    let strangers: Vec<_> = per_key.keys().filter(|k| !known.contains(*k)).collect();
    assert!(strangers.is_empty(), "submissions no try records: {strangers:?}");
    Ok(())
}

struct World {
    root: tempfile::TempDir,
    dags: std::path::PathBuf,
    db: String,
    cluster_url: String,
    cluster: Child,
    _pg: PgServer,
}

impl World {
    async fn start() -> Result<World> {
        let pg = PgServer::start(false)?;
        let db = pg.create_database().await?;
        let root = tempfile::tempdir()?;
        let dags = root.path().join("dags");
        std::fs::create_dir_all(&dags)?;
        write_dag(&dags);
        let mut cmd = Command::new(DROVER);
        cmd.args(["devcluster", "--port", "0", "--work-dir"]).arg(root.path().join("cluster")).env("DROVER_LOG", "warn");
        let (cluster, cluster_url) = spawn_with_url(cmd, "devcluster listening").await?;
        Ok(World { root, dags, db, cluster_url, cluster, _pg: pg })
    }

    fn drover(&self, name: &str) -> Result<Instance> {
        Instance::spawn(self.root.path(), name, &self.dags, &self.db, &self.cluster_url, TTL)
    }

    async fn lease(&self) -> Result<drover_store::Lease> {
        let store = drover_store::Store::connect(&self.db).await?;
        let lease = store.lease().await?.context("no lease")?;
        store.close().await;
        Ok(lease)
    }

    async fn stop(mut self) -> Result<()> {
        // SIGTERM lets the stand-in reap its drivers.
        if let Some(pid) = self.cluster.id() {
            std::process::Command::new("kill").arg(pid.to_string()).status()?;
        }
        tokio::time::timeout(Duration::from_secs(30), self.cluster.wait()).await??;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_from_a_killed_scheduler_and_finishes_its_run() -> Result<()> {
    let world = World::start().await?;
    let mut a = world.drover("a")?;
    let api_a = a.active().await?;
    let mut b = world.drover("b")?;
    // B stands by: A holds the lease, and B is alive.
    let lease = world.lease().await?;
    assert!(lease.holder.contains(api_a.base.trim_start_matches("http://")), "{lease:?} is not A's");
    assert!(b.child.try_wait()?.is_none(), "the standby exited");
    // Meanwhile B serves the API too: it reads the database, passes a
    // trigger on to A (which schedules it), and streams A's changes live.
    let via_b = b.serving().await?;
    let dags = via_b.get("/api/v2/dags").await?;
    assert_eq!(dags["dags"][0]["dag_id"], "ha", "{dags}");
    let mut events = reqwest::Client::new().get(format!("{}/api/v2/events", via_b.base)).send().await?;
    assert_eq!(events.status(), 200);
    let run = via_b.trigger("ha", json!({})).await?;
    assert_eq!(api_a.get(&Api::run_path("ha", &run)).await?["dag_run_id"], run.as_str(), "A knows the run B took");
    a_cluster_driver_runs(&api_a, &run).await?;
    let driving = format!(r#""kind":"driver","dag_id":"ha","run_id":"{run}""#);
    let mut seen = String::new();
    let streamed = tokio::time::timeout(DEADLINE, async {
        while let Some(chunk) = events.chunk().await? {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(&driving) {
                return anyhow::Ok(true);
            }
        }
        Ok(false)
    })
    .await;
    assert!(matches!(streamed, Ok(Ok(true))), "B streamed no driver change of {run}; saw:\n{seen}");
    drop(events);
    // B counts the pool's slots A's drivers hold, as A does.
    let until = Instant::now() + DEADLINE;
    loop {
        let pool = via_b.get("/api/v2/pools/default_pool").await?;
        if pool["occupied_slots"].as_i64().unwrap_or_default() > 0 {
            break;
        }
        anyhow::ensure!(Instant::now() < until, "B never saw A's drivers in the pool: {pool}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A pause through B is A's to act on, and A's answer comes back.
    let paused = via_b.http.patch(format!("{}/api/v2/dags/ha", via_b.base)).json(&json!({"is_paused": true})).send().await?;
    assert_eq!(paused.status(), 200, "{}", paused.text().await?);
    assert_eq!(api_a.get("/api/v2/dags/ha").await?["is_paused"], true);
    let resumed = via_b.http.patch(format!("{}/api/v2/dags/ha", via_b.base)).json(&json!({"is_paused": false})).send().await?;
    assert_eq!(resumed.status(), 200);
    // A request the scheduler refuses is refused the same through B.
    let unknown = via_b.http.post(format!("{}/api/v2/dags/nope/dagRuns", via_b.base)).json(&json!({})).send().await?;
    assert_eq!(unknown.status(), 404, "{}", unknown.text().await?);

    // A client-mode driver ran on A, its log on A's disk: B fetches it from A.
    api_a.wait_driver("ha", &run, "t4_0", "succeeded").await;
    let log_path = format!("{}/taskInstances/t4_0/logs/1", Api::run_path("ha", &run));
    let log = via_b.get(&log_path).await?;
    assert_eq!(log["source"], "peer", "{log}");
    assert!(via_b.log("ha", &run, "t4_0", 1).await?.contains("worked 1.5"), "{log}");

    let killed = Instant::now();
    let killed_at = chrono::Utc::now();
    kill9(&mut a.child).await?;
    let api_b = b.active().await?;
    println!("failover (A killed -> B serving): {:?}", killed.elapsed());
    // With A's machine gone (its home too), its log cannot be had, and B
    // says whose disk it was on.
    std::fs::remove_dir_all(world.root.path().join("a"))?;
    let gone = api_b.http.get(format!("{}{log_path}", api_b.base)).send().await?;
    assert_eq!(gone.status(), 503);
    let detail = gone.json::<Value>().await?["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("ran on drover") && detail.contains(&lease.holder), "{detail}");
    assert_eq!(api_b.wait_run("ha", &run, DEADLINE).await?, "success");
    let lease = world.lease().await?;
    assert_eq!(lease.epoch, 2, "{lease:?}");
    assert!(lease.holder.contains(api_b.base.trim_start_matches("http://")), "{lease:?}");
    each_key_once(&api_b, &run, &world.cluster_url).await?;

    // A cluster-mode driver running when A died was re-attached by B and
    // followed to its end, not run again.
    let mut reattached = 0;
    for task in api_b.task_instances("ha", &run).await?.into_keys() {
        let tries = api_b.tries("ha", &run, &task).await?;
        let first = &tries[0];
        let started = chrono::DateTime::parse_from_rfc3339(first["start_date"].as_str().unwrap_or_default())?;
        if first["driver"]["deploy_mode"] == "cluster" && first["driver"]["state"] == "succeeded" && started < killed_at {
            reattached += 1;
        }
    }
    assert!(reattached > 0, "no cluster-mode driver outlived A and was followed by B");
    b.signal("-TERM")?;
    tokio::time::timeout(Duration::from_secs(60), b.child.wait()).await??;
    world.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_paused_past_its_lease_sends_nothing_when_it_resumes() -> Result<()> {
    let world = World::start().await?;
    let mut a = world.drover("a")?;
    let api_a = a.active().await?;
    let mut b = world.drover("b")?;
    let run = api_a.trigger("ha", json!({})).await?;
    a_cluster_driver_runs(&api_a, &run).await?;

    a.signal("-STOP")?;
    let api_b = b.active().await?;
    assert_eq!(api_b.wait_run("ha", &run, DEADLINE).await?, "success");
    let before = submissions(&world.cluster_url).await?;

    // A wakes with drivers it was following and tasks it was about to start:
    // its lease clock has run out, so it calls no cluster, its writes are
    // fenced, and it exits to be restarted as a standby.
    a.signal("-CONT")?;
    let status = tokio::time::timeout(DEADLINE, a.child.wait()).await??;
    assert_eq!(status.code(), Some(drover::lease::LOST_LEASE), "{status:?}");
    assert_eq!(submissions(&world.cluster_url).await?, before, "the resumed scheduler submitted something");
    assert_eq!(api_b.get(&Api::run_path("ha", &run)).await?["state"], "success");
    each_key_once(&api_b, &run, &world.cluster_url).await?;
    b.signal("-TERM")?;
    tokio::time::timeout(Duration::from_secs(60), b.child.wait()).await??;
    world.stop().await
}

/// One of the chaos test's drovers: its home, and the proxy its plugins
/// reach the cluster through, which counts what this drover sent.
struct Member {
    name: &'static str,
    drover: Instance,
    proxy: Proxy,
}

impl Member {
    /// The submissions this drover has sent, to any backend.
    fn submits(&self) -> usize {
        self.proxy.seen().iter().filter(|r| SUBMITS.iter().any(|s| r.is(s.2, s.3))).count()
    }
}

/// The member that serves (holds the lease), other than `not`.
async fn serving(members: &[Member], not: Option<usize>) -> Result<usize> {
    let until = Instant::now() + DEADLINE;
    loop {
        if let Some(i) = (0..members.len()).find(|&i| Some(i) != not && members[i].drover.url.borrow().is_some()) {
            return Ok(i);
        }
        anyhow::ensure!(Instant::now() < until, "no drover took the lease over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const RETRIES: usize = 15;

/// The issue's HA chaos: three drovers on one PostgreSQL database and one
/// stand-in cluster; a 51-task DAG across every backend and deploy mode;
/// ten rounds of either kill -9 of the active scheduler or SIGSTOP of it
/// for three lease TTLs then SIGCONT, each followed by a restart (as a
/// supervisor would). At the end every run finished, no submission key
/// reached the cluster twice, every submission belongs to a try, a resumed
/// old leader sent nothing after SIGCONT (counted on its own proxy), and no
/// process is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_drovers_under_kills_and_pauses_lose_nothing_and_submit_nothing_twice() -> Result<()> {
    let mut rng = Rng::seeded();
    let world = World::start().await?;
    assert!(chains_dag(&world.dags, "hachaos", RETRIES) >= 50);
    let target = world.cluster_url.trim_start_matches("http://").trim_end_matches('/').parse()?;
    let mut members = Vec::new();
    for name in ["a", "b", "c"] {
        let proxy = Proxy::start(target).await;
        let drover = Instance::spawn(world.root.path(), name, &world.dags, &world.db, &proxy.url(), TTL)?;
        members.push(Member { name, drover, proxy });
    }
    let mut runs = Vec::new();
    let (mut kills, mut pauses) = (0, 0);
    for round in 0..10 {
        let i = serving(&members, None).await?;
        members[i].drover.active().await?;
        if round % 3 == 0 {
            // Through any drover, standing by or scheduling.
            let k = (rng.next() % members.len() as u64) as usize;
            let via = members[k].drover.serving().await?;
            runs.push(via.trigger("hachaos", json!({})).await?);
        }
        tokio::time::sleep(rng.millis(300, 2500)).await;
        let name = members[i].name;
        if rng.next().is_multiple_of(2) {
            members[i].drover.signal("-STOP")?;
            let j = serving(&members, Some(i)).await?;
            // Stopped for three lease TTLs in all, while the successor works.
            tokio::time::sleep(Duration::from_millis(3 * TTL_MS)).await;
            let sent = members[i].submits();
            members[i].drover.signal("-CONT")?;
            let status = tokio::time::timeout(DEADLINE, members[i].drover.child.wait()).await??;
            assert_eq!(status.code(), Some(drover::lease::LOST_LEASE), "round {round}: {name} after SIGCONT: {status:?}");
            assert_eq!(members[i].submits(), sent, "round {round}: {name} submitted after it resumed");
            println!("round {round}: {name} paused, {} took over, {name} resumed and stepped down", members[j].name);
            pauses += 1;
        } else {
            kill9(&mut members[i].drover.child).await?;
            println!("round {round}: {name} killed");
            kills += 1;
        }
        members[i].drover = Instance::spawn(world.root.path(), name, &world.dags, &world.db, &members[i].proxy.url(), TTL)?;
    }
    println!("{kills} kills, {pauses} pauses");

    let i = serving(&members, None).await?;
    let api = members[i].drover.active().await?;
    let mut known = BTreeSet::new();
    for run in &runs {
        let state = api.wait_run("hachaos", run, DEADLINE).await?;
        let mut in_doubt = 0;
        for task in api.task_instances("hachaos", run).await?.into_keys() {
            let tries = api.tries("hachaos", run, &task).await?;
            for t in &tries {
                known.insert(t["driver"]["submission_key"].as_str().unwrap_or_default().to_string());
            }
            assert!(tries.len() <= RETRIES + 1, "{task} of run {run}: {} tries", tries.len());
            if let Some(last) = tries.last().map(|t| &t["driver"])
                && last["state"] == "unknown"
            {
                // Only a standalone submission left in doubt cannot be
                // looked up by its key: drover leaves it to a person.
                assert!(last["message"].as_str().unwrap_or_default().contains("up by key"), "{task} in run {run}: {last:#}");
                in_doubt += 1;
            }
        }
        assert!(state == "success" || in_doubt > 0, "run {run} ended {state}");
    }
    let per_key = submissions(&world.cluster_url).await?;
    let twice: Vec<_> = per_key.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "keys submitted more than once: {twice:?}");
    let strangers: Vec<_> = per_key.keys().filter(|k| !known.contains(*k)).collect();
    assert!(strangers.is_empty(), "submissions no try records: {strangers:?}");

    for m in &mut members {
        m.drover.signal("-TERM")?;
        tokio::time::timeout(Duration::from_secs(60), m.drover.child.wait()).await??;
    }
    let root = world.root.path().to_path_buf();
    world.stop().await?;
    none_left_under(&root).await;
    Ok(())
}
