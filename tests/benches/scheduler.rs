//! Scheduler overhead: how long drover itself takes to move a DAG along when
//! the applications cost nothing.
//!
//! Runs a whole drover in this process (stand-in Spark standalone cluster, the
//! real WASM plugin, the scheduler, the HTTP API) on DAGs whose every task is a
//! shell script that exits at once, so what is left is drover's own cost:
//! store commits, plugin calls, status polling and the loop's hand-offs.
//!
//! Shapes: a chain of 50 (cluster mode, and client mode through the local
//! spark-submit shim), 200 independent tasks, and 1 -> 100 -> 1. For each it
//! reports trigger-to-done wall time (median of the repeats), the gap between a
//! task's driver succeeding and its downstream's try being committed (p50,
//! p95), and where a task's own time goes. Then the process's idle and peak RSS,
//! and the idle RSS of the release `drover standalone` binary when one is built.
//!
//! `cargo bench -p drover-e2e --bench scheduler`; `DROVER_BENCH_RUNS=N` sets
//! the repeats per shape (default 3). See BENCHMARKS.md for the figures.

#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::broadcast::error::RecvError;

use drover_scheduler::Change;
use drover_store::{DriverState, Store};
use support::measure::{cpu_ms, percentile};
use support::drover::{Api, Running, script, write};

/// Targets from the issue this slice answers.
const TARGET_CHAIN: Duration = Duration::from_secs(5);
const TARGET_GAP_P50_MS: f64 = 20.0;
const TARGET_IDLE_RSS_MB: f64 = 60.0;

/// One DAG shape: its tasks in file order, each with its upstream.
struct Shape {
    dag_id: &'static str,
    label: &'static str,
    deploy_mode: &'static str,
    tasks: Vec<(String, Vec<String>)>,
}

fn task(i: usize) -> String {
    format!("t{i:03}")
}

fn chain(n: usize) -> Vec<(String, Vec<String>)> {
    (0..n).map(|i| (task(i), if i == 0 { vec![] } else { vec![task(i - 1)] })).collect()
}

fn independent(n: usize) -> Vec<(String, Vec<String>)> {
    (0..n).map(|i| (task(i), vec![])).collect()
}

fn fan_out_in(width: usize) -> Vec<(String, Vec<String>)> {
    let mut tasks = vec![("head".to_string(), vec![])];
    tasks.extend((0..width).map(|i| (task(i), vec!["head".to_string()])));
    tasks.push(("tail".to_string(), (0..width).map(task).collect()));
    tasks
}

fn shapes() -> Vec<Shape> {
    vec![
        Shape { dag_id: "bench_chain50", label: "chain of 50, cluster mode", deploy_mode: "cluster", tasks: chain(50) },
        Shape {
            dag_id: "bench_chain50_client",
            label: "chain of 50, client mode",
            deploy_mode: "client",
            tasks: chain(50),
        },
        Shape {
            dag_id: "bench_independent200",
            label: "200 independent, cluster mode",
            deploy_mode: "cluster",
            tasks: independent(200),
        },
        Shape {
            dag_id: "bench_fan100",
            label: "1 -> 100 -> 1, cluster mode",
            deploy_mode: "cluster",
            tasks: fan_out_in(100),
        },
    ]
}

fn dag_toml(dag_id: &str, deploy_mode: &str, app: &Path, tasks: &[(String, Vec<String>)]) -> String {
    let mut s = String::new();
    writeln!(s, "id = \"{dag_id}\"").unwrap();
    writeln!(s, "\n[defaults]\nbackend = \"local\"\ndeploy_mode = \"{deploy_mode}\"\nretries = 0\ntimeout = \"5m\"").unwrap();
    for (id, deps) in tasks {
        writeln!(s, "\n[[tasks]]\nid = \"{id}\"").unwrap();
        if !deps.is_empty() {
            let list: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
            writeln!(s, "depends_on = [{}]", list.join(", ")).unwrap();
        }
        // Cluster mode wants a main class for anything but a .py resource;
        // the stand-in runs the executable itself either way.
        writeln!(s, "[tasks.application]\nresource = \"{}\"\nmain_class = \"Bench\"", app.display()).unwrap();
    }
    s
}

/// What one task's only try went through, from the store, in microseconds
/// since the epoch (the store's own clock, so differences are exact).
struct TaskTimes {
    pending: i64,
    /// First state after `pending`: `submitted` (cluster) or `running` (client).
    launched: i64,
    succeeded: i64,
    /// When the loop committed the try's end (`finish_try`).
    ended: i64,
}

struct RunTimes {
    wall: Duration,
    tasks: BTreeMap<String, TaskTimes>,
}

#[derive(Default)]
struct ShapeResult {
    walls: Vec<Duration>,
    /// v.pending - u.succeeded over every edge u -> v.
    gap_edges: Vec<f64>,
    /// v.pending - max(u.succeeded): readiness latency, without waiting on siblings.
    gap_ready: Vec<f64>,
    /// u.ended - u.succeeded: driver task -> loop committing the end.
    gap_to_loop: Vec<f64>,
    /// pending -> submitted/running: the plugin's submit (or the spawn).
    launch: Vec<f64>,
    /// submitted/running -> succeeded: status polling (or the process's life).
    track: Vec<f64>,
    /// trigger answered -> first task pending, and last pending - first pending.
    dispatch_spread: Vec<f64>,
    peak_rss_mb: Option<f64>,
    /// CPU of this process (all threads) and of its reaped children (the
    /// drivers, spark-submit), per task, in ms.
    cpu_per_task: f64,
    child_cpu_per_task: f64,
    /// This process's CPU over the shape's wall time: 2.0 is both cores busy.
    cores_busy: f64,
}

fn ms(micros: i64) -> f64 {
    micros as f64 / 1000.0
}


fn median_duration(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

/// (VmRSS, VmHWM) in MiB of a process.
fn rss_mb(pid: &str) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kb: f64 = line.split_whitespace().nth(1).context("bad line")?.parse()?;
        Ok(kb / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}


/// Resets this process's peak RSS (VmHWM), so each shape gets its own peak.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Triggers one run and waits for its end through the scheduler's change feed
/// (no polling load on the store while it runs); then reads its timeline back.
async fn run_once(d: &Running, api: &Api, shape: &Shape) -> anyhow::Result<RunTimes> {
    let mut changes = d.scheduler.subscribe();
    let t0 = Instant::now();
    let run_id = api.trigger(shape.dag_id, serde_json::json!({})).await?;
    let store = d.scheduler.store();
    let deadline = Instant::now() + Duration::from_secs(300);
    let state = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, changes.recv()).await {
            Err(_) => bail!("{} run {run_id} did not end within 300 s", shape.dag_id),
            Ok(Ok(Change::Run { run_id: r, state, .. })) if r == run_id && (state == "success" || state == "failed") => {
                break state;
            }
            Ok(Ok(_)) => {}
            Ok(Err(RecvError::Lagged(_))) => {
                // Missed some changes: ask the store instead.
                let row = store.get_run(shape.dag_id, &run_id).await?.context("run vanished")?;
                if row.state.is_terminal() {
                    break row.state.to_string();
                }
            }
            Ok(Err(RecvError::Closed)) => bail!("scheduler stopped"),
        }
    };
    let wall = t0.elapsed();
    if state != "success" {
        bail!("{} run {run_id} ended {state}", shape.dag_id);
    }
    Ok(RunTimes { wall, tasks: timeline(store, shape.dag_id, &run_id).await? })
}

async fn timeline(store: &Store, dag_id: &str, run_id: &str) -> anyhow::Result<BTreeMap<String, TaskTimes>> {
    let run = store.get_run(dag_id, run_id).await?.context("no run")?;
    let mut out = BTreeMap::new();
    for ti in store.task_instances(run.id).await? {
        let tries = store.tries(ti.id).await?;
        let [t] = tries.as_slice() else { bail!("task {} has {} tries, expected 1", ti.task_id, tries.len()) };
        let events = store.driver_events(t.id).await?;
        let at = |want: &dyn Fn(DriverState) -> bool| events.iter().find(|e| want(e.state)).map(|e| e.at.timestamp_micros());
        let pending = at(&|s| s == DriverState::Pending).context("no pending event")?;
        out.insert(
            ti.task_id.clone(),
            TaskTimes {
                pending,
                launched: at(&|s| s != DriverState::Pending).context("no launch event")?,
                succeeded: at(&|s| s == DriverState::Succeeded).context("no succeeded event")?,
                ended: t.ended_at.context("try not ended")?.timestamp_micros(),
            },
        );
    }
    Ok(out)
}

async fn measure(d: &Running, api: &Api, shape: &Shape, repeats: usize) -> anyhow::Result<ShapeResult> {
    let mut r = ShapeResult::default();
    let peak_resettable = reset_peak_rss();
    let (cpu0, child0) = cpu_ms()?;
    for _ in 0..repeats {
        let run = run_once(d, api, shape).await?;
        r.walls.push(run.wall);
        for (id, deps) in &shape.tasks {
            let v = &run.tasks[id];
            for u in deps {
                r.gap_edges.push(ms(v.pending - run.tasks[u].succeeded));
            }
            if let Some(last) = deps.iter().map(|u| run.tasks[u].succeeded).max() {
                r.gap_ready.push(ms(v.pending - last));
            }
        }
        for t in run.tasks.values() {
            r.gap_to_loop.push(ms(t.ended - t.succeeded));
            r.launch.push(ms(t.launched - t.pending));
            r.track.push(ms(t.succeeded - t.launched));
        }
        let first = run.tasks.values().map(|t| t.pending).min().expect("tasks");
        let last = run.tasks.values().map(|t| t.pending).max().expect("tasks");
        r.dispatch_spread.push(ms(last - first));
    }
    let (cpu1, child1) = cpu_ms()?;
    let tasks = (shape.tasks.len() * repeats) as f64;
    r.cpu_per_task = (cpu1 - cpu0) / tasks;
    r.child_cpu_per_task = (child1 - child0) / tasks;
    r.cores_busy = (cpu1 - cpu0) / 1000.0 / r.walls.iter().map(Duration::as_secs_f64).sum::<f64>();
    if peak_resettable {
        r.peak_rss_mb = Some(rss_mb("self")?.1);
    }
    Ok(r)
}

/// Idle RSS of the release binary, as a user would start it. `None` when no
/// release build exists.
async fn standalone_idle_rss(home: &Path) -> anyhow::Result<Option<Vec<(String, f64)>>> {
    let exe = std::env::current_exe()?;
    // target/release/deps/scheduler-<hash> -> target/release/drover
    let Some(bin) = exe.parent().and_then(Path::parent).map(|p| p.join("drover")) else { return Ok(None) };
    if !bin.exists() {
        return Ok(None);
    }
    let dags = support::drover::repo_dags();
    let mut out = Vec::new();
    // First start compiles the plugin into the home's cache; the second finds it there.
    for label in ["first start (compiles the plugin)", "restart (plugin cached)"] {
        let mut child = tokio::process::Command::new(&bin)
            .args(["standalone", "--port", "0", "--home"])
            .arg(home)
            .arg("--dags")
            .arg(&dags)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid = child.id().context("no pid")?.to_string();
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let url = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(at) = line.find("http://") {
                    let url = line[at..].split_whitespace().next().unwrap_or_default();
                    return anyhow::Ok(url.to_string());
                }
            }
            bail!("drover exited before printing its URL")
        })
        .await
        .context("drover did not start within 120 s")??;
        let dags_answer = reqwest::get(format!("{url}/api/v2/dags")).await?;
        if !dags_answer.status().is_success() {
            bail!("GET /api/v2/dags: {}", dags_answer.status());
        }
        // Let start-up garbage settle the way an idle server would.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (rss, _) = rss_mb(&pid)?;
        out.push((label.to_string(), rss));
        let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
            child.start_kill()?;
            child.wait().await?;
        }
    }
    Ok(Some(out))
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let repeats: usize = std::env::var("DROVER_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(3).max(1);
    let tmp = tempfile::tempdir()?;
    let dags = tmp.path().join("dags");
    std::fs::create_dir_all(&dags)?;
    let app = script(tmp.path(), "exit0", "#!/bin/sh\nexit 0\n");
    let shapes = shapes();
    for s in &shapes {
        write(&dags, &format!("{}.toml", s.dag_id), &dag_toml(s.dag_id, s.deploy_mode, &app, &s.tasks));
    }
    let warm_tasks = chain(2);
    write(&dags, "bench_warmup.toml", &dag_toml("bench_warmup", "cluster", &app, &warm_tasks));
    write(&dags, "bench_warmup_client.toml", &dag_toml("bench_warmup_client", "client", &app, &warm_tasks));

    // DROVER_BENCH_STORE=postgres: the same shapes on a private PostgreSQL
    // server (fsync on, like a production one) instead of SQLite.
    let pg = match std::env::var("DROVER_BENCH_STORE").as_deref() {
        Ok("postgres") => Some(drover_store::pg_server::PgServer::start(true)?),
        _ => None,
    };
    let database_url = match &pg {
        Some(pg) => Some(pg.create_database().await?),
        None => None,
    };
    eprintln!("bench: store {}", if pg.is_some() { "PostgreSQL" } else { "SQLite" });
    let serve = drover::serve::ServeArgs { database_url, ..support::drover::serve_args(&tmp.path().join("home"), &dags) };
    let d = drover::standalone::start(support::drover::options(serve)).await?;
    let api = Api::new(&d);
    let listed = api.get("/api/v2/dags").await?;
    let n = listed["dags"].as_array().map_or(0, Vec::len);
    if n != shapes.len() + 2 {
        let errors = api.get("/api/v2/importErrors").await.unwrap_or_default();
        bail!("expected {} DAGs, drover loaded {n}: {errors}", shapes.len() + 2);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle_rss, _) = rss_mb("self")?;

    // One small run per mode first: the first plugin instantiation and the
    // first spark-submit exec are start-up costs, not per-task ones.
    for dag_id in ["bench_warmup", "bench_warmup_client"] {
        let warm = Shape { dag_id, label: "", deploy_mode: "", tasks: warm_tasks.clone() };
        run_once(&d, &api, &warm).await?;
    }

    let mut results = Vec::new();
    for s in &shapes {
        eprintln!("bench: {} x{repeats} ...", s.label);
        results.push(measure(&d, &api, s, repeats).await?);
    }
    let (_, peak_rss) = rss_mb("self")?;
    d.shutdown().await;

    let binary = standalone_idle_rss(&tmp.path().join("standalone-home")).await?;

    print_report(&shapes, &results, repeats, idle_rss, peak_rss, binary.as_deref());
    Ok(())
}

fn print_report(
    shapes: &[Shape],
    results: &[ShapeResult],
    repeats: usize,
    idle_rss: f64,
    peak_rss: f64,
    binary: Option<&[(String, f64)]>,
) {
    let f = |x: f64| if x.is_nan() { "—".to_string() } else { format!("{x:.1}") };
    println!("\n## drover scheduler bench ({repeats} runs per shape; times in ms unless marked)\n");
    println!("| shape | tasks | edges | trigger→done (median; min–max) | edge gap p50 | p95 | max | ready gap p50 | p95 | peak RSS MiB |");
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    for (s, r) in shapes.iter().zip(results) {
        let edges: usize = s.tasks.iter().map(|(_, d)| d.len()).sum();
        let min = r.walls.iter().min().expect("runs");
        let max = r.walls.iter().max().expect("runs");
        println!(
            "| {} | {} | {} | {:.2} s ({:.2}–{:.2}) | {} | {} | {} | {} | {} | {} |",
            s.label,
            s.tasks.len(),
            edges,
            median_duration(&r.walls).as_secs_f64(),
            min.as_secs_f64(),
            max.as_secs_f64(),
            f(percentile(&r.gap_edges, 50.0)),
            f(percentile(&r.gap_edges, 95.0)),
            f(percentile(&r.gap_edges, 100.0)),
            f(percentile(&r.gap_ready, 50.0)),
            f(percentile(&r.gap_ready, 95.0)),
            r.peak_rss_mb.map_or("—".into(), f),
        );
    }
    println!("\n### Where a task's time goes (p50 / p95, ms)\n");
    println!("| shape | pending→launched (submit / spawn) | launched→succeeded (polling / process) | succeeded→loop commits end | first→last pending | drover CPU / task | children CPU / task | cores busy |");
    println!("|---|---|---|---|---:|---:|---:|---:|");
    for (s, r) in shapes.iter().zip(results) {
        let pair = |v: &[f64]| format!("{} / {}", f(percentile(v, 50.0)), f(percentile(v, 95.0)));
        println!(
            "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.2} |",
            s.label,
            pair(&r.launch),
            pair(&r.track),
            pair(&r.gap_to_loop),
            f(percentile(&r.dispatch_spread, 50.0)),
            r.cpu_per_task,
            r.child_cpu_per_task,
            r.cores_busy,
        );
    }
    println!("\n### Memory (MiB)\n");
    println!("| what | RSS |\n|---|---:|");
    println!("| bench process, idle (drover started, DAGs loaded, before any trigger) | {idle_rss:.1} |");
    println!("| bench process, peak (VmHWM at the end) | {peak_rss:.1} |");
    match binary {
        Some(rows) => {
            for (label, rss) in rows {
                println!("| release `drover standalone`, idle, {label} | {rss:.1} |");
            }
        }
        None => println!("| release `drover standalone` | not measured: run `cargo build --release -p drover` first |"),
    }

    let chain = median_duration(&results[0].walls);
    let gap = percentile(&results[0].gap_edges, 50.0);
    let binary_idle = binary.and_then(|rows| rows.last()).map(|(_, r)| *r);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!("\n### Targets\n");
    println!("| target | measured | |\n|---|---|---|");
    println!(
        "| chain of 50 < {} s | {:.2} s | {} |",
        TARGET_CHAIN.as_secs(),
        chain.as_secs_f64(),
        verdict(chain < TARGET_CHAIN)
    );
    println!("| per-edge gap p50 < {TARGET_GAP_P50_MS} ms (chain, cluster) | {gap:.1} ms | {} |", verdict(gap < TARGET_GAP_P50_MS));
    let idle = binary_idle.unwrap_or(idle_rss);
    let which = if binary_idle.is_some() { "release binary, restart" } else { "bench process" };
    println!("| idle RSS < {TARGET_IDLE_RSS_MB} MB ({which}) | {idle:.1} MiB | {} |", verdict(idle < TARGET_IDLE_RSS_MB));
}
