//! What the loop holds between events: the open runs with their task
//! instances, the live tries, and the runs to look at on the next turn;
//! plus the small effects every concern shares.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc};

use drover_dag::Dag;
use drover_plugin_host::BackendSet;
use drover_store::{DagRow, RunRow, Store, StoreError, TaskInstanceRow, TiState};

use crate::config::Config;
use crate::control::Change;
use crate::driver::Stop;
use crate::loader;
use crate::metrics::Metrics;
use crate::msg::Msg;
use crate::tracker::Trackers;

pub(super) struct RunCtx {
    pub row: RunRow,
    /// The DAG the run was created with.
    pub dag: Arc<Dag>,
    pub tis: BTreeMap<String, TaskInstanceRow>,
}

pub(super) struct LiveTry {
    pub run_pk: i64,
    pub task_id: String,
    pub try_number: i64,
    pub stop: Stop,
    /// What the try holds while it runs: slots of a pool, a place in its
    /// DAG's max_active_tasks and in its backend's max_running_drivers.
    pub hold: Hold,
}

#[derive(Debug, Clone)]
pub(super) struct Hold {
    pub dag_id: String,
    pub pool: String,
    pub slots: u32,
    pub backend: String,
}

impl Hold {
    pub(super) fn of(dag_id: &str, task: Option<&drover_dag::Task>, backend: &str) -> Hold {
        Hold {
            dag_id: dag_id.to_string(),
            pool: task.map_or_else(|| drover_dag::DEFAULT_POOL.to_string(), |t| t.pool.clone()),
            slots: task.map_or(1, |t| t.pool_slots),
            backend: backend.to_string(),
        }
    }
}

pub(super) struct Core {
    pub cfg: Config,
    pub store: Store,
    pub backends: BackendSet,
    /// The DAG files as last loaded; shared with the handle.
    pub dags: Arc<RwLock<BTreeMap<String, Arc<Dag>>>>,
    pub dag_rows: HashMap<String, DagRow>,
    /// When to look at each scheduled DAG again.
    pub next_cron: HashMap<String, DateTime<Utc>>,
    /// Open runs by primary key.
    pub runs: BTreeMap<i64, RunCtx>,
    /// Tries with a driver task, by try id.
    pub tries: HashMap<i64, LiveTry>,
    /// Runs something happened to since they were last advanced.
    pub dirty: BTreeSet<i64>,
    /// Ready tasks waiting for room, in the order they get it.
    pub queue: crate::decide::Queue,
    /// Queued since room was last handed out: their reason is still to be written.
    pub fresh: Vec<i64>,
    /// Pools by name, as the store has them.
    pub pools: BTreeMap<String, i64>,
    /// Backfills not completed yet, by id.
    pub backfills: HashMap<i64, drover_store::BackfillRow>,
    /// What the pools hold and wait for, for the API.
    pub pool_usage: Arc<RwLock<BTreeMap<String, crate::PoolUsage>>>,
    pub tx: mpsc::UnboundedSender<Msg>,
    pub changes: broadcast::Sender<Change>,
    pub trackers: Arc<Trackers>,
    pub metrics: Arc<Metrics>,
}

impl Core {
    pub(super) fn emit(&self, c: Change) {
        let _ = self.changes.send(c);
    }

    pub(super) fn next_wake(&self) -> Option<DateTime<Utc>> {
        crate::decide::next_wake(
            self.runs.values().flat_map(|r| r.tis.values()),
            self.next_cron
                .values()
                .copied()
                .chain(self.runs.values().filter_map(|r| crate::decide::run_deadline(&r.row, &r.dag))),
        )
    }

    /// A run's task instances by task id.
    pub(super) async fn load_tis(&self, run_pk: i64) -> Result<BTreeMap<String, TaskInstanceRow>, StoreError> {
        Ok(self
            .store
            .task_instances(run_pk)
            .await?
            .into_iter()
            .map(|t| (t.task_id.clone(), t))
            .collect())
    }

    /// The open run and task id of a task instance.
    pub(super) fn locate(&self, ti: i64) -> Option<(i64, String)> {
        self.runs.iter().find_map(|(pk, r)| {
            r.tis
                .values()
                .find(|t| t.id == ti)
                .map(|t| (*pk, t.task_id.clone()))
        })
    }

    /// The DAG a run was created with: the loaded one if the file has not
    /// changed since, else rebuilt from the snapshot the run keeps.
    pub(super) async fn run_dag(&self, row: &RunRow) -> Result<Arc<Dag>, String> {
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

    /// The states of the task instances of the run before `run_pk` (by
    /// logical date), for its `depends_on_past` tasks; `None` when it has
    /// none or there is no earlier run.
    pub(super) async fn past_states(&self, run_pk: i64) -> Result<Option<HashMap<String, TiState>>, StoreError> {
        let ctx = &self.runs[&run_pk];
        if !ctx.dag.tasks.iter().any(|t| t.depends_on_past) {
            return Ok(None);
        }
        let Some(prev) = self.store.previous_run(&ctx.row.dag_id, ctx.row.logical_date).await? else {
            return Ok(None);
        };
        let tis = match self.runs.get(&prev.id) {
            Some(open) => open.tis.values().map(|t| (t.task_id.clone(), t.state)).collect(),
            None => self.store.task_instances(prev.id).await?.into_iter().map(|t| (t.task_id, t.state)).collect(),
        };
        Ok(Some(tis))
    }

    /// Commits a task instance's new state, then tells the watchers.
    pub(super) async fn set_ti(&mut self, run_pk: i64, task_id: &str, state: TiState) -> Result<(), StoreError> {
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
}
