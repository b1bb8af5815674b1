//! Memory under event-stream churn: rounds of N connections to
//! `GET /api/v2/events`, all open at once, then all closed; drover's RSS
//! after each round.
//!
//! drover (`drover standalone`, the binary under test) runs as a child
//! process, so its RSS and open descriptors are its own, read from /proc.
//! A round opens N TCP connections, sends each the request and waits for the
//! `200` and the event-stream headers on every one (so every connection has
//! its broadcast receiver), then closes them all and waits until drover's
//! descriptor count is back to where it was before the round (every
//! connection, and with it its stream, dropped). Then it reads `VmRSS` and
//! `VmHWM`, and checks that drover still answers.
//!
//! `cargo bench -p drover-e2e --bench sse_memory`. Knobs (environment):
//!
//! - `DROVER_BENCH_CONNECTIONS` (1000): connections per round;
//! - `DROVER_BENCH_ROUNDS` (8);
//! - `DROVER_BENCH_MALLOC_ARENA_MAX` (unset): passed to drover as glibc's
//!   `MALLOC_ARENA_MAX`, to tell allocator arenas from a leak.
//!
//! See BENCHMARKS.md for the figures.

#[path = "../support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn proc_status_kb(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

fn open_fds(pid: u32) -> Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// One event-stream connection, past its response headers.
async fn open_stream(addr: &str) -> Result<TcpStream> {
    let mut s = TcpStream::connect(addr).await?;
    let request = format!(
        "GET /api/v2/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer {}\r\n\r\n",
        support::drover::TEST_TOKEN
    );
    s.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            bail!("closed before the headers: {}", String::from_utf8_lossy(&head));
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") || !head.contains("text/event-stream") {
        bail!("not an event stream: {head}");
    }
    Ok(s)
}

async fn wait_fds(pid: u32, at_most: usize, deadline: Duration) -> Result<Duration> {
    let start = Instant::now();
    loop {
        if open_fds(pid)? <= at_most {
            return Ok(start.elapsed());
        }
        if start.elapsed() > deadline {
            bail!("drover still has {} descriptors open (want <= {at_most}) after {deadline:?}", open_fds(pid)?);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let connections = knob("DROVER_BENCH_CONNECTIONS", 1000);
    let rounds = knob("DROVER_BENCH_ROUNDS", 8);
    let arena_max = std::env::var("DROVER_BENCH_MALLOC_ARENA_MAX").ok();
    let tmp = tempfile::tempdir()?;
    let dags = tmp.path().join("dags");
    std::fs::create_dir(&dags)?;
    support::drover::write(
        &dags,
        "idle.toml",
        "id = \"idle\"\n[[tasks]]\nid = \"t\"\nbackend = \"local\"\n[tasks.application]\nresource = \"t.sh\"\nmain_class = \"T\"\n",
    );
    let mut cmd = Command::new(support::child::DROVER);
    cmd.args(["standalone", "--port", "0", "--home"])
        .arg(tmp.path().join("home"))
        .arg("--dags")
        .arg(&dags)
        .arg("--plugin-cache")
        .arg(support::drover::plugin_cache())
        .env("DROVER_LOG", "warn")
        .env("DROVER_API_TOKEN", support::drover::TEST_TOKEN);
    if let Some(n) = &arena_max {
        cmd.env("MALLOC_ARENA_MAX", n);
    }
    let (mut child, url) = support::child::spawn_with_url(cmd, "drover is running").await?;
    let pid = child.id().context("pid")?;
    let api = support::drover::Api::with_token(&url, support::drover::TEST_TOKEN);
    api.get("/api/v2/dags").await?;
    let addr = url.trim_start_matches("http://").trim_end_matches('/').split('/').next().unwrap().to_string();
    let fds_idle = open_fds(pid)?;
    println!(
        "drover pid {pid}, {connections} connections x {rounds} rounds, MALLOC_ARENA_MAX={}",
        arena_max.as_deref().unwrap_or("(glibc default)")
    );
    println!("\n| round | RSS after (MB) | peak RSS (MB) | fds while open | all closed after (ms) |");
    println!("|---|---|---|---|---|");
    println!(
        "| before | {:.1} | {:.1} | {fds_idle} | |",
        proc_status_kb(pid, "VmRSS:")? as f64 / 1024.0,
        proc_status_kb(pid, "VmHWM:")? as f64 / 1024.0
    );
    for round in 1..=rounds {
        let mut opening = tokio::task::JoinSet::new();
        for _ in 0..connections {
            let addr = addr.clone();
            opening.spawn(async move { open_stream(&addr).await });
        }
        let mut open = Vec::with_capacity(connections);
        while let Some(s) = opening.join_next().await {
            open.push(s??);
        }
        let fds_open = open_fds(pid)?;
        drop(open);
        let closed_after = wait_fds(pid, fds_idle, Duration::from_secs(120)).await?;
        api.get("/api/v2/dags").await.context("drover stopped answering")?;
        println!(
            "| {round} | {:.1} | {:.1} | {fds_open} | {} |",
            proc_status_kb(pid, "VmRSS:")? as f64 / 1024.0,
            proc_status_kb(pid, "VmHWM:")? as f64 / 1024.0,
            closed_after.as_millis()
        );
    }
    child.start_kill()?;
    child.wait().await?;
    Ok(())
}
