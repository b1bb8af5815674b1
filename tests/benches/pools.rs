//! Scheduling cost with pools: 2,000 ready tasks in a pool of 20, each an
//! application that exits at once, against the same 2,000 in a pool
//! without a limit.
//!
//! Reports the gap between a slot freeing (the loop committing a try's end)
//! and the next try being committed (`pending`) and submitted to the cluster
//! (`submitted`), p50 and p95, and this process's CPU per task (drover, the
//! in-process stand-in cluster and the bench; the drivers are children and
//! counted apart). See BENCHMARKS.md.
//!
//! `cargo bench -p drover-e2e --bench pools`; `DROVER_BENCH_TASKS=N` changes
//! the task count (default 2000).

#[path = "../support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use drover_store::{DriverState, Store};
use support::measure::{cpu_ms, percentile};
use support::drover::{Api, Running, script, start, write};

const SLOTS: usize = 20;
/// The target, slot freed -> next driver submitted.
const TARGET_GAP_P50_MS: f64 = 5.0;

fn dag_toml(dag_id: &str, pool: &str, app: &std::path::Path, tasks: usize) -> String {
    let mut s = format!("id = \"{dag_id}\"\n[defaults]\nbackend = \"local\"\nretries = 0\npool = \"{pool}\"\n");
    for i in 0..tasks {
        writeln!(s, "[[tasks]]\nid = \"t{i:04}\"\n[tasks.application]\nresource = \"{}\"\nmain_class = \"Bench\"\ndeploy_mode = \"cluster\"", app.display()).unwrap();
    }
    s
}



/// Each try's (committed, submitted, ended) in microseconds since the epoch.
async fn tries(store: &Store, dag_id: &str, run_id: &str) -> anyhow::Result<Vec<(i64, i64, i64)>> {
    let run = store.get_run(dag_id, run_id).await?.context("no run")?;
    let mut out = Vec::new();
    for ti in store.task_instances(run.id).await? {
        for t in store.tries(ti.id).await? {
            let events = store.driver_events(t.id).await?;
            let at = |s: DriverState| events.iter().find(|e| e.state == s).map(|e| e.at.timestamp_micros());
            let ended = t.ended_at.context("try not ended")?.timestamp_micros();
            out.push((t.started_at.timestamp_micros(), at(DriverState::Submitted).unwrap_or(ended), ended));
        }
    }
    Ok(out)
}

struct Result_ {
    wall: Duration,
    cpu_per_task: f64,
    child_cpu_per_task: f64,
    /// Slot freed -> next try committed, and -> next driver submitted (ms).
    to_pending: Vec<f64>,
    to_submitted: Vec<f64>,
}

async fn run(d: &Running, api: &Api, dag_id: &str, tasks: usize, slots: Option<usize>) -> anyhow::Result<Result_> {
    let (cpu0, child0) = cpu_ms()?;
    let t0 = Instant::now();
    let run_id = api.trigger(dag_id, serde_json::json!({})).await?;
    let state = api.wait_run(dag_id, &run_id, Duration::from_secs(1800)).await?;
    let wall = t0.elapsed();
    let (cpu1, child1) = cpu_ms()?;
    if state != "success" {
        bail!("{dag_id}: run {run_id} ended {state}");
    }
    let mut t = tries(d.scheduler.store(), dag_id, &run_id).await?;
    let (mut to_pending, mut to_submitted) = (Vec::new(), Vec::new());
    if let Some(slots) = slots {
        // Each end frees one slot, taken by one start: pair the k-th end
        // with the (slots + k)-th start.
        let mut ends: Vec<i64> = t.iter().map(|x| x.2).collect();
        ends.sort();
        t.sort_by_key(|x| x.0);
        for (end, next) in ends.iter().zip(t.iter().skip(slots)) {
            to_pending.push((next.0 - end) as f64 / 1000.0);
            to_submitted.push((next.1 - end) as f64 / 1000.0);
        }
    }
    Ok(Result_ {
        wall,
        cpu_per_task: (cpu1 - cpu0) / tasks as f64,
        child_cpu_per_task: (child1 - child0) / tasks as f64,
        to_pending,
        to_submitted,
    })
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let tasks: usize = std::env::var("DROVER_BENCH_TASKS").ok().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let tmp = tempfile::tempdir()?;
    let dags = tmp.path().join("dags");
    std::fs::create_dir_all(&dags)?;
    let app = script(tmp.path(), "exit0", "#!/bin/sh\nexit 0\n");
    write(&dags, "bench_pool.toml", &dag_toml("bench_pool", "bench20", &app, tasks));
    write(&dags, "bench_unlimited.toml", &dag_toml("bench_unlimited", "unlimited", &app, tasks));
    write(&dags, "bench_warmup.toml", &dag_toml("bench_warmup", "bench20", &app, 2));
    let config = write(tmp.path(), "drover.toml", &format!("[pools.bench20]\nslots = {SLOTS}\n[pools.unlimited]\nslots = -1\n"));
    let d = start(&tmp.path().join("home"), &dags, Some(config)).await?;
    let api = Api::new(&d);
    let n = api.get("/api/v2/dags").await?["dags"].as_array().map_or(0, Vec::len);
    if n != 3 {
        bail!("expected 3 DAGs, drover loaded {n}: {}", api.get("/api/v2/importErrors").await.unwrap_or_default());
    }
    run(&d, &api, "bench_warmup", 2, None).await?;
    let pooled = run(&d, &api, "bench_pool", tasks, Some(SLOTS)).await?;
    let free = run(&d, &api, "bench_unlimited", tasks, None).await?;

    println!("\n## {tasks} ready tasks, cluster mode, exit at once\n");
    println!("| | pool of {SLOTS} | pool without a limit |\n|---|---:|---:|");
    println!("| run wall time | {:.1} s | {:.1} s |", pooled.wall.as_secs_f64(), free.wall.as_secs_f64());
    println!("| drover CPU / task (bench process) | {:.2} ms | {:.2} ms |", pooled.cpu_per_task, free.cpu_per_task);
    println!("| drivers' CPU / task (children) | {:.2} ms | {:.2} ms |", pooled.child_cpu_per_task, free.child_cpu_per_task);
    println!(
        "| slot freed -> next try committed, p50 / p95 | {:.2} / {:.2} ms | - |",
        percentile(&pooled.to_pending, 50.0),
        percentile(&pooled.to_pending, 95.0)
    );
    println!(
        "| slot freed -> next driver submitted, p50 / p95 | {:.2} / {:.2} ms | - |",
        percentile(&pooled.to_submitted, 50.0),
        percentile(&pooled.to_submitted, 95.0)
    );
    let p50 = percentile(&pooled.to_submitted, 50.0);
    println!(
        "\ntarget: slot freed -> next driver submitted p50 under {TARGET_GAP_P50_MS} ms: {}; CPU per task no more than without pools: {}",
        if p50 < TARGET_GAP_P50_MS { "met" } else { "MISSED" },
        if pooled.cpu_per_task <= free.cpu_per_task { "met" } else { "MISSED" }
    );
    d.shutdown().await;
    Ok(())
}
