//! Failover time: the active scheduler is killed (SIGKILL) in the middle of
//! a chain of short cluster-mode tasks, and the standby on the same
//! PostgreSQL database takes over; measured from the kill to the standby's
//! first submission (seen on its own proxy in front of the stand-in
//! cluster), with the default lease time to live unless DROVER_BENCH_TTL
//! says otherwise. `cargo bench -p drover-e2e --bench failover`.

#[path = "../support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio::process::Command;

use drover_store::pg_server::PgServer;
use support::child::{DROVER, Instance, kill9, spawn_with_url};
use support::drover::{script, write};
use support::measure::percentile;
use support::proxy::{Proxy, SUBMITS};

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("DROVER_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(5).max(1);
    let ttl = std::env::var("DROVER_BENCH_TTL").unwrap_or_else(|_| "6s".into());
    let pg = PgServer::start(true)?;
    let tmp = tempfile::tempdir()?;
    let dags = tmp.path().join("dags");
    std::fs::create_dir_all(&dags)?;
    script(&dags, "work", "#!/bin/sh\nsleep 0.2\n");
    let mut text = String::from("id = \"failover\"\n");
    for i in 0..400 {
        let deps = if i == 0 { String::new() } else { format!("depends_on = [\"t{}\"]\n", i - 1) };
        text.push_str(&format!(
            "[[tasks]]\nid = \"t{i}\"\nbackend = \"local\"\n{deps}[tasks.application]\nresource = \"work\"\nmain_class = \"W\"\ndeploy_mode = \"cluster\"\n"
        ));
    }
    write(&dags, "failover.toml", &text);
    let mut cmd = Command::new(DROVER);
    cmd.args(["devcluster", "--port", "0", "--work-dir"]).arg(tmp.path().join("cluster")).env("DROVER_LOG", "warn");
    let (mut cluster, cluster_url) = spawn_with_url(cmd, "devcluster listening").await?;
    let target = cluster_url.trim_start_matches("http://").trim_end_matches('/').parse()?;

    let mut times = Vec::new();
    for round in 0..rounds {
        let db = pg.create_database().await?;
        let (pa, pb) = (Proxy::start(target).await, Proxy::start(target).await);
        let mut a = Instance::spawn(tmp.path(), &format!("a{round}"), &dags, &db, &pa.url(), &ttl)?;
        let api = a.active().await?;
        let mut b = Instance::spawn(tmp.path(), &format!("b{round}"), &dags, &db, &pb.url(), &ttl)?;
        api.trigger("failover", json!({})).await?;
        // Mid-chain: a few submissions have gone out.
        let submits = |p: &Proxy| p.seen().iter().filter(|r| SUBMITS.iter().any(|s| r.is(s.2, s.3))).count();
        let until = Instant::now() + Duration::from_secs(120);
        while submits(&pa) < 5 {
            anyhow::ensure!(Instant::now() < until, "the chain did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let killed = Instant::now();
        kill9(&mut a.child).await?;
        let until = Instant::now() + Duration::from_secs(120);
        while submits(&pb) == 0 {
            anyhow::ensure!(Instant::now() < until, "the standby never submitted");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = killed.elapsed();
        eprintln!("bench: round {round}: {took:?}");
        times.push(took.as_secs_f64() * 1000.0);
        b.signal("-TERM")?;
        tokio::time::timeout(Duration::from_secs(60), b.child.wait()).await.context("standby did not stop")??;
    }
    if let Some(pid) = cluster.id() {
        std::process::Command::new("kill").arg(pid.to_string()).status()?;
    }
    cluster.wait().await?;
    times.sort_by(f64::total_cmp);
    println!("| lease TTL | rounds | kill -> standby's first submission p50 | max |");
    println!("|---|---:|---:|---:|");
    println!(
        "| {ttl} | {rounds} | {:.2} s | {:.2} s |",
        percentile(&times, 50.0) / 1000.0,
        times.last().copied().unwrap_or_default() / 1000.0
    );
    Ok(())
}
