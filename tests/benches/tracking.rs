//! Tracking at scale: 10,000 cluster-mode drivers running at once on the
//! stand-in Spark standalone master, followed by one drover.
//!
//! The stand-in (`drover devcluster`) and drover (`drover standalone
//! --cluster-url`) run as separate processes on 127.0.0.1, so each one's CPU
//! and memory can be read from /proc on its own. Every driver is one process:
//! a shell script that `exec`s `sleep` until one shared end time (an epoch
//! given as the run's `end` param), so all drivers end together.
//!
//! Phases and what is reported:
//!
//! - load: drover's start until the DAG is listed (a 10,000-task DAG file);
//! - submission: from the trigger until the stand-in lists every driver
//!   RUNNING (its `GET /json/`, polled every 2 s) and until drover has
//!   recorded every one `running`; drover's and the stand-in's CPU meanwhile;
//! - steady state: all drivers running, nothing to do but follow them:
//!   drover's CPU (cores = Δ(utime+stime) / wall), RSS, and the stand-in's CPU;
//! - end: per driver, drover's `succeeded` driver event minus the time its
//!   sleep ended (staleness, p50 / p95 / max), drover's CPU meanwhile, and the
//!   time until the run is over.
//!
//! `cargo bench -p drover-e2e --bench tracking`. Knobs (environment):
//!
//! - `DROVER_BENCH_DRIVERS` (10000): how many drivers;
//! - `DROVER_BENCH_SHAPE` (`one`): `one` DAG of N independent tasks, or
//!   `runs`: N/100 runs of a 100-task DAG;
//! - `DROVER_BENCH_END_AFTER` (seconds from the trigger to the shared end;
//!   default: an estimate of the submission time plus `DROVER_BENCH_STEADY`);
//! - `DROVER_BENCH_STEADY` (30): the steady-state window the default end
//!   time aims for, in seconds;
//! - `DROVER_BENCH_END_SPREAD` (N/50): spread the drivers' ends over this
//!   many seconds (task i of a DAG of W ends at end + i·spread/W); `0`: all
//!   at one instant (then every driver past the 200 ended drivers the master
//!   retains is recorded lost, see BENCHMARKS.md);
//! - `DROVER_BENCH_KEEP` (unset): `1` keeps the temp dir (logs, database);
//! - `DROVER_BENCH_NO_BATCH` (unset): `1` overrides the `local` backend with
//!   one that has no `master_ui_url`, so the plugin answers `status-many`
//!   unsupported and drover polls each driver on its own.
//!
//! See BENCHMARKS.md for the figures.

#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use support::drover::{Api, script, write};

const DROVER: &str = env!("CARGO_BIN_EXE_drover-cli-under-test");
const DAG_ID: &str = "track";
/// Targets from the issue.
const TARGET_STALENESS_S: f64 = 5.0;
const TARGET_CORES: f64 = 1.0;
/// After the end time, how long the bench waits for the runs to be over.
const END_DEADLINE: Duration = Duration::from_secs(240);
/// Tasks per DAG in the `runs` shape.
const RUN_WIDTH: usize = 100;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn epoch_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

// ---------------------------------------------------------------- /proc ---

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3; utime 14, stime 15.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// `VmRSS` (or another `Vm*` line) of a process, in MiB.
fn vm(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn threads(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("Threads:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// CPU of both processes at one instant.
#[derive(Clone, Copy)]
struct Snap {
    at: Instant,
    drover: u64,
    cluster: u64,
}

struct Procs {
    drover: u32,
    cluster: u32,
    tck: f64,
}

impl Procs {
    fn snap(&self) -> Snap {
        Snap { at: Instant::now(), drover: cpu_ticks(self.drover).unwrap_or(0), cluster: cpu_ticks(self.cluster).unwrap_or(0) }
    }

    /// (drover cores, stand-in cores, drover CPU seconds, wall seconds) between two snaps.
    fn between(&self, a: Snap, b: Snap) -> Window {
        let wall = (b.at - a.at).as_secs_f64();
        let d = (b.drover.saturating_sub(a.drover)) as f64 / self.tck;
        let c = (b.cluster.saturating_sub(a.cluster)) as f64 / self.tck;
        Window { wall, drover_cpu: d, cluster_cpu: c }
    }
}

#[derive(Clone, Copy, Default)]
struct Window {
    wall: f64,
    drover_cpu: f64,
    cluster_cpu: f64,
}

impl Window {
    fn drover_cores(&self) -> f64 {
        if self.wall > 0.0 { self.drover_cpu / self.wall } else { 0.0 }
    }
    fn cluster_cores(&self) -> f64 {
        if self.wall > 0.0 { self.cluster_cpu / self.wall } else { 0.0 }
    }
}

/// Processes whose command line or working directory is under `dir`.
fn processes_under(dir: &Path) -> Vec<(u32, String)> {
    let needle = dir.to_string_lossy().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if pid == std::process::id() {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let cwd = std::fs::read_link(entry.path().join("cwd")).map(|p| p.to_string_lossy().to_string()).unwrap_or_default();
        let zombie = std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|s| s.contains(") Z "));
        if (cmdline.contains(&needle) || cwd.starts_with(&needle)) && !zombie {
            found.push((pid, format!("{cmdline} (cwd {cwd})")));
        }
    }
    found
}

fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z ") && !s.contains(") X "))
}

/// Stops everything the bench started, whatever happened: drover (SIGTERM,
/// then SIGKILL), the stand-in (SIGTERM: it kills and reaps its drivers),
/// then SIGKILL for anything still running under the temp dir.
struct Cleanup {
    root: PathBuf,
    drover: Option<u32>,
    cluster: Option<u32>,
}

impl Cleanup {
    fn stop(pid: u32, grace: Duration) {
        signal(pid, "TERM");
        let until = Instant::now() + grace;
        while alive(pid) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(pid) {
            signal(pid, "KILL");
        }
    }

    fn run(&mut self) -> Vec<(u32, String)> {
        if let Some(pid) = self.drover.take() {
            Cleanup::stop(pid, Duration::from_secs(20));
        }
        if let Some(pid) = self.cluster.take() {
            Cleanup::stop(pid, Duration::from_secs(60));
        }
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let left = processes_under(&self.root);
            if left.is_empty() {
                return left;
            }
            if Instant::now() > until {
                for (pid, _) in &left {
                    signal(*pid, "KILL");
                }
                return left;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let left = self.run();
        if !left.is_empty() {
            eprintln!("killed {} processes left behind under {}", left.len(), self.root.display());
        }
    }
}

// ------------------------------------------------------------ processes ---

/// Starts a process, returns it with the URL it prints on its line
/// containing `marker`; the rest of its stdout goes to `on_line`.
async fn spawn_with_url(
    mut cmd: Command,
    marker: &str,
    stderr: &Path,
    on_line: impl Fn(&str) + Send + 'static,
) -> Result<(Child, String)> {
    cmd.stdout(Stdio::piped()).stderr(std::fs::File::create(stderr)?).stdin(Stdio::null()).kill_on_drop(true);
    let mut child = cmd.spawn().context("spawn")?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await? {
            if line.contains(marker) {
                return Ok::<_, anyhow::Error>(line);
            }
            on_line(&line);
        }
        bail!("exited before printing {marker:?}")
    })
    .await
    .context("no URL within 120 s")??;
    tokio::spawn(async move {
        while let Ok(Some(l)) = lines.next_line().await {
            on_line(&l);
        }
    });
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .context("no URL in the line")?
        .to_string();
    Ok((child, url))
}

/// What drover's log says about tracking (the tracker logs each batch poll
/// at debug; everything else at warn and above).
#[derive(Default)]
struct LogCounts {
    batch_polls: AtomicUsize,
    /// When each batch poll's line arrived.
    poll_times: Mutex<Vec<Instant>>,
    warnings: AtomicUsize,
    first_warnings: Mutex<Vec<String>>,
}

/// Task `i`'s end, in ms after the shared end time.
fn end_offset_ms(i: usize, width: usize, spread_ms: u64) -> u64 {
    i as u64 * spread_ms / width.max(1) as u64
}

fn write_dags(dags: &Path, n: usize, shape: &str, spread_ms: u64) -> Result<usize> {
    // One process per driver: the shell execs sleep until the end time (ms
    // precision; 0 when the end has passed).
    script(
        dags,
        "sleeper",
        "#!/bin/sh\nms=$(( $1 * 1000 + $2 - $(date +%s%3N) ))\n[ \"$ms\" -lt 0 ] && ms=0\nexec sleep \"$((ms / 1000)).$(printf %03d $((ms % 1000)))\"\n",
    );
    let width = if shape == "runs" { RUN_WIDTH } else { n };
    let mut text = String::with_capacity(width * 40 + 512);
    text.push_str(&format!(
        "id = \"{DAG_ID}\"\nmax_active_runs = 1000\n\n[params]\nend = {{ default = 0, type = \"integer\" }}\n\n[defaults]\nbackend = \"local\"\ndeploy_mode = \"cluster\"\nretries = 0\n\n"
    ));
    for i in 0..width {
        let off = end_offset_ms(i, width, spread_ms);
        let _ = write!(
            text,
            "[[tasks]]\nid = \"d{i:05}\"\n[tasks.application]\nresource = \"sleeper\"\nmain_class = \"X\"\nargs = [\"{{{{ params.end }}}}\", \"{off}\"]\n"
        );
    }
    write(dags, "track.toml", &text);
    Ok(if shape == "runs" { n.div_ceil(RUN_WIDTH) } else { 1 })
}

/// The stand-in's drivers by state (its master JSON view).
async fn cluster_states(http: &reqwest::Client, cluster: &str) -> Result<(BTreeMap<String, usize>, usize)> {
    let body = http.get(format!("{cluster}/json/")).send().await?.bytes().await?;
    let v: Value = serde_json::from_slice(&body)?;
    let mut by_state = BTreeMap::new();
    for d in v["activedrivers"].as_array().into_iter().flatten() {
        *by_state.entry(d["state"].as_str().unwrap_or("?").to_string()).or_insert(0) += 1;
    }
    Ok((by_state, body.len()))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64, usize) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    (pct(&v, 50.0), pct(&v, 95.0), v.last().copied().unwrap_or(f64::NAN), n)
}

/// One try as drover recorded it.
#[derive(Default, Debug)]
struct TryRecord {
    events: Vec<(String, f64)>,
    final_state: String,
    message: Option<String>,
    task: String,
}

impl TryRecord {
    fn first(&self, state: &str) -> Option<f64> {
        self.events.iter().find(|(s, _)| s == state).map(|(_, t)| *t)
    }
}

async fn read_db(db: &Path) -> Result<BTreeMap<i64, TryRecord>> {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    let opts = SqliteConnectOptions::new().filename(db).read_only(true);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(opts).await?;
    let mut out: BTreeMap<i64, TryRecord> = BTreeMap::new();
    let tries: Vec<(i64, String, Option<String>, String)> = sqlx::query_as(
        "SELECT t.id, t.driver_state, t.message, i.task_id FROM task_tries t JOIN task_instances i ON i.id = t.ti",
    )
    .fetch_all(&pool)
    .await?;
    for (id, state, message, task) in tries {
        let t = out.entry(id).or_default();
        t.final_state = state;
        t.message = message;
        t.task = task;
    }
    // `at` is RFC 3339 text; julianday keeps milliseconds.
    let events: Vec<(i64, String, f64)> =
        sqlx::query_as("SELECT try, state, (julianday(at) - 2440587.5) * 86400.0 FROM driver_events ORDER BY id")
            .fetch_all(&pool)
            .await?;
    for (tr, state, at) in events {
        out.entry(tr).or_default().events.push((state, at));
    }
    pool.close().await;
    Ok(out)
}

// ------------------------------------------------------------------ main ---

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let n: usize = env_or("DROVER_BENCH_DRIVERS", 10_000);
    let shape: String = env_or("DROVER_BENCH_SHAPE", "one".to_string());
    let steady: f64 = env_or("DROVER_BENCH_STEADY", 30.0);
    // 50 ends a second: under the 200 ended drivers a standalone master
    // retains (spark.deploy.retainedDrivers) per 2 s poll; see BENCHMARKS.md.
    let spread: f64 = env_or("DROVER_BENCH_END_SPREAD", n as f64 / 50.0);
    let spread_ms = (spread * 1000.0) as u64;
    let no_batch = std::env::var("DROVER_BENCH_NO_BATCH").is_ok_and(|v| v == "1");
    // The stand-in launches ~60-100 drivers a second on the 2-core machine of
    // BENCHMARKS.md (drover submits ~300 a second); the end must come after
    // every driver runs.
    let submit_estimate = 20.0 + n as f64 / 60.0;
    let end_after: f64 = env_or("DROVER_BENCH_END_AFTER", (submit_estimate + steady).ceil());
    let tck = clock_ticks();

    let root = tempfile::Builder::new().prefix("drover-tracking-").tempdir()?;
    let mut cleanup = Cleanup { root: root.path().to_path_buf(), drover: None, cluster: None };
    let home = root.path().join("home");
    let dags = root.path().join("dags");
    let work = root.path().join("cluster");
    std::fs::create_dir_all(&dags)?;
    let runs_wanted = write_dags(&dags, n, &shape, spread_ms)?;
    let width = if shape == "runs" { RUN_WIDTH } else { n };
    let dag_bytes = std::fs::metadata(dags.join("track.toml"))?.len();
    eprintln!(
        "tracking bench: {n} drivers ({shape}: {runs_wanted} run(s)), end {end_after} s after the trigger (spread over {spread} s), batch {}",
        if no_batch { "off" } else { "on" }
    );

    // The stand-in: room for every driver at once.
    let mut cmd = Command::new(DROVER);
    cmd.args(["devcluster", "--port", "0", "--worker-cores", "20000", "--worker-memory-mb", "40000000", "--work-dir"])
        .arg(&work)
        .env("DROVER_LOG", "warn");
    let (cluster_child, cluster_url) =
        spawn_with_url(cmd, "devcluster listening", &root.path().join("cluster.err"), |_| {}).await?;
    let cluster_pid = cluster_child.id().context("stand-in pid")?;
    cleanup.cluster = Some(cluster_pid);

    // drover, as its own process.
    let mut cmd = Command::new(DROVER);
    cmd.args(["standalone", "--port", "0", "--cluster-url", &cluster_url])
        .arg("--home")
        .arg(&home)
        .arg("--dags")
        .arg(&dags)
        .arg("--plugin-cache")
        .arg(support::drover::plugin_cache())
        .env("DROVER_LOG", "warn,drover_scheduler::tracker=debug")
        .env("DROVER_API_TOKEN", support::drover::TEST_TOKEN);
    if no_batch {
        let host = cluster_url.trim_start_matches("http://");
        let config = write(
            root.path(),
            "drover.toml",
            &format!(
                "[backends.local]\nplugin = \"spark-standalone\"\nmax_calls_per_second = 0\nsettings = {{ master = \"spark://{host}\", rest_url = \"{cluster_url}\" }}\n"
            ),
        );
        cmd.arg("--config").arg(config);
    }
    let logs = Arc::new(LogCounts::default());
    let counts = logs.clone();
    let started = Instant::now();
    let (drover_child, api_url) =
        spawn_with_url(cmd, "drover is running", &root.path().join("drover.err"), move |line| {
            if line.contains("batch status") {
                counts.batch_polls.fetch_add(1, Ordering::Relaxed);
                counts.poll_times.lock().unwrap().push(Instant::now());
            } else if line.contains("WARN") || line.contains("ERROR") {
                counts.warnings.fetch_add(1, Ordering::Relaxed);
                let mut first = counts.first_warnings.lock().unwrap();
                if first.len() < 5 {
                    first.push(line.to_string());
                }
            }
        })
        .await?;
    let drover_pid = drover_child.id().context("drover pid")?;
    cleanup.drover = Some(drover_pid);
    let procs = Procs { drover: drover_pid, cluster: cluster_pid, tck };
    let api = Api::with_token(&api_url, support::drover::TEST_TOKEN);
    let http = api.http.clone();
    // Loading: until the DAG is listed.
    loop {
        if api.get(&format!("/api/v2/dags/{DAG_ID}")).await.is_ok() {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!("the DAG was not loaded within 300 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let load_wall = started.elapsed().as_secs_f64();
    let load_cpu = cpu_ticks(drover_pid).unwrap_or(0) as f64 / tck;
    let idle_rss = vm(drover_pid, "VmRSS:").unwrap_or(f64::NAN);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // ---- submission
    let t0 = Instant::now();
    let t0_epoch = epoch_now();
    let end_epoch = (t0_epoch + end_after).ceil() as i64;
    let end_instant = t0 + Duration::from_secs_f64(end_epoch as f64 - t0_epoch);
    let s_trigger = procs.snap();
    let mut run_ids = Vec::new();
    for _ in 0..runs_wanted {
        run_ids.push(api.trigger(DAG_ID, json!({ "end": end_epoch })).await?);
    }
    let trigger_call = t0.elapsed().as_secs_f64();
    // Peak RSS over the whole bench, sampled every 0.5 s.
    let peak = Arc::new(Mutex::new((0.0f64, 0.0f64, 0u64)));
    {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let (Some(d), Some(c)) = (vm(drover_pid, "VmRSS:"), vm(cluster_pid, "VmRSS:")) {
                    let mut p = peak.lock().unwrap();
                    p.0 = p.0.max(d);
                    p.1 = p.1.max(c);
                    p.2 = p.2.max(threads(drover_pid).unwrap_or(0));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
    let mut timeline = Vec::new();
    let mut json_bytes;
    let all_running_on_cluster = loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (states, bytes) = cluster_states(&http, &cluster_url).await?;
        json_bytes = bytes;
        let running = states.get("RUNNING").copied().unwrap_or(0);
        let w = procs.between(s_trigger, procs.snap());
        timeline.push((t0.elapsed().as_secs_f64(), running, w.drover_cores(), w.cluster_cores()));
        eprintln!(
            "  t+{:5.1}s: stand-in drivers {states:?}; drover {:.2} cores, stand-in {:.2} cores since the trigger",
            t0.elapsed().as_secs_f64(),
            w.drover_cores(),
            w.cluster_cores()
        );
        if running >= n {
            break Some(t0.elapsed().as_secs_f64());
        }
        if Instant::now() + Duration::from_secs(3) >= end_instant {
            eprintln!("  not every driver is running 3 s before the end; set DROVER_BENCH_END_AFTER higher");
            break None;
        }
    };
    let s_all = procs.snap();
    let submission = procs.between(s_trigger, s_all);

    // ---- steady state: nothing but following the drivers (the bench asks
    // nothing of either process here).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s_steady = procs.snap();
    let mut rss = Vec::new();
    let steady_end = end_instant.checked_sub(Duration::from_secs(1)).unwrap_or(end_instant);
    while Instant::now() + Duration::from_secs(1) < steady_end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss.push(vm(drover_pid, "VmRSS:").unwrap_or(f64::NAN));
    }
    let s_steady_end = procs.snap();
    let steady_w = procs.between(s_steady, s_steady_end);
    let steady_polls_before = logs.batch_polls.load(Ordering::Relaxed);
    // The batch poll cadence while nothing changes: a poll is due 2 s (the
    // policy's max interval) after the previous one ended, so the gap beyond
    // 2 s is about how long one poll takes.
    let steady_gaps: Vec<f64> = {
        let times = logs.poll_times.lock().unwrap();
        let inside: Vec<Instant> = times.iter().copied().filter(|t| *t >= s_steady.at && *t <= s_steady_end.at).collect();
        inside.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect()
    };
    let steady_polls = steady_gaps.len() + usize::from(!steady_gaps.is_empty());
    let (gap50, _, gapmax, _) = stats(steady_gaps);
    let steady_rss_max = rss.iter().copied().fold(f64::NAN, f64::max);
    let steady_rss_last = rss.last().copied().unwrap_or(f64::NAN);
    let steady_cluster_rss = vm(cluster_pid, "VmRSS:").unwrap_or(f64::NAN);

    // ---- end: every driver exits at end_epoch.
    tokio::time::sleep_until(end_instant.into()).await;
    let s_end = procs.snap();
    let mut run_states = BTreeMap::new();
    let until = Instant::now() + END_DEADLINE;
    let mut pending: Vec<String> = run_ids.clone();
    while !pending.is_empty() && Instant::now() < until {
        let mut still = Vec::new();
        for r in pending {
            let run = api.get(&Api::run_path(DAG_ID, &r)).await?;
            let st = run["state"].as_str().unwrap_or_default().to_string();
            if st == "success" || st == "failed" {
                run_states.insert(r, (st, end_instant.elapsed().as_secs_f64()));
            } else {
                still.push(r);
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let s_done = procs.snap();
    let end_w = procs.between(s_end, s_done);
    let polls_total = logs.batch_polls.load(Ordering::Relaxed);
    let (peak_drover, peak_cluster, peak_threads) = *peak.lock().unwrap();

    // Stop drover (cleanly, so its database is whole) before reading it.
    if let Some(pid) = cleanup.drover.take() {
        Cleanup::stop(pid, Duration::from_secs(20));
    }
    drop(drover_child);
    let tries = read_db(&home.join("drover.db")).await?;
    let left = cleanup.run();
    drop(cluster_child);

    // ---- figures
    let mut by_final: BTreeMap<String, usize> = BTreeMap::new();
    let mut unknown_events = 0;
    let mut pending_to_running = Vec::new();
    let mut staleness = Vec::new();
    let mut first_pending = f64::INFINITY;
    let mut last_pending = f64::NEG_INFINITY;
    let mut last_submitted = f64::NEG_INFINITY;
    let mut last_running = f64::NEG_INFINITY;
    let mut messages: BTreeMap<String, usize> = BTreeMap::new();
    for t in tries.values() {
        *by_final.entry(t.final_state.clone()).or_default() += 1;
        unknown_events += t.events.iter().filter(|(s, _)| s == "unknown").count();
        if let Some(p) = t.first("pending") {
            first_pending = first_pending.min(p);
            last_pending = last_pending.max(p);
            if let Some(r) = t.first("running") {
                pending_to_running.push((r - p) * 1000.0);
            }
        }
        if let Some(s) = t.first("submitted") {
            last_submitted = last_submitted.max(s);
        }
        if let Some(r) = t.first("running") {
            last_running = last_running.max(r);
        }
        if let Some(s) = t.first("succeeded") {
            let i: usize = t.task.trim_start_matches('d').parse().unwrap_or(0);
            let own_end = end_epoch as f64 + end_offset_ms(i, width, spread_ms) as f64 / 1000.0;
            staleness.push(s - own_end);
        }
        if t.final_state != "succeeded" {
            let m = t.message.clone().unwrap_or_default();
            // One line per kind of message: driver ids and numbers made alike.
            let m: String = m.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).take(120).collect();
            *messages.entry(format!("{}: {m}", t.final_state)).or_default() += 1;
        }
    }
    let (st50, st95, stmax, st_n) = stats(staleness.clone());
    let (pr50, pr95, prmax, _) = stats(pending_to_running);
    let events_total: usize = tries.values().map(|t| t.events.len()).sum();
    let last_success = run_states.values().map(|(_, t)| *t).fold(f64::NAN, f64::max);
    let all_success = run_states.len() == run_ids.len() && run_states.values().all(|(s, _)| s == "success");

    let mut out = String::new();
    let machine = std::process::Command::new("uname").arg("-r").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let _ = writeln!(out, "\n### Tracking: {n} cluster-mode drivers ({})\n", if shape == "runs" { format!("{runs_wanted} runs of a {RUN_WIDTH}-task DAG") } else { format!("one DAG of {n} tasks") });
    let _ = writeln!(out, "Machine: nproc {nproc}, Linux {machine}. Tracking: {}; {} batch `status-many` polls logged ({} before the end).\n",
        if no_batch { "per-driver `status` (master_ui_url unset)" } else if polls_total > 0 { "batch `status-many`" } else { "per-driver fallback (the plugin answered `status-many` unsupported)" },
        polls_total, steady_polls_before);
    let _ = writeln!(out, "| phase | figure |\n|---|---|");
    let _ = writeln!(out, "| load | DAG file {:.2} MB; drover start → DAG listed {load_wall:.2} s, {load_cpu:.2} s CPU; RSS then {idle_rss:.1} MiB |", dag_bytes as f64 / 1e6);
    let _ = writeln!(out, "| trigger | {} POST call(s) took {trigger_call:.2} s |", run_ids.len());
    let _ = writeln!(out, "| submission | all {n} RUNNING on the stand-in: {} after the trigger (2 s polling); drover recorded the last `pending` at +{:.1} s, `submitted` at +{:.1} s, `running` at +{:.1} s |",
        all_running_on_cluster.map_or("never".to_string(), |t| format!("{t:.1} s")),
        last_pending - t0_epoch, last_submitted - t0_epoch, last_running - t0_epoch);
    let _ = writeln!(out, "| submission CPU | drover {:.2} cores ({:.1} s CPU, {:.1} ms per driver), stand-in {:.2} cores over {:.1} s |",
        submission.drover_cores(), submission.drover_cpu, submission.drover_cpu * 1000.0 / n as f64, submission.cluster_cores(), submission.wall);
    let _ = writeln!(out, "| per driver | `pending` → `running` (drover's events) p50 {pr50:.0} ms, p95 {pr95:.0} ms, max {prmax:.0} ms |");
    let _ = writeln!(out, "| steady state | {:.1} s window: drover **{:.3} cores** ({:.2} s CPU), stand-in {:.3} cores; {steady_polls} batch polls in it, {:.0} ms drover CPU per poll, gap between polls p50 {gap50:.2} s, max {gapmax:.2} s |",
        steady_w.wall, steady_w.drover_cores(), steady_w.drover_cpu, steady_w.cluster_cores(), if steady_polls > 0 { steady_w.drover_cpu * 1000.0 / steady_polls as f64 } else { f64::NAN });
    let _ = writeln!(out, "| memory | drover RSS steady {steady_rss_last:.0} MiB (max {steady_rss_max:.0}, peak overall {peak_drover:.0}); stand-in RSS {steady_cluster_rss:.0} MiB (peak {peak_cluster:.0}); drover threads peak {peak_threads}; stand-in `/json/` {:.2} MB |", json_bytes as f64 / 1e6);
    let _ = writeln!(out, "| end | drivers end {}; `succeeded` recorded − the driver's end: p50 **{st50:.2} s**, p95 **{st95:.2} s**, max **{stmax:.2} s** ({st_n} of {n} drivers) |", if spread_ms == 0 { "all at one instant".to_string() } else { format!("spread evenly over {spread} s") });
    let _ = writeln!(out, "| end CPU | drover {:.2} cores, stand-in {:.2} cores over {:.1} s (end → runs over) |", end_w.drover_cores(), end_w.cluster_cores(), end_w.wall);
    let _ = writeln!(out, "| runs | {} of {} over, all success: {all_success}; last over {last_success:.1} s after the end |", run_states.len(), run_ids.len());
    let _ = writeln!(out, "| drivers | final states {by_final:?}; {events_total} driver events, {unknown_events} `unknown` |");
    let _ = writeln!(out, "| cleanup | {} processes left behind |", left.len());
    if !messages.is_empty() {
        let _ = writeln!(out, "\nTries that did not succeed, by message (first 120 characters, digits as #):\n");
        for (m, c) in &messages {
            let _ = writeln!(out, "- {c} × {m}");
        }
    }
    let warnings = logs.warnings.load(Ordering::Relaxed);
    if warnings > 0 {
        let _ = writeln!(out, "\n{warnings} warnings in drover's log; the first:\n");
        for w in logs.first_warnings.lock().unwrap().iter() {
            let _ = writeln!(out, "    {}", w.chars().take(300).collect::<String>());
        }
    }
    let _ = writeln!(out, "\nSubmission timeline (s since trigger, stand-in RUNNING, drover cores, stand-in cores, cumulative):\n");
    for (t, r, d, c) in &timeline {
        let _ = writeln!(out, "    {t:6.1}  {r:6}  {d:.2}  {c:.2}");
    }
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    let _ = writeln!(out, "\nTargets: staleness max < {TARGET_STALENESS_S} s: {} ({stmax:.2} s); drover < {TARGET_CORES} core in steady state: {} ({:.3}); while submitting: {:.2}; at the end: {:.2}.",
        met(st_n == n && stmax < TARGET_STALENESS_S), met(steady_w.drover_cores() < TARGET_CORES), steady_w.drover_cores(), submission.drover_cores(), end_w.drover_cores());
    println!("{out}");
    if !left.is_empty() {
        bail!("{} processes were left behind: {:?}", left.len(), &left[..left.len().min(5)]);
    }
    if std::env::var("DROVER_BENCH_KEEP").is_ok_and(|v| v == "1") {
        eprintln!("kept {}", root.keep().display());
    }
    Ok(())
}
