//! Backfills: making one ([`decide::plan`] picks the ticks; the store
//! commits the backfill with all its runs at once), pausing, resuming and
//! cancelling one, and marking it completed when its last run ends.

use std::sync::Arc;

use tracing::info;

use drover_store::{BackfillRow, NewBackfill, NewRun, Rerun, RunState, StoreError};

use super::state::{Core, RunCtx};
use crate::control::{BackfillChange, BackfillMade, BackfillRequest, Change, ControlError};
use crate::decide::{self, Refused, Reprocess, Tick};

impl Core {
    pub(super) async fn backfill(&mut self, req: BackfillRequest) -> Result<BackfillMade, ControlError> {
        let internal = |e: StoreError| ControlError::Internal(e.to_string());
        let dag = self
            .dags
            .read()
            .expect("dag map")
            .get(&req.dag_id)
            .cloned()
            .ok_or_else(|| ControlError::NotFound(format!("DAG `{}`", req.dag_id)))?;
        let reprocess = Reprocess::parse(&req.reprocess_behavior).ok_or_else(|| {
            ControlError::Invalid(format!(
                "unknown reprocess_behavior `{}`: use none, failed or completed",
                req.reprocess_behavior
            ))
        })?;
        if req.max_active_runs < 1 {
            return Err(ControlError::Invalid("max_active_runs must be at least 1".into()));
        }
        let params = dag.resolve_params(&req.conf).map_err(|errors| {
            ControlError::Invalid(format!(
                "conf does not match the DAG's params: {}",
                errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            ))
        })?;
        let existing = self.store.runs_between(&dag.id, req.from_date, req.to_date).await.map_err(internal)?;
        let ticks = decide::plan(&dag, req.from_date, req.to_date, reprocess, req.run_backwards, &existing).map_err(|r| {
            ControlError::Invalid(match r {
                Refused::NoSchedule => format!("DAG `{}` has no schedule: a backfill runs a schedule's ticks", dag.id),
                Refused::Backwards => "from_date is after to_date".into(),
                Refused::TooMany => format!("the range holds more than {} ticks", decide::MAX_BACKFILL_RUNS),
                Refused::OutOfRange => "from_date and to_date must lie between 1970 and 2200".into(),
            })
        })?;
        let logical_dates: Vec<_> = ticks.iter().map(Tick::logical_date).collect();
        if req.dry_run {
            return Ok(BackfillMade { backfill: None, logical_dates });
        }
        if let Some(open) = self.backfills.values().find(|b| b.dag_id == dag.id) {
            return Err(ControlError::Conflict(format!(
                "DAG `{}` already has backfill {} going; cancel it or wait for it to complete",
                dag.id, open.id
            )));
        }
        if ticks.is_empty() {
            return Err(ControlError::Invalid("no schedule tick in the range needs a run".into()));
        }

        let conf = serde_json::Value::Object(req.conf.clone());
        let params = serde_json::Value::Object(params);
        let run_ids: Vec<String> = ticks.iter().map(|t| decide::backfill_run_id(t.logical_date())).collect();
        let tasks: Vec<(String, i64)> = dag.tasks.iter().map(|t| (t.id.clone(), i64::from(t.retries) + 1)).collect();
        let mut new_runs = Vec::new();
        let mut reruns = Vec::new();
        let mut rerun_dags = Vec::new();
        for (tick, run_id) in ticks.iter().zip(&run_ids) {
            match tick {
                Tick::New(at) => new_runs.push(NewRun {
                    dag_id: &dag.id,
                    run_id,
                    run_type: "backfill",
                    logical_date: *at,
                    conf: &conf,
                    params: &params,
                    dag_hash: &dag.source_hash,
                    dag_snapshot: &dag.source,
                    tasks: tasks.clone(),
                    schedule_position: None,
                }),
                Tick::Rerun { run_pk, .. } => {
                    // The whole run again, each task with its retries afresh.
                    let row = self.store.get_run_by_pk(*run_pk).await.map_err(internal)?;
                    let run_dag = self
                        .run_dag(&row)
                        .await
                        .map_err(|e| ControlError::Conflict(format!("run `{}` cannot be rerun: {e}", row.run_id)))?;
                    let tis = self.load_tis(*run_pk).await.map_err(internal)?;
                    let tis = tis
                        .values()
                        .map(|t| (t.id, decide::max_tries_after_clear(run_dag.task(&t.task_id), t.try_number)))
                        .collect();
                    reruns.push(Rerun { run_pk: *run_pk, tis });
                    rerun_dags.push(run_dag);
                }
            }
        }
        let new = NewBackfill {
            dag_id: &dag.id,
            from_date: req.from_date,
            to_date: req.to_date,
            dag_run_conf: &conf,
            reprocess_behavior: &req.reprocess_behavior,
            max_active_runs: req.max_active_runs,
            run_backwards: req.run_backwards,
        };
        let (backfill, rows) = self.store.create_backfill(&new, &new_runs, &reruns).await.map_err(|e| match e {
            StoreError::RunExists { run_id, .. } => ControlError::Conflict(format!("a run `{run_id}` already exists")),
            e => internal(e),
        })?;
        info!(dag_id = %dag.id, backfill = backfill.id, runs = rows.len(), "backfill created");
        let mut rerun_dags = rerun_dags.into_iter();
        for row in rows {
            let run_dag = if reruns.iter().any(|r| r.run_pk == row.id) { rerun_dags.next().expect("a DAG per rerun") } else { Arc::clone(&dag) };
            let tis = self.load_tis(row.id).await.map_err(internal)?;
            self.emit(Change::Run { dag_id: row.dag_id.clone(), run_id: row.run_id.clone(), state: row.state.to_string() });
            self.dirty.insert(row.id);
            self.runs.insert(row.id, RunCtx { row, dag: run_dag, tis });
        }
        self.backfills.insert(backfill.id, backfill.clone());
        Ok(BackfillMade { backfill: Some(backfill), logical_dates })
    }

    pub(super) async fn change_backfill(&mut self, id: i64, change: BackfillChange) -> Result<BackfillRow, ControlError> {
        let internal = |e: StoreError| match e {
            StoreError::NotFound(what) => ControlError::NotFound(what),
            e => ControlError::Internal(e.to_string()),
        };
        let Some(open) = self.backfills.get(&id) else {
            return match self.store.get_backfill(id).await.map_err(internal)? {
                Some(_) => Err(ControlError::Conflict(format!("backfill {id} has already completed"))),
                None => Err(ControlError::NotFound(format!("backfill {id}"))),
            };
        };
        let dag_id = open.dag_id.clone();
        let row = match change {
            BackfillChange::Pause | BackfillChange::Unpause => {
                let row = self.store.set_backfill_paused(id, change == BackfillChange::Pause).await.map_err(internal)?;
                self.backfills.insert(id, row.clone());
                row
            }
            BackfillChange::Cancel => {
                let row = self.store.complete_backfill(id, true).await.map_err(internal)?;
                self.backfills.remove(&id);
                let never_started: Vec<i64> = self
                    .runs
                    .iter()
                    .filter(|(_, r)| r.row.backfill_id == Some(id) && r.row.state == RunState::Queued)
                    .map(|(pk, _)| *pk)
                    .collect();
                for pk in never_started {
                    let ctx = self.runs.remove(&pk).expect("run");
                    self.queue.remove_run(pk);
                    self.emit(Change::Run { dag_id: ctx.row.dag_id, run_id: ctx.row.run_id, state: RunState::Failed.to_string() });
                }
                info!(backfill = id, "backfill cancelled");
                row
            }
        };
        // Runs that may start now (unpaused), or other runs of the DAG.
        self.dirty.extend(self.runs.iter().filter(|(_, r)| r.row.dag_id == dag_id).map(|(pk, _)| *pk));
        Ok(row)
    }

    /// Whether a queued run may start: a backfill's run while its backfill
    /// has room, any other while the DAG is under its `max_active_runs`
    /// (counting only its runs outside backfills).
    pub(super) fn run_has_room(&self, run_pk: i64) -> bool {
        let row = &self.runs[&run_pk].row;
        let running = |same: &dyn Fn(&drover_store::RunRow) -> bool| {
            self.runs.values().filter(|r| r.row.state == RunState::Running && same(&r.row)).count()
        };
        if let Some(b) = row.backfill_id.and_then(|id| self.backfills.get(&id)) {
            return decide::backfill_has_room(b.is_paused, running(&|r| r.backfill_id == Some(b.id)), b.max_active_runs);
        }
        // The loaded DAG's limit: a reload may have changed it.
        let limit = self
            .dags
            .read()
            .expect("dag map")
            .get(&row.dag_id)
            .map_or(self.runs[&run_pk].dag.max_active_runs, |d| d.max_active_runs);
        let in_backfill = |r: &drover_store::RunRow| r.backfill_id.is_some_and(|id| self.backfills.contains_key(&id));
        decide::has_room(running(&|r| r.dag_id == row.dag_id && !in_backfill(r)), limit)
    }

    /// After a run of a backfill ended: the backfill completes with its last run.
    pub(super) async fn backfill_run_ended(&mut self, backfill_id: Option<i64>) -> Result<(), StoreError> {
        let Some(id) = backfill_id.filter(|id| self.backfills.contains_key(id)) else { return Ok(()) };
        if self.runs.values().any(|r| r.row.backfill_id == Some(id)) {
            return Ok(());
        }
        self.store.complete_backfill(id, false).await?;
        self.backfills.remove(&id);
        info!(backfill = id, "backfill completed");
        Ok(())
    }
}
