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
