//! The scheduler and the HTTP API over a set of backends: what `drover
//! standalone` runs next to its stand-in cluster, and what `drover serve`
//! runs against real clusters.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use drover_plugin_host::BackendConfig;
use drover_scheduler::SchedulerHandle;

use crate::config;

/// Where drover keeps its state and serves.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
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
    /// Where compiled plugins are cached (default: under the home directory).
    #[arg(long, hide = true)]
    pub plugin_cache: Option<PathBuf>,
}

/// A running scheduler and API.
pub struct Server {
    pub api_addr: SocketAddr,
    pub scheduler: SchedulerHandle,
    pub home: PathBuf,
    cancel: CancellationToken,
    scheduler_task: JoinHandle<()>,
    server_task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// Stops serving and scheduling. Cluster-mode drivers keep running on
    /// their clusters; the next start re-attaches to them.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.server_task.await;
        let _ = self.scheduler_task.await;
        self.scheduler.store().close().await;
    }
}

/// Creates the home directory (absolute from here on).
pub fn prepare_home(args: &ServeArgs) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(&args.home)
        .with_context(|| format!("cannot create drover home {}", args.home.display()))?;
    Ok(std::fs::canonicalize(&args.home)?)
}

pub async fn start(args: &ServeArgs, home: PathBuf, backends: &BTreeMap<String, BackendConfig>) -> anyhow::Result<Server> {
    let cache = args.plugin_cache.clone().unwrap_or_else(|| home.join("plugin-cache"));
    let host = config::plugin_host(Some(&cache))?;
    let backends = config::backends(&host, backends).await?;

    let store = drover_store::Store::open(&home.join("drover.db"))
        .await
        .context("cannot open the database")?;
    let cancel = CancellationToken::new();
    let (scheduler, scheduler_task) = drover_scheduler::start(
        drover_scheduler::Config {
            dags_dir: args.dags.clone(),
            logs_dir: home.join("logs"),
            watch: true,
            poll: drover_scheduler::PollPolicy::default(),
        },
        store,
        backends,
        cancel.clone(),
    )
    .await?;

    let listener = tokio::net::TcpListener::bind((args.host, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
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
    info!(api = %format!("http://{api_addr}"), home = %home.display(), "drover is up");
    Ok(Server {
        api_addr,
        scheduler,
        home,
        cancel,
        scheduler_task,
        server_task,
    })
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn until_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    info!("shutting down");
    Ok(())
}
