//! `drover standalone`: stand-in cluster, scheduler, API and UI in one process.
//!
//! The embedded backends stage cluster-mode local files to the stand-in's
//! own WebHDFS and S3 ([`config::backend_configs`]); with `--cluster-url`,
//! the stand-in says where its S3 is (`GET /devcluster/s3`).

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;

use drover_devcluster::{DevCluster, DevClusterConfig, S3Announcement};
use drover_scheduler::SchedulerHandle;

use crate::config::{self, StandIn};
use crate::serve::{self, ServeArgs, Server};

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// A config file with more backends (see README).
    #[arg(long, env = "DROVER_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Port of the stand-in cluster's APIs (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub cluster_port: u16,
    /// Use a stand-in cluster already running at this URL (`drover
    /// devcluster`) instead of starting one, so it outlives this process.
    #[arg(long)]
    pub cluster_url: Option<String>,
    /// Command line used for client-mode spark-submit on the stand-in
    /// (default: this binary's own local spark-submit).
    #[arg(long, hide = true)]
    pub spark_submit: Option<String>,
}

/// A running all-in-one drover.
pub struct Running {
    pub api_addr: SocketAddr,
    pub cluster: DevCluster,
    pub scheduler: SchedulerHandle,
    server: Server,
}

impl Running {
    pub fn api_url(&self) -> String {
        self.server.api_url()
    }

    /// A one-time login link for a browser.
    pub fn login_link(&self) -> String {
        self.server.login_link()
    }

    /// The token mutating API calls need.
    pub fn api_token(&self) -> &str {
        &self.server.api_token
    }

    /// Stops serving and scheduling, then the stand-in cluster.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
        self.cluster.shutdown().await;
    }
}

fn stand_in(opts: &Options, url: &str, s3: Option<String>) -> anyhow::Result<StandIn> {
    let spark_submit = match &opts.spark_submit {
        Some(s) => s.clone(),
        None => format!(
            "{} spark-submit",
            std::env::current_exe().context("cannot find the drover binary")?.display()
        ),
    };
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    Ok(StandIn {
        rest_url: format!("http://{addr}"),
        master_url: format!("spark://{addr}"),
        spark_submit,
        s3,
    })
}

/// The S3 endpoint a stand-in cluster running elsewhere serves itself, if
/// it says so; none (an older one, or one reading another S3): the S3
/// backends stage nothing.
async fn own_s3_of(url: &str) -> Option<String> {
    let ask = async {
        let response = reqwest::get(format!("{}/devcluster/s3", url.trim_end_matches('/'))).await?.error_for_status()?;
        response.json::<S3Announcement>().await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(10), ask).await {
        Ok(Ok(s3)) if s3.own => s3.endpoint,
        Ok(Ok(_)) => None,
        Ok(Err(e)) => {
            tracing::warn!(cluster = url, error = %e, "the stand-in cluster does not say where its S3 is: k8s, serverless and eks stage nothing");
            None
        }
        Err(_) => {
            tracing::warn!(cluster = url, "the stand-in cluster did not say where its S3 is within 10 s: k8s, serverless and eks stage nothing");
            None
        }
    }
}

/// Starts the stand-in cluster, then drover on it.
pub async fn start(opts: Options) -> anyhow::Result<Running> {
    let listener = serve::bind(&opts.serve).await?;
    let home = serve::prepare_home(&opts.serve)?;
    let file = opts.config.as_deref().map(config::load).transpose()?;
    let cluster = DevCluster::start(DevClusterConfig {
        bind: SocketAddr::new(IpAddr::from([127, 0, 0, 1]), opts.cluster_port),
        work_dir: home.join("devcluster"),
        ..DevClusterConfig::default()
    })
    .await
    .context("cannot start the stand-in cluster")?;
    let backends = config::backend_configs(&stand_in(&opts, &cluster.rest_url(), cluster.own_s3_url())?, file.as_ref());
    let server = serve::start_notifying(listener, &opts.serve, home, &backends, &serve::Extras::of(file.as_ref())).await?;
    Ok(Running {
        api_addr: server.api_addr,
        scheduler: server.scheduler.clone(),
        cluster,
        server,
    })
}

/// What `drover standalone` prints: a one-time link, never the token.
pub(crate) fn login_hint(link: &str) -> String {
    format!(
        "log in to make changes: {link}  (works once, within 10 minutes; later, log in with the token in <home>/api-token)"
    )
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    if let Some(url) = opts.cluster_url.clone() {
        let listener = serve::bind(&opts.serve).await?;
        let home = serve::prepare_home(&opts.serve)?;
        let file = opts.config.as_deref().map(config::load).transpose()?;
        let backends = config::backend_configs(&stand_in(&opts, &url, own_s3_of(&url).await)?, file.as_ref());
        let server =
            serve::start_notifying(listener, &opts.serve, home, &backends, &serve::Extras::of(file.as_ref())).await?;
        println!("drover is running: UI and API at {}  (stand-in cluster at {url})", server.api_url());
        println!("{}", login_hint(&server.login_link()));
        serve::until_signal().await?;
        server.shutdown().await;
        return Ok(());
    }
    let running = start(opts).await?;
    println!(
        "drover is running: UI and API at {}  (stand-in cluster at {}; Ctrl-C stops it)",
        running.api_url(),
        running.cluster.rest_url()
    );
    println!("{}", login_hint(&running.login_link()));
    serve::until_signal().await?;
    running.shutdown().await;
    Ok(())
}
