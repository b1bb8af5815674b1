//! drover as a child process (the binary `drover-cli-under-test`), for tests
//! that kill it with SIGKILL and start it again on the same home.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::drover::{Api, TEST_TOKEN};

pub const DROVER: &str = env!("CARGO_BIN_EXE_drover-cli-under-test");

/// Starts a process and returns it with the URL it prints on its first line
/// containing `marker`.
pub async fn spawn_with_url(mut cmd: Command, marker: &str) -> Result<(Child, String)> {
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

/// `drover standalone` on `home` and `dags`, using the stand-in cluster (or
/// a proxy in front of it) at `cluster`, with `extra` arguments.
pub async fn start_drover(home: &Path, dags: &Path, cluster: &str, extra: &[&str]) -> Result<(Child, Api)> {
    let mut cmd = Command::new(DROVER);
    cmd.args(["standalone", "--port", "0", "--cluster-url", cluster])
        .arg("--home")
        .arg(home)
        .arg("--dags")
        .arg(dags)
        .arg("--plugin-cache")
        .arg(super::drover::plugin_cache())
        .args(extra)
        .env("DROVER_LOG", "warn")
        .env("DROVER_API_TOKEN", super::drover::TEST_TOKEN);
    let (child, url) = spawn_with_url(cmd, "drover is running").await?;
    Ok((child, Api::with_token(&url, super::drover::TEST_TOKEN)))
}

/// SIGKILL, and wait until the process is gone.
pub async fn kill9(child: &mut Child) -> Result<()> {
    child.start_kill()?;
    child.wait().await?;
    Ok(())
}

/// A small deterministic generator: the seed is printed, so a failing run
/// can be replayed with DROVER_CHAOS_SEED.
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from DROVER_CHAOS_SEED, else the clock; says which.
    pub fn seeded() -> Rng {
        let seed = std::env::var("DROVER_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
        println!("chaos seed: {seed} (replay with DROVER_CHAOS_SEED={seed})");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

/// Processes whose command line mentions `dir` (zombies aside).
pub fn processes_under(dir: &Path) -> Vec<(u32, String)> {
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

/// Waits until no process mentions `dir`.
pub async fn none_left_under(dir: &Path) {
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = processes_under(dir);
        if left.is_empty() {
            return;
        }
        assert!(tokio::time::Instant::now() < until, "processes left behind: {left:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One of several drovers on one PostgreSQL database, as a child process;
/// `url` is set once it holds the scheduler lease and serves.
pub struct Instance {
    pub child: Child,
    pub url: tokio::sync::watch::Receiver<Option<String>>,
    /// Where it serves the API while it stands by.
    pub standby: tokio::sync::watch::Receiver<Option<String>>,
}

impl Instance {
    /// `drover standalone` on its own home, on the shared database and the
    /// shared stand-in cluster. It may stand by for a long time: this does
    /// not wait for it to serve.
    pub fn spawn(root: &Path, name: &str, dags: &Path, db: &str, cluster: &str, ttl: &str) -> Result<Instance> {
        let mut cmd = Command::new(DROVER);
        cmd.args(["standalone", "--port", "0", "--cluster-url", cluster, "--database-url", db, "--lease-ttl", ttl])
            .arg("--home")
            .arg(root.join(name))
            .arg("--dags")
            .arg(dags)
            .arg("--plugin-cache")
            .arg(super::drover::plugin_cache())
            .env("DROVER_LOG", "warn")
            .env("DROVER_API_TOKEN", TEST_TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("spawn drover")?;
        let (tx, url) = tokio::sync::watch::channel(None);
        let (standby_tx, standby) = tokio::sync::watch::channel(None);
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let url = line.split_whitespace().find(|w| w.starts_with("http://")).map(|u| u.trim_end_matches(':').to_string());
                if line.contains("drover is running") {
                    let _ = tx.send(url);
                } else if line.contains("drover is standing by") {
                    let _ = standby_tx.send(url);
                }
            }
        });
        Ok(Instance { child, url, standby })
    }

    /// Waits until it serves (it holds the lease); its API.
    pub async fn active(&mut self) -> Result<Api> {
        let url = tokio::time::timeout(Duration::from_secs(180), self.url.wait_for(Option::is_some))
            .await
            .context("the drover never became the active scheduler")??
            .clone()
            .unwrap_or_default();
        Ok(Api::with_token(&url, TEST_TOKEN))
    }

    /// Waits until it serves the API, standing by or scheduling; its API.
    pub async fn serving(&mut self) -> Result<Api> {
        let until = tokio::time::Instant::now() + Duration::from_secs(180);
        loop {
            if let Some(url) = self.url.borrow().clone().or_else(|| self.standby.borrow().clone()) {
                return Ok(Api::with_token(&url, TEST_TOKEN));
            }
            tokio::select! {
                _ = tokio::time::sleep_until(until) => anyhow::bail!("the drover never served"),
                _ = self.url.changed() => {}
                _ = self.standby.changed() => {}
            }
        }
    }

    pub fn signal(&self, signal: &str) -> Result<()> {
        let pid = self.child.id().context("exited")?;
        anyhow::ensure!(std::process::Command::new("kill").args([signal, &pid.to_string()]).status()?.success());
        Ok(())
    }
}
