//! A local stand-in cluster that drover embeds for the quickstart and for tests.
//!
//! drover's plugins must speak each cluster manager's real wire protocol, so that
//! pointing one at a real cluster needs no change. The stand-ins here therefore
//! emulate the real servers where a client would notice (paths, JSON field names
//! and order, status codes, state progressions, log page format), while running
//! every driver as a plain local process so that no Spark, JVM cluster or cloud
//! account is needed.
//!
//! Why it is shaped so:
//! - [`process`] is the one place that turns an application resource into a
//!   command line (`python3`, `java -cp`, or exec) and owns process hygiene (own
//!   process group, parent-death signal, SIGTERM-then-SIGKILL). Every stand-in's
//!   driver runner and the local `spark-submit` shim ([`submit`]) share it, so
//!   client and cluster mode run an application the same way.
//! - Each cluster manager gets its own module with its own router; today that is
//!   [`standalone`] (Spark standalone's REST master, master JSON view, and worker
//!   log page). YARN-, Kubernetes- and EMR-Serverless-shaped stand-ins are meant to
//!   sit beside it and reuse [`process`].
//! - One [`DevCluster`] serves everything from one axum server on one port and
//!   owns every driver it started: [`DevCluster::shutdown`] (or, best-effort,
//!   dropping it) kills them all, and on Linux the kernel kills them if the
//!   hosting process dies.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub mod process;
pub mod standalone;
pub mod submit;

pub use submit::spark_submit;

/// How to start a [`DevCluster`].
#[derive(Debug, Clone)]
pub struct DevClusterConfig {
    /// Where the one HTTP server listens (`127.0.0.1:0` picks a free port).
    pub bind: SocketAddr,
    /// Drivers run in `<work_dir>/<driverId>/`, like a real worker's work dir.
    pub work_dir: PathBuf,
    /// Cores of the one simulated worker.
    pub worker_cores: u32,
    /// Memory of the one simulated worker, in MiB.
    pub worker_memory_mb: u32,
}

impl Default for DevClusterConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 6066)),
            work_dir: std::env::temp_dir().join("drover-devcluster"),
            worker_cores: 8,
            worker_memory_mb: 16384,
        }
    }
}

/// One accepted submission, kept for the cluster's whole life (even after `clear`),
/// so tests can assert that a submission happened exactly once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubmissionRecord {
    pub submission_id: String,
    pub app_name: String,
    /// The `spark.drover.submissionKey` Spark property, if the submitter set one.
    pub submission_key: Option<String>,
    pub received_at: DateTime<Utc>,
}

/// A running stand-in cluster. Drop kills its drivers best-effort; prefer
/// [`DevCluster::shutdown`], which waits for them to be gone.
pub struct DevCluster {
    addr: SocketAddr,
    master: Arc<standalone::Master>,
    cancel: CancellationToken,
    server: Option<JoinHandle<()>>,
}

impl DevCluster {
    /// Bind the server and start serving. Must be called inside a tokio runtime,
    /// which then also drives the drivers' processes.
    pub async fn start(cfg: DevClusterConfig) -> anyhow::Result<Self> {
        let work_dir = std::path::absolute(&cfg.work_dir).unwrap_or(cfg.work_dir.clone());
        std::fs::create_dir_all(&work_dir)
            .with_context(|| format!("creating work dir {}", work_dir.display()))?;
        let listener = tokio::net::TcpListener::bind(cfg.bind)
            .await
            .with_context(|| format!("binding {}", cfg.bind))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let spawner = process::Spawner::start(tokio::runtime::Handle::current())
            .context("starting the driver spawner thread")?;
        let cancel = CancellationToken::new();
        let master = Arc::new(standalone::Master::new(
            standalone::MasterConfig {
                addr,
                work_dir: work_dir.clone(),
                worker_cores: cfg.worker_cores,
                worker_memory_mb: cfg.worker_memory_mb,
            },
            spawner,
            cancel.child_token(),
        ));
        let app = standalone::router(master.clone());
        let stop = cancel.clone();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(err) = serve.await {
                warn!(error = %err, "devcluster server stopped with an error");
            }
        });
        info!(%addr, work_dir = %work_dir.display(), "devcluster listening");
        Ok(Self {
            addr,
            master,
            cancel,
            server: Some(server),
        })
    }

    /// The REST submission server, e.g. `http://127.0.0.1:6066`.
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The master URL drivers are told about, e.g. `spark://127.0.0.1:6066`. Nothing
    /// speaks Spark RPC here, so it shares the REST port.
    pub fn master_url(&self) -> String {
        format!("spark://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory holding `<driverId>/stdout|stderr`.
    pub fn work_dir(&self) -> &Path {
        self.master.work_dir()
    }

    /// Every create ever accepted, oldest first.
    pub fn submissions(&self) -> Vec<SubmissionRecord> {
        self.master.submissions()
    }

    /// Stop serving, kill every running driver's process group (SIGTERM, SIGKILL
    /// after 5 s) and wait until they are reaped.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        self.master.shutdown().await;
        if let Some(mut server) = self.server.take() {
            // Graceful shutdown waits for open keep-alive connections; do not let a
            // client that never hangs up hold the shutdown forever.
            if tokio::time::timeout(Duration::from_secs(5), &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
        info!(addr = %self.addr, "devcluster stopped");
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        if self.server.is_some() {
            self.cancel.cancel();
            self.master.kill_now();
        }
    }
}
