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

use crate::{config, lease};

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
    /// File holding the API token (one line), created with a random token
    /// if missing. Default: <home>/api-token. DROVER_API_TOKEN overrides it.
    #[arg(long, env = "DROVER_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,
    /// Who may read the API and UI: `public` (anyone who reaches the port)
    /// or `token` (as for changes: a token or a logged-in session).
    #[arg(long, env = "DROVER_READ_ACCESS", default_value = "public")]
    pub read_access: drover_api::ReadAccess,
    /// A host name the API and UI answer to (repeatable; `*`: any). IP
    /// addresses and `localhost` always work; other names are refused
    /// unless listed, which stops DNS-rebinding pages from reading the API.
    #[arg(long = "allowed-host", env = "DROVER_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// How long a cluster may fail to answer about a driver before drover
    /// stops trusting it knows the driver's fate (the try shows "cluster
    /// unreachable since …" meanwhile); then the driver is killed and, if
    /// the kill is not confirmed, the try ends `unknown`, never retried.
    #[arg(long, env = "DROVER_CLUSTER_GRACE", default_value = "5m", value_parser = humantime::parse_duration)]
    pub cluster_grace: std::time::Duration,
    /// How long drover keeps sending a kill and waiting for the cluster to
    /// confirm it; unconfirmed, the try ends `unknown` (the driver may run).
    #[arg(long, env = "DROVER_KILL_CONFIRM_TIMEOUT", default_value = "2m", value_parser = humantime::parse_duration)]
    pub kill_confirm_timeout: std::time::Duration,
    /// How old the scheduler loop's last heartbeat may be before
    /// /api/v2/monitor/health calls the scheduler unhealthy (Airflow's
    /// scheduler_health_check_threshold); the loop beats six times as often.
    #[arg(long, env = "DROVER_SCHEDULER_HEALTH_THRESHOLD", default_value = "30s", value_parser = humantime::parse_duration)]
    pub scheduler_health_threshold: std::time::Duration,
    /// The most of each stream of a cluster-mode driver's log that drover
    /// copies into its home when the try ends (the end of the log is kept,
    /// with a note of the cut): bytes, or with a unit, e.g. 16MiB or 512KiB.
    #[arg(long, env = "DROVER_LOG_ARCHIVE_MAX_BYTES", default_value = "16MiB", value_parser = parse_size)]
    pub log_archive_max_bytes: u64,
    /// Where compiled plugins are cached (default: under the home directory).
    #[arg(long, hide = true)]
    pub plugin_cache: Option<PathBuf>,
    /// The database: by default the SQLite file <home>/drover.db; a
    /// `postgres://USER@HOST:PORT/DB` URL to share one PostgreSQL database
    /// between several drovers, of which one schedules at a time (the
    /// holder of the scheduler lease) and the others wait to take over.
    #[arg(long, env = "DROVER_DATABASE_URL")]
    pub database_url: Option<String>,
    /// On PostgreSQL, how long the scheduler lease lasts unrenewed: the
    /// active scheduler renews it every third of this, and a standby takes
    /// over this long after the active one stopped renewing.
    #[arg(long, env = "DROVER_LEASE_TTL", default_value = "6s", value_parser = humantime::parse_duration)]
    pub lease_ttl: std::time::Duration,
    /// On PostgreSQL, where the other drovers reach this one's API (they
    /// fetch the logs of client-mode drivers it ran from there). Default:
    /// the address it serves on (this host's name for 0.0.0.0).
    #[arg(long, env = "DROVER_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
}

/// A size in bytes: a number, optionally with KiB, MiB or GiB (or K, M, G).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a size: a number of bytes, or e.g. 16MiB"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        other => return Err(format!("unknown size unit `{other}` in `{text}` (use KiB, MiB or GiB)")),
    };
    match n.checked_mul(scale) {
        Some(0) | None => Err(format!("`{text}` must be more than 0 bytes and fit in 64 bits")),
        Some(v) => Ok(v),
    }
}

/// A running scheduler and API.
pub struct Server {
    pub api_addr: SocketAddr,
    /// The token mutating API calls need.
    pub api_token: String,
    pub scheduler: SchedulerHandle,
    auth: std::sync::Arc<drover_api::Auth>,
    pub home: PathBuf,
    cancel: CancellationToken,
    scheduler_task: JoinHandle<()>,
    server_task: JoinHandle<std::io::Result<()>>,
    /// Delivers the notification outbox.
    notify_task: JoinHandle<()>,
    /// Reloads backends whose plugin file changes, while the server lives.
    _plugin_watcher: Option<drover_plugin_host::PluginWatcher>,
    /// The home's lock, held while the server lives (the OS drops it when
    /// the process dies, kill -9 included).
    _home_lock: std::fs::File,
}

impl Server {
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// A link that logs a browser in once, within 10 minutes, without
    /// showing the token.
    pub fn login_link(&self) -> String {
        format!("{}/#login={}", self.api_url(), self.auth.login_code())
    }

    /// Stops serving and scheduling. Cluster-mode drivers keep running on
    /// their clusters; the next start re-attaches to them.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.server_task.await;
        let _ = self.scheduler_task.await;
        let _ = self.notify_task.await;
        self.scheduler.store().close().await;
    }
}

/// Takes the home's exclusive lock, so a second drover on the same home
/// (and so the same database and driver logs) refuses to start instead of
/// recovering the first one's live tries as its own. The lock file names
/// the holder: its pid and where it serves.
pub fn lock_home(home: &std::path::Path, url: &str) -> anyhow::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let path = home.join("drover.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.split_whitespace().collect::<Vec<_>>().join(", ");
            anyhow::bail!(
                "another drover is running on home {} ({}); stop it first, or give this one another --home",
                home.display(),
                if holder.is_empty() { "it is still starting".to_string() } else { holder }
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "pid={} url={url}", std::process::id())?;
    Ok(file)
}

/// Creates the home directory, owner-only (absolute from here on).
pub fn prepare_home(args: &ServeArgs) -> anyhow::Result<PathBuf> {
    create_home(&args.home)
}

/// Creates a drover home owner-only if missing; its absolute path.
pub fn create_home(home: &std::path::Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(home)
        .with_context(|| format!("cannot create drover home {}", home.display()))?;
    Ok(std::fs::canonicalize(home)?)
}

/// Takes the API's port first of all: a drover started on a port in use
/// fails before it creates a home, opens a database or recovers anything.
pub async fn bind(args: &ServeArgs) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind((args.host, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{} (is another drover running there?)", args.host, args.port))
}

/// Binds, then starts as [`start_on`].
pub async fn start(args: &ServeArgs, home: PathBuf, backends: &BTreeMap<String, BackendConfig>) -> anyhow::Result<Server> {
    start_on(bind(args).await?, args, home, backends).await
}

/// What the config file sets besides backends: notifiers, where the links
/// they send point, and pools.
#[derive(Debug, Default)]
pub struct Extras {
    pub notifiers: BTreeMap<String, drover_notify::NotifierConfig>,
    /// Where people reach the UI; default: the address drover serves on.
    pub base_url: Option<String>,
    pub pools: Vec<drover_scheduler::PoolSpec>,
}

impl Extras {
    pub fn of(file: Option<&config::FileConfig>) -> Extras {
        file.map_or_else(Extras::default, |f| Extras {
            notifiers: f.notifiers.clone(),
            base_url: f.base_url.clone(),
            pools: f
                .pools
                .iter()
                .map(|(name, p)| drover_scheduler::PoolSpec {
                    name: name.clone(),
                    slots: p.slots,
                    description: p.description.clone(),
                })
                .collect(),
        })
    }
}

/// Opens the store and starts the scheduler and the API on a port already
/// bound with [`bind`], without notifiers.
pub async fn start_on(
    listener: tokio::net::TcpListener,
    args: &ServeArgs,
    home: PathBuf,
    backends: &BTreeMap<String, BackendConfig>,
) -> anyhow::Result<Server> {
    start_notifying(listener, args, home, backends, &Extras::default()).await
}

/// As [`start_on`], with the config file's notifiers and pools: the
/// scheduler writes notifications to the outbox, a delivery task sends them.
pub async fn start_notifying(
    listener: tokio::net::TcpListener,
    args: &ServeArgs,
    home: PathBuf,
    backends: &BTreeMap<String, BackendConfig>,
    notify: &Extras,
) -> anyhow::Result<Server> {
    let api_addr = listener.local_addr()?;
    let home_lock = lock_home(&home, &format!("http://{api_addr}"))?;
    let base_url = notify.base_url.clone().unwrap_or_else(|| format!("http://{api_addr}"));
    let notifiers = drover_notify::Notifiers::build(&notify.notifiers, &base_url, &|var| std::env::var(var).ok())
        .map_err(|errors| {
            let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("the notifier configuration has problems:\n{}", all.join("\n"))
        })?;
    let cache = args.plugin_cache.clone().unwrap_or_else(|| home.join("plugin-cache"));
    let host = config::plugin_host(Some(&cache))?;
    let backends_cfg = backends;
    let backends = config::backends(&host, backends).await?;

    let store = open_store(args, &home).await?;
    let cancel = CancellationToken::new();
    let cfg = drover_scheduler::Config {
        dags_dir: args.dags.clone(),
        logs_dir: home.join("logs"),
        watch: true,
        poll: drover_scheduler::PollPolicy {
            unreachable_grace: args.cluster_grace,
            kill_confirm: args.kill_confirm_timeout,
            ..drover_scheduler::PollPolicy::default()
        },
        health_threshold: args.scheduler_health_threshold,
        log_archive_max_bytes: args.log_archive_max_bytes,
        notifiers: notifiers.names(),
        pools: notify.pools.clone(),
        max_running_drivers: backends_cfg
            .iter()
            .filter_map(|(name, b)| Some((name.clone(), b.max_running_drivers?)))
            .collect(),
    };
    let api_token = api_token(args, &home)?;
    let (scheduler, scheduler_task, server_task, auth, store) = if store.is_postgres() {
        // Several drovers share the database: each serves the API at once,
        // and the one that holds the scheduler lease schedules. Until this
        // one does, its API passes requests for the scheduler on to the
        // active one through the database.
        let holder = format!("{}:{} pid {}", hostname(), api_addr, std::process::id());
        let standby = drover_scheduler::stand_by(cfg, store.clone(), backends.clone(), holder.clone(), cancel.clone()).await?;
        let (server_task, auth) = serve_api(listener, args, &api_token, standby.handle(), Some(holder.clone()), cancel.clone());
        println!("drover is standing by at http://{api_addr}: another drover schedules, this one serves its API too");
        let url = args.advertise_url.clone().unwrap_or_else(|| advertised(api_addr));
        let fenced = match lease::hold(&store, &holder, &url, args.lease_ttl, cancel.clone(), || standby.saw_active()).await {
            Ok(f) => f,
            Err(e) => {
                cancel.cancel();
                let _ = server_task.await;
                return Err(e);
            }
        };
        let (scheduler, task) = standby.take_over(fenced.clone(), backends.clone(), cancel.clone()).await?;
        (scheduler, task, server_task, auth, fenced)
    } else {
        let (scheduler, task) = drover_scheduler::start(cfg, store.clone(), backends.clone(), cancel.clone()).await?;
        let (server_task, auth) = serve_api(listener, args, &api_token, scheduler.clone(), None, cancel.clone());
        (scheduler, task, server_task, auth, store)
    };
    let plugin_watcher = watch_plugins(&backends, host, &scheduler);
    let notify_task = tokio::spawn(drover_notify::deliver(store, std::sync::Arc::new(notifiers), cancel.clone()));
    info!(api = %format!("http://{api_addr}"), home = %home.display(), "drover is up");
    Ok(Server {
        api_addr,
        api_token,
        scheduler,
        auth,
        home,
        cancel,
        scheduler_task,
        server_task,
        notify_task,
        _plugin_watcher: plugin_watcher,
        _home_lock: home_lock,
    })
}

/// Serves the API and UI with `scheduler` until `cancel`.
fn serve_api(
    listener: tokio::net::TcpListener,
    args: &ServeArgs,
    api_token: &str,
    scheduler: SchedulerHandle,
    holder: Option<String>,
    cancel: CancellationToken,
) -> (JoinHandle<std::io::Result<()>>, std::sync::Arc<drover_api::Auth>) {
    let auth = drover_api::Auth::new(&[api_token.to_string()], args.read_access, scheduler.store().clone());
    let app = drover_api::app(drover_api::AppState {
        scheduler,
        auth: auth.clone(),
        allowed_hosts: drover_api::AllowedHosts::new(&args.allowed_hosts),
        shutdown: cancel.clone(),
        holder,
    });
    let task = tokio::spawn(async move {
        // With each caller's address: failed logins are counted by address.
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { cancel.cancelled().await })
            .await
    });
    (task, auth)
}

/// The database `--database-url` names, or the home's SQLite file.
pub async fn open_store(args: &ServeArgs, home: &std::path::Path) -> anyhow::Result<drover_store::Store> {
    match &args.database_url {
        Some(url) => drover_store::Store::connect(url)
            .await
            .with_context(|| format!("cannot open the database at {}", lease::redact(url))),
        None => {
            let db = home.join("drover.db");
            owner_only_file(&db)?;
            drover_store::Store::open(&db).await.context("cannot open the database")
        }
    }
}

/// Where other drovers reach an API served on `addr`.
fn advertised(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://{}:{}", hostname(), addr.port())
    } else {
        format!("http://{addr}")
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into())
}

/// Watches the backends' plugin files; after a backend takes a new
/// component, the DAGs are checked against it again.
fn watch_plugins(
    backends: &drover_plugin_host::BackendSet,
    host: drover_plugin_host::PluginHost,
    scheduler: &SchedulerHandle,
) -> Option<drover_plugin_host::PluginWatcher> {
    let scheduler = scheduler.clone();
    let revalidate = move || {
        let scheduler = scheduler.clone();
        tokio::spawn(async move { scheduler.reload().await });
    };
    match drover_plugin_host::watch(backends, host, revalidate) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the plugin files; a changed plugin needs a restart");
            None
        }
    }
}

/// Creates `path` empty and owner-only if it does not exist, so SQLite
/// (which gives its -wal and -shm files the database's mode) never makes
/// a world-readable database.
fn owner_only_file(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// The API token: DROVER_API_TOKEN, else the token file's first line; a
/// missing file is created (owner-only) with a new random token.
fn api_token(args: &ServeArgs, home: &std::path::Path) -> anyhow::Result<String> {
    if let Ok(t) = std::env::var("DROVER_API_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_string());
    }
    let path = args.api_token_file.clone().unwrap_or_else(|| home.join("api-token"));
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let token = text.lines().next().unwrap_or_default().trim().to_string();
            anyhow::ensure!(
                token.len() >= 16,
                "{}: the API token must be one line of at least 16 characters; delete the file to get a new one",
                path.display()
            );
            Ok(token)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let token = format!("{:032x}", rand::random::<u128>());
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot create the API token file {}", path.display()))?;
            writeln!(f, "{token}")?;
            info!(file = %path.display(), "created a new API token");
            Ok(token)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read the API token file {}", path.display())),
    }
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

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }
}
