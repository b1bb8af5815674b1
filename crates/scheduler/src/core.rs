//! The scheduler loop: every decision about runs and task instances.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use drover_dag::{Dag, RenderContext, Schedule};
use drover_plugin_host::BackendSet;
use drover_store::{
    DagRow, DriverState, DriverUpdate, FinishTry, NewNotification, NewRun, NewTry, NotifyEvent, RunRow, RunState,
    StopReason, Store, StoreError, TaskInstanceRow, TiState, TryRow, TryState,
};

use crate::driver::{Outcome, Resume, Stop, TryJob};
use crate::handle::{Change, ClearRequest, ControlError, SchedulerHandle, TriggerError, TriggerRequest};
use crate::{Config, loader};

/// At most this many catch-up runs are created per DAG per wake-up.
const CATCHUP_BATCH: usize = 1000;

pub(crate) enum Msg {
    Trigger {
        dag_id: String,
        req: TriggerRequest,
        reply: oneshot::Sender<Result<RunRow, TriggerError>>,
    },
    TryDone {
        try_id: i64,
        outcome: Outcome,
    },
    KillTask {
        dag_id: String,
        run_id: String,
        task_id: String,
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    SetPaused {
        dag_id: String,
        paused: bool,
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    FailRun {
        dag_id: String,
        run_id: String,
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    Clear {
        dag_id: String,
        req: ClearRequest,
        reply: oneshot::Sender<Result<Vec<String>, ControlError>>,
    },
    Reload,
    ReloadNow {
        reply: oneshot::Sender<()>,
    },
    /// Test hook: the loop waits here, doing nothing, until the sender is
    /// dropped ([`SchedulerHandle::stall_for_test`]).
    Stall(oneshot::Receiver<()>),
}

struct RunCtx {
    row: RunRow,
    dag: Arc<Dag>,
    tis: BTreeMap<String, TaskInstanceRow>,
}

struct LiveTry {
    run_pk: i64,
    task_id: String,
    try_number: i64,
    stop: Stop,
}

struct Core {
    cfg: Config,
    store: Store,
    backends: BackendSet,
    dags: Arc<RwLock<BTreeMap<String, Arc<Dag>>>>,
    dag_rows: HashMap<String, DagRow>,
    next_cron: HashMap<String, DateTime<Utc>>,
    runs: BTreeMap<i64, RunCtx>,
    tries: HashMap<i64, LiveTry>,
    dirty: BTreeSet<i64>,
    tx: mpsc::UnboundedSender<Msg>,
    changes: broadcast::Sender<Change>,
    trackers: Arc<crate::tracker::Trackers>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Loads the DAGs, re-attaches to whatever the last process left running,
/// and starts the loop. The loop ends when `cancel` fires; cluster-mode
/// drivers keep running on their clusters and are re-attached next start.
pub async fn start(
    cfg: Config,
    store: Store,
    backends: BackendSet,
    cancel: CancellationToken,
) -> Result<(SchedulerHandle, JoinHandle<()>), StoreError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (changes, _) = broadcast::channel(1024);
    let mut core = Core {
        cfg: cfg.clone(),
        store: store.clone(),
        backends: backends.clone(),
        dags: Arc::default(),
        dag_rows: HashMap::new(),
        next_cron: HashMap::new(),
        runs: BTreeMap::new(),
        tries: HashMap::new(),
        dirty: BTreeSet::new(),
        tx: tx.clone(),
        changes: changes.clone(),
        trackers: crate::tracker::Trackers::new(cfg.poll),
        metrics: Arc::new(crate::metrics::Metrics::new(cfg.health_threshold)),
    };
    core.reload().await?;
    core.recover().await?;
    let watcher = if cfg.watch {
        match loader::watch(&cfg.dags_dir, tx.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(dir = %cfg.dags_dir.display(), error = %e, "cannot watch the DAG folder; changes need a restart");
                None
            }
        }
    } else {
        None
    };
    let handle = SchedulerHandle {
        tx,
        store,
        dags: core.dags.clone(),
        backends,
        changes,
        logs_dir: cfg.logs_dir.clone(),
        metrics: core.metrics.clone(),
    };
    let archiver = crate::archive::Archiver {
        store: handle.store.clone(),
        backends: handle.backends.clone(),
        logs_dir: cfg.logs_dir.clone(),
        max_bytes: cfg.log_archive_max_bytes,
    };
    tokio::spawn(archiver.run(cancel.clone()));
    let task = tokio::spawn(async move {
        let _watcher = watcher;
        core.run(rx, cancel).await;
    });
    Ok((handle, task))
}

impl Core {
    async fn run(&mut self, mut rx: mpsc::UnboundedReceiver<Msg>, cancel: CancellationToken) {
        // The heartbeat keeps its own schedule, events or not: an idle loop
        // still turns to show it is alive, and how late a busy one gets to
        // its heartbeat is the loop lag.
        let mut next_beat = tokio::time::Instant::now();
        loop {
            let now = tokio::time::Instant::now();
            if now >= next_beat {
                self.metrics.woke_late(now - next_beat);
                next_beat = now + self.metrics.heartbeat_every();
            }
            self.metrics.beat();
            if let Err(e) = self.step().await {
                error!(error = %e, "scheduler step failed");
            }
            let now = tokio::time::Instant::now();
            let timer = self.next_wake().map(|t| now + (t - Utc::now()).to_std().unwrap_or_default());
            let sleep = tokio::time::sleep_until(timer.map_or(next_beat, |t| t.min(next_beat)));
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                msg = rx.recv() => match msg {
                    Some(m) => {
                        if let Err(e) = self.handle(m).await {
                            error!(error = %e, "scheduler event failed");
                        }
                        // Take whatever else already arrived before deciding.
                        while let Ok(m) = rx.try_recv() {
                            if let Err(e) = self.handle(m).await {
                                error!(error = %e, "scheduler event failed");
                            }
                        }
                    }
                    None => break,
                },
                _ = sleep => {
                    if timer.is_some_and(|t| t <= tokio::time::Instant::now()) {
                        // Due retries live in runs: look at all of them.
                        self.dirty.extend(self.runs.keys().copied());
                    }
                }
            }
        }
        info!("scheduler stopped");
    }

    /// Creates due cron runs and advances every run something happened to.
    async fn step(&mut self) -> Result<(), StoreError> {
        self.schedule_cron().await?;
        while let Some(run_pk) = self.dirty.pop_first() {
            self.advance(run_pk).await?;
        }
        Ok(())
    }

    fn next_wake(&self) -> Option<DateTime<Utc>> {
        let retries = self
            .runs
            .values()
            .flat_map(|r| r.tis.values())
            .filter(|ti| ti.state == TiState::UpForRetry)
            .filter_map(|ti| ti.next_try_at);
        retries.chain(self.next_cron.values().copied()).min()
    }

    fn emit(&self, c: Change) {
        let _ = self.changes.send(c);
    }

    async fn handle(&mut self, msg: Msg) -> Result<(), StoreError> {
        match msg {
            Msg::Trigger { dag_id, req, reply } => {
                let r = self.trigger(&dag_id, req).await;
                let _ = reply.send(r);
            }
            Msg::TryDone { try_id, outcome } => self.try_done(try_id, outcome).await?,
            Msg::KillTask {
                dag_id,
                run_id,
                task_id,
                reply,
            } => {
                let _ = reply.send(self.kill_task(&dag_id, &run_id, &task_id).await);
            }
            Msg::SetPaused {
                dag_id,
                paused,
                reply,
            } => {
                let r = match self.store.set_paused(&dag_id, paused).await {
                    Ok(()) => {
                        if let Some(row) = self.dag_rows.get_mut(&dag_id) {
                            row.is_paused = paused;
                        }
                        self.next_cron.remove(&dag_id);
                        self.emit(Change::Dags);
                        Ok(())
                    }
                    Err(StoreError::NotFound(what)) => Err(ControlError::NotFound(what)),
                    Err(e) => Err(ControlError::Internal(e.to_string())),
                };
                let _ = reply.send(r);
            }
            Msg::FailRun { dag_id, run_id, reply } => {
                let r = self.fail_run(&dag_id, &run_id).await;
                let _ = reply.send(r);
            }
            Msg::Clear { dag_id, req, reply } => {
                let r = self.clear(&dag_id, req).await;
                let _ = reply.send(r);
            }
            Msg::Reload => self.reload().await?,
            Msg::ReloadNow { reply } => {
                self.reload().await?;
                let _ = reply.send(());
            }
            Msg::Stall(until) => {
                warn!("scheduler loop stalled by a test hook");
                let _ = until.await;
            }
        }
        Ok(())
    }

    async fn reload(&mut self) -> Result<(), StoreError> {
        let loaded = loader::load_dir(&self.cfg.dags_dir, &self.backends, &self.cfg.notifiers).await;
        loader::record(&self.store, &loaded).await?;
        *self.dags.write().expect("dag map") = loaded.dags;
        self.dag_rows = self
            .store
            .list_dags()
            .await?
            .into_iter()
            .map(|r| (r.dag_id.clone(), r))
            .collect();
        self.next_cron.clear();
        // A DAG whose max_active_runs grew may start queued runs.
        self.dirty.extend(self.runs.keys().copied());
        self.emit(Change::Dags);
        Ok(())
    }

    /// Reads back the runs and tries a previous process left open.
    async fn recover(&mut self) -> Result<(), StoreError> {
        let open = self
            .store
            .runs_in_state(&[RunState::Queued, RunState::Running])
            .await?;
        for row in open {
            let dag = match self.run_dag(&row).await {
                Ok(d) => d,
                Err(e) => {
                    error!(dag_id = %row.dag_id, run_id = %row.run_id, "cannot rebuild the DAG of an open run; marking it failed:\n{e}");
                    self.store.set_run_state(row.id, RunState::Failed).await?;
                    continue;
                }
            };
            let tis = self.load_tis(row.id).await?;
            self.dirty.insert(row.id);
            self.runs.insert(row.id, RunCtx { row, dag, tis });
        }

        for t in self.store.open_tries().await? {
            let Some((run_pk, task_id)) = self.locate(t.ti) else {
                warn!(try_id = t.id, "open try of a closed run; closing it");
                self.store
                    .update_driver(t.id, &DriverUpdate::state(DriverState::Lost).message("its run had already ended"))
                    .await?;
                continue;
            };
            let live = LiveTry {
                run_pk,
                task_id,
                try_number: t.try_number,
                stop: Stop::default(),
            };
            let client = t.deploy_mode == "client";
            // A stop that was under way is finished, never turned into a retry.
            let resume = match (t.stop_reason, &t.cluster_id, t.driver_state) {
                (Some(reason), cluster_id, _) if !client => Some(Resume::Stop {
                    cluster_id: cluster_id.clone(),
                    reason,
                    since: t.stop_requested_at.unwrap_or_else(Utc::now),
                }),
                (None, Some(id), _) if !client => Some(Resume::Attach(id.clone())),
                (None, None, DriverState::Pending) if !client => Some(Resume::Find),
                _ => None,
            };
            if let Some(resume) = resume {
                self.spawn_try(&t, live, resume, None);
                continue;
            }
            let (state, why, final_) = match t.stop_reason {
                Some(reason) => (
                    DriverState::Killed,
                    "drover restarted while stopping it; the client-mode driver died with drover",
                    reason.is_final(),
                ),
                None if client => (DriverState::Lost, "drover restarted; the client-mode driver died with it", false),
                None => (
                    DriverState::Unknown,
                    "drover restarted and the submission's outcome is unknown; the driver may be running",
                    true,
                ),
            };
            info!(try_id = t.id, reason = why, "try ended on restart");
            self.store.update_driver(t.id, &DriverUpdate::state(state).message(why)).await?;
            self.tries.insert(t.id, live);
            self.try_done(t.id, Outcome::Failed { message: why.into(), final_ }).await?;
        }
        Ok(())
    }

    /// The DAG a run was created with: the loaded one if the file has not
    /// changed since, else rebuilt from the snapshot the run keeps.
    async fn run_dag(&self, row: &RunRow) -> Result<Arc<Dag>, String> {
        let current = self.dags.read().expect("dag map").get(&row.dag_id).cloned();
        if let Some(d) = current.filter(|d| d.source_hash == row.dag_hash) {
            return Ok(d);
        }
        let file = self
            .dag_rows
            .get(&row.dag_id)
            .map(|r| r.file.clone())
            .unwrap_or_else(|| format!("{}.toml", row.dag_id));
        loader::parse_snapshot(file.into(), row.dag_snapshot.clone(), &self.backends, &self.cfg.notifiers)
            .await
            .map(Arc::new)
            .map_err(|e| e.to_string())
    }

    /// Airflow's "clear": the chosen task instances of a run (and, with
    /// `include_downstream`, everything after them; always the downstream
    /// that never ran because of them) run again, with the task's retries
    /// afresh. An ended run is reopened. Running tasks are refused: kill
    /// them first. Returns the cleared task ids.
    async fn clear(&mut self, dag_id: &str, req: ClearRequest) -> Result<Vec<String>, ControlError> {
        let internal = |e: StoreError| ControlError::Internal(e.to_string());
        let row = self
            .store
            .get_run(dag_id, &req.run_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| ControlError::NotFound(format!("DAG run `{}` of DAG `{dag_id}`", req.run_id)))?;
        let (dag, tis) = match self.runs.get(&row.id) {
            Some(ctx) if ctx.row.failing => {
                return Err(ControlError::Conflict(format!(
                    "run `{}` is being marked failed; clear it once it has ended",
                    req.run_id
                )));
            }
            Some(ctx) => (ctx.dag.clone(), ctx.tis.clone()),
            None => {
                let dag = self
                    .run_dag(&row)
                    .await
                    .map_err(|e| ControlError::Conflict(format!("the run's DAG cannot be rebuilt: {e}")))?;
                (dag, self.load_tis(row.id).await.map_err(internal)?)
            }
        };
        let requested: Vec<String> = match &req.task_ids {
            Some(ids) if !ids.is_empty() => ids.clone(),
            _ => dag.tasks.iter().map(|t| t.id.clone()).collect(),
        };
        if let Some(unknown) = requested.iter().find(|t| !tis.contains_key(*t)) {
            return Err(ControlError::NotFound(format!("task `{unknown}` in run `{}`", req.run_id)));
        }
        let mut chosen: BTreeSet<String> = requested
            .into_iter()
            .filter(|t| !req.only_failed || matches!(tis[t].state, TiState::Failed | TiState::UpstreamFailed))
            .collect();
        // Downstream, to a fixed point: all of it on request, else only
        // what never ran because of a chosen task.
        loop {
            let more: Vec<String> = dag
                .tasks
                .iter()
                .filter(|t| !chosen.contains(&t.id))
                .filter(|t| t.depends_on.iter().any(|d| chosen.contains(d)))
                .filter(|t| {
                    req.include_downstream || matches!(tis[&t.id].state, TiState::UpstreamFailed | TiState::Skipped)
                })
                .map(|t| t.id.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            chosen.extend(more);
        }
        let busy: Vec<&str> = chosen
            .iter()
            .filter(|t| !tis[*t].state.is_terminal() && tis[*t].state != TiState::None)
            .map(String::as_str)
            .collect();
        if !busy.is_empty() {
            return Err(ControlError::Conflict(format!(
                "task {} of run `{}` has not ended; kill it first, then clear it",
                busy.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "),
                req.run_id
            )));
        }
        let chosen: Vec<String> = chosen.into_iter().filter(|t| tis[t].state != TiState::None).collect();
        if req.dry_run || chosen.is_empty() {
            return Ok(chosen);
        }
        let updates: Vec<(i64, i64)> = chosen
            .iter()
            .map(|t| {
                let retries = dag.task(t).map_or(0, |task| i64::from(task.retries));
                (tis[t].id, tis[t].try_number + retries + 1)
            })
            .collect();
        self.store.clear_tis(row.id, &updates).await.map_err(internal)?;
        info!(dag_id, run_id = %row.run_id, tasks = ?chosen, "task instances cleared");
        if !self.runs.contains_key(&row.id) {
            let mut row = row.clone();
            row.end_date = None;
            row.failing = false;
            self.runs.insert(row.id, RunCtx { row, dag, tis });
        }
        let ctx = self.runs.get_mut(&row.id).expect("run");
        ctx.row.state = RunState::Queued;
        for (t, (_, max_tries)) in chosen.iter().zip(&updates) {
            let ti = ctx.tis.get_mut(t).expect("ti");
            ti.state = TiState::None;
            ti.max_tries = *max_tries;
            ti.next_try_at = None;
            ti.end_date = None;
        }
        let changes: Vec<Change> = chosen
            .iter()
            .map(|t| Change::Task {
                dag_id: dag_id.to_string(),
                run_id: row.run_id.clone(),
                task_id: t.clone(),
                state: "none".into(),
                try_number: ctx.tis[t].try_number,
            })
            .chain([Change::Run {
                dag_id: dag_id.to_string(),
                run_id: row.run_id.clone(),
                state: "queued".into(),
            }])
            .collect();
        for c in changes {
            self.emit(c);
        }
        self.dirty.insert(row.id);
        Ok(chosen)
    }

    /// A run's task instances by task id.
    async fn load_tis(&self, run_pk: i64) -> Result<BTreeMap<String, TaskInstanceRow>, StoreError> {
        Ok(self
            .store
            .task_instances(run_pk)
            .await?
            .into_iter()
            .map(|t| (t.task_id.clone(), t))
            .collect())
    }

    fn locate(&self, ti: i64) -> Option<(i64, String)> {
        self.runs.iter().find_map(|(pk, r)| {
            r.tis
                .values()
                .find(|t| t.id == ti)
                .map(|t| (*pk, t.task_id.clone()))
        })
    }

    async fn schedule_cron(&mut self) -> Result<(), StoreError> {
        let now = Utc::now();
        let dags: Vec<Arc<Dag>> = self.dags.read().expect("dag map").values().cloned().collect();
        for dag in dags {
            if matches!(dag.schedule, Schedule::Manual) {
                continue;
            }
            if self.next_cron.get(&dag.id).is_some_and(|t| *t > now) {
                continue;
            }
            let Some(row) = self.dag_rows.get(&dag.id) else { continue };
            if row.is_paused {
                self.next_cron.remove(&dag.id);
                continue;
            }
            let Some(start) = dag.start_date else { continue };
            let base = row
                .last_scheduled_at
                .unwrap_or(start - chrono::Duration::nanoseconds(1));
            // Without catch-up only the latest missed tick runs: look for it
            // near now instead of walking (and batching) every tick since the
            // schedule position, which picked a stale tick once more than
            // CATCHUP_BATCH ticks had passed.
            let from = if dag.catchup { base } else { latest_tick_window(&dag, base, now) };
            let mut due = Vec::new();
            let mut t = dag.schedule.next_after(from, dag.timezone);
            while let Some(at) = t {
                if at > now || dag.end_date.is_some_and(|e| at > e) || (dag.catchup && due.len() >= CATCHUP_BATCH) {
                    break;
                }
                due.push(at);
                t = dag.schedule.next_after(at, dag.timezone);
            }
            if !dag.catchup && due.len() > 1 {
                due = vec![*due.last().expect("non-empty")];
            }
            for at in due {
                let params = match dag.resolve_params(&serde_json::Map::new()) {
                    Ok(p) => p,
                    Err(errors) => {
                        warn!(dag_id = %dag.id, "scheduled run skipped: params need values: {errors:?}");
                        break;
                    }
                };
                let run_id = format!("scheduled__{}", at.to_rfc3339());
                match self
                    .create_run(&dag, &run_id, "scheduled", at, serde_json::Map::new(), params, Some(at))
                    .await
                {
                    Ok(_) | Err(StoreError::RunExists { .. }) => {}
                    Err(e) => return Err(e),
                }
                if let Some(r) = self.dag_rows.get_mut(&dag.id) {
                    r.last_scheduled_at = Some(at);
                }
            }
            match t {
                Some(next) if dag.end_date.is_none_or(|e| next <= e) => {
                    self.next_cron.insert(dag.id.clone(), next);
                }
                _ => {
                    self.next_cron.remove(&dag.id);
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_run(
        &mut self,
        dag: &Arc<Dag>,
        run_id: &str,
        run_type: &str,
        logical_date: DateTime<Utc>,
        conf: serde_json::Map<String, serde_json::Value>,
        params: serde_json::Map<String, serde_json::Value>,
        schedule_position: Option<DateTime<Utc>>,
    ) -> Result<RunRow, StoreError> {
        let conf = serde_json::Value::Object(conf);
        let params = serde_json::Value::Object(params);
        let row = self
            .store
            .create_run(&NewRun {
                dag_id: &dag.id,
                run_id,
                run_type,
                logical_date,
                conf: &conf,
                params: &params,
                dag_hash: &dag.source_hash,
                dag_snapshot: &dag.source,
                tasks: dag
                    .tasks
                    .iter()
                    .map(|t| (t.id.clone(), i64::from(t.retries) + 1))
                    .collect(),
                schedule_position,
            })
            .await?;
        info!(dag_id = %dag.id, run_id = %row.run_id, run_type, "run created");
        let tis = self.load_tis(row.id).await?;
        self.dirty.insert(row.id);
        self.emit(Change::Run {
            dag_id: dag.id.clone(),
            run_id: row.run_id.clone(),
            state: row.state.to_string(),
        });
        self.runs.insert(
            row.id,
            RunCtx {
                row: row.clone(),
                dag: dag.clone(),
                tis,
            },
        );
        Ok(row)
    }

    async fn trigger(&mut self, dag_id: &str, req: TriggerRequest) -> Result<RunRow, TriggerError> {
        let dag = self
            .dags
            .read()
            .expect("dag map")
            .get(dag_id)
            .cloned()
            .ok_or_else(|| TriggerError::UnknownDag(dag_id.to_string()))?;
        let params = dag.resolve_params(&req.conf).map_err(TriggerError::BadConf)?;
        let logical = req.logical_date.unwrap_or_else(Utc::now);
        let run_id = req
            .run_id
            .unwrap_or_else(|| format!("manual__{}", logical.to_rfc3339()));
        match self
            .create_run(&dag, &run_id, "manual", logical, req.conf, params, None)
            .await
        {
            Ok(row) => Ok(row),
            Err(StoreError::RunExists { dag_id, run_id }) => Err(TriggerError::Exists { dag_id, run_id }),
            Err(e) => Err(TriggerError::Internal(e.to_string())),
        }
    }

    /// Kills a task's running try: the intent is committed first, so a
    /// restart finishes the kill instead of retrying the try.
    async fn kill_task(&mut self, dag_id: &str, run_id: &str, task_id: &str) -> Result<(), ControlError> {
        let live = self.tries.iter().find(|(_, l)| {
            l.task_id == task_id
                && self
                    .runs
                    .get(&l.run_pk)
                    .is_some_and(|r| r.row.dag_id == dag_id && r.row.run_id == run_id)
        });
        match live {
            Some((&try_id, l)) => {
                self.store
                    .request_stop(try_id, StopReason::Killed)
                    .await
                    .map_err(|e| ControlError::Internal(e.to_string()))?;
                l.stop.stop(StopReason::Killed);
                Ok(())
            }
            None => Err(ControlError::Conflict(format!(
                "task `{task_id}` of run `{run_id}` in DAG `{dag_id}` has no running try to kill"
            ))),
        }
    }

    /// Marks a run failed: kills its running drivers through their clusters
    /// and skips every task that has not started. The run ends failed once
    /// the kills are confirmed.
    async fn fail_run(&mut self, dag_id: &str, run_id: &str) -> Result<(), ControlError> {
        let Some((&run_pk, ctx)) = self
            .runs
            .iter_mut()
            .find(|(_, r)| r.row.dag_id == dag_id && r.row.run_id == run_id)
        else {
            return match self.store.get_run(dag_id, run_id).await {
                Ok(Some(r)) => Err(ControlError::Conflict(format!("run `{run_id}` already ended {}", r.state))),
                Ok(None) => Err(ControlError::NotFound(format!("DAG run `{run_id}` of DAG `{dag_id}`"))),
                Err(e) => Err(ControlError::Internal(e.to_string())),
            };
        };
        // Committed before any kill is sent: after a crash the restarted
        // scheduler finishes these kills and retries nothing in the run.
        self.store
            .mark_run_failing(run_pk)
            .await
            .map_err(|e| ControlError::Internal(e.to_string()))?;
        ctx.row.failing = true;
        let waiting: Vec<String> = ctx
            .tis
            .values()
            .filter(|t| matches!(t.state, TiState::None | TiState::UpForRetry))
            .map(|t| t.task_id.clone())
            .collect();
        for live in self.tries.values().filter(|l| l.run_pk == run_pk) {
            live.stop.stop(StopReason::RunFailed);
        }
        let now = Utc::now();
        let ctx = self.runs.get_mut(&run_pk).expect("run");
        let mut changes = Vec::new();
        for task_id in waiting {
            let ti = ctx.tis.get_mut(&task_id).expect("ti");
            ti.state = TiState::Skipped;
            ti.next_try_at = None;
            ti.end_date = Some(now);
            changes.push(Change::Task {
                dag_id: ctx.row.dag_id.clone(),
                run_id: ctx.row.run_id.clone(),
                task_id,
                state: TiState::Skipped.to_string(),
                try_number: ti.try_number,
            });
        }
        for c in changes {
            self.emit(c);
        }
        info!(dag_id, run_id, "run marked failed");
        self.dirty.insert(run_pk);
        Ok(())
    }

    async fn set_ti(&mut self, run_pk: i64, task_id: &str, state: TiState) -> Result<(), StoreError> {
        let Some(ctx) = self.runs.get_mut(&run_pk) else { return Ok(()) };
        let Some(ti) = ctx.tis.get_mut(task_id) else { return Ok(()) };
        self.store.set_ti_state(ti.id, state).await?;
        ti.state = state;
        ti.next_try_at = None;
        let change = Change::Task {
            dag_id: ctx.row.dag_id.clone(),
            run_id: ctx.row.run_id.clone(),
            task_id: task_id.to_string(),
            state: state.to_string(),
            try_number: ti.try_number,
        };
        self.emit(change);
        Ok(())
    }

    /// Moves one run forward: start it if its DAG has room, start every task
    /// whose upstream succeeded, mark the downstream of failures, retry what
    /// is due, and end the run when every task has ended.
    async fn advance(&mut self, run_pk: i64) -> Result<(), StoreError> {
        let Some(ctx) = self.runs.get(&run_pk) else { return Ok(()) };
        let dag = ctx.dag.clone();
        if ctx.row.state == RunState::Queued {
            let active = self
                .runs
                .values()
                .filter(|r| r.row.dag_id == dag.id && r.row.state == RunState::Running)
                .count();
            let limit = self
                .dags
                .read()
                .expect("dag map")
                .get(&dag.id)
                .map_or(dag.max_active_runs, |d| d.max_active_runs);
            if active >= limit as usize {
                return Ok(());
            }
            self.store.set_run_state(run_pk, RunState::Running).await?;
            let ctx = self.runs.get_mut(&run_pk).expect("run");
            ctx.row.state = RunState::Running;
            let change = Change::Run {
                dag_id: dag.id.clone(),
                run_id: ctx.row.run_id.clone(),
                state: "running".into(),
            };
            self.emit(change);
        }

        let now = Utc::now();
        let failing = self.runs.get(&run_pk).is_some_and(|r| r.row.failing);
        for task in dag.tasks.iter().filter(|_| !failing) {
            let ctx = self.runs.get(&run_pk).expect("run");
            let ti = &ctx.tis[&task.id];
            match ti.state {
                TiState::None => {
                    let deps: Vec<TiState> = task.depends_on.iter().map(|d| ctx.tis[d].state).collect();
                    if deps.iter().any(|s| matches!(s, TiState::Failed | TiState::UpstreamFailed)) {
                        self.set_ti(run_pk, &task.id, TiState::UpstreamFailed).await?;
                    } else if deps.iter().all(|s| *s == TiState::Success) {
                        // A cleared task goes on counting where it was.
                        let next = ti.try_number + 1;
                        self.start_try(run_pk, task, next).await?;
                    }
                }
                TiState::UpForRetry if ti.next_try_at.is_none_or(|t| t <= now) => {
                    let next = ti.try_number + 1;
                    self.start_try(run_pk, task, next).await?;
                }
                _ => {}
            }
        }

        let ctx = self.runs.get(&run_pk).expect("run");
        if ctx.tis.values().all(|t| t.state.is_terminal()) {
            let state = if ctx.tis.values().all(|t| t.state == TiState::Success) {
                RunState::Success
            } else {
                RunState::Failed
            };
            // Airflow's on_success_callback / on_failure_callback of a DAG.
            let (event, names) = match state {
                RunState::Success => (NotifyEvent::OnRunSuccess, &dag.on_run_success),
                _ => (NotifyEvent::OnRunFailure, &dag.on_run_failure),
            };
            let notes: Vec<NewNotification> = names
                .iter()
                .map(|notifier| NewNotification {
                    notifier,
                    event,
                    dag_id: &ctx.row.dag_id,
                    run_id: &ctx.row.run_id,
                    task_id: None,
                    try_number: None,
                    try_id: None,
                    state: state.as_str(),
                    message: None,
                })
                .collect();
            self.store.finish_run(run_pk, state, &notes).await?;
            let ctx = self.runs.remove(&run_pk).expect("run");
            info!(dag_id = %ctx.row.dag_id, run_id = %ctx.row.run_id, state = %state, "run finished");
            self.emit(Change::Run {
                dag_id: ctx.row.dag_id.clone(),
                run_id: ctx.row.run_id.clone(),
                state: state.to_string(),
            });
            // Queued runs of the same DAG may start now.
            let waiting: Vec<i64> = self
                .runs
                .iter()
                .filter(|(_, r)| r.row.dag_id == ctx.row.dag_id && r.row.state == RunState::Queued)
                .map(|(pk, _)| *pk)
                .collect();
            self.dirty.extend(waiting);
        }
        Ok(())
    }

    /// Commits a new try (the driver's intent, with its submission key) and
    /// only then hands it to a driver task.
    async fn start_try(&mut self, run_pk: i64, task: &drover_dag::Task, try_number: i64) -> Result<(), StoreError> {
        let ctx = self.runs.get(&run_pk).expect("run");
        let ti = ctx.tis[&task.id].clone();
        // Ready since its retry fell due, or since now (its upstream just ended).
        let ready_at = ti.next_try_at.filter(|_| ti.state == TiState::UpForRetry).unwrap_or_else(Utc::now);
        let render = RenderContext {
            dag_id: ctx.row.dag_id.clone(),
            task_id: task.id.clone(),
            run_id: ctx.row.run_id.clone(),
            logical_date: ctx.row.logical_date,
            try_number: u32::try_from(try_number).unwrap_or(u32::MAX),
            params: ctx.row.params.0.as_object().cloned().unwrap_or_default(),
            conf: ctx.row.conf.0.as_object().cloned().unwrap_or_default(),
        };
        let key = format!("drover-{}", uuid::Uuid::new_v4().simple());
        let deadline = task
            .timeout
            .and_then(|t| chrono::Duration::from_std(t).ok())
            .map(|t| Utc::now() + t);
        let backend = self.backends.get(&task.backend).cloned();
        let rendered = task.application.render(&render);
        let app_json = rendered.as_ref().ok().and_then(|a| serde_json::to_value(a).ok());
        let try_row = self
            .store
            .begin_try(&NewTry {
                ti: ti.id,
                try_number,
                backend: &task.backend,
                deploy_mode: &task.application.deploy_mode.to_string(),
                submission_key: &key,
                application: app_json.as_ref(),
                deadline_at: deadline,
                message: None,
            })
            .await?;
        {
            let ctx = self.runs.get_mut(&run_pk).expect("run");
            let ti = ctx.tis.get_mut(&task.id).expect("ti");
            ti.state = TiState::Running;
            ti.try_number = try_number;
            ti.next_try_at = None;
            let change = Change::Task {
                dag_id: ctx.row.dag_id.clone(),
                run_id: ctx.row.run_id.clone(),
                task_id: task.id.clone(),
                state: "running".into(),
                try_number,
            };
            self.emit(change);
        }
        let live = LiveTry {
            run_pk,
            task_id: task.id.clone(),
            try_number,
            stop: Stop::default(),
        };
        let failure = match (&rendered, &backend) {
            (Err(e), _) => Some(format!("cannot render the application: {e}")),
            (_, None) => Some(format!("backend `{}` is not configured", task.backend)),
            _ => None,
        };
        if let Some(message) = failure {
            self.store
                .update_driver(try_row.id, &DriverUpdate::state(DriverState::SubmitFailed).message(&message))
                .await?;
            self.tries.insert(try_row.id, live);
            return self
                .try_done(try_row.id, Outcome::Failed { message, final_: true })
                .await;
        }
        self.spawn_try(&try_row, live, Resume::Submit, Some(ready_at));
        Ok(())
    }

    fn spawn_try(&mut self, t: &TryRow, live: LiveTry, resume: Resume, ready_at: Option<DateTime<Utc>>) {
        let ctx = &self.runs[&live.run_pk];
        let task = ctx.dag.task(&live.task_id);
        let app = t
            .application
            .as_ref()
            .and_then(|j| serde_json::from_value::<drover_dag::Application>(j.0.clone()).ok());
        let backend = self.backends.get(&t.backend).cloned();
        let (Some(app), Some(backend)) = (app, backend) else {
            let message = format!("cannot resume try {}: its application or backend `{}` is gone", t.id, t.backend);
            let _ = self.tx.send(Msg::TryDone {
                try_id: t.id,
                outcome: Outcome::Failed { message, final_: true },
            });
            self.tries.insert(t.id, live);
            return;
        };
        let log_path = self
            .cfg
            .logs_dir
            .join(sanitize(&ctx.row.dag_id))
            .join(sanitize(&ctx.row.run_id))
            .join(sanitize(&live.task_id))
            .join(format!("try-{}.log", live.try_number));
        let job = TryJob {
            try_id: t.id,
            key: t.submission_key.clone(),
            backend,
            app,
            deadline: t.deadline_at,
            timeout_text: task
                .and_then(|t| t.timeout)
                .map(|d| humantime::format_duration(d).to_string())
                .unwrap_or_default(),
            start_timeout: task.and_then(|t| t.start_timeout),
            stop: live.stop.clone(),
            store: self.store.clone(),
            log_path,
            poll: self.cfg.poll,
            trackers: self.trackers.clone(),
            metrics: self.metrics.clone(),
            ready_at,
            resume,
            done: self.tx.clone(),
            changes: self.changes.clone(),
            ids: (
                ctx.row.dag_id.clone(),
                ctx.row.run_id.clone(),
                live.task_id.clone(),
                live.try_number,
            ),
        };
        self.tries.insert(t.id, live);
        tokio::spawn(job.run());
    }

    /// Ends a try: success, a retry after the task's delay, or failure for
    /// good; then the run moves on at once.
    async fn try_done(&mut self, try_id: i64, outcome: Outcome) -> Result<(), StoreError> {
        let Some(live) = self.tries.remove(&try_id) else { return Ok(()) };
        let Some(ctx) = self.runs.get(&live.run_pk) else { return Ok(()) };
        let ti = ctx.tis[&live.task_id].clone();
        let task = ctx.dag.task(&live.task_id);
        let (try_state, ti_state, next_try_at, message) = match &outcome {
            Outcome::Succeeded => (TryState::Success, TiState::Success, None, None),
            Outcome::Failed { message, final_ } => {
                // Nothing is retried in a run a person marked failed.
                if !final_ && !ctx.row.failing && live.try_number < ti.max_tries {
                    let delay = task
                        .map(|t| t.retry_delay_before(u32::try_from(live.try_number + 1).unwrap_or(u32::MAX)))
                        .unwrap_or_default();
                    let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                    (TryState::Failed, TiState::UpForRetry, Some(at), Some(message.as_str()))
                } else {
                    (TryState::Failed, TiState::Failed, None, Some(message.as_str()))
                }
            }
        };
        // Airflow's task callbacks: on_retry when a try fails and another
        // follows, on_failure when the task ends failed.
        let (event, names) = match (ti_state, task) {
            (TiState::Success, Some(t)) => (NotifyEvent::OnSuccess, t.on_success.as_slice()),
            (TiState::UpForRetry, Some(t)) => (NotifyEvent::OnRetry, t.on_retry.as_slice()),
            (_, Some(t)) => (NotifyEvent::OnFailure, t.on_failure.as_slice()),
            (_, None) => (NotifyEvent::OnFailure, &[][..]),
        };
        let notes: Vec<NewNotification> = names
            .iter()
            .map(|notifier| NewNotification {
                notifier,
                event,
                dag_id: &ctx.row.dag_id,
                run_id: &ctx.row.run_id,
                task_id: Some(&live.task_id),
                try_number: Some(live.try_number),
                try_id: Some(try_id),
                state: ti_state.as_str(),
                message,
            })
            .collect();
        self.store
            .finish_try_notifying(
                &FinishTry {
                    try_id,
                    ti: ti.id,
                    try_state,
                    ti_state,
                    next_try_at,
                    message,
                },
                &notes,
            )
            .await?;
        info!(dag_id = %ctx.row.dag_id, run_id = %ctx.row.run_id, task = %live.task_id,
              try_number = live.try_number, state = %ti_state, message = message.unwrap_or(""), "try ended");
        let ctx = self.runs.get_mut(&live.run_pk).expect("run");
        let ti = ctx.tis.get_mut(&live.task_id).expect("ti");
        ti.state = ti_state;
        ti.next_try_at = next_try_at;
        let change = Change::Task {
            dag_id: ctx.row.dag_id.clone(),
            run_id: ctx.row.run_id.clone(),
            task_id: live.task_id.clone(),
            state: ti_state.to_string(),
            try_number: live.try_number,
        };
        self.emit(change);
        self.dirty.insert(live.run_pk);
        Ok(())
    }
}

/// Where to start looking for the latest tick after `base` and at or before
/// `now` (and the end date): the shortest window back from there, doubling
/// from one second, that holds a tick; `base` if none is shorter.
fn latest_tick_window(dag: &Dag, base: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let horizon = dag.end_date.map_or(now, |e| e.min(now));
    let mut window = chrono::Duration::seconds(1);
    loop {
        let from = horizon - window;
        if from <= base {
            return base;
        }
        if dag.schedule.next_after(from, dag.timezone).is_some_and(|t| t <= horizon) {
            return from;
        }
        window = window * 2;
    }
}

/// Path-safe form of an id (run ids carry colons and plus signs).
pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect()
}
