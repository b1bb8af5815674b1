//! Cron: creates the runs of due ticks ([`decide::cron_step`] says which)
//! and keeps each DAG's next wake-up; pausing a DAG.

use std::sync::Arc;

use chrono::Utc;
use tracing::warn;

use drover_dag::Dag;
use drover_store::StoreError;

use super::state::Core;
use crate::control::{Change, ControlError};
use crate::decide::{self, CronStep};

impl Core {
    pub(super) async fn schedule_cron(&mut self) -> Result<(), StoreError> {
        let now = Utc::now();
        let dags: Vec<Arc<Dag>> = self.dags.read().expect("dag map").values().cloned().collect();
        for dag in dags {
            let Some(row) = self.dag_rows.get(&dag.id) else { continue };
            let step = decide::cron_step(&dag, row.is_paused, row.last_scheduled_at, self.next_cron.get(&dag.id).copied(), now);
            let (due, next) = match step {
                CronStep::Wait => continue,
                CronStep::Paused => {
                    self.next_cron.remove(&dag.id);
                    continue;
                }
                CronStep::Due { due, next } => (due, next),
            };
            for at in due {
                let params = match dag.resolve_params(&serde_json::Map::new()) {
                    Ok(p) => p,
                    Err(errors) => {
                        warn!(dag_id = %dag.id, "scheduled run skipped: params need values: {errors:?}");
                        break;
                    }
                };
                let run_id = decide::scheduled_run_id(at);
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
            match next {
                Some(next) => {
                    self.next_cron.insert(dag.id.clone(), next);
                }
                None => {
                    self.next_cron.remove(&dag.id);
                }
            }
        }
        Ok(())
    }

    /// A paused DAG gets no scheduled runs; its runs already open go on.
    pub(super) async fn set_paused(&mut self, dag_id: &str, paused: bool) -> Result<(), ControlError> {
        match self.store.set_paused(dag_id, paused).await {
            Ok(()) => {
                if let Some(row) = self.dag_rows.get_mut(dag_id) {
                    row.is_paused = paused;
                }
                self.next_cron.remove(dag_id);
                self.emit(Change::Dags);
                Ok(())
            }
            Err(StoreError::NotFound(what)) => Err(ControlError::NotFound(what)),
            Err(e) => Err(ControlError::Internal(e.to_string())),
        }
    }
}
