//! One call into a plugin: a fresh store, limits, and the translation of
//! whatever happened into a [`CallError`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::{v0_1_0, v0_2_0};
use crate::engine::{Limits, Plugin, Shared};
use crate::stats::{CallStats, Counters};
use crate::error::{CallError, ErrorKind};
use crate::types::{Application, DriverStatus, LogChunk, PluginInfo, Problem, Submitted};
use crate::policy::{CaClient, HostRule, Policy};

/// Extra wall-clock time past the epoch deadline before the host gives up on
/// a call that is blocked in a host function (a hung HTTP request).
const GRACE: Duration = Duration::from_secs(1);

pub(crate) struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    policy: Policy,
    limiter: MemoryCap,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.policy,
        }
    }
}

/// Refuses growth past the cap and remembers that it did, so the host can
/// tell "out of memory" from any other crash.
struct MemoryCap {
    max: usize,
    hit: Arc<AtomicBool>,
    /// The most linear memory the instance asked for (its initial memory included).
    peak: Arc<AtomicU64>,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.peak.fetch_max(desired as u64, Ordering::Relaxed);
        if desired > self.max {
            self.hit.store(true, Ordering::Relaxed);
            wasmtime::bail!("memory limit of {} MiB exceeded", self.max >> 20);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// A compiled plugin ready to instantiate, by the contract version it was
/// built for ([`crate::SUPPORTED_CONTRACTS`]).
pub(crate) enum Pre {
    V0_1_0(v0_1_0::PluginPre<HostState>),
    V0_2_0(v0_2_0::PluginPre<HostState>),
}

/// What the host learns about a call besides its result.
struct Probe {
    stderr: MemoryOutputPipe,
    denied: Arc<Mutex<Vec<String>>>,
    out_of_memory: Arc<AtomicBool>,
    timed_out: Arc<AtomicBool>,
    memory_peak: Arc<AtomicU64>,
}

struct Scope<'a> {
    shared: &'a Shared,
    plugin: &'a str,
    backend: &'a str,
    /// The backend's own limits (the host's unless its config says otherwise).
    limits: Limits,
    /// Where the most memory any call of the backend took is kept.
    memory_peak: Option<&'a AtomicU64>,
}

impl Scope<'_> {
    fn store(&self, allowed: Arc<Vec<HostRule>>, ca: Option<CaClient>) -> (Store<HostState>, Probe) {
        let limits = self.limits;
        let stderr = MemoryOutputPipe::new(16 * 1024);
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let probe = Probe {
            stderr,
            denied: Arc::default(),
            out_of_memory: Arc::default(),
            timed_out: Arc::default(),
            memory_peak: Arc::default(),
        };
        let state = HostState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            policy: Policy {
                allowed,
                timeout: limits.call_timeout,
                denied: probe.denied.clone(),
                ca,
            },
            limiter: MemoryCap {
                max: limits.memory_bytes,
                hit: probe.out_of_memory.clone(),
                peak: probe.memory_peak.clone(),
            },
        };
        let mut store = Store::new(&self.shared.engine, state);
        store.limiter(|s| &mut s.limiter);
        let deadline = Instant::now() + limits.call_timeout;
        let timed_out = probe.timed_out.clone();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                timed_out.store(true, Ordering::Relaxed);
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Yield every tick: a spinning guest never blocks the runtime.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        (store, probe)
    }

    fn finish<R>(
        &self,
        call: &'static str,
        out: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
        probe: Probe,
    ) -> Result<R, CallError> {
        if let Some(peak) = self.memory_peak {
            peak.fetch_max(probe.memory_peak.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        let plugin = self.plugin.to_string();
        match out {
            Ok(Ok(r)) => Ok(r),
            Err(_) => Err(CallError::TimedOut {
                plugin,
                call,
                after: self.limits.call_timeout,
            }),
            Ok(Err(_)) if probe.timed_out.load(Ordering::Relaxed) => Err(CallError::TimedOut {
                plugin,
                call,
                after: self.limits.call_timeout,
            }),
            Ok(Err(_)) if probe.out_of_memory.load(Ordering::Relaxed) => {
                Err(CallError::OutOfMemory {
                    plugin,
                    call,
                    limit_mb: self.limits.memory_bytes >> 20,
                })
            }
            Ok(Err(e)) => Err(CallError::Trapped {
                plugin,
                call,
                message: format!("{e:#}"),
                stderr: String::from_utf8_lossy(&probe.stderr.contents()).into_owned(),
            }),
        }
    }

    /// A plugin error after a denied request is the denial, told plainly.
    fn flatten<T>(
        &self,
        r: Result<Result<T, (ErrorKind, String)>, CallError>,
        denied: &Mutex<Vec<String>>,
    ) -> Result<T, CallError> {
        match r? {
            Ok(v) => Ok(v),
            Err((kind, message)) => {
                if let Some(host) = denied.lock().expect("denied list").first() {
                    return Err(CallError::Denied {
                        plugin: self.plugin.to_string(),
                        backend: self.backend.to_string(),
                        host: host.clone(),
                    });
                }
                Err(CallError::Plugin { kind, message })
            }
        }
    }
}

/// Runs `$method` on a fresh instance under the call's limits, whichever
/// contract version the plugin speaks: the arguments and `$map` (from the
/// WIT result to drover's types) are written once, with `$w` naming that
/// version's [`crate::convert`] module.
macro_rules! invoke {
    ($scope:expr, $pre:expr, $allowed:expr, $ca:expr, $call:literal,
     $w:ident => $method:ident ( $($arg:expr),* ) => $map:expr) => {{
        let scope = $scope;
        let (mut store, probe) = scope.store($allowed, $ca);
        let fut = async {
            match $pre {
                Pre::V0_1_0(pre) => {
                    use crate::convert::v0_1_0 as $w;
                    let instance = pre.instantiate_async(&mut store).await?;
                    let out = instance.drover_plugin_backend().$method(&mut store, $($arg),*).await?;
                    wasmtime::Result::Ok(($map)(out))
                }
                Pre::V0_2_0(pre) => {
                    use crate::convert::v0_2_0 as $w;
                    let instance = pre.instantiate_async(&mut store).await?;
                    let out = instance.drover_plugin_backend().$method(&mut store, $($arg),*).await?;
                    wasmtime::Result::Ok(($map)(out))
                }
            }
        };
        let out = tokio::time::timeout(scope.limits.call_timeout + GRACE, fut).await;
        drop(store);
        let denied = probe.denied.clone();
        (scope.finish($call, out, probe), denied)
    }};
}

pub(crate) async fn call_describe(
    shared: &Shared,
    label: &str,
    pre: &Pre,
) -> Result<PluginInfo, CallError> {
    let scope = Scope {
        shared,
        plugin: label,
        backend: "-",
        limits: shared.limits,
        memory_peak: None,
    };
    let (r, _) = invoke!(&scope, pre, Arc::new(Vec::new()), None, "describe",
        w => call_describe() => w::info);
    r
}

/// Spaces a backend's calls so drover never sends a cluster more than
/// `per_second` requests a second on average, however many drivers it
/// follows, while a sporadic call (a log read between polls) goes through at
/// once: a token bucket holding [`RateLimit::BURST`] calls, refilled at the
/// rate (GCRA: `next` is the bucket's theoretical arrival time).
struct RateLimit {
    interval: Duration,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl RateLimit {
    /// Calls a quiet backend may make at once.
    const BURST: u32 = 5;

    fn new(per_second: u32) -> Option<RateLimit> {
        (per_second > 0).then(|| RateLimit {
            interval: Duration::from_secs(1) / per_second,
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        })
    }

    /// Waits for this call's slot.
    async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = tokio::time::Instant::now();
            let tat = (*next).max(now);
            let slack = self.interval * (Self::BURST - 1);
            let slot = tat.checked_sub(slack).map_or(now, |t| t.max(now));
            *next = tat + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// A configured backend: a plugin, its settings and the hosts it may reach.
/// Cheap to clone; every call runs in a fresh sandbox.
#[derive(Clone)]
pub struct Backend {
    name: String,
    /// Swapped when the plugin's file changes (hot reload, `reload.rs`);
    /// each call takes the current one.
    pub(crate) plugin: Arc<std::sync::RwLock<Arc<Plugin>>>,
    /// The `.wasm` file the plugin was loaded from, if not a bundled one.
    pub(crate) source: Option<Arc<std::path::PathBuf>>,
    /// Why the file's last change was refused.
    pub(crate) reload_error: Arc<Mutex<Option<crate::reload::ReloadError>>>,
    stats: Arc<Counters>,
    /// The most linear memory one call of this backend took so far.
    memory_peak: Arc<AtomicU64>,
    pub(crate) settings: Arc<Vec<(String, String)>>,
    allowed: Arc<Vec<HostRule>>,
    host: Arc<Shared>,
    limit: Option<Arc<RateLimit>>,
    max_calls_per_second: u32,
    ca: Option<CaClient>,
    limits: Limits,
    /// Uploads cluster-mode applications' local files before `submit`.
    stager: Option<Arc<crate::staging::Stager>>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Settings may hold secrets: never print them.
        f.debug_struct("Backend")
            .field("name", &self.name)
            .field("plugin", &self.plugin().info.name)
            .field("allowed_hosts", &self.allowed)
            .finish()
    }
}

impl Backend {
    pub(crate) fn new(
        host: Arc<Shared>,
        name: String,
        plugin: Arc<Plugin>,
        settings: Vec<(String, String)>,
        allowed: Vec<HostRule>,
        max_calls_per_second: u32,
        ca: Option<CaClient>,
    ) -> Backend {
        Backend {
            name,
            plugin: Arc::new(std::sync::RwLock::new(plugin)),
            source: None,
            reload_error: Arc::default(),
            stats: Arc::default(),
            memory_peak: Arc::default(),
            settings: Arc::new(settings),
            allowed: Arc::new(allowed),
            limit: RateLimit::new(max_calls_per_second).map(Arc::new),
            max_calls_per_second,
            ca,
            limits: host.limits,
            host,
            stager: None,
        }
    }

    /// The same backend, staging the local files of cluster-mode
    /// applications to `config`'s file system before each submission
    /// ([`crate::staging`]), through the backend's allowed hosts.
    /// S3 credentials not in `config` come from the backend's settings
    /// (`access_key_id`, `secret_access_key`), else `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` ([`crate::StagingConfig::resolve_credentials`]).
    pub fn with_staging(mut self, config: crate::StagingConfig) -> Result<Backend, String> {
        let plugin = self.plugin().info.name.clone();
        let stager = crate::staging::Stager::new(config, self.allowed.clone(), &plugin, &self.settings)?;
        self.stager = Some(Arc::new(stager));
        Ok(self)
    }

    /// The same backend with its own sandbox limits for every call (memory
    /// cap, deadline) instead of the host's.
    pub fn with_limits(mut self, limits: Limits) -> Backend {
        self.limits = limits;
        self
    }

    /// The same backend, its plugin read from `file`, which [`Backend::reload`]
    /// reads again when it changes.
    pub fn with_plugin_file(mut self, file: std::path::PathBuf) -> Backend {
        self.source = Some(Arc::new(file));
        self
    }

    /// The limits each call of this backend runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Waits until the backend's rate limit lets one more call through.
    async fn slot(&self) {
        if let Some(l) = &self.limit {
            l.acquire().await;
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin the next call goes to.
    pub fn plugin(&self) -> Arc<Plugin> {
        self.plugin.read().expect("plugin lock").clone()
    }

    /// The most linear memory one call of this backend took so far, in bytes
    /// (to size `memory_mb`).
    pub fn memory_peak_bytes(&self) -> u64 {
        self.memory_peak.load(Ordering::Relaxed)
    }

    /// Counts, errors and latency of this backend's calls so far, by call name.
    pub fn call_stats(&self) -> Vec<CallStats> {
        self.stats.snapshot()
    }

    /// The settings as they may be shown: values of the keys the plugin
    /// declares secret (or does not declare at all) are replaced by `***`.
    pub fn public_settings(&self) -> Vec<(String, String)> {
        let plugin = self.plugin();
        let keys = &plugin.info.config_keys;
        self.settings
            .iter()
            .map(|(k, v)| {
                let shown = keys.iter().any(|c| &c.name == k && !c.secret);
                (k.clone(), if shown { v.clone() } else { "***".to_string() })
            })
            .collect()
    }

    /// 0: no limit.
    pub fn max_calls_per_second(&self) -> u32 {
        self.max_calls_per_second
    }

    /// Each host rule once, in order.
    pub fn allowed_hosts(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for rule in self.allowed.iter().map(ToString::to_string) {
            if !out.contains(&rule) {
                out.push(rule);
            }
        }
        out
    }

    fn scope<'a>(&'a self, plugin: &'a Plugin) -> Scope<'a> {
        Scope {
            shared: &self.host,
            plugin: &plugin.label,
            backend: &self.name,
            limits: self.limits,
            memory_peak: Some(&self.memory_peak),
        }
    }

    /// Counts the call, whether it failed and how long it took.
    fn observe<T>(&self, call: &'static str, started: Instant, r: Result<T, CallError>) -> Result<T, CallError> {
        self.stats.record(call, started.elapsed(), r.is_ok());
        r
    }

    /// Problems the cluster would refuse the application (or template) for.
    /// With staging configured, the plugin judges the application it would
    /// be given: local files named by their staged URIs.
    pub async fn validate(&self, app: &Application) -> Result<Vec<Problem>, CallError> {
        let previewed;
        let app = match &self.stager {
            Some(stager) if app.deploy_mode != crate::types::DeployMode::Client => {
                previewed = stager.preview(app);
                &previewed
            }
            _ => app,
        };
        let plugin = self.plugin();
        // A plugin that cannot carry a field hears nothing of it; the host
        // refuses it instead (and the plugin judges the rest).
        let refused = plugin.cannot_carry(app);
        let stripped;
        let app = if refused.is_empty() {
            app
        } else {
            stripped = Application { proxy_user: None, ..app.clone() };
            &stripped
        };
        let scope = self.scope(&plugin);
        let started = Instant::now();
        let (r, _) = invoke!(&scope, &plugin.pre, self.allowed.clone(), self.ca.clone(), "validate",
            w => call_validate(&self.settings, &w::application(app))
                => |problems: Vec<_>| problems.into_iter().map(w::problem).collect::<Vec<_>>());
        self.observe("validate", started, r.map(|mut problems| {
            problems.extend(refused);
            problems
        }))
    }

    /// Submits; with staging configured, a driver that runs on the cluster
    /// (cluster or service mode) has the application's local files uploaded
    /// first, and the plugin sees the staged copies.
    pub async fn submit(&self, key: &str, app: &Application) -> Result<Submitted, CallError> {
        // Checked at DAG load too; here for a plugin file swapped since.
        if let Some(p) = self.plugin().cannot_carry(app).into_iter().next() {
            return Err(CallError::Plugin { kind: ErrorKind::Invalid, message: format!("{} ({})", p.message, p.hint) });
        }
        let staged_app;
        let stager = self
            .stager
            .as_ref()
            .filter(|_| app.deploy_mode != crate::types::DeployMode::Client)
            .filter(|_| crate::staging::Stager::needs_staging(app));
        let app = match stager {
            Some(stager) => {
                let (a, files) = match stager.stage(key, app).await {
                    Ok(staged) => staged,
                    Err(e) => {
                        let e = self.staging_error(e);
                        // A refusal ends the try: what was uploaded before it goes.
                        if matches!(e.kind(), Some(crate::ErrorKind::Invalid | crate::ErrorKind::Rejected)) {
                            self.unstage(stager.clone(), key.to_string());
                        }
                        return Err(e);
                    }
                };
                tracing::info!(backend = %self.name, key, files = files.len(), "staged local files");
                staged_app = a;
                &staged_app
            }
            None => app,
        };
        let plugin = self.plugin();
        let scope = self.scope(&plugin);
        self.slot().await;
        let started = Instant::now();
        let (r, denied) = invoke!(&scope, &plugin.pre, self.allowed.clone(), self.ca.clone(), "submit",
            w => call_submit(&self.settings, key, &w::application(app))
                => |r: Result<_, _>| r.map(w::submitted).map_err(w::plugin_error));
        let r = self.observe("submit", started, scope.flatten(r, &denied));
        // Refused for good: this try is over, and so are its files. (In
        // doubt or unavailable: the same try is sent again.)
        if let (Some(stager), Err(e)) = (stager, &r)
            && matches!(e.kind(), Some(crate::ErrorKind::Invalid | crate::ErrorKind::Rejected))
        {
            self.unstage(stager.clone(), key.to_string());
        }
        r
    }

    fn staging_error(&self, e: crate::staging::StageError) -> CallError {
        use crate::staging::StageError as E;
        let message = e.to_string();
        match e {
            E::Denied(host) => CallError::Denied {
                plugin: self.plugin().label.clone(),
                backend: self.name.clone(),
                host,
            },
            E::Local { .. } => CallError::Plugin { kind: crate::ErrorKind::Invalid, message },
            E::Unavailable(_) => CallError::Plugin { kind: crate::ErrorKind::Unavailable, message },
            E::Rejected(_) => CallError::Plugin { kind: crate::ErrorKind::Rejected, message },
        }
    }

    /// Deletes a try's staged files, in the background: a status poll does
    /// not wait for the file system.
    fn unstage(&self, stager: Arc<crate::staging::Stager>, key: String) {
        let backend = self.name.clone();
        tokio::spawn(async move {
            match stager.unstage(&key).await {
                Ok(()) => tracing::info!(backend = %backend, key = %key, "staged files removed"),
                Err(e) => tracing::warn!(backend = %backend, key = %key, error = %e, "cannot remove staged files"),
            }
        });
    }

    /// Whether this backend stages local files before submitting.
    pub fn stages(&self) -> bool {
        self.stager.is_some()
    }

    /// Deletes the staged files of the submission `key` (nothing without
    /// staging, or with `keep`). The scheduler calls it when the try's
    /// driver has ended, before it records the end, so a drover that dies
    /// in between deletes them on its next start; deleting what is gone
    /// already is harmless. A failure is logged: the try's end stands.
    pub async fn remove_staged(&self, key: &str) {
        let Some(stager) = &self.stager else { return };
        match stager.unstage(key).await {
            Ok(()) => tracing::info!(backend = %self.name, key, "staged files removed"),
            Err(e) => tracing::warn!(backend = %self.name, key, error = %e, "cannot remove staged files"),
        }
    }

    /// The cluster's id for the submission carrying `key`, if any.
    pub async fn find(&self, key: &str) -> Result<Option<String>, CallError> {
        let plugin = self.plugin();
        let scope = self.scope(&plugin);
        self.slot().await;
        let started = Instant::now();
        let (r, denied) = invoke!(&scope, &plugin.pre, self.allowed.clone(), self.ca.clone(), "find",
            w => call_find(&self.settings, key) => |r: Result<_, _>| r.map_err(w::plugin_error));
        self.observe("find", started, scope.flatten(r, &denied))
    }

    pub async fn status(&self, id: &str) -> Result<DriverStatus, CallError> {
        let plugin = self.plugin();
        let scope = self.scope(&plugin);
        self.slot().await;
        let started = Instant::now();
        let (r, denied) = invoke!(&scope, &plugin.pre, self.allowed.clone(), self.ca.clone(), "status",
            w => call_status(&self.settings, id) => |r: Result<_, _>| r.map(w::status).map_err(w::plugin_error));
        self.observe("status", started, scope.flatten(r, &denied))
    }

    /// The status of many drivers in one call where the cluster has a list
    /// endpoint; `Unsupported` otherwise.
    pub async fn status_many(&self, ids: &[String]) -> Result<Vec<Option<DriverStatus>>, CallError> {
        self.slot().await;
        let plugin = self.plugin();
        let scope = self.scope(&plugin);
        let started = Instant::now();
        let (r, denied) = invoke!(&scope, &plugin.pre, self.allowed.clone(), self.ca.clone(), "status-many",
            w => call_status_many(&self.settings, ids) => |r: Result<Vec<Option<_>>, _>| r
                .map(|list| list.into_iter().map(|st| st.map(w::status)).collect::<Vec<_>>())
                .map_err(w::plugin_error));
        let r = scope.flatten(r, &denied);
        self.observe("status-many", started, r)
    }

    pub async fn kill(&self, id: &str) -> Result<(), CallError> {
        let plugin = self.plugin();
        let scope = self.scope(&plugin);
        self.slot().await;
        let started = Instant::now();
        let (r, denied) = invoke!(&scope, &plugin.pre, self.allowed.clone(), self.ca.clone(), "kill",
            w => call_kill(&self.settings, id) => |r: Result<_, _>| r.map_err(w::plugin_error));
        self.observe("kill", started, scope.flatten(r, &denied))
    }

    pub async fn logs(
        &self,
        id: &str,
        stream: &str,
        offset: u64,
        max_bytes: u32,
    ) -> Result<LogChunk, CallError> {
        let plugin = self.plugin();
        let scope = self.scope(&plugin);
        self.slot().await;
        let started = Instant::now();
        let (r, denied) = invoke!(&scope, &plugin.pre, self.allowed.clone(), self.ca.clone(), "logs",
            w => call_logs(&self.settings, id, stream, offset, max_bytes)
                => |r: Result<_, _>| r.map(w::log_chunk).map_err(w::plugin_error));
        self.observe("logs", started, scope.flatten(r, &denied))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rate_limit_lets_a_burst_through_then_spaces_calls_evenly() {
        let limit = RateLimit::new(10).unwrap();
        let start = tokio::time::Instant::now();
        for _ in 0..RateLimit::BURST {
            limit.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "a quiet backend's first calls wait for nothing");
        for _ in 0..5 {
            limit.acquire().await;
        }
        // Past the burst, ten a second: five more calls take 500 ms.
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        assert!(RateLimit::new(0).is_none(), "0 means no limit");
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_lets_a_sporadic_call_through_at_once_while_busy() {
        // Issue 10: a log read waited ~20 ms behind the tracker's polls.
        let limit = RateLimit::new(50).unwrap();
        // A status poll every 100 ms, and a log read 5 ms after one of them:
        // evenly spaced calls would hold the read back 15 ms.
        for _ in 0..10 {
            limit.acquire().await;
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        limit.acquire().await;
        tokio::time::advance(Duration::from_millis(5)).await;
        let before = tokio::time::Instant::now();
        limit.acquire().await;
        assert_eq!(before.elapsed(), Duration::ZERO);
    }
}
