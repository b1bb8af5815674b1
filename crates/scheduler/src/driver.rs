//! One try's driver, from submission to its end.
//!
//! Runs as its own tokio task so the scheduler loop never waits on a cluster.
//! Every state it learns is committed to the store before it reports the
//! outcome back to the loop.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use drover_plugin_host::{Backend, CallError, DriverPhase, DriverStatus, ErrorKind, Submitted};
use drover_store::{DriverState, DriverUpdate, StopReason, Store};

use crate::control::Change;
use crate::decide::{Outcome, Resume};
use crate::msg::Msg;
use crate::process;
use crate::tracker::{PollPolicy, Trackers};

/// A kill the cluster accepted but did not act on is sent again this often.
const KILL_RESEND: Duration = Duration::from_secs(10);
/// The longest wait between two tries to reach a cluster that does not answer.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The loop's way to stop a try: the reason is set (and committed by the
/// loop) before the token fires, so the try knows why it stops.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stop {
    token: CancellationToken,
    reason: Arc<Mutex<Option<StopReason>>>,
}

impl Stop {
    pub(crate) fn stop(&self, reason: StopReason) {
        {
            let mut r = self.reason.lock().expect("stop reason");
            // A person's reason outranks drover's own (a timeout).
            if r.is_none_or(|old| !old.is_final() || reason.is_final()) {
                *r = Some(reason);
            }
        }
        self.token.cancel();
    }

    fn reason(&self) -> StopReason {
        self.reason.lock().expect("stop reason").unwrap_or(StopReason::Killed)
    }
}

/// What a failed submit call says about the submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubmitFailure {
    /// No retry can fix it: the configuration or the plugin must change.
    Config,
    /// The cluster answered no: nothing was submitted.
    Refused,
    /// The cluster could not be reached: nothing was submitted.
    Unreachable,
    /// The submission may or may not have reached the cluster.
    InDoubt,
}

fn submit_failure(e: &CallError) -> SubmitFailure {
    match e {
        CallError::Denied { .. }
        | CallError::Plugin { kind: ErrorKind::Invalid, .. }
        | CallError::Plugin { kind: ErrorKind::Unsupported, .. } => SubmitFailure::Config,
        CallError::Plugin { kind: ErrorKind::Rejected, .. } | CallError::Plugin { kind: ErrorKind::NotFound, .. } => {
            SubmitFailure::Refused
        }
        CallError::Plugin { kind: ErrorKind::Unavailable, .. } => SubmitFailure::Unreachable,
        // A complete answer that is not an acceptance: nothing to find.
        CallError::Plugin { kind: ErrorKind::Protocol, .. } => SubmitFailure::Refused,
        CallError::Plugin { kind: ErrorKind::InDoubt, .. }
        | CallError::TimedOut { .. }
        | CallError::Trapped { .. }
        | CallError::OutOfMemory { .. } => SubmitFailure::InDoubt,
    }
}

pub(crate) struct TryJob {
    pub try_id: i64,
    pub key: String,
    pub backend: Backend,
    pub app: drover_dag::Application,
    pub deadline: Option<DateTime<Utc>>,
    pub timeout_text: String,
    pub start_timeout: Option<Duration>,
    pub stop: Stop,
    pub store: Store,
    pub log_path: PathBuf,
    pub poll: PollPolicy,
    pub trackers: Arc<Trackers>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// When the task became ready to run; `None` for a try picked up again
    /// after a restart.
    pub ready_at: Option<DateTime<Utc>>,
    pub resume: Resume,
    pub done: mpsc::UnboundedSender<Msg>,
    pub changes: tokio::sync::broadcast::Sender<Change>,
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
        // A driver known to have ended needs its staged files no more: they
        // go before the end is committed, so a restart in between (which
        // re-attaches and sees the end again) still removes them. A driver
        // in doubt (unknown) may yet run, and keeps them.
        if self.backend.stages()
            && self.app.deploy_mode != drover_dag::DeployMode::Client
            && matches!(u.state, DriverState::Succeeded | DriverState::Failed | DriverState::Killed | DriverState::Lost)
        {
            self.backend.remove_staged(&self.key).await;
        }
        let mut wait = Duration::from_millis(50);
        for attempt in 1.. {
            match self.store.update_driver(self.try_id, &u).await {
                Ok(changed) => {
                    match u.state {
                        DriverState::Killed if changed => self.metrics.killed(self.backend.name()),
                        DriverState::Lost if changed => self.metrics.lost(self.backend.name()),
                        _ => {}
                    }
                    if changed {
                        let (dag_id, run_id, task_id, try_number) = self.ids.clone();
                        let _ = self.changes.send(Change::Driver {
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

    /// A scheduler whose lease may be another's by now (it could not renew
    /// in time: paused, cut off from the database) sends nothing more to a
    /// cluster: the call waits here until the lease's keeper ends the
    /// process, and the successor takes the try over from the database.
    async fn hold_if_fenced(&self) {
        if !self.store.may_act() {
            error!(try_id = self.try_id, "the scheduler lease ran out; not calling the cluster");
            std::future::pending::<()>().await;
        }
    }

    /// Tells a person what is going on with the driver without changing its
    /// state (best effort: the next state change carries its own message).
    async fn note(&self, message: &str) {
        if let Err(e) = self.store.note_driver(self.try_id, message).await {
            warn!(try_id = self.try_id, error = %e, "cannot record a note on the driver");
        }
    }

    /// Records `unknown`: drover cannot tell whether the driver runs, so it
    /// neither retries nor forgets it; a person decides.
    async fn unknown(&self, message: String) -> Outcome {
        error!(try_id = self.try_id, reason = %message, "driver fate unknown; leaving the decision to a person");
        self.record(DriverUpdate::state(DriverState::Unknown).message(&message)).await;
        Outcome::Failed { message, final_: true }
    }

    async fn drive(&self) -> Outcome {
        let submitted = match &self.resume {
            Resume::Attach(id) => {
                info!(try_id = self.try_id, cluster_id = %id, backend = %self.backend.name(), "re-attaching to driver");
                return self.track(id).await;
            }
            Resume::Stop {
                cluster_id,
                reason,
                since,
            } => return self.resume_stop(cluster_id.as_deref(), *reason, *since).await,
            Resume::Find => match self.find_after_restart(true).await {
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
                Err(outcome) => return outcome,
            },
            Resume::Submit => self.submit().await,
        };
        let submitted = match submitted {
            Ok(s) => s,
            Err(outcome) => return outcome,
        };
        self.metrics.submitted(self.backend.name(), self.ready_at);
        match submitted {
            Submitted::Cluster(id) => {
                let mut u = DriverUpdate::state(DriverState::Submitted);
                u.cluster_id = Some(id.clone());
                self.record(u).await;
                if let Some(reason) = self.stopping() {
                    return self.stop_cluster(&id, reason, None, self.kill_deadline(Utc::now())).await;
                }
                self.track(&id).await
            }
            Submitted::Local(launch) => {
                if let Some(reason) = self.stopping() {
                    return self.stopped_before_start(reason).await;
                }
                self.run_local(&launch).await
            }
        }
    }

    /// Whether the try is to stop now, and why.
    fn stopping(&self) -> Option<StopReason> {
        if self.stop.token.is_cancelled() {
            Some(self.stop.reason())
        } else if self.deadline.is_some_and(|d| d <= Utc::now()) {
            Some(StopReason::TimedOut)
        } else {
            None
        }
    }

    /// A try stopped before its driver existed anywhere.
    async fn stopped_before_start(&self, reason: StopReason) -> Outcome {
        let why = self.why(reason);
        let mut u = DriverUpdate::state(DriverState::Killed).message(format!("{why}, before the driver started"));
        u.raw_state = Some("NOT_SUBMITTED".into());
        self.record(u).await;
        Outcome::Failed {
            message: why,
            final_: reason.is_final(),
        }
    }

    /// Submits, riding out a cluster that does not answer: the same try (and
    /// the same submission key) is sent again once the cluster answers, and
    /// a submission that may have reached the cluster is looked up by its
    /// key first. No retry of the task is spent on an outage.
    async fn submit(&self) -> Result<Submitted, Outcome> {
        let stop = self.stop_signal();
        tokio::pin!(stop);
        let mut since: Option<DateTime<Utc>> = None;
        let mut wait = Duration::from_millis(200);
        loop {
            // Not abandoned when a stop arrives: a request in flight may
            // reach the cluster, so its answer is needed to stop the driver.
            self.hold_if_fenced().await;
            let r = self.backend.submit(&self.key, &self.app).await;
            let e = match r {
                Ok(s) => return Ok(s),
                Err(e) => e,
            };
            let kind = submit_failure(&e);
            if matches!(kind, SubmitFailure::Config | SubmitFailure::Refused) {
                let message = format!("submission failed: {e}");
                self.record(DriverUpdate::state(DriverState::SubmitFailed).message(&message)).await;
                return Err(Outcome::Failed {
                    message,
                    final_: kind == SubmitFailure::Config,
                });
            }
            let first = *since.get_or_insert_with(Utc::now);
            warn!(try_id = self.try_id, error = %e, in_doubt = kind == SubmitFailure::InDoubt, "submission did not go through; will try again");
            self.note(&format!(
                "cluster unreachable since {}: {e}; the submission is sent again when the cluster answers",
                first.to_rfc3339()
            ))
            .await;
            // Before sending again, learn whether the last attempt got through.
            loop {
                tokio::select! {
                    reason = &mut stop => return Err(self.submit_abandoned(reason, &e).await),
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(MAX_BACKOFF);
                match self.backend.find(&self.key).await {
                    Ok(Some(id)) => {
                        info!(try_id = self.try_id, cluster_id = %id, "the submission had reached the cluster; following it");
                        return Ok(Submitted::Cluster(id));
                    }
                    Ok(None) if kind == SubmitFailure::InDoubt && !matches!(e, CallError::TimedOut { .. }) => {
                        // The cluster answers and never received it: the
                        // failure was the cluster's answer or the plugin's.
                        let message = format!("submission failed: {e}");
                        self.record(DriverUpdate::state(DriverState::SubmitFailed).message(&message)).await;
                        return Err(Outcome::Failed { message, final_: false });
                    }
                    Ok(None) => break,
                    Err(CallError::Plugin { kind: ErrorKind::Unsupported, message: why }) => {
                        if kind == SubmitFailure::Unreachable {
                            break;
                        }
                        return Err(self
                            .unknown(format!(
                                "the submission may have reached the cluster ({e}), and backend `{}` cannot look \
                                 submissions up by key ({why}): it is not sent again automatically, since the driver \
                                 may be running; check the cluster, then clear the task to run it again",
                                self.backend.name()
                            ))
                            .await);
                    }
                    Err(find_error) => {
                        debug!(try_id = self.try_id, error = %find_error, "cluster still unreachable");
                        let waited = (Utc::now() - first).to_std().unwrap_or_default();
                        if kind == SubmitFailure::InDoubt && waited >= self.poll.unreachable_grace {
                            return Err(self
                                .unknown(format!(
                                    "the submission may have reached the cluster ({e}), and the cluster has not \
                                     answered a look-up by its key since {}: {find_error}; the driver may be running",
                                    first.to_rfc3339()
                                ))
                                .await);
                        }
                    }
                }
            }
        }
    }

    /// A stop arrived while the submission was waiting for the cluster to
    /// answer again.
    async fn submit_abandoned(&self, reason: StopReason, last: &CallError) -> Outcome {
        if submit_failure(last) == SubmitFailure::InDoubt {
            return self
                .unknown(format!(
                    "{}, while the last submission's outcome was unknown ({last}); the driver may be running",
                    self.why(reason)
                ))
                .await;
        }
        self.stopped_before_start(reason).await
    }

    /// After a restart: asks the cluster for the submission carrying this
    /// try's key, waiting out an unreachable cluster for the grace period.
    /// A `stoppable` search gives up when the try is stopped meanwhile.
    async fn find_after_restart(&self, stoppable: bool) -> Result<Option<String>, Outcome> {
        let mut wait = Duration::from_millis(200);
        let started = tokio::time::Instant::now();
        loop {
            let e = match self.backend.find(&self.key).await {
                Ok(found) => return Ok(found),
                Err(CallError::Plugin { kind: ErrorKind::Unsupported, message: why }) => {
                    return Err(self
                        .unknown(format!(
                            "drover restarted before the cluster's answer to this submission was recorded, and backend \
                             `{}` cannot look submissions up by key ({why}): the driver may be running, so it is not \
                             submitted again automatically; check the cluster, then clear the task to run it again",
                            self.backend.name()
                        ))
                        .await);
                }
                Err(e) => e,
            };
            if started.elapsed() >= self.poll.unreachable_grace {
                return Err(self
                    .unknown(format!(
                        "cannot look the submission up by its key after a restart: {e}; the driver may be running"
                    ))
                    .await);
            }
            if let Some(reason) = self.stopping().filter(|_| stoppable) {
                return Err(self.unknown(format!("{}, while the submission could not be looked up: {e}", self.why(reason))).await);
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_BACKOFF);
        }
    }

    /// After a restart that interrupted a stop: finish it.
    async fn resume_stop(&self, cluster_id: Option<&str>, reason: StopReason, since: DateTime<Utc>) -> Outcome {
        let deadline = self.kill_deadline(since);
        if let Some(id) = cluster_id {
            return self.stop_cluster(id, reason, None, deadline).await;
        }
        match self.find_after_restart(false).await {
            Ok(Some(id)) => {
                let mut u = DriverUpdate::state(DriverState::Submitted)
                    .message("found on the cluster by its submission key after a restart");
                u.cluster_id = Some(id.clone());
                self.record(u).await;
                self.stop_cluster(&id, reason, None, deadline).await
            }
            Ok(None) => self.stopped_before_start(reason).await,
            Err(outcome) => outcome,
        }
    }

    fn kill_deadline(&self, since: DateTime<Utc>) -> tokio::time::Instant {
        let left = (since + chrono::Duration::from_std(self.poll.kill_confirm).unwrap_or_default() - Utc::now())
            .to_std()
            .unwrap_or_default();
        tokio::time::Instant::now() + left
    }

    fn why(&self, reason: StopReason) -> String {
        match reason {
            StopReason::TimedOut => format!("timed out after {}", self.timeout_text),
            StopReason::NeverStarted => format!(
                "start timeout: the driver did not start running within {}, e.g. no worker can fit it",
                self.start_timeout.map(|t| humantime::format_duration(t).to_string()).unwrap_or_default()
            ),
            StopReason::Killed => "killed by request".to_string(),
            StopReason::RunFailed => "killed: its run was marked failed".to_string(),
            StopReason::Unreachable => format!(
                "the cluster did not answer about the driver for {}",
                humantime::format_duration(self.poll.unreachable_grace)
            ),
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
                _ = self.stop.token.cancelled() => self.stop.reason(),
            }
        }
    }

    /// Follows a cluster-mode driver through the plugin's status call.
    async fn track(&self, id: &str) -> Outcome {
        let stop = self.stop_signal();
        tokio::pin!(stop);
        let mut last: Option<(DriverState, String, Option<u32>)> = None;
        // Until the driver is seen running, it may only wait this long.
        let mut start_by = self.start_timeout.map(|t| tokio::time::Instant::now() + t);
        // The cluster attempt in which the driver was last seen running.
        let mut running_in: Option<Option<u32>> = None;
        // Since when the cluster has not answered about the driver.
        let mut unreachable_since: Option<(DateTime<Utc>, tokio::time::Instant)> = None;
        let mut watched = self.trackers.watch(&self.backend, id);
        loop {
            tokio::select! {
                reason = &mut stop => {
                    return self.stop_cluster(id, reason, None, self.kill_deadline(Utc::now())).await;
                }
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
                    let state = map_phase(st.phase);
                    if let Some((since, _)) = unreachable_since.take() {
                        info!(try_id = self.try_id, cluster_id = %id, "the cluster answers again");
                        let note = format!(
                            "the cluster answers again (it was unreachable from {} to {}){}",
                            since.to_rfc3339(),
                            Utc::now().to_rfc3339(),
                            st.message.as_deref().map(|m| format!("; {m}")).unwrap_or_default()
                        );
                        self.note(&note).await;
                    }
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
                        let deadline = self.kill_deadline(Utc::now());
                        return self.stop_cluster(id, StopReason::NeverStarted, Some(detail), deadline).await;
                    }
                }
                Err(e) if e.is_not_found() => {
                    let message = format!("the cluster no longer knows driver {id}: {e}");
                    self.record(DriverUpdate::state(DriverState::Lost).message(&message)).await;
                    return Outcome::Failed { message, final_: false };
                }
                Err(e) => {
                    // Tolerated by time, not by a count of calls: an outage
                    // of a few seconds says nothing about the driver.
                    let (since, since_instant) = match unreachable_since {
                        Some(s) => s,
                        None => {
                            let s = (Utc::now(), tokio::time::Instant::now());
                            warn!(try_id = self.try_id, cluster_id = %id, error = %e, "cluster unreachable");
                            self.note(&format!("cluster unreachable since {}: {e}", s.0.to_rfc3339())).await;
                            unreachable_since = Some(s);
                            s
                        }
                    };
                    if since_instant.elapsed() >= self.poll.unreachable_grace {
                        let detail = format!("unreachable since {}; last error: {e}", since.to_rfc3339());
                        let deadline = self.kill_deadline(Utc::now());
                        return self.stop_cluster(id, StopReason::Unreachable, Some(detail), deadline).await;
                    }
                }
            }
        }
    }

    /// Kills a cluster-mode driver through the cluster's API and waits until
    /// the cluster confirms it ended. The intent is committed first, so a
    /// restart finishes the stop instead of retrying the try; a kill the
    /// cluster never confirms ends the try `unknown`, never retried.
    async fn stop_cluster(
        &self,
        id: &str,
        reason: StopReason,
        detail: Option<String>,
        deadline: tokio::time::Instant,
    ) -> Outcome {
        let mut why = self.why(reason);
        if let Some(d) = detail {
            why = format!("{why}: {d}");
        }
        if let Err(e) = self.store.request_stop(self.try_id, reason).await {
            error!(try_id = self.try_id, error = %e, "cannot commit the intent to stop; killing anyway");
        }
        info!(try_id = self.try_id, cluster_id = %id, reason = %why, "killing driver");
        // Confirm: the driver must reach a terminal state on the cluster (or
        // be gone from it). Until then the kill is sent again now and then: a
        // lost request must not leave the driver running.
        let mut kill_error = self.send_kill(id).await;
        self.note(&format!(
            "kill sent at {} ({why}); waiting for the cluster to confirm the driver ended",
            Utc::now().to_rfc3339()
        ))
        .await;
        let mut confirmed: Option<Option<String>> = None;
        let mut wait = Duration::from_millis(50);
        let mut last_kill = tokio::time::Instant::now();
        loop {
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
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(wait.min(deadline.saturating_duration_since(tokio::time::Instant::now()))).await;
            wait = (wait * 2).min(Duration::from_secs(2));
            if kill_error.is_some() || last_kill.elapsed() >= KILL_RESEND {
                kill_error = self.send_kill(id).await;
                last_kill = tokio::time::Instant::now();
            }
        }
        match confirmed {
            Some(raw) => {
                let mut u = DriverUpdate::state(DriverState::Killed).message(&why);
                u.raw_state = raw;
                self.record(u).await;
                Outcome::Failed {
                    message: why,
                    final_: reason.is_final(),
                }
            }
            None => {
                let last = kill_error.map(|e| format!("; last kill call: {e}")).unwrap_or_default();
                self.unknown(format!(
                    "{why}; kill sent, not confirmed by the cluster within {}: the driver may still be running, so \
                     the task is not retried automatically{last}",
                    humantime::format_duration(self.poll.kill_confirm)
                ))
                .await
            }
        }
    }

    /// Asks the cluster to kill the driver; the error, unless the cluster
    /// no longer knows it (nothing left to kill).
    async fn send_kill(&self, id: &str) -> Option<CallError> {
        self.hold_if_fenced().await;
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
        self.hold_if_fenced().await;
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
                if let Err(e) = self.store.request_stop(self.try_id, reason).await {
                    error!(try_id = self.try_id, error = %e, "cannot commit the intent to stop; killing anyway");
                }
                process::kill_group(&mut child, Duration::from_secs(5)).await;
                let mut u = DriverUpdate::state(DriverState::Killed).message(&why);
                u.raw_state = Some("PROCESS_KILLED".into());
                self.record(u).await;
                Outcome::Failed { message: why, final_: reason.is_final() }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(kind: ErrorKind, message: &str) -> CallError {
        CallError::Plugin { kind, message: message.into() }
    }

    #[test]
    fn only_an_unreachable_cluster_is_known_not_to_have_the_submission() {
        assert_eq!(submit_failure(&plugin(ErrorKind::Unavailable, "503")), SubmitFailure::Unreachable);
        assert_eq!(submit_failure(&plugin(ErrorKind::Rejected, "400")), SubmitFailure::Refused);
        assert_eq!(submit_failure(&plugin(ErrorKind::Invalid, "bad")), SubmitFailure::Config);
        assert_eq!(submit_failure(&plugin(ErrorKind::Unsupported, "no")), SubmitFailure::Config);
        // An answer that is no acceptance (a wrong URL's HTML page) is a refusal…
        assert_eq!(submit_failure(&plugin(ErrorKind::Protocol, "garbage")), SubmitFailure::Refused);
        // …but a lost answer leaves the submission in doubt.
        assert_eq!(submit_failure(&plugin(ErrorKind::InDoubt, "reset")), SubmitFailure::InDoubt);
        let timed_out = CallError::TimedOut {
            plugin: "p".into(),
            call: "submit",
            after: Duration::from_secs(30),
        };
        assert_eq!(submit_failure(&timed_out), SubmitFailure::InDoubt);
    }

    #[test]
    fn a_persons_stop_reason_outranks_a_timeout_and_is_not_downgraded() {
        let stop = Stop::default();
        stop.stop(StopReason::TimedOut);
        assert_eq!(stop.reason(), StopReason::TimedOut);
        stop.stop(StopReason::RunFailed);
        assert_eq!(stop.reason(), StopReason::RunFailed);
        stop.stop(StopReason::TimedOut);
        assert_eq!(stop.reason(), StopReason::RunFailed, "a timeout must not turn a kill into a retry");
        assert!(stop.token.is_cancelled());
    }
}
