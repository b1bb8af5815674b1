//! Chaos: drover is killed with SIGKILL at random moments, again and again,
//! while a 50-task DAG mixing backends and deploy modes runs on a stand-in
//! cluster that outlives it. At the end every run has finished, no try was
//! submitted twice, cluster-mode drivers were re-attached, client-mode
//! drivers were recorded lost and retried, and no process is left behind.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use support::drover::{Api, script, write};

const DROVER: &str = env!("CARGO_BIN_EXE_drover-cli-under-test");
const KILLS: usize = 10;
const DEADLINE: Duration = Duration::from_secs(300);

/// (backend, deploy mode) of the tasks, round robin.
const KINDS: &[(&str, &str)] = &[("local", "cluster"), ("local", "client"), ("yarn", "cluster"), ("yarn", "client"), ("serverless", "service"), ("k8s", "cluster"), ("k8s", "client")];

/// A small deterministic generator: the seed is printed, so a failing run
/// can be replayed with DROVER_CHAOS_SEED.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

/// Starts a process and returns it with the URL it prints on its first line
/// containing `marker`.
async fn spawn_with_url(mut cmd: Command, marker: &str) -> Result<(Child, String)> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::null()).stdin(Stdio::null()).kill_on_drop(true);
    let mut child = cmd.spawn().context("spawn")?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if line.contains(marker) {
                return Ok::<_, anyhow::Error>(line);
            }
        }
        bail!("exited before printing {marker:?}")
    })
    .await
    .context("no URL within 60 s")??;
    // Keep draining stdout so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .context("no URL in the line")?
        .to_string();
    Ok((child, url))
}

fn write_dag(dags: &Path) -> usize {
    // A driver that runs for the seconds it is given.
    script(dags, "work", "#!/bin/sh\nsleep \"$1\"\necho worked \"$1\"\n");
    let mut text = String::from("id = \"chaos\"\nmax_active_runs = 2\n[defaults]\nretries = 15\nretry_delay = \"200ms\"\n");
    let mut count = 0;
    // Five chains of ten tasks, plus a final join: 51 tasks.
    for chain in 0..5 {
        for step in 0..10 {
            let (backend, mode) = KINDS[count % KINDS.len()];
            let id = format!("c{chain}_s{step}");
            let deps = if step == 0 { String::new() } else { format!("depends_on = [\"c{chain}_s{}\"]\n", step - 1) };
            let tenths = 5 + (chain * 7 + step * 3) % 12;
            let seconds = format!("{}.{}", tenths / 10, tenths % 10);
            text.push_str(&format!(
                "[[tasks]]\nid = \"{id}\"\nbackend = \"{backend}\"\n{deps}[tasks.application]\nresource = \"work\"\nmain_class = \"Work\"\ndeploy_mode = \"{mode}\"\nargs = [\"{seconds}\"]\n"
            ));
            count += 1;
        }
    }
    text.push_str("[[tasks]]\nid = \"join\"\nbackend = \"local\"\ndepends_on = [\"c0_s9\", \"c1_s9\", \"c2_s9\", \"c3_s9\", \"c4_s9\"]\n[tasks.application]\nresource = \"work\"\nmain_class = \"Work\"\ndeploy_mode = \"cluster\"\nargs = [\"1\"]\n");
    write(dags, "chaos.toml", &text);
    count + 1
}

async fn start_drover(home: &Path, dags: &Path, cluster: &str) -> Result<(Child, Api)> {
    let mut cmd = Command::new(DROVER);
    cmd.args(["standalone", "--port", "0", "--cluster-url", cluster])
        .arg("--home")
        .arg(home)
        .arg("--dags")
        .arg(dags)
        .arg("--plugin-cache")
        .arg(support::drover::plugin_cache())
        .env("DROVER_LOG", "warn")
        .env("DROVER_API_TOKEN", support::drover::TEST_TOKEN);
    let (child, url) = spawn_with_url(cmd, "drover is running").await?;
    Ok((child, Api::with_token(&url, support::drover::TEST_TOKEN)))
}

/// Every task instance with its tries.
async fn tries(api: &Api, run: &str) -> Result<BTreeMap<String, Vec<Value>>> {
    let mut out = BTreeMap::new();
    for task in api.task_instances("chaos", run).await?.into_keys() {
        let t = api.tries("chaos", run, &task).await?;
        out.insert(task, t);
    }
    Ok(out)
}

/// Processes whose command line mentions `dir`.
fn processes_under(dir: &Path) -> Vec<(u32, String)> {
    let needle = dir.to_string_lossy().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|s| s.contains(") Z "));
        if cmdline.contains(&needle) && !zombie {
            found.push((pid, cmdline));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drover_killed_at_random_moments_loses_nothing_and_submits_nothing_twice() -> Result<()> {
    let seed = std::env::var("DROVER_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
    println!("chaos seed: {seed} (replay with DROVER_CHAOS_SEED={seed})");
    let mut rng = Rng(seed);

    let root = tempfile::tempdir()?;
    let home: PathBuf = root.path().join("home");
    let dags = root.path().join("dags");
    std::fs::create_dir_all(&dags)?;
    let tasks = write_dag(&dags);
    assert!(tasks >= 50);

    let mut cluster_cmd = Command::new(DROVER);
    cluster_cmd.args(["devcluster", "--port", "0", "--work-dir"]).arg(root.path().join("cluster")).env("DROVER_LOG", "warn");
    let (mut cluster, cluster_url) = spawn_with_url(cluster_cmd, "devcluster listening").await?;

    let mut runs = Vec::new();
    let mut kills = Vec::new();
    for round in 0..KILLS {
        let (mut drover, api) = start_drover(&home, &dags, &cluster_url).await?;
        if round % 3 == 0 && round < 9 {
            runs.push(api.trigger("chaos", json!({})).await?);
        }
        if round == 0 {
            // The first kill waits until drivers of both modes are running, so
            // both restart paths are exercised whatever the seed.
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
        drover.start_kill()?; // SIGKILL
        drover.wait().await?;
        kills.push(chrono_now());
        println!("round {round}: drover killed");
    }

    let (mut drover, api) = start_drover(&home, &dags, &cluster_url).await?;
    let finishing = std::time::Instant::now();
    for run in &runs {
        let state = api.wait_run("chaos", run, DEADLINE).await?;
        assert!(state == "success" || state == "failed", "run {run} ended {state}");
        assert_eq!(state, "success", "with 15 retries every task gets through: run {run}");
    }

    println!("runs finished {:?} after the last restart", finishing.elapsed());
    let submissions: Vec<Value> = reqwest::get(format!("{cluster_url}/devcluster/submissions")).await?.json().await?;
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for s in &submissions {
        if let Some(k) = s["submission_key"].as_str() {
            *per_key.entry(k.to_string()).or_default() += 1;
        }
    }
    let mut reattached = 0;
    let mut lost_client = 0;
    let mut retried_after_loss = 0;
    for run in &runs {
        for (task, tries) in tries(&api, run).await? {
            for (i, t) in tries.iter().enumerate() {
                let d = &t["driver"];
                let key = d["submission_key"].as_str().unwrap().to_string();
                let mode = d["deploy_mode"].as_str().unwrap();
                let times = per_key.get(&key).copied().unwrap_or(0);
                assert!(times <= 1, "{task} try {}: key {key} submitted {times} times", i + 1);
                if mode != "client" && d["cluster_id"].is_string() {
                    assert_eq!(times, 1, "{task} try {}: the cluster never saw its key", i + 1);
                    let start = t["start_date"].as_str().unwrap_or_default();
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
        }
    }
    println!("re-attached cluster-mode drivers: {reattached}; client-mode drivers lost: {lost_client}, retried: {retried_after_loss}");
    assert!(reattached > 0, "no cluster-mode driver outlived a kill and was re-attached");
    assert!(lost_client > 0 && retried_after_loss > 0, "no client-mode driver was lost and retried");

    drover.start_kill()?;
    drover.wait().await?;
    // SIGTERM lets the stand-in reap its drivers.
    if let Some(pid) = cluster.id() {
        std::process::Command::new("kill").arg(pid.to_string()).status()?;
    }
    tokio::time::timeout(Duration::from_secs(30), cluster.wait()).await??;
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = processes_under(root.path());
        if left.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "processes left behind: {left:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Now as the API writes timestamps (RFC 3339, UTC), for ordering by text.
fn chrono_now() -> String {
    let out = std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%S.%NZ"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
