//! Airflow's "clear": resets the task instances [`decide::clear_selection`]
//! picks, reopening an ended run.

use tracing::info;

use drover_store::{RunState, StoreError, TiState};

use super::state::{Core, RunCtx};
use crate::control::{Change, ClearRequest, ControlError};
use crate::decide::{self, Refusal};

impl Core {
    /// The chosen task instances of a run run again, with the task's
    /// retries afresh. An ended run is reopened. Running tasks are refused:
    /// kill them first. Returns the cleared task ids.
    pub(super) async fn clear(&mut self, dag_id: &str, req: ClearRequest) -> Result<Vec<String>, ControlError> {
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
        let chosen = decide::clear_selection(
            &dag,
            &tis,
            req.task_ids.as_deref(),
            req.only_failed,
            req.include_downstream,
        )
        .map_err(|refusal| match refusal {
            Refusal::UnknownTask(unknown) => {
                ControlError::NotFound(format!("task `{unknown}` in run `{}`", req.run_id))
            }
            Refusal::Busy(busy) => ControlError::Conflict(format!(
                "task {} of run `{}` has not ended; kill it first, then clear it",
                busy.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "),
                req.run_id
            )),
        })?;
        if req.dry_run || chosen.is_empty() {
            return Ok(chosen);
        }
        let updates: Vec<(i64, i64)> = chosen
            .iter()
            .map(|t| (tis[t].id, decide::max_tries_after_clear(dag.task(t), tis[t].try_number)))
            .collect();
        self.store.clear_tis(row.id, &updates).await.map_err(internal)?;
        // The run waits for room among the DAG's runs again.
        self.queue.remove_run(row.id);
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
}
