//! After a restart: reads back the runs and tries the last process left
//! open, re-attaches to the drivers that outlived it and ends the others,
//! as [`decide::reopen`] says.

use tracing::{error, info, warn};

use chrono::Utc;
use drover_store::{DriverState, DriverUpdate, RunState, StoreError};

use super::state::{Core, Hold, LiveTry, RunCtx};
use crate::decide::{self, OpenTry, Outcome, Reopen};
use crate::driver::Stop;

impl Core {
    pub(super) async fn recover(&mut self) -> Result<(), StoreError> {
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
            let ctx = &self.runs[&run_pk];
            let hold = Hold::of(&ctx.row.dag_id, ctx.dag.task(&task_id), &t.backend);
            let live = LiveTry {
                run_pk,
                task_id,
                try_number: t.try_number,
                stop: Stop::default(),
                hold,
            };
            let open = OpenTry {
                client: t.deploy_mode == "client",
                stop_reason: t.stop_reason,
                stop_requested_at: t.stop_requested_at,
                cluster_id: t.cluster_id.as_deref(),
                driver_state: t.driver_state,
            };
            match decide::reopen(open, Utc::now()) {
                Reopen::Resume(resume) => self.spawn_try(&t, live, resume, None),
                Reopen::End { state, why, final_ } => {
                    info!(try_id = t.id, reason = why, "try ended on restart");
                    self.store.update_driver(t.id, &DriverUpdate::state(state).message(why)).await?;
                    self.tries.insert(t.id, live);
                    self.try_done(t.id, Outcome::Failed { message: why.into(), final_ }).await?;
                }
            }
        }
        Ok(())
    }
}
