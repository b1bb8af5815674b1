//! Tries: committing a new one and handing it to a driver task, ending one
//! as [`decide::try_ended`] says (success, a retry later, or failure for
//! good), and killing one on request.

use chrono::{DateTime, Utc};
use tracing::info;

use drover_dag::{RenderContext, Task};
use drover_store::{DriverState, DriverUpdate, FinishTry, NewNotification, NewTry, StopReason, StoreError, TryRow};

use super::state::{Core, Hold, LiveTry};
use crate::control::{Change, ControlError};
use crate::decide::{self, Outcome, Resume};
use crate::driver::{Stop, TryJob};
use crate::msg::Msg;

impl Core {
    /// Commits a new try (the driver's intent, with its submission key) and
    /// only then hands it to a driver task.
    pub(super) async fn start_try(&mut self, run_pk: i64, task: &Task, try_number: i64) -> Result<(), StoreError> {
        let ctx = self.runs.get(&run_pk).expect("run");
        let ti = ctx.tis[&task.id].clone();
        let now = Utc::now();
        let ready_at = decide::ready_at(&ti, now);
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
                deadline_at: decide::deadline(task, now),
                message: None,
            })
            .await?;
        {
            let ctx = self.runs.get_mut(&run_pk).expect("run");
            let ti = ctx.tis.get_mut(&task.id).expect("ti");
            ti.state = drover_store::TiState::Running;
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
            hold: Hold::of(&self.runs[&run_pk].row.dag_id, Some(task), &task.backend),
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

    /// Hands a committed try to its own driver task; one that cannot be
    /// resumed ends failed for good through the loop.
    pub(super) fn spawn_try(&mut self, t: &TryRow, live: LiveTry, resume: Resume, ready_at: Option<DateTime<Utc>>) {
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
        let log_path = crate::paths::task_dir(&self.cfg.logs_dir, &ctx.row.dag_id, &ctx.row.run_id, &live.task_id)
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

    /// Ends a try as [`decide::try_ended`] says, with the task's callbacks
    /// committed alongside; then the run moves on at once.
    pub(super) async fn try_done(&mut self, try_id: i64, outcome: Outcome) -> Result<(), StoreError> {
        let Some(live) = self.tries.remove(&try_id) else { return Ok(()) };
        let Some(ctx) = self.runs.get(&live.run_pk) else { return Ok(()) };
        let ti = &ctx.tis[&live.task_id];
        let task = ctx.dag.task(&live.task_id);
        let end = decide::try_ended(&outcome, live.try_number, ti.max_tries, ctx.row.failing, task, &ctx.row.run_id, Utc::now());
        let message = match &outcome {
            Outcome::Succeeded => None,
            Outcome::Failed { message, .. } => Some(message.as_str()),
        };
        let (event, names) = decide::task_notifiers(end.ti_state, task);
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
                state: end.ti_state.as_str(),
                message,
            })
            .collect();
        self.store
            .finish_try_notifying(
                &FinishTry {
                    try_id,
                    ti: ti.id,
                    try_state: end.try_state,
                    ti_state: end.ti_state,
                    next_try_at: end.next_try_at,
                    message,
                },
                &notes,
            )
            .await?;
        info!(dag_id = %ctx.row.dag_id, run_id = %ctx.row.run_id, task = %live.task_id,
              try_number = live.try_number, state = %end.ti_state, message = message.unwrap_or(""), "try ended");
        let ctx = self.runs.get_mut(&live.run_pk).expect("run");
        let ti = ctx.tis.get_mut(&live.task_id).expect("ti");
        ti.state = end.ti_state;
        ti.next_try_at = end.next_try_at;
        let change = Change::Task {
            dag_id: ctx.row.dag_id.clone(),
            run_id: ctx.row.run_id.clone(),
            task_id: live.task_id.clone(),
            state: end.ti_state.to_string(),
            try_number: live.try_number,
        };
        self.emit(change);
        // The freed room goes to the next queued task on this turn.
        self.dirty.insert(live.run_pk);
        // A later run's depends_on_past task may have waited for this one.
        let ctx = &self.runs[&live.run_pk];
        if ctx.dag.tasks.iter().any(|t| t.depends_on_past) {
            let dag_id = ctx.row.dag_id.clone();
            self.dirty.extend(self.runs.iter().filter(|(_, r)| r.row.dag_id == dag_id).map(|(pk, _)| *pk));
        }
        Ok(())
    }

    /// Kills a task's running try: the intent is committed first, so a
    /// restart finishes the kill instead of retrying the try.
    pub(super) async fn kill_task(&mut self, dag_id: &str, run_id: &str, task_id: &str) -> Result<(), ControlError> {
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
}
