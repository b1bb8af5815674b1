//! A local stand-in cluster that drover embeds for the quickstart and for tests.
//!
//! What it is for: drover's plugins must speak each cluster manager's real wire
//! protocol, so that pointing one at a real cluster needs no change. The
//! stand-ins here therefore emulate the real servers where a client would
//! notice (paths, JSON field names and order, status codes, error shapes, state
//! progressions, log page format), while running every driver as a plain local
//! process so that no Spark, JVM cluster or cloud account is needed.
//!
//! What it must not do: invent protocol. A stand-in answers only what its real
//! server answers (anything it leaves out is listed as a deliberate difference
//! in its module's docs); it never needs a change in a plugin to work, holds no
//! real credential, and outlives no driver: [`DevCluster::shutdown`] (or,
//! best-effort, dropping it) kills every process it started, and on Linux the
//! kernel kills them if the hosting process dies.
//!
//! Layout:
//! - One folder per emulated cluster manager, each split the same way:
//!   `mod.rs` (what it emulates, its deliberate differences, its public
//!   constants), `state.rs` (the state machine and its data, and the tasks that
//!   drive its drivers), `routes.rs` (the axum router and handlers) and
//!   `wire.rs` (request and response shapes, and its error type):
//!   [`standalone`] (Spark standalone's REST master, master JSON view and worker
//!   log page; plus `jackson.rs`, Spark's JSON printer), [`yarn`] (the
//!   ResourceManager REST API; plus `am_command.rs`, reading the Spark AM's
//!   launch command), [`kubernetes`] (core/v1 pods and discovery; plus
//!   `kubelet.rs`, `selector.rs` and `watch.rs`), [`serverless`] (EMR
//!   Serverless job runs), [`emr_containers`] (EMR on EKS job runs) and
//!   [`livy`] (Apache Livy's batch API, under `/livy`); and [`webhdfs`] (HDFS's
//!   REST API over `<work_dir>/hdfs`, where YARN clients stage files); and
//!   [`s3`] (an S3 endpoint over `<work_dir>/s3`, one directory a bucket,
//!   where Kubernetes and EMR clients stage files, split like a stand-in:
//!   `store.rs`, `routes.rs`, `wire.rs`; and `fetch.rs`, how drivers read
//!   their `s3:` resources from it or from another S3).
//! - Shared, one concern a file: [`aws`] (what both EMR stand-ins share: SigV4
//!   checking in `aws/sigv4.rs`, the restJson1 error, request fields,
//!   `sparkSubmitParameters`, and one job-run attempt and ListJobRuns paging in
//!   `aws/job_run.rs`); `stand_in.rs` (what a stand-in gets from and owes the
//!   cluster, and the one way each keeps and stops its driver tasks);
//!   `ids.rs` (id and randomness helpers); `http.rs` (response helpers).
//! - [`process`] is the one place that turns an application resource into a
//!   command line (`python3`, `java -cp`, or exec) and owns process hygiene (own
//!   process group, parent-death signal, SIGTERM-then-SIGKILL). Every stand-in's
//!   driver runner and the local `spark-submit` shim ([`submit`]) share it, so
//!   client and cluster mode run an application the same way.
//! - The stand-ins' paths do not overlap, so one [`DevCluster`] serves them all
//!   from one axum server on one port, with one [`process::Spawner`], and owns
//!   every driver they start. S3 alone has a port of its own: path-style
//!   requests (`/<bucket>/<key>`) take every path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

mod archive;
pub mod aws;
pub mod emr_containers;
mod http;
mod ids;
pub mod kubernetes;
pub mod livy;
pub mod process;
pub mod s3;
pub mod serverless;
mod stand_in;
pub mod standalone;
pub mod submit;
pub mod yarn;
pub mod webhdfs;

pub use submit::spark_submit;

use process::Spawner;
use stand_in::{Context, StandIn};

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
    /// Another S3 endpoint (`http://127.0.0.1:5000`, path-style: moto,
    /// MinIO) the Kubernetes and EMR stand-ins fetch drivers' `s3://` and
    /// `s3a://` resources from ([`s3`]), instead of the devcluster's own.
    pub s3: Option<String>,
    /// Where the devcluster's own S3 endpoint listens when `s3` names no
    /// other (`127.0.0.1:0`, the default: a free port; see
    /// [`DevCluster::own_s3_url`]); its buckets are directories under
    /// `<work_dir>/s3`. `None` with no `s3`: no S3 at all, and drivers
    /// naming `s3:` resources fail as on a cluster without the file system.
    pub s3_bind: Option<SocketAddr>,
}

impl Default for DevClusterConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 6066)),
            work_dir: std::env::temp_dir().join("drover-devcluster"),
            worker_cores: 8,
            worker_memory_mb: 16384,
            s3: None,
            s3_bind: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        }
    }
}

/// One accepted submission, kept for the cluster's whole life (even after `clear`),
/// so tests can assert that a submission happened exactly once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubmissionRecord {
    /// Which stand-in took it: `spark-standalone`, `yarn`, `kubernetes`, `emr-serverless`,
    /// `emr-containers`, `livy`.
    pub manager: &'static str,
    pub submission_id: String,
    pub app_name: String,
    /// drover's submission key as the submitter put it on the submission
    /// (Spark property, application tag, pod label, client token).
    pub submission_key: Option<String>,
    pub received_at: DateTime<Utc>,
}

/// A running stand-in cluster. Drop kills its drivers best-effort; prefer
/// [`DevCluster::shutdown`], which waits for them to be gone.
pub struct DevCluster {
    addr: SocketAddr,
    work_dir: PathBuf,
    stand_ins: Arc<[Arc<dyn StandIn>]>,
    spawner: Arc<Spawner>,
    cancel: CancellationToken,
    server: Option<JoinHandle<()>>,
    /// The S3 endpoint the stand-ins read from: the devcluster's own or another.
    s3_url: Option<String>,
    /// The devcluster's own S3 endpoint, when it serves one.
    own_s3: Option<(SocketAddr, JoinHandle<()>)>,
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
        let spawner = Arc::new(
            Spawner::start(tokio::runtime::Handle::current())
                .context("starting the driver spawner thread")?,
        );
        let cancel = CancellationToken::new();
        let own_s3 = match (&cfg.s3, cfg.s3_bind) {
            (None, Some(bind)) => Some(serve_s3(bind, &s3::root(&work_dir), cancel.clone()).await?),
            _ => None,
        };
        let s3_url = match &own_s3 {
            Some((s3_addr, _)) => Some(format!("http://{s3_addr}")),
            None => cfg.s3.clone(),
        };
        let context = |dir: &str| Context {
            addr,
            work_dir: work_dir.join(dir),
            hdfs: webhdfs::root(&work_dir),
            s3: s3_url.as_deref().map(s3::S3Source::new),
            spawner: spawner.clone(),
            cancel: cancel.child_token(),
        };
        // Spark standalone keeps the top-level work dir (`<work_dir>/<driverId>`).
        let master = Arc::new(standalone::Master::new(
            standalone::MasterConfig {
                addr,
                work_dir: work_dir.clone(),
                worker_cores: cfg.worker_cores,
                worker_memory_mb: cfg.worker_memory_mb,
            },
            spawner.clone(),
            cancel.child_token(),
        ));
        let (yarn, yarn_routes) = yarn::start(&context("yarn"))?;
        let (k8s, k8s_routes) = kubernetes::start(&context("kubernetes"))?;
        let (emr, emr_routes) = serverless::start(&context("emr-serverless"))?;
        let (eks, eks_routes) = emr_containers::start(&context("emr-containers"))?;
        let (livy, livy_routes) = livy::start(&context("livy"))?;
        let master_dyn: Arc<dyn StandIn> = master.clone();
        let stand_ins: Arc<[Arc<dyn StandIn>]> = Arc::from(vec![master_dyn, yarn, k8s, emr, eks, livy]);
        // The stand-ins' paths do not overlap, so one server serves them all.
        let app = standalone::router(master.clone())
            .merge(yarn_routes)
            .merge(k8s_routes)
            .merge(emr_routes)
            .merge(eks_routes)
            .merge(livy_routes)
            .merge(webhdfs::router(addr, webhdfs::root(&work_dir))?)
            .merge(introspection(stand_ins.clone(), s3_url.clone(), own_s3.is_some()));
        let stop = cancel.clone();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(err) = serve.await {
                warn!(error = %err, "devcluster server stopped with an error");
            }
        });
        info!(%addr, work_dir = %work_dir.display(), s3 = s3_url.as_deref().unwrap_or("none"), "devcluster listening");
        Ok(Self {
            addr,
            work_dir,
            stand_ins,
            spawner,
            cancel,
            server: Some(server),
            s3_url,
            own_s3,
        })
    }

    /// The base URL every stand-in API answers on, e.g. `http://127.0.0.1:6066`:
    /// Spark's REST submission server, YARN's `/ws/v1/cluster`, Kubernetes'
    /// `/api/v1`, and EMR Serverless' `/applications`.
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Livy server's base URL, e.g. `http://127.0.0.1:6066/livy`: a Livy
    /// client appends `/batches` to it.
    pub fn livy_url(&self) -> String {
        format!("http://{}{}", self.addr, livy::PREFIX)
    }

    /// The master URL drivers are told about, e.g. `spark://127.0.0.1:6066`. Nothing
    /// speaks Spark RPC here, so it shares the REST port.
    pub fn master_url(&self) -> String {
        format!("spark://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The S3 endpoint the Kubernetes and EMR stand-ins fetch drivers'
    /// `s3:` resources from: the devcluster's own, or the one it was given.
    pub fn s3_url(&self) -> Option<String> {
        self.s3_url.clone()
    }

    /// The devcluster's own S3 endpoint (`http://127.0.0.1:PORT`, path-style,
    /// bucket [`s3::BUCKET`] ready), when it serves one.
    pub fn own_s3_url(&self) -> Option<String> {
        self.own_s3.as_ref().map(|(a, _)| format!("http://{a}"))
    }

    /// The bucket directory of the devcluster's own S3 (`<work_dir>/s3`:
    /// each bucket a directory, each object the file at its key), when it serves one.
    pub fn s3_dir(&self) -> Option<PathBuf> {
        self.own_s3.as_ref().map(|_| s3::root(&self.work_dir))
    }

    /// The directory holding `<driverId>/stdout|stderr` (Spark standalone's
    /// drivers; the other stand-ins use subfolders named after themselves).
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// Every submission any stand-in ever accepted, oldest first.
    pub fn submissions(&self) -> Vec<SubmissionRecord> {
        all_submissions(&self.stand_ins)
    }

    /// Stop serving, kill every running driver's process group (SIGTERM, SIGKILL
    /// after 5 s) and wait until they are reaped.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        for s in self.stand_ins.iter() {
            s.drivers().shutdown().await;
        }
        self.spawner.stop();
        let servers = self.server.take().into_iter().chain(self.own_s3.take().map(|(_, s)| s));
        for mut server in servers {
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

fn all_submissions(stand_ins: &[Arc<dyn StandIn>]) -> Vec<SubmissionRecord> {
    let mut all: Vec<SubmissionRecord> = stand_ins.iter().flat_map(|s| s.submissions()).collect();
    all.sort_by_key(|s| s.received_at);
    all
}

/// Starts the devcluster's own S3 endpoint on `bind` over the bucket
/// directory `root`, stopping with `cancel`.
async fn serve_s3(bind: SocketAddr, root: &Path, cancel: CancellationToken) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let app = s3::router(root).with_context(|| format!("making the bucket directory {}", root.display()))?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding the S3 endpoint to {bind}"))?;
    let addr = listener.local_addr().context("reading the S3 endpoint's address")?;
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(cancel.cancelled_owned());
        if let Err(err) = serve.await {
            warn!(error = %err, "devcluster S3 stopped with an error");
        }
    });
    info!(%addr, root = %root.display(), "devcluster S3 listening");
    Ok((addr, server))
}

/// What the S3 endpoint is, for a drover started with `--cluster-url`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct S3Announcement {
    /// Where the stand-ins read `s3:` resources from; none: nowhere.
    pub endpoint: Option<String>,
    /// Whether the devcluster serves it itself (then [`s3::BUCKET`] exists).
    pub own: bool,
    /// The bucket ready for staging, on the devcluster's own S3.
    pub bucket: Option<String>,
}

/// The stand-in's own view, for tests and a drover that run it as a
/// separate process: `GET /devcluster/submissions` lists every submission
/// ever accepted; `GET /devcluster/s3` says where its S3 is
/// ([`S3Announcement`]).
fn introspection(stand_ins: Arc<[Arc<dyn StandIn>]>, s3_url: Option<String>, own: bool) -> axum::Router {
    let s3 = S3Announcement { endpoint: s3_url, own, bucket: own.then(|| s3::BUCKET.to_string()) };
    axum::Router::new()
        .route(
            "/devcluster/submissions",
            axum::routing::get(move || {
                let stand_ins = stand_ins.clone();
                async move { axum::Json(all_submissions(&stand_ins)) }
            }),
        )
        .route("/devcluster/s3", axum::routing::get(move || async move { axum::Json(s3) }))
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        if self.server.is_some() {
            self.cancel.cancel();
            for s in self.stand_ins.iter() {
                s.drivers().kill_now(|| s.running_pids());
            }
            // Stopping the spawner thread also fires the drivers' parent-death signal.
            self.spawner.stop();
        }
    }
}
