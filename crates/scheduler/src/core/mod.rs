//! The scheduler loop: it holds the open runs and live tries ([`state`]),
//! is woken by events ([`Msg`]) and due times, and acts on what the rules
//! in [`crate::decide`] say, one concern per module: [`runs`] (creation,
//! advancing, finishing, failing), [`tries`] (start, end, retry, kill),
//! [`cron`], [`clear`] and [`recover`] (restart and re-attach).

mod admit;
mod backfill;
mod clear;
mod cron;
mod recover;
mod runs;
mod state;
mod tries;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use drover_plugin_host::BackendSet;
use drover_store::{Store, StoreError};

use crate::archive::Archiver;
use crate::config::Config;
use crate::control::Change;
use crate::handle::SchedulerHandle;
use crate::loader;
use crate::msg::Msg;
use crate::relay::{self, Parts};
use crate::tracker::Trackers;
use state::Core;

/// Loads the DAGs, re-attaches to whatever the last process left running,
/// and starts the loop. The loop ends when `cancel` fires; cluster-mode
/// drivers keep running on their clusters and are re-attached next start.
pub async fn start(
    cfg: Config,
    store: Store,
    backends: BackendSet,
    cancel: CancellationToken,
) -> Result<(SchedulerHandle, JoinHandle<()>), StoreError> {
    let parts = Parts::new(&cfg);
    start_in(parts, cfg, store, backends, cancel).await
}

/// As [`start`], on a channel and state made beforehand (a standby's,
/// which its handle already serves the API with).
pub(crate) async fn start_in(
    parts: Parts,
    cfg: Config,
    store: Store,
    backends: BackendSet,
    cancel: CancellationToken,
) -> Result<(SchedulerHandle, JoinHandle<()>), StoreError> {
    let Parts { tx, rx, dags, changes, metrics, pool_usage } = parts;
    let mut core = Core {
        cfg: cfg.clone(),
        store: store.clone(),
        backends: backends.clone(),
        dags,
        dag_rows: HashMap::new(),
        next_cron: HashMap::new(),
        runs: BTreeMap::new(),
        tries: HashMap::new(),
        dirty: BTreeSet::new(),
        queue: Default::default(),
        fresh: Vec::new(),
        pools: BTreeMap::new(),
        pool_usage,
        backfills: HashMap::new(),
        tx: tx.clone(),
        changes: changes.clone(),
        trackers: Trackers::new(cfg.poll),
        metrics,
    };
    if store.is_postgres() {
        // Other drovers serve the API too: their requests arrive as
        // commands, and they follow this loop's changes.
        tokio::spawn(relay::publish(store.clone(), changes.clone(), cancel.clone()));
    }
    core.load_pools().await?;
    core.backfills = store.open_backfills().await?.into_iter().map(|b| (b.id, b)).collect();
    core.reload().await?;
    core.recover().await?;
    if store.is_postgres() {
        tokio::spawn(relay::pump(store.clone(), tx.clone(), cancel.clone()));
    }
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
        pool_usage: core.pool_usage.clone(),
    };
    let archiver = Archiver {
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
                        // Whatever else already arrived, each acted on at
                        // once: a slot a try's end frees goes to the next
                        // task before the next end is even recorded.
                        while let Ok(m) = rx.try_recv() {
                            if let Err(e) = self.step().await {
                                error!(error = %e, "scheduler step failed");
                            }
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

    /// Creates due cron runs, advances every run something happened to and
    /// hands out room to the ready tasks.
    async fn step(&mut self) -> Result<(), StoreError> {
        self.schedule_cron().await?;
        loop {
            while let Some(run_pk) = self.dirty.pop_first() {
                self.advance(run_pk).await?;
            }
            self.admit().await?;
            // A start that failed at once (no backend, say) ended its try
            // and may have readied more.
            if self.dirty.is_empty() {
                return Ok(());
            }
        }
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
                let r = self.set_paused(&dag_id, paused).await;
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
            Msg::Backfill { req, reply } => {
                let _ = reply.send(self.backfill(req).await);
            }
            Msg::ChangeBackfill { id, change, reply } => {
                let _ = reply.send(self.change_backfill(id, change).await);
            }
            Msg::Pool { edit, reply } => {
                let _ = reply.send(self.edit_pool(edit).await);
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
}
