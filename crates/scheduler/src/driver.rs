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

/// How a try ended, as the loop needs it to decide what comes next.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Succeeded,
    /// `final_` failures are not retried (the configuration is wrong).
    Failed { message: String, final_: bool },
}

/// Why a try is being stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    TimedOut,
    Killed,
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
    pub cancel: CancellationToken,
    pub store: Store,
    pub log_path: PathBuf,
    pub poll: PollPolicy,
    /// Re-attach to this cluster id instead of submitting.
    pub resume: Option<String>,
    pub done: mpsc::UnboundedSender<Msg>,
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
                Ok(_) => return,
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
            Some(id) => {
                info!(try_id = self.try_id, cluster_id = %id, backend = %self.backend.name(), "re-attaching to driver");
                Submitted::Cluster(id.clone())
            }
            None => {
                let r = tokio::select! {
                    r = self.backend.submit(&self.key, &self.app) => r,
                    _ = self.cancel.cancelled() => {
                        self.record(DriverUpdate::state(DriverState::Killed).message("killed before submission finished")).await;
                        return Outcome::Failed { message: "killed".into(), final_: true };
                    }
                };
                match r {
                    Ok(s) => s,
                    Err(e) => {
                        let final_ = is_config_error(&e);
                        let message = format!("submission failed: {e}");
                        self.record(DriverUpdate::state(DriverState::SubmitFailed).message(&message)).await;
                        return Outcome::Failed { message, final_ };
                    }
                }
            }
        };
        match submitted {
            Submitted::Cluster(id) => {
                if self.resume.is_none() {
                    let mut u = DriverUpdate::state(DriverState::Submitted);
                    u.cluster_id = Some(id.clone());
                    self.record(u).await;
                }
                self.track(&id).await
            }
            Submitted::Local(launch) => self.run_local(&launch).await,
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
        let mut interval = self.poll.first;
        let mut errors = 0u32;
        let mut last: Option<(DriverState, String, Option<u32>)> = None;
        loop {
            tokio::select! {
                reason = &mut stop => return self.stop_cluster(id, reason).await,
                _ = tokio::time::sleep(interval) => {}
            }
            interval = (interval * 3 / 2).min(self.poll.max);
            match self.backend.status(id).await {
                Ok(st) => {
                    errors = 0;
                    let state = map_phase(st.phase);
                    let seen = (state, st.raw_state.clone(), st.attempt);
                    if last.as_ref() != Some(&seen) {
                        debug!(try_id = self.try_id, cluster_id = %id, raw = %st.raw_state, "driver state");
                        self.record(update_from(&st, state)).await;
                        last = Some(seen);
                    }
                    if let Some(outcome) = terminal_outcome(state, &st) {
                        return outcome;
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
    async fn stop_cluster(&self, id: &str, reason: StopReason) -> Outcome {
        let why = match reason {
            StopReason::TimedOut => format!("timed out after {}", self.timeout_text),
            StopReason::Killed => "killed by request".to_string(),
        };
        info!(try_id = self.try_id, cluster_id = %id, reason = %why, "killing driver");
        let mut kill_error = self.send_kill(id).await;
        // Confirm: the driver must reach a terminal state on the cluster.
        let mut confirmed = None;
        let mut wait = Duration::from_millis(50);
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::time::Instant::now() < until {
            match self.backend.status(id).await {
                Ok(st) if map_phase(st.phase).is_terminal() => {
                    confirmed = Some(st);
                    break;
                }
                Err(e) if e.is_not_found() => break,
                _ => {}
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(1));
            // One failed kill call must not leave the driver running on the
            // cluster while drover records it killed: send it again.
            if kill_error.is_some() {
                kill_error = self.send_kill(id).await;
            }
        }
        let mut u = DriverUpdate::state(DriverState::Killed).message(&why);
        if let Some(st) = &confirmed {
            u.raw_state = Some(st.raw_state.clone());
        } else {
            let last = kill_error.map(|e| format!(" (last kill call: {e})")).unwrap_or_default();
            u.message = Some(format!("{why}; the cluster did not confirm the kill within 30 s{last}"));
        }
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
                let why = match reason {
                    StopReason::TimedOut => format!("timed out after {}", self.timeout_text),
                    StopReason::Killed => "killed by request".to_string(),
                };
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
