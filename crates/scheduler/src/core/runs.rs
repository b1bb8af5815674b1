//! Runs: creating them (trigger, cron), moving them on as
//! [`decide::next_steps`] says, finishing them, and failing them on request.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{error, info, warn};

use drover_dag::Dag;
use drover_store::{NewNotification, NewRun, RunRow, RunState, StopReason, StoreError, TiState};

use super::state::{Core, RunCtx};
use crate::control::{Change, ControlError, TriggerError, TriggerRequest};
use crate::decide::{self, Step};

impl Core {
    pub(super) async fn trigger(&mut self, dag_id: &str, req: TriggerRequest) -> Result<RunRow, TriggerError> {
        let dag = self
            .dags
            .read()
            .expect("dag map")
            .get(dag_id)
            .cloned()
            .ok_or_else(|| TriggerError::UnknownDag(dag_id.to_string()))?;
        let params = dag.resolve_params(&req.conf).map_err(TriggerError::BadConf)?;
        let logical = req.logical_date.unwrap_or_else(Utc::now);
        let run_id = req.run_id.unwrap_or_else(|| decide::manual_run_id(logical));
        match self
            .create_run(&dag, &run_id, "manual", logical, req.conf, params, None)
            .await
        {
            Ok(row) => Ok(row),
            Err(StoreError::RunExists { dag_id, run_id }) => Err(TriggerError::Exists { dag_id, run_id }),
            Err(e) => Err(TriggerError::Internal(e.to_string())),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn create_run(
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

    /// Moves one run forward: start it if its DAG (or backfill) has room, then do what
    /// [`decide::next_steps`] says for its tasks, and end the run when every
    /// task has ended.
    pub(super) async fn advance(&mut self, run_pk: i64) -> Result<(), StoreError> {
        let Some(ctx) = self.runs.get(&run_pk) else { return Ok(()) };
        let dag = ctx.dag.clone();
        if ctx.row.state == RunState::Queued {
            if !self.run_has_room(run_pk) {
                return Ok(());
            }
            self.store.set_run_state(run_pk, RunState::Running).await?;
            let ctx = self.runs.get_mut(&run_pk).expect("run");
            ctx.row.state = RunState::Running;
            // As the store set it; the run's deadline counts from here.
            ctx.row.start_date.get_or_insert_with(Utc::now);
            let change = Change::Run {
                dag_id: dag.id.clone(),
                run_id: ctx.row.run_id.clone(),
                state: "running".into(),
            };
            self.emit(change);
        }

        let ctx = self.runs.get(&run_pk).expect("run");
        if decide::run_deadline(&ctx.row, &dag).is_some_and(|d| d <= Utc::now()) {
            let (dag_id, run_id) = (ctx.row.dag_id.clone(), ctx.row.run_id.clone());
            warn!(%dag_id, %run_id, timeout = ?dag.dagrun_timeout, "run timed out (dagrun_timeout): failing it");
            if let Err(e) = self.fail_run(&dag_id, &run_id).await {
                error!(%dag_id, %run_id, error = %e, "cannot fail a timed-out run");
            }
        }
        let past = self.past_states(run_pk).await?;
        let ctx = self.runs.get(&run_pk).expect("run");
        let lookup = |task_id: &str| past.as_ref().and_then(|p| p.get(task_id).copied());
        let queue = &self.queue;
        let waiting = |ti: i64| queue.get(ti).is_some();
        let steps = decide::next_steps(&dag, &ctx.tis, ctx.row.failing, Utc::now(), &lookup, &waiting);
        for step in steps {
            match step {
                Step::UpstreamFailed { task_id } => self.set_ti(run_pk, &task_id, TiState::UpstreamFailed).await?,
                Step::Skip { task_id } => self.set_ti(run_pk, &task_id, TiState::Skipped).await?,
                Step::Start { task_id, try_number } => self.enqueue(run_pk, &task_id, try_number),
            }
        }

        let ctx = self.runs.get(&run_pk).expect("run");
        if let Some(state) = decide::run_end(ctx.tis.values(), ctx.row.failing) {
            self.finish_run(run_pk, &dag, state).await?;
        }
        Ok(())
    }

    /// Commits a run's end with its notifications, then lets queued runs of
    /// the same DAG start.
    async fn finish_run(&mut self, run_pk: i64, dag: &Dag, state: RunState) -> Result<(), StoreError> {
        let ctx = self.runs.get(&run_pk).expect("run");
        let (event, names) = decide::run_notifiers(state, dag);
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
        self.queue.remove_run(run_pk);
        let ctx = self.runs.remove(&run_pk).expect("run");
        info!(dag_id = %ctx.row.dag_id, run_id = %ctx.row.run_id, state = %state, "run finished");
        self.emit(Change::Run {
            dag_id: ctx.row.dag_id.clone(),
            run_id: ctx.row.run_id.clone(),
            state: state.to_string(),
        });
        // Queued runs may start now, and a later run's depends_on_past
        // tasks may go on.
        let waiting: Vec<i64> = self
            .runs
            .iter()
            .filter(|(_, r)| r.row.dag_id == ctx.row.dag_id)
            .map(|(pk, _)| *pk)
            .collect();
        self.dirty.extend(waiting);
        self.backfill_run_ended(ctx.row.backfill_id).await
    }

    /// Marks a run failed: kills its running drivers through their clusters
    /// and skips every task that has not started. The run ends failed once
    /// the kills are confirmed.
    pub(super) async fn fail_run(&mut self, dag_id: &str, run_id: &str) -> Result<(), ControlError> {
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
        let waiting = decide::skipped_by_fail(ctx.tis.values());
        self.queue.remove_run(run_pk);
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
}
