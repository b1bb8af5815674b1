//! A whole drover (stand-in cluster, scheduler, API) in the test process.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

pub use drover::standalone::Running;

/// Where compiled plugins are shared between tests (compiling once per run).
pub fn plugin_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")
}

/// The repository's dags/ folder.
pub fn repo_dags() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dags")
}

/// How the tests serve: `home`, `dags`, free port on 127.0.0.1, the shared
/// plugin cache, public reads.
pub fn serve_args(home: &Path, dags: &Path) -> drover::serve::ServeArgs {
    drover::serve::ServeArgs {
        home: home.to_path_buf(),
        dags: dags.to_path_buf(),
        port: 0,
        host: "127.0.0.1".parse().unwrap(),
        plugin_cache: Some(plugin_cache()),
        cluster_grace: std::time::Duration::from_secs(300),
        kill_confirm_timeout: std::time::Duration::from_secs(120),
        scheduler_health_threshold: std::time::Duration::from_secs(30),
        log_archive_max_bytes: drover_scheduler::DEFAULT_LOG_ARCHIVE_MAX_BYTES,
        api_token_file: None,
        read_access: drover_api::ReadAccess::Public,
        allowed_hosts: Vec::new(),
        database_url: None,
        lease_ttl: std::time::Duration::from_secs(6),
        advertise_url: None,
    }
}

/// How the tests start a whole drover: serving as `serve` says, its own
/// stand-in cluster on a free port, client-mode drivers through the
/// spark-submit shim, no config file.
pub fn options(serve: drover::serve::ServeArgs) -> drover::standalone::Options {
    drover::standalone::Options {
        serve,
        config: None,
        cluster_port: 0,
        cluster_url: None,
        spark_submit: Some(env!("CARGO_BIN_EXE_drover-spark-submit").to_string()),
    }
}

/// Starts drover on `dags` with a fresh home in `home`, on free ports, with an
/// optional config file (extra backends).
pub async fn start(home: &Path, dags: &Path, config: Option<PathBuf>) -> anyhow::Result<Running> {
    drover::standalone::start(drover::standalone::Options { config, ..options(serve_args(home, dags)) }).await
}

/// How long the helpers here wait for drover or a driver, as the tests do.
const DEADLINE: Duration = Duration::from_secs(120);

/// drover with its stand-in cluster on `port` (a config file that names the
/// stand-in's address needs it before drover starts).
pub async fn start_on_port(home: &Path, dags: &Path, config: PathBuf, port: u16) -> Running {
    let options = drover::standalone::Options { config: Some(config), cluster_port: port, ..options(serve_args(home, dags)) };
    drover::standalone::start(options).await.expect("drover starts")
}

/// A port free a moment ago on 127.0.0.1, for a server that must be named
/// before it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The embedded backends of a running drover, built again from the same
/// settings (`backend_configs`) so a test can call a plugin directly.
pub async fn stand_in_backends(d: &Running) -> drover_plugin_host::BackendSet {
    let stand_in = drover::config::StandIn {
        rest_url: d.cluster.rest_url(),
        master_url: d.cluster.master_url(),
        spark_submit: "spark-submit".into(),
        s3: d.cluster.own_s3_url(),
    };
    let host = drover::config::plugin_host(Some(&plugin_cache())).unwrap();
    drover::config::backends(&host, &drover::config::backend_configs(&stand_in, None)).await.unwrap()
}

/// Rewinds the record of every open try to the instant after its intent was
/// committed and before the cluster's answer was: as if drover had been
/// killed there. `home` holds drover's home as `drover/`.
pub async fn rewind_to_mid_submission(home: &Path) {
    let db = home.join("drover/drover.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    sqlx::query("UPDATE task_tries SET cluster_id = NULL, driver_state = 'pending', raw_state = NULL WHERE state = 'running'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// The API token the tests give drover processes they start themselves
/// (through DROVER_API_TOKEN).
pub const TEST_TOKEN: &str = "drover-test-token-0123456789abcdef";

/// A small HTTP client for the API, with the waiting the tests need. Its
/// `http` client sends the API token, when it has one.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(running: &Running) -> Api {
        Api::with_token(&running.api_url(), running.api_token())
    }

    /// Without a token: reads only.
    pub fn for_url(base: &str) -> Api {
        Api { base: base.to_string(), http: reqwest::Client::new() }
    }

    pub fn with_token(base: &str, token: &str) -> Api {
        let mut headers = reqwest::header::HeaderMap::new();
        let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("token fits a header");
        headers.insert(reqwest::header::AUTHORIZATION, value);
        let http = reqwest::Client::builder().default_headers(headers).build().expect("HTTP client");
        Api { base: base.to_string(), http }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        let status = r.status();
        let body: Value = r.json().await.context("response is not JSON")?;
        if !status.is_success() {
            bail!("GET {path}: {status}: {body}");
        }
        Ok(body)
    }

    /// Triggers a run with `conf`; returns its run id.
    pub async fn trigger(&self, dag_id: &str, conf: Value) -> anyhow::Result<String> {
        let r = self
            .http
            .post(format!("{}/api/v2/dags/{dag_id}/dagRuns", self.base))
            .json(&serde_json::json!({ "conf": conf, "logical_date": null }))
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        if !status.is_success() {
            bail!("trigger {dag_id}: {status}: {body}");
        }
        Ok(body["dag_run_id"].as_str().context("no dag_run_id")?.to_string())
    }

    pub fn run_path(dag_id: &str, run_id: &str) -> String {
        format!("/api/v2/dags/{dag_id}/dagRuns/{}", encode(run_id))
    }

    /// Waits (event-paced polling with a generous deadline) until the run
    /// ends; returns its final state.
    pub async fn wait_run(&self, dag_id: &str, run_id: &str, deadline: Duration) -> anyhow::Result<String> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let run = self.get(&Self::run_path(dag_id, run_id)).await?;
            let state = run["state"].as_str().unwrap_or_default().to_string();
            if state == "success" || state == "failed" {
                return Ok(state);
            }
            if tokio::time::Instant::now() > until {
                bail!("run {run_id} of {dag_id} still {state} after {deadline:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Task id -> task instance JSON, every task of the run, page by page
    /// (the API gives at most 100 at a time).
    pub async fn task_instances(&self, dag_id: &str, run_id: &str) -> anyhow::Result<std::collections::BTreeMap<String, Value>> {
        let mut out = std::collections::BTreeMap::new();
        loop {
            let body = self
                .get(&format!("{}/taskInstances?limit=100&offset={}", Self::run_path(dag_id, run_id), out.len()))
                .await?;
            let page = body["task_instances"].as_array().context("no task_instances")?;
            for t in page {
                out.insert(t["task_id"].as_str().unwrap_or_default().to_string(), t.clone());
            }
            let total = body["total_entries"].as_u64().context("no total_entries")? as usize;
            if page.is_empty() || out.len() >= total {
                return Ok(out);
            }
        }
    }

    /// Every try of a task, oldest first, each with its driver and history.
    pub async fn tries(&self, dag_id: &str, run_id: &str, task_id: &str) -> anyhow::Result<Vec<Value>> {
        let body = self
            .get(&format!("{}/taskInstances/{task_id}/tries", Self::run_path(dag_id, run_id)))
            .await?;
        Ok(body["task_instances"].as_array().context("no tries")?.clone())
    }

    /// The driver record of a task's only try (there must be one try).
    pub async fn only_driver(&self, dag_id: &str, run_id: &str, task_id: &str) -> Value {
        let tries = self.tries(dag_id, run_id, task_id).await.unwrap();
        assert_eq!(tries.len(), 1, "{dag_id}: one try: {tries:#?}");
        tries[0]["driver"].clone()
    }

    /// Waits until the task's driver is `state`; its task instance.
    pub async fn wait_driver(&self, dag_id: &str, run_id: &str, task_id: &str, state: &str) -> Value {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let tis = self.task_instances(dag_id, run_id).await.unwrap();
            if tis[task_id]["driver"]["state"] == state {
                return tis[task_id].clone();
            }
            assert!(tokio::time::Instant::now() < until, "{task_id} never reached {state}: {:#}", tis[task_id]);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the task's first try's driver is running and its
    /// application has written its pid to `pid_file`; the pid.
    pub async fn running_pid(&self, dag_id: &str, run_id: &str, task_id: &str, pid_file: &Path) -> u32 {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let tries = self.tries(dag_id, run_id, task_id).await.unwrap();
            let running = tries.first().is_some_and(|t| t["driver"]["state"] == "running");
            if running && let Ok(pid) = std::fs::read_to_string(pid_file) && let Ok(pid) = pid.trim().parse() {
                return pid;
            }
            assert!(tokio::time::Instant::now() < until, "{dag_id} never ran: {tries:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Asks drover to kill the task (`POST .../taskInstances/{task}/kill`);
    /// the answer, for the caller to judge.
    pub async fn kill(&self, dag_id: &str, run_id: &str, task_id: &str) -> reqwest::Response {
        self.http
            .post(format!("{}{}/taskInstances/{task_id}/kill", self.base, Self::run_path(dag_id, run_id)))
            .send()
            .await
            .unwrap()
    }

    pub async fn log(&self, dag_id: &str, run_id: &str, task_id: &str, try_number: i64) -> anyhow::Result<String> {
        let body = self
            .get(&format!("{}/taskInstances/{task_id}/logs/{try_number}", Self::run_path(dag_id, run_id)))
            .await?;
        let lines = body["content"].as_array().context("no log content")?;
        Ok(lines.iter().filter_map(Value::as_str).collect())
    }
}

/// Sends a request; its status and its body (JSON, else the text as a string).
pub async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Writes a DAG file (and returns its path).
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

/// Writes an executable script.
pub fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = write(dir, name, text);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

/// What the stand-in's Spark standalone REST API says of driver `id`
/// (`GET /v1/submissions/status/{id}`), asked directly.
pub async fn standalone_status(cluster: &drover_devcluster::DevCluster, id: &str) -> Value {
    reqwest::get(format!("{}/v1/submissions/status/{id}", cluster.rest_url())).await.unwrap().json().await.unwrap()
}

/// A stand-in cluster that lives apart from any drover, so drover can stop
/// and start again while drivers keep running on it.
pub async fn cluster(home: &Path) -> drover_devcluster::DevCluster {
    drover_devcluster::DevCluster::start(drover_devcluster::DevClusterConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        work_dir: home.join("cluster"),
        ..drover_devcluster::DevClusterConfig::default()
    })
    .await
    .expect("stand-in starts")
}

/// drover (scheduler and API, no stand-in of its own) with its home under
/// `home`, on the built-in backends pointed at `cluster`.
pub async fn serve_on(cluster: &drover_devcluster::DevCluster, home: &Path, dags: &Path) -> drover::serve::Server {
    let args = serve_args(&home.join("drover"), dags);
    let stand_in = drover::config::StandIn {
        rest_url: cluster.rest_url(),
        master_url: cluster.master_url(),
        spark_submit: env!("CARGO_BIN_EXE_drover-spark-submit").to_string(),
        s3: cluster.own_s3_url(),
    };
    let backends = drover::config::backend_configs(&stand_in, None);
    drover::serve::start(&args, drover::serve::prepare_home(&args).unwrap(), &backends).await.expect("drover starts")
}
