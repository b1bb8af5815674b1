//! The scheduler as the API and CLI see it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, oneshot};

use drover_dag::Dag;
use drover_plugin_host::{BackendSet, CallError, LogChunk, PluginInfo};
use drover_store::{
    DagRow, DriverEventRow, DriverRow, DriverState, ImportErrorRow, RunRow, Store, StoreError,
    TaskInstanceRow, TryRow,
};

use crate::control::{Change, ClearRequest, ControlError, TriggerError, TriggerRequest};
use crate::msg::Msg;

/// Cheap to clone; talks to the scheduler loop.
#[derive(Clone)]
pub struct SchedulerHandle {
    pub(crate) tx: mpsc::UnboundedSender<Msg>,
    pub(crate) store: Store,
    pub(crate) dags: Arc<RwLock<BTreeMap<String, Arc<Dag>>>>,
    pub(crate) backends: BackendSet,
    pub(crate) changes: broadcast::Sender<Change>,
    pub(crate) logs_dir: std::path::PathBuf,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    pub(crate) pool_usage: Arc<RwLock<BTreeMap<String, crate::PoolUsage>>>,
}

/// The scheduler loop's heartbeat, as Airflow's health endpoint reports it.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerHealth {
    /// When the loop last turned.
    pub latest_heartbeat: DateTime<Utc>,
    /// The loop runs and has turned within the health threshold.
    pub healthy: bool,
}

/// A configured backend as it may be shown: nothing here calls its plugin,
/// and secret settings read `***`.
#[derive(Debug, Clone)]
pub struct BackendSummary {
    pub name: String,
    pub plugin: PluginInfo,
    /// Where the plugin came from: a bundled name or a file path.
    pub plugin_source: String,
    /// sha256 of the plugin's component.
    pub plugin_digest: String,
    /// The plugin contract version the component was built for.
    pub contract_version: String,
    pub settings: Vec<(String, String)>,
    pub allowed_hosts: Vec<String>,
    /// 0: no limit.
    pub max_calls_per_second: u32,
    /// Size of the plugin's component, in bytes.
    pub plugin_size: usize,
    /// How long compiling the component (or loading its cached artifact) took.
    pub compile_time: std::time::Duration,
    /// The sandbox limits of each call.
    pub limits: drover_plugin_host::Limits,
    /// Counts, errors and latency of the backend's calls so far.
    pub calls: Vec<drover_plugin_host::CallStats>,
    /// The `.wasm` file the plugin is read from (and reloaded from when it
    /// changes); `None` for a bundled plugin.
    pub plugin_file: Option<std::path::PathBuf>,
    /// Why the plugin file's last change was refused (the component in use stays).
    pub reload_error: Option<drover_plugin_host::ReloadError>,
    /// The most linear memory one call took so far, in bytes.
    pub memory_peak_bytes: u64,
}

impl SchedulerHandle {
    /// The store itself, for the binary's wiring (sessions, shutdown) and
    /// tests. The API reads through the methods below instead.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configured backends, by name.
    pub fn backends(&self) -> Vec<BackendSummary> {
        self.backends
            .iter()
            .map(|(name, b)| {
                let p = b.plugin();
                BackendSummary {
                    name: name.clone(),
                    plugin: p.info().clone(),
                    plugin_source: p.label().to_string(),
                    plugin_digest: p.digest().to_string(),
                    contract_version: p.contract_version().to_string(),
                    settings: b.public_settings(),
                    allowed_hosts: b.allowed_hosts(),
                    max_calls_per_second: b.max_calls_per_second(),
                    plugin_size: p.size_bytes(),
                    compile_time: p.compile_time(),
                    limits: b.limits(),
                    calls: b.call_stats(),
                    plugin_file: b.plugin_file().map(std::path::Path::to_path_buf),
                    reload_error: b.reload_error(),
                    memory_peak_bytes: b.memory_peak_bytes(),
                }
            })
            .collect()
    }

    /// A piece of a cluster-mode driver's log, through its backend's plugin;
    /// `None` when no backend of that name is configured.
    pub async fn driver_log(
        &self,
        backend: &str,
        cluster_id: &str,
        stream: &str,
        offset: u64,
        max_bytes: u32,
    ) -> Option<Result<LogChunk, CallError>> {
        let b = self.backends.get(backend)?;
        Some(b.logs(cluster_id, stream, offset, max_bytes).await)
    }

    pub async fn list_dags(&self) -> Result<Vec<DagRow>, StoreError> {
        self.store.list_dags().await
    }

    pub async fn get_dag(&self, dag_id: &str) -> Result<Option<DagRow>, StoreError> {
        self.store.get_dag(dag_id).await
    }

    pub async fn import_errors(&self) -> Result<Vec<ImportErrorRow>, StoreError> {
        self.store.import_errors().await
    }

    /// A DAG's runs, newest first.
    pub async fn list_runs(&self, dag_id: &str, limit: i64, offset: i64) -> Result<Vec<RunRow>, StoreError> {
        self.store.list_runs(dag_id, limit, offset).await
    }

    pub async fn count_runs(&self, dag_id: &str) -> Result<i64, StoreError> {
        self.store.count_runs(dag_id).await
    }

    pub async fn get_run(&self, dag_id: &str, run_id: &str) -> Result<Option<RunRow>, StoreError> {
        self.store.get_run(dag_id, run_id).await
    }

    pub async fn task_instances(&self, run_pk: i64) -> Result<Vec<TaskInstanceRow>, StoreError> {
        self.store.task_instances(run_pk).await
    }

    pub async fn tries(&self, ti: i64) -> Result<Vec<TryRow>, StoreError> {
        self.store.tries(ti).await
    }

    /// Drivers, newest first, optionally only those in `state`; `try_id` picks one.
    pub async fn drivers(
        &self,
        state: Option<DriverState>,
        try_id: Option<i64>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<DriverRow>, i64), StoreError> {
        self.store.drivers(state, try_id, limit, offset).await
    }

    /// The notification outbox, newest first, with the total that matched.
    pub async fn notifications(
        &self,
        status: Option<drover_store::NotificationStatus>,
        dag_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<drover_store::NotificationRow>, i64), StoreError> {
        self.store.notifications(status, dag_id, limit, offset).await
    }

    pub async fn driver_events(&self, try_id: i64) -> Result<Vec<DriverEventRow>, StoreError> {
        self.store.driver_events(try_id).await
    }

    pub fn logs_dir(&self) -> &std::path::Path {
        &self.logs_dir
    }

    /// DAGs as currently loaded, by id.
    pub fn dags(&self) -> Vec<Arc<Dag>> {
        self.dags
            .read()
            .expect("dag map")
            .values()
            .cloned()
            .collect()
    }

    pub fn dag(&self, id: &str) -> Option<Arc<Dag>> {
        self.dags.read().expect("dag map").get(id).cloned()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Creates a manual run; the conf is checked against the DAG's params.
    /// A run id or conf that could never reach a driver is refused here.
    pub async fn trigger(&self, dag_id: &str, req: TriggerRequest) -> Result<RunRow, TriggerError> {
        if let Some(id) = &req.run_id {
            crate::input::check_run_id(id).map_err(TriggerError::BadRunId)?;
        }
        let unfit = crate::input::check_conf(&req.conf);
        if !unfit.is_empty() {
            return Err(TriggerError::BadConf(unfit));
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Trigger {
                dag_id: dag_id.to_string(),
                req,
                reply,
            })
            .map_err(|_| TriggerError::Internal("the scheduler has stopped".into()))?;
        rx.await
            .map_err(|_| TriggerError::Internal("the scheduler has stopped".into()))?
    }

    /// Kills the running try of a task (its driver through the cluster's API).
    pub async fn kill_task(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
    ) -> Result<(), ControlError> {
        self.ask(|reply| Msg::KillTask {
            dag_id: dag_id.to_string(),
            run_id: run_id.to_string(),
            task_id: task_id.to_string(),
            reply,
        })
        .await
    }

    /// Marks a run failed: its running drivers are killed on their clusters
    /// and the tasks that have not started are skipped.
    pub async fn fail_run(&self, dag_id: &str, run_id: &str) -> Result<(), ControlError> {
        self.ask(|reply| Msg::FailRun {
            dag_id: dag_id.to_string(),
            run_id: run_id.to_string(),
            reply,
        })
        .await
    }

    pub async fn set_paused(&self, dag_id: &str, paused: bool) -> Result<(), ControlError> {
        self.ask(|reply| Msg::SetPaused {
            dag_id: dag_id.to_string(),
            paused,
            reply,
        })
        .await
    }

    /// Clears task instances of a run so they run again; returns the
    /// cleared task ids (those that would be, with `dry_run`).
    pub async fn clear(
        &self,
        dag_id: &str,
        req: ClearRequest,
    ) -> Result<Vec<String>, ControlError> {
        self.ask(|reply| Msg::Clear {
            dag_id: dag_id.to_string(),
            req,
            reply,
        })
        .await
    }

    /// Every pool with what it holds and what waits for it.
    pub async fn pools(&self) -> Result<Vec<crate::PoolView>, StoreError> {
        let usage = self.pool_usage.read().expect("pool usage").clone();
        Ok(self
            .store
            .pools()
            .await?
            .into_iter()
            .map(|row| {
                let u = usage.get(&row.name).copied().unwrap_or_default();
                crate::PoolView::new(row, u)
            })
            .collect())
    }

    pub async fn pool(&self, name: &str) -> Result<Option<crate::PoolView>, StoreError> {
        let u = self.pool_usage.read().expect("pool usage").get(name).copied().unwrap_or_default();
        Ok(self.store.get_pool(name).await?.map(|row| crate::PoolView::new(row, u)))
    }

    /// Creates, changes or deletes a pool; the scheduler uses the new size
    /// at once. Returns the pool as it now is (none after a delete).
    pub async fn edit_pool(&self, edit: crate::PoolEdit) -> Result<Option<crate::PoolView>, ControlError> {
        self.ask(|reply| Msg::Pool { edit, reply }).await
    }

    /// Makes a backfill (or, dry, says which logical dates it would run).
    pub async fn backfill(&self, req: crate::BackfillRequest) -> Result<crate::BackfillMade, ControlError> {
        self.ask(|reply| Msg::Backfill { req, reply }).await
    }

    /// Pauses, resumes or cancels a backfill.
    pub async fn change_backfill(&self, id: i64, change: crate::BackfillChange) -> Result<drover_store::BackfillRow, ControlError> {
        self.ask(|reply| Msg::ChangeBackfill { id, change, reply }).await
    }

    /// Sends the loop a control message and waits for its answer.
    async fn ask<T>(
        &self,
        msg: impl FnOnce(oneshot::Sender<Result<T, ControlError>>) -> Msg,
    ) -> Result<T, ControlError> {
        let stopped = || ControlError::Internal("the scheduler has stopped".into());
        let (reply, rx) = oneshot::channel();
        self.tx.send(msg(reply)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Whether the loop is alive: it has turned within the health threshold
    /// (it turns at least six times as often, idle or not) and has not ended.
    pub fn health(&self) -> SchedulerHealth {
        let latest_heartbeat = self.metrics.latest_heartbeat();
        let age = (Utc::now() - latest_heartbeat).to_std().unwrap_or_default();
        SchedulerHealth {
            latest_heartbeat,
            healthy: !self.tx.is_closed() && age <= self.metrics.health_threshold,
        }
    }

    /// Every metric in Prometheus's text format ([`crate::METRICS_CONTENT_TYPE`]):
    /// counters kept as things happen, and states counted now.
    pub async fn metrics_text(&self) -> Result<String, StoreError> {
        let counts = self.store.state_counts().await?;
        let calls = self.backends.iter().map(|(name, b)| (name.clone(), b.call_stats())).collect();
        let pools = self.pools().await?;
        Ok(self.metrics.render(crate::metrics::Snapshot {
            counts,
            calls,
            heartbeat: self.metrics.latest_heartbeat(),
            pools,
        }))
    }

    /// Test hook, not for production use: the scheduler loop stops turning
    /// (as if stuck in a step) until the returned sender is dropped.
    #[doc(hidden)]
    pub fn stall_for_test(&self) -> oneshot::Sender<()> {
        let (tx, rx) = oneshot::channel();
        let _ = self.tx.send(Msg::Stall(rx));
        tx
    }

    /// Re-reads the DAG folder now (the watcher does this on its own).
    pub async fn reload(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::ReloadNow { reply }).is_ok() {
            let _ = rx.await;
        }
    }
}
