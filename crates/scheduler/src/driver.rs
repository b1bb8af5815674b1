//! One try's driver, from submission to its end.
//!
//! Runs as its own tokio task so the scheduler loop never waits on a cluster.
//! Every state it learns is committed to the store before it reports the
//! outcome back to the loop.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use drover_plugin_host::{Backend, CallError, DriverPhase, DriverStatus, PluginError, Submitted};
use drover_store::{DriverState, DriverUpdate, Store};

use crate::core::Msg;
use crate::process;

/// How long drover keeps asking a cluster to kill a driver and checking
/// that it did, before it says it could not confirm.
const KILL_CONFIRM_WINDOW: Duration = Duration::from_secs(120);
/// A kill the cluster accepted but did not act on is sent again this often.
const KILL_RESEND: Duration = Duration::from_secs(10);

/// How a try ended, as the loop needs it to decide what comes next.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Succeeded,
    /// `final_` failures are not retried (the configuration is wrong).
    Failed { message: String, final_: bool },
}

/// Why a try is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    TimedOut,
    /// The driver never left submitted/queued within the task's start timeout.
    NeverStarted,
    Killed,
}

/// How a try job begins.
#[derive(Debug, Clone)]
pub(crate) enum Resume {
    /// A new try: submit.
    Submit,
    /// After a restart, the cluster's id is known: follow it.
    Attach(String),
    /// After a restart between committing the intent and recording the
    /// cluster's answer: ask the cluster for the submission by its key before
    /// submitting, so nothing is submitted twice.
    Find,
}

/// Polling cadence for cluster-mode drivers: quick right after submission
/// so short drivers finish fast, slower for long ones.
#[derive(Debug, Clone, Copy)]
pub struct PollPolicy {
    pub first: Duration,
    pub max: Duration,
    /// Consecutive failed status calls tolerated before the try is lost.
    pub max_errors: u32,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            first: Duration::from_millis(25),
            max: Duration::from_secs(2),
            max_errors: 5,
        }
    }
}

pub(crate) struct TryJob {
    pub try_id: i64,
    pub key: String,
    pub backend: Backend,
    pub app: drover_plugin_host::convert::WitApplication,
    pub deadline: Option<DateTime<Utc>>,
    pub timeout_text: String,
    pub start_timeout: Option<Duration>,
    pub cancel: CancellationToken,
    pub store: Store,
    pub log_path: PathBuf,
    pub poll: PollPolicy,
    pub trackers: std::sync::Arc<crate::tracker::Trackers>,
    pub resume: Resume,
    pub done: mpsc::UnboundedSender<Msg>,
    pub changes: tokio::sync::broadcast::Sender<crate::handle::Change>,
    /// DAG, run, task and try number, for the change events.
    pub ids: (String, String, String, i64),
}

impl TryJob {
    pub(crate) async fn run(self) {
        let outcome = self.drive().await;
        let _ = self.done.send(Msg::TryDone {
            try_id: self.try_id,
            outcome,
        });
    }

    /// Commits what was learned about the driver. The database is the
    /// record of truth, so a failed commit is retried rather than skipped.
    async fn record(&self, u: DriverUpdate) {
        let mut wait = Duration::from_millis(50);
        for attempt in 1.. {
            match self.store.update_driver(self.try_id, &u).await {
                Ok(changed) => {
                    if changed {
                        let (dag_id, run_id, task_id, try_number) = self.ids.clone();
                        let _ = self.changes.send(crate::handle::Change::Driver {
                            dag_id,
                            run_id,
                            task_id,
                            try_number,
                            try_id: self.try_id,
                            state: u.state.to_string(),
                        });
                    }
                    return;
                }
                Err(e) if attempt < 8 => {
                    warn!(try_id = self.try_id, attempt, error = %e, "cannot record driver state; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    error!(try_id = self.try_id, error = %e, state = %u.state, "giving up recording driver state");
                    return;
                }
            }
        }
    }

    async fn drive(&self) -> Outcome {
        let submitted = match &self.resume {
            Resume::Attach(id) => {
                info!(try_id = self.try_id, cluster_id = %id, backend = %self.backend.name(), "re-attaching to driver");
                return self.track(id).await;
            }
            Resume::Find => match self.find().await {
                Ok(Some(id)) => {
                    info!(try_id = self.try_id, cluster_id = %id, "found the submission by its key; re-attaching");
                    let mut u = DriverUpdate::state(DriverState::Submitted)
                        .message("found on the cluster by its submission key after a restart");
                    u.cluster_id = Some(id.clone());
                    self.record(u).await;
                    return self.track(&id).await;
                }
                Ok(None) => {
                    info!(try_id = self.try_id, "the cluster never received this try; submitting it now");
                    self.submit().await
                }
                Err(message) => {
                    self.record(DriverUpdate::state(DriverState::Lost).message(&message)).await;
                    return Outcome::Failed { message, final_: false };
                }
            },
            Resume::Submit => self.submit().await,
        };
        let submitted = match submitted {
            Ok(s) => s,
            Err(outcome) => return outcome,
        };
        match submitted {
            Submitted::Cluster(id) => {
                let mut u = DriverUpdate::state(DriverState::Submitted);
                u.cluster_id = Some(id.clone());
                self.record(u).await;
                self.track(&id).await
            }
            Submitted::Local(launch) => self.run_local(&launch).await,
        }
    }

    async fn submit(&self) -> Result<Submitted, Outcome> {
        let r = tokio::select! {
            r = self.backend.submit(&self.key, &self.app) => r,
            _ = self.cancel.cancelled() => {
                self.record(DriverUpdate::state(DriverState::Killed).message("killed before submission finished")).await;
                return Err(Outcome::Failed { message: "killed".into(), final_: true });
            }
        };
        match r {
            Ok(s) => Ok(s),
            Err(e) => {
                let message = format!("submission failed: {e}");
                self.record(DriverUpdate::state(DriverState::SubmitFailed).message(&message)).await;
                Err(Outcome::Failed { message, final_: is_config_error(&e) })
            }
        }
    }

    /// Asks the cluster for the submission carrying this try's key. A few
    /// attempts ride out a cluster that is briefly unreachable.
    async fn find(&self) -> Result<Option<String>, String> {
        let mut wait = Duration::from_millis(200);
        let mut last = String::new();
        for _ in 0..5 {
            match self.backend.find(&self.key).await {
                Ok(found) => return Ok(found),
                Err(CallError::Plugin(PluginError::Unsupported(why))) => {
                    return Err(format!(
                        "drover restarted before the cluster confirmed this submission, and backend `{}` cannot look \
                         submissions up by key ({why}); the try is recorded lost rather than risk submitting it twice",
                        self.backend.name()
                    ));
                }
                Err(e) if e.is_retryable() => last = e.to_string(),
                Err(e) => return Err(format!("cannot look the submission up by its key: {e}")),
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
        Err(format!("cannot look the submission up by its key: {last}"))
    }

    fn why(&self, reason: StopReason) -> String {
        match reason {
            StopReason::TimedOut => format!("timed out after {}", self.timeout_text),
            StopReason::NeverStarted => format!(
                "start timeout: the driver did not start running within {}, e.g. no worker can fit it",
                self.start_timeout.map(|t| humantime::format_duration(t).to_string()).unwrap_or_default()
            ),
            StopReason::Killed => "killed by request".to_string(),
        }
    }

    fn stop_signal(&self) -> impl std::future::Future<Output = StopReason> + '_ {
        let deadline = self.deadline;
        async move {
            let timeout = async {
                match deadline {
                    Some(d) => {
                        let wait = (d - Utc::now()).to_std().unwrap_or_default();
                        tokio::time::sleep(wait).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = timeout => StopReason::TimedOut,
                _ = self.cancel.cancelled() => StopReason::Killed,
            }
        }
    }

    /// Follows a cluster-mode driver through the plugin's status call.
    async fn track(&self, id: &str) -> Outcome {
        let stop = self.stop_signal();
        tokio::pin!(stop);
        let mut errors = 0u32;
        let mut last: Option<(DriverState, String, Option<u32>)> = None;
        // Until the driver is seen running, it may only wait this long.
        let mut start_by = self.start_timeout.map(|t| tokio::time::Instant::now() + t);
        // The cluster attempt in which the driver was last seen running.
        let mut running_in: Option<Option<u32>> = None;
        let mut watched = self.trackers.watch(&self.backend, id);
        loop {
            tokio::select! {
                reason = &mut stop => return self.stop_cluster(id, reason, None).await,
                changed = watched.rx.changed() => {
                    if changed.is_err() {
                        let message = format!("drover stopped following driver {id}");
                        return Outcome::Failed { message, final_: false };
                    }
                }
            }
            let latest = watched.rx.borrow_and_update().clone();
            let Some(answer) = latest else { continue };
            match answer {
                Ok(st) => {
                    errors = 0;
                    let state = map_phase(st.phase);
                    // A driver seen running cannot be waiting to start again in
                    // the same cluster attempt: the id now names another driver
                    // (a restarted standalone master hands out ids from -0000).
                    if state == DriverState::Submitted && running_in.is_some_and(|a| a == st.attempt)
                    {
                        let message = format!(
                            "the cluster reports {} for {id}, which was already running: it has forgotten this \
                             driver and the id now names another one",
                            st.raw_state
                        );
                        self.record(DriverUpdate::state(DriverState::Lost).message(&message)).await;
                        return Outcome::Failed { message, final_: false };
                    }
                    if state == DriverState::Running {
                        running_in = Some(st.attempt);
                    }
                    let seen = (state, st.raw_state.clone(), st.attempt);
                    if last.as_ref() != Some(&seen) {
                        debug!(try_id = self.try_id, cluster_id = %id, raw = %st.raw_state, "driver state");
                        self.record(update_from(&st, state)).await;
                        last = Some(seen);
                    }
                    if let Some(outcome) = terminal_outcome(state, &st) {
                        return outcome;
                    }
                    if state == DriverState::Running {
                        start_by = None;
                    } else if start_by.is_some_and(|t| tokio::time::Instant::now() >= t) {
                        let detail = format!(
                            "the cluster still said {}{}",
                            st.raw_state,
                            st.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
                        );
                        return self.stop_cluster(id, StopReason::NeverStarted, Some(detail)).await;
                    }
                }
                Err(e) if e.is_not_found() => {
                    let message = format!("the cluster no longer knows driver {id}: {e}");
                    self.record(DriverUpdate::state(DriverState::Lost).message(&message)).await;
                    return Outcome::Failed { message, final_: false };
                }
                Err(e) => {
                    errors += 1;
                    warn!(try_id = self.try_id, cluster_id = %id, errors, error = %e, "driver status failed");
                    if errors > self.poll.max_errors {
                        let message = format!("lost track of driver {id} after {errors} failed status calls in a row; last: {e}");
                        self.record(DriverUpdate::state(DriverState::Lost).message(&message)).await;
                        return Outcome::Failed { message, final_: false };
                    }
                }
            }
        }
    }

    /// Kills a cluster-mode driver through the cluster's API and waits until
    /// the cluster confirms it ended.
    async fn stop_cluster(&self, id: &str, reason: StopReason, detail: Option<String>) -> Outcome {
        let mut why = self.why(reason);
        if let Some(d) = detail {
            why = format!("{why}: {d}");
        }
        info!(try_id = self.try_id, cluster_id = %id, reason = %why, "killing driver");
        // Confirm: the driver must reach a terminal state on the cluster (or
        // be gone from it). Until then the kill is sent again now and then: a
        // lost request must not leave the driver running.
        let mut kill_error = self.send_kill(id).await;
        let mut confirmed: Option<Option<String>> = None;
        let mut wait = Duration::from_millis(50);
        let started = tokio::time::Instant::now();
        let mut last_kill = started;
        while started.elapsed() < KILL_CONFIRM_WINDOW {
            match self.backend.status(id).await {
                Ok(st) if map_phase(st.phase).is_terminal() => {
                    confirmed = Some(Some(st.raw_state));
                    break;
                }
                Err(e) if e.is_not_found() => {
                    confirmed = Some(None);
                    break;
                }
                _ => {}
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(2));
            if kill_error.is_some() || last_kill.elapsed() >= KILL_RESEND {
                kill_error = self.send_kill(id).await;
                last_kill = tokio::time::Instant::now();
            }
        }
        let u = match confirmed {
            Some(raw) => {
                let mut u = DriverUpdate::state(DriverState::Killed).message(&why);
                u.raw_state = raw;
                u
            }
            None => {
                let last = kill_error.map(|e| format!("; last kill call: {e}")).unwrap_or_default();
                error!(try_id = self.try_id, cluster_id = %id, "the cluster did not confirm the kill");
                DriverUpdate::state(DriverState::Unknown).message(format!(
                    "{why}; the cluster has not confirmed the kill within {}, so the driver may still be running{last}",
                    humantime::format_duration(KILL_CONFIRM_WINDOW)
                ))
            }
        };
        self.record(u).await;
        Outcome::Failed {
            message: why,
            final_: reason == StopReason::Killed,
        }
    }

    /// Asks the cluster to kill the driver; the error, unless the cluster
    /// no longer knows it (nothing left to kill).
    async fn send_kill(&self, id: &str) -> Option<CallError> {
        match self.backend.kill(id).await {
            Err(e) if !e.is_not_found() => {
                warn!(try_id = self.try_id, cluster_id = %id, error = %e, "kill call failed");
                Some(e)
            }
            _ => None,
        }
    }

    /// Runs a client-mode driver as a supervised child process.
    async fn run_local(&self, launch: &drover_plugin_host::LocalLaunch) -> Outcome {
        let mut child = match process::spawn(launch, &self.log_path) {
            Ok(c) => c,
            Err(e) => {
                let message = format!("cannot start `{}`: {e}", launch.program);
                self.record(DriverUpdate::state(DriverState::SubmitFailed).message(&message)).await;
                return Outcome::Failed { message, final_: false };
            }
        };
        let pid = child.id().unwrap_or_default();
        let mut u = DriverUpdate::state(DriverState::Running);
        u.pid = Some(i64::from(pid));
        u.raw_state = Some("PROCESS_RUNNING".into());
        u.location = Some(format!("local process {pid}"));
        u.log_path = Some(self.log_path.display().to_string());
        self.record(u).await;

        let stop = self.stop_signal();
        tokio::select! {
            status = child.wait() => {
                let (ok, text) = match status {
                    Ok(s) => process::describe_exit(s),
                    Err(e) => (false, format!("cannot wait for the driver: {e}")),
                };
                let mut u = DriverUpdate::state(if ok { DriverState::Succeeded } else { DriverState::Failed });
                u.raw_state = Some(if ok { "PROCESS_EXITED".into() } else { "PROCESS_FAILED".into() });
                u.message = Some(text.clone());
                self.record(u).await;
                if ok { Outcome::Succeeded } else { Outcome::Failed { message: format!("driver failed: {text}"), final_: false } }
            }
            reason = stop => {
                let why = self.why(reason);
                process::kill_group(&mut child, Duration::from_secs(5)).await;
                let mut u = DriverUpdate::state(DriverState::Killed).message(&why);
                u.raw_state = Some("PROCESS_KILLED".into());
                self.record(u).await;
                Outcome::Failed { message: why, final_: reason == StopReason::Killed }
            }
        }
    }
}

/// Errors no retry can fix: the configuration or the plugin must change.
fn is_config_error(e: &CallError) -> bool {
    matches!(
        e,
        CallError::Denied { .. }
            | CallError::Plugin(PluginError::Invalid(_))
            | CallError::Plugin(PluginError::Unsupported(_))
    )
}

pub(crate) fn map_phase(p: DriverPhase) -> DriverState {
    match p {
        DriverPhase::Submitted => DriverState::Submitted,
        DriverPhase::Queued => DriverState::Queued,
        DriverPhase::Running => DriverState::Running,
        DriverPhase::Succeeded => DriverState::Succeeded,
        DriverPhase::Failed => DriverState::Failed,
        DriverPhase::Killed => DriverState::Killed,
        DriverPhase::Lost => DriverState::Lost,
        DriverPhase::Unknown => DriverState::Unknown,
    }
}

fn update_from(st: &DriverStatus, state: DriverState) -> DriverUpdate {
    DriverUpdate {
        state,
        raw_state: Some(st.raw_state.clone()),
        cluster_id: None,
        attempt: st.attempt.map(i64::from),
        location: st.location.clone(),
        tracking_url: st.tracking_url.clone(),
        pid: None,
        log_path: None,
        message: st.message.clone(),
    }
}

fn terminal_outcome(state: DriverState, st: &DriverStatus) -> Option<Outcome> {
    let detail = st.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
    match state {
        DriverState::Succeeded => Some(Outcome::Succeeded),
        DriverState::Failed => Some(Outcome::Failed {
            message: format!("driver {}{detail}", st.raw_state),
            final_: false,
        }),
        DriverState::Killed => Some(Outcome::Failed {
            message: format!("driver killed on the cluster{detail}"),
            final_: false,
        }),
        DriverState::Lost => Some(Outcome::Failed {
            message: format!("driver lost{detail}"),
            final_: false,
        }),
        _ => None,
    }
}
