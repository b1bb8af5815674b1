//! A harness for a REAL Spark standalone cluster (master + one worker) started
//! from the PyPI `pyspark` package and the machine's Java 17.
//!
//! CI (`bash .ci/run`) installs `pyspark==4.3.0` into a venv and exports
//! `DROVER_SPARK_VENV`; locally the same default location is used, so running
//! `bash .ci/run` once is enough. Tests that need Spark must FAIL (not skip)
//! when it is missing: [`spark_home`] returns an error saying how to fix it.
//!
//! ```ignore
//! let home = support::spark::spark_home()?;
//! let cluster = support::spark::SparkCluster::start(&home).await?;
//! let jar = support::spark::build_java_app(&home, tmp.path())?; // main class `DroverTestApp`
//! // POST {cluster.rest_url}/v1/submissions/create ...
//! cluster.stop().await;
//! ```
//!
//! Facts (Spark 4.3.0, checked on this machine):
//! - with the default worker (2 cores, 2g) run ONE cluster-mode driver at a
//!   time: a driver takes 1 core/1g and its executor 1 core/1g. Two concurrent
//!   drivers both go RUNNING and take all cores, so neither app gets an
//!   executor (apps stay WAITING) and a job that needs one hangs. Use
//!   [`SparkCluster::start_with_worker`] for a bigger (logical) worker;
//! - driver output is at `{work_dir}/{driver_id}/stdout|stderr` and over HTTP at
//!   `{worker_ui_url}/log/?driverId={id}&logType=stdout` (the body starts with a
//!   header line `==== Bytes a-b of n of /path ====\n`; see [`strip_log_header`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tokio::process::{Child, Command};

/// Env var naming the venv that has `pyspark` installed.
pub const SPARK_VENV_ENV: &str = "DROVER_SPARK_VENV";
/// The pyspark version `.ci/run` installs.
pub const PYSPARK_VERSION: &str = "4.3.0";
/// Main class of the Java test app built by [`build_java_app`].
pub const JAVA_APP_MAIN_CLASS: &str = "DroverTestApp";
/// How long [`SparkCluster::start`] waits for the master and the worker.
pub const START_DEADLINE: Duration = Duration::from_secs(120);
/// Grace between SIGTERM and SIGKILL when stopping the daemons.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// A Spark installation: the pyspark package directory and its venv's python.
#[derive(Debug, Clone)]
pub struct SparkHome {
    /// The pyspark package dir: `bin/spark-submit`, `bin/spark-class`, `jars/`.
    pub home: PathBuf,
    /// The venv's python, which can `import pyspark`.
    pub python: PathBuf,
}

impl SparkHome {
    pub fn spark_submit(&self) -> PathBuf {
        self.home.join("bin").join("spark-submit")
    }

    pub fn spark_class(&self) -> PathBuf {
        self.home.join("bin").join("spark-class")
    }

    pub fn jars_dir(&self) -> PathBuf {
        self.home.join("jars")
    }

    /// Environment for any Spark process a test runs (daemons, `spark-submit`
    /// in client mode, the python driver): binds to 127.0.0.1, uses this
    /// SPARK_HOME and the venv's python for both driver and workers.
    pub fn env(&self) -> Vec<(String, String)> {
        let py = self.python.display().to_string();
        vec![
            ("SPARK_HOME".into(), self.home.display().to_string()),
            ("SPARK_LOCAL_IP".into(), "127.0.0.1".into()),
            ("PYSPARK_PYTHON".into(), py.clone()),
            ("PYSPARK_DRIVER_PYTHON".into(), py),
        ]
    }

    /// A `spark-submit` command with [`SparkHome::env`] applied, stdin closed.
    pub fn spark_submit_command(&self) -> Command {
        let mut cmd = Command::new(self.spark_submit());
        cmd.envs(self.env()).stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }
}

/// Finds pyspark: the venv in `$DROVER_SPARK_VENV`, else the default CI
/// location `${DROVER_CI_CACHE:-$HOME/.cache/drover-ci}/venv`.
pub fn spark_home() -> Result<SparkHome> {
    let (venv, source) = match std::env::var_os(SPARK_VENV_ENV) {
        Some(v) if !v.is_empty() => (PathBuf::from(v), format!("${SPARK_VENV_ENV}")),
        _ => (default_venv(), "the default CI location".to_string()),
    };
    let hint = format!(
        "run `bash .ci/run` once (it installs pyspark=={PYSPARK_VERSION} into \
         ${{DROVER_CI_CACHE:-$HOME/.cache/drover-ci}}/venv), or set {SPARK_VENV_ENV} \
         to a venv with `pip install pyspark=={PYSPARK_VERSION}`; Java 17 (javac, jar) is needed too"
    );
    let python = venv.join("bin").join("python");
    if !python.exists() {
        bail!(
            "real Spark tests need pyspark, but no venv python at {} ({source}): {hint}",
            python.display()
        );
    }
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            "import os, pyspark; print(os.path.dirname(pyspark.__file__)); print(pyspark.__version__)",
        ])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "pyspark is not importable by {} ({source}): {}\n{hint}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let home = PathBuf::from(lines.next().unwrap_or_default().trim());
    let version = lines.next().unwrap_or_default().trim().to_string();
    for need in ["bin/spark-submit", "bin/spark-class", "jars"] {
        if !home.join(need).exists() {
            bail!(
                "pyspark {version} at {} has no {need} ({source}): {hint}",
                home.display()
            );
        }
    }
    if version != PYSPARK_VERSION {
        eprintln!(
            "warning: pyspark {version} found at {}, tests expect {PYSPARK_VERSION}",
            home.display()
        );
    }
    Ok(SparkHome { home, python })
}

pub fn default_venv() -> PathBuf {
    let cache = match std::env::var_os("DROVER_CI_CACHE") {
        Some(c) if !c.is_empty() => PathBuf::from(c),
        _ => {
            let home =
                std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
            home.join(".cache").join("drover-ci")
        }
    };
    cache.join("venv")
}

/// A running standalone master + one worker (2 cores, 2g), all on 127.0.0.1.
pub struct SparkCluster {
    /// `spark://127.0.0.1:P` (RPC; does NOT speak REST).
    pub master_url: String,
    /// `http://127.0.0.1:R`, the REST submission server (`/v1/submissions/...`).
    pub rest_url: String,
    /// `http://127.0.0.1:U`, the master web UI (`/json/`).
    pub master_ui_url: String,
    /// `http://127.0.0.1:W`, the worker web UI (`/log/?driverId=...`).
    pub worker_ui_url: String,
    /// The worker's work dir: `{work_dir}/{driver_id}/stdout|stderr`.
    pub work_dir: PathBuf,
    /// Master daemon output.
    pub master_log: PathBuf,
    /// Worker daemon output.
    pub worker_log: PathBuf,
    /// How long the master took to answer readyz, and the worker to register.
    pub master_ready_after: Duration,
    pub worker_registered_after: Duration,
    home: SparkHome,
    master: Option<Child>,
    worker: Option<Child>,
    // Last field: dropped after the daemons are killed in `Drop`.
    dir: Option<tempfile::TempDir>,
}

impl SparkCluster {
    /// Starts the master (REST on its own port) and one worker (2 cores, 2g),
    /// all bound to 127.0.0.1, and waits until
    /// `GET {rest}/v1/submissions/readyz` succeeds and `/json/` shows one alive
    /// worker. Fails with the daemons' log tails when that does not happen
    /// within [`START_DEADLINE`].
    pub async fn start(home: &SparkHome) -> Result<SparkCluster> {
        Self::start_with_worker(home, 2, "2g").await
    }

    /// Like [`SparkCluster::start`] with a worker of `cores` (logical: any
    /// number works) and `memory` (e.g. "4g").
    pub async fn start_with_worker(
        home: &SparkHome,
        cores: u32,
        memory: &str,
    ) -> Result<SparkCluster> {
        let dir = tempfile::Builder::new()
            .prefix("drover-spark-")
            .tempdir()
            .context("creating the Spark cluster temp dir")?;
        let root = dir.path().to_path_buf();
        let conf_dir = root.join("conf");
        let work_dir = root.join("work");
        let local_dir = root.join("local");
        for d in [&conf_dir, &work_dir, &local_dir] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let [port, rest_port, ui_port, worker_ui_port] = free_ports::<4>()?;
        let master_url = format!("spark://127.0.0.1:{port}");
        let rest_url = format!("http://127.0.0.1:{rest_port}");
        let master_ui_url = format!("http://127.0.0.1:{ui_port}");
        let worker_ui_url = format!("http://127.0.0.1:{worker_ui_port}");

        // Not spark-defaults.conf: only the master must get these.
        let props = root.join("master.properties");
        std::fs::write(
            &props,
            format!(
                "spark.master.rest.enabled true\n\
                 spark.master.rest.host 127.0.0.1\n\
                 spark.master.rest.port {rest_port}\n"
            ),
        )
        .context("writing the master properties file")?;
        let master_log = root.join("master.log");
        let worker_log = root.join("worker.log");

        let mut cluster = SparkCluster {
            master_url: master_url.clone(),
            rest_url: rest_url.clone(),
            master_ui_url: master_ui_url.clone(),
            worker_ui_url,
            work_dir: work_dir.clone(),
            master_log: master_log.clone(),
            worker_log: worker_log.clone(),
            master_ready_after: Duration::ZERO,
            worker_registered_after: Duration::ZERO,
            home: home.clone(),
            master: None,
            worker: None,
            dir: Some(dir),
        };

        let started = Instant::now();
        let deadline = started + START_DEADLINE;
        let master = cluster
            .daemon(&master_log, &conf_dir, &local_dir)?
            .args([
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--webui-port",
                &ui_port.to_string(),
                "--properties-file",
            ])
            .arg(&props)
            .spawn()
            .with_context(|| format!("spawning {}", home.spark_class().display()))?;
        cluster.master = Some(master);

        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        let readyz = format!("{rest_url}/v1/submissions/readyz");
        loop {
            if let Ok(resp) = http.get(&readyz).send().await
                && resp.status().is_success()
            {
                break;
            }
            cluster
                .check_alive_or_fail(deadline, "the master's REST readyz")
                .await?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        cluster.master_ready_after = started.elapsed();

        let worker = cluster
            .daemon(&worker_log, &conf_dir, &local_dir)?
            .args([
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                "127.0.0.1",
                "--webui-port",
                &worker_ui_port.to_string(),
                "--cores",
                &cores.to_string(),
                "--memory",
                memory,
                "--work-dir",
            ])
            .arg(&work_dir)
            .arg(&master_url)
            .spawn()
            .with_context(|| format!("spawning {}", home.spark_class().display()))?;
        cluster.worker = Some(worker);

        let json = format!("{master_ui_url}/json/");
        loop {
            if let Ok(resp) = http.get(&json).send().await
                && resp.status().is_success()
                && let Ok(v) = resp.json::<serde_json::Value>().await
                && v.get("aliveworkers").and_then(serde_json::Value::as_u64) == Some(1)
            {
                break;
            }
            cluster
                .check_alive_or_fail(
                    deadline,
                    "the worker to register (master /json/ aliveworkers 1)",
                )
                .await?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        cluster.worker_registered_after = started.elapsed();
        // The worker UI is up before it registers, but make sure.
        let worker_ui = cluster.worker_ui_url.clone();
        loop {
            if http.get(&worker_ui).send().await.is_ok() {
                break;
            }
            cluster
                .check_alive_or_fail(deadline, "the worker web UI")
                .await?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(cluster)
    }

    fn daemon(&self, log: &Path, conf_dir: &Path, local_dir: &Path) -> Result<Command> {
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(self.home.spark_class());
        cmd.envs(self.home.env())
            .env("SPARK_CONF_DIR", conf_dir)
            .env("SPARK_LOCAL_DIRS", local_dir)
            .env("SPARK_LOG_DIR", self.root())
            .env("SPARK_PID_DIR", self.root())
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            // Own process group: stop/Drop can then also reap the drivers and
            // executors the worker forked, even if the worker dies first.
            .process_group(0)
            .kill_on_drop(true);
        Ok(cmd)
    }

    fn root(&self) -> PathBuf {
        self.dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default()
    }

    async fn check_alive_or_fail(&mut self, deadline: Instant, waiting_for: &str) -> Result<()> {
        let mut dead = Vec::new();
        for (name, child) in [("master", &mut self.master), ("worker", &mut self.worker)] {
            if let Some(c) = child
                && let Ok(Some(status)) = c.try_wait()
            {
                dead.push(format!("the {name} exited early ({status})"));
            }
        }
        if dead.is_empty() && Instant::now() < deadline {
            return Ok(());
        }
        let why = if dead.is_empty() {
            format!(
                "timed out after {:?} waiting for {waiting_for}",
                START_DEADLINE
            )
        } else {
            format!("{} while waiting for {waiting_for}", dead.join(", "))
        };
        let err = anyhow!(
            "starting the Spark cluster failed: {why}\n{}",
            self.logs_tail(60)
        );
        self.shutdown().await;
        Err(err)
    }

    /// The last `lines` lines of the master and worker logs, for error messages.
    pub fn logs_tail(&self, lines: usize) -> String {
        format!(
            "--- master log ({}) ---\n{}\n--- worker log ({}) ---\n{}",
            self.master_log.display(),
            tail(&self.master_log, lines),
            self.worker_log.display(),
            tail(&self.worker_log, lines)
        )
    }

    /// A driver's output file in the worker's work dir (`stdout` or `stderr`).
    pub fn driver_log_path(&self, driver_id: &str, kind: &str) -> PathBuf {
        self.work_dir.join(driver_id).join(kind)
    }

    /// Reads a driver's output file from the work dir ("" if not there yet).
    pub fn driver_log(&self, driver_id: &str, kind: &str) -> String {
        std::fs::read_to_string(self.driver_log_path(driver_id, kind)).unwrap_or_default()
    }

    /// `GET {master_ui}/json/`: the master's state (workers, drivers, apps).
    pub async fn master_json(&self) -> Result<serde_json::Value> {
        let url = format!("{}/json/", self.master_ui_url);
        let resp = reqwest::get(&url)
            .await
            .with_context(|| format!("GET {url}"))?;
        resp.error_for_status()?
            .json()
            .await
            .with_context(|| format!("GET {url}"))
    }

    /// PIDs of every live process in the daemons' process groups (master,
    /// worker, and the drivers/executors the worker forked).
    pub fn process_ids(&self) -> Vec<u32> {
        let groups: Vec<u32> = [&self.master, &self.worker]
            .into_iter()
            .flatten()
            .filter_map(Child::id)
            .collect();
        pids_in_groups(&groups)
    }

    /// Stops the worker then the master (SIGTERM, SIGKILL after
    /// [`STOP_GRACE`]), waits for them, then kills anything left in their
    /// process groups (drivers, executors).
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        for child in [self.worker.take(), self.master.take()]
            .into_iter()
            .flatten()
        {
            stop_child(child).await;
        }
    }
}

impl Drop for SparkCluster {
    fn drop(&mut self) {
        // Best effort, synchronous: SIGTERM the worker (it kills its drivers),
        // wait a little, then SIGKILL both process groups.
        let children: Vec<Child> = [self.worker.take(), self.master.take()]
            .into_iter()
            .flatten()
            .collect();
        for mut child in children {
            let Some(pid) = child.id() else { continue };
            signal(&pid.to_string(), "TERM");
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            signal(&format!("-{pid}"), "KILL");
            let _ = child.start_kill();
            let _ = child.try_wait();
        }
        // Set DROVER_KEEP_SPARK_DIR=1 to keep the logs and work dir for debugging.
        if std::env::var_os("DROVER_KEEP_SPARK_DIR").is_some()
            && let Some(dir) = self.dir.take()
        {
            let kept = dir.keep();
            eprintln!("kept Spark cluster dir {}", kept.display());
        }
    }
}

async fn stop_child(mut child: Child) {
    let Some(pid) = child.id() else {
        let _ = child.wait().await;
        return;
    };
    signal(&pid.to_string(), "TERM");
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    // Whatever the daemon forked and left behind (the group id is its pid).
    signal(&format!("-{pid}"), "KILL");
}

/// `kill -s SIG -- TARGET` (TARGET `-PGID` for a group); errors ignored.
fn signal(target: &str, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args(["-s", sig, "--", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn pids_in_groups(groups: &[u32]) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ... ; comm may contain spaces/parens.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.first() == Some(&"Z") {
            continue;
        }
        if let Some(pgrp) = f.get(2).and_then(|s| s.parse::<u32>().ok())
            && groups.contains(&pgrp)
        {
            pids.push(pid);
        }
    }
    pids
}

/// Picks `N` distinct free ports by binding 127.0.0.1:0 (all held at once).
pub fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("binding 127.0.0.1:0 to pick a free port")?;
    let mut ports = [0u16; N];
    for (p, l) in ports.iter_mut().zip(&listeners) {
        *p = l.local_addr()?.port();
    }
    Ok(ports)
}

/// The last `lines` lines of a file (reads at most the last 64 KiB).
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("<cannot open {}>", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    let _ = f.seek(SeekFrom::Start(start));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Strips the worker UI's `/log/` header: the body starts with
/// `==== Bytes a-b of n of /path/stdout ====` and a newline.
pub fn strip_log_header(body: &str) -> &str {
    if body.starts_with("==== Bytes ")
        && let Some(nl) = body.find('\n')
    {
        return &body[nl + 1..];
    }
    body
}

/// Directory with the test apps (`tests/apps`).
pub fn apps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("apps")
}

/// `tests/apps/pyspark_count.py`.
pub fn pyspark_count_app() -> PathBuf {
    apps_dir().join("pyspark_count.py")
}

/// Compiles `tests/apps/java/DroverTestApp.java` against `home/jars/*` and
/// packages it as `out_dir/app.jar` (main class [`JAVA_APP_MAIN_CLASS`]).
pub fn build_java_app(home: &SparkHome, out_dir: &Path) -> Result<PathBuf> {
    let src = apps_dir().join("java").join("DroverTestApp.java");
    let classes = out_dir.join("classes");
    std::fs::create_dir_all(&classes).with_context(|| format!("creating {}", classes.display()))?;
    let classpath = format!("{}/*", home.jars_dir().display());
    run_tool(
        std::process::Command::new("javac")
            .args(["--release", "17", "-nowarn", "-cp", &classpath, "-d"])
            .arg(&classes)
            .arg(&src),
        "javac",
    )?;
    let jar = out_dir.join("app.jar");
    run_tool(
        std::process::Command::new("jar")
            .arg("cf")
            .arg(&jar)
            .arg("-C")
            .arg(&classes)
            .arg("."),
        "jar",
    )?;
    Ok(jar)
}

fn run_tool(cmd: &mut std::process::Command, name: &str) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {name} (a JDK 17 with javac and jar is needed)"))?;
    if !out.status.success() {
        bail!(
            "{name} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A `CreateSubmissionRequest` body for the Java test app in cluster mode.
pub fn create_submission_request(
    cluster: &SparkCluster,
    jar: &Path,
    app_name: &str,
    app_args: &[&str],
) -> serde_json::Value {
    let jar_url = format!("file:{}", jar.display());
    let mut props: HashMap<&str, String> = HashMap::new();
    props.insert("spark.app.name", app_name.to_string());
    props.insert("spark.master", cluster.master_url.clone());
    props.insert("spark.submit.deployMode", "cluster".into());
    props.insert("spark.jars", jar_url.clone());
    props.insert("spark.driver.supervise", "false".into());
    serde_json::json!({
        "action": "CreateSubmissionRequest",
        "clientSparkVersion": PYSPARK_VERSION,
        "appResource": jar_url,
        "mainClass": JAVA_APP_MAIN_CLASS,
        "appArgs": app_args,
        "sparkProperties": props,
        "environmentVariables": { "SPARK_LOCAL_IP": "127.0.0.1" },
    })
}
