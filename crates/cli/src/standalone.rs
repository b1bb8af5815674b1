//! `drover standalone`: stand-in cluster, scheduler, API and UI in one process.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use drover_devcluster::{DevCluster, DevClusterConfig};
use drover_scheduler::SchedulerHandle;

use crate::config::{self, StandIn};

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Where drover keeps its SQLite database, logs and caches.
    #[arg(long, env = "DROVER_HOME", default_value = ".drover")]
    pub home: PathBuf,
    /// The DAG folder.
    #[arg(long, env = "DROVER_DAGS", default_value = "dags")]
    pub dags: PathBuf,
    /// Port of the HTTP API and UI (0: any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// A config file with more backends (see README).
    #[arg(long, env = "DROVER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Port of the stand-in cluster's Spark REST API (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub cluster_port: u16,
    /// Command line used for client-mode spark-submit on the stand-in
    /// (default: this binary's own local spark-submit).
    #[arg(long, hide = true)]
    pub spark_submit: Option<String>,
    /// Where compiled plugins are cached (default: under the home directory).
    #[arg(long, hide = true)]
    pub plugin_cache: Option<PathBuf>,
}

/// A running all-in-one drover.
pub struct Running {
    pub api_addr: SocketAddr,
    pub cluster: DevCluster,
    pub scheduler: SchedulerHandle,
    cancel: CancellationToken,
    scheduler_task: JoinHandle<()>,
    server_task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// Stops serving and scheduling, then the stand-in cluster.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.server_task.await;
        let _ = self.scheduler_task.await;
        self.scheduler.store().close().await;
        self.cluster.shutdown().await;
    }
}

pub async fn start(opts: Options) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&opts.home)
        .with_context(|| format!("cannot create drover home {}", opts.home.display()))?;
    let home = std::fs::canonicalize(&opts.home)?;
    let file = opts.config.as_deref().map(config::load).transpose()?;

    let cluster = DevCluster::start(DevClusterConfig {
        bind: SocketAddr::new(IpAddr::from([127, 0, 0, 1]), opts.cluster_port),
        work_dir: home.join("devcluster"),
        ..DevClusterConfig::default()
    })
    .await
    .context("cannot start the stand-in cluster")?;

    let spark_submit = match &opts.spark_submit {
        Some(s) => s.clone(),
        None => format!(
            "{} spark-submit",
            std::env::current_exe().context("cannot find the drover binary")?.display()
        ),
    };
    let stand_in = StandIn {
        rest_url: cluster.rest_url(),
        master_url: cluster.master_url(),
        spark_submit,
    };
    let host = config::plugin_host(Some(&opts.plugin_cache.clone().unwrap_or_else(|| home.join("plugin-cache"))))?;
    let backends = config::backends(&host, &config::backend_configs(&stand_in, file.as_ref())).await?;

    let store = drover_store::Store::open(&home.join("drover.db"))
        .await
        .context("cannot open the database")?;
    let cancel = CancellationToken::new();
    let (scheduler, scheduler_task) = drover_scheduler::start(
        drover_scheduler::Config {
            dags_dir: opts.dags.clone(),
            logs_dir: home.join("logs"),
            watch: true,
            poll: drover_scheduler::PollPolicy::default(),
        },
        store,
        backends,
        cancel.clone(),
    )
    .await?;

    let listener = tokio::net::TcpListener::bind((opts.host, opts.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", opts.host, opts.port))?;
    let api_addr = listener.local_addr()?;
    let app = drover_api::app(drover_api::AppState {
        scheduler: scheduler.clone(),
    });
    let stop = cancel.clone();
    let server_task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    info!(api = %format!("http://{api_addr}"), cluster = %cluster.rest_url(), home = %home.display(), "drover is up");
    Ok(Running {
        api_addr,
        cluster,
        scheduler,
        cancel,
        scheduler_task,
        server_task,
    })
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let running = start(opts).await?;
    println!("drover is running: UI and API at {}  (Ctrl-C stops it)", running.api_url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    info!("shutting down");
    running.shutdown().await;
    Ok(())
}
