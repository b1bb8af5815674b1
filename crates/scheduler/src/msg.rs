//! What the scheduler loop is woken with: requests from the handle, a try's
//! end from its driver task, a changed DAG folder from the watcher.

use tokio::sync::oneshot;

use drover_store::RunRow;

use crate::control::{ClearRequest, ControlError, TriggerError, TriggerRequest};
use crate::decide::Outcome;

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
    Pool {
        edit: crate::PoolEdit,
        reply: oneshot::Sender<Result<Option<crate::PoolView>, ControlError>>,
    },
    Backfill {
        req: crate::BackfillRequest,
        reply: oneshot::Sender<Result<crate::BackfillMade, ControlError>>,
    },
    ChangeBackfill {
        id: i64,
        change: crate::BackfillChange,
        reply: oneshot::Sender<Result<drover_store::BackfillRow, ControlError>>,
    },
    Reload,
    ReloadNow {
        reply: oneshot::Sender<()>,
    },
    /// Test hook: the loop waits here, doing nothing, until the sender is
    /// dropped ([`crate::SchedulerHandle::stall_for_test`]).
    Stall(oneshot::Receiver<()>),
}
