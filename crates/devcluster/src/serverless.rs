//! An EMR Serverless endpoint, as seen over HTTP (restJson1, SigV4-signed).
//!
//! Emulated from the service's API reference, so that drover's plugin and
//! boto3 cannot tell the difference where it matters:
//!
//! - `POST /applications/{a}/jobruns` (StartJobRun, idempotent by `clientToken`),
//!   `GET /applications/{a}/jobruns` (ListJobRuns, newest first, paged),
//!   `GET /applications/{a}/jobruns/{j}[?attempt=N]` (GetJobRun),
//!   `DELETE /applications/{a}/jobruns/{j}` (CancelJobRun),
//!   `GET /applications/{a}/jobruns/{j}/attempts` (ListJobRunAttempts), and
//!   `POST /applications`, `GET /applications`, `GET /applications/{a}`.
//! - Every request must carry a valid AWS Signature V4 for service
//!   `emr-serverless` with [`ACCESS_KEY_ID`] / [`SECRET_ACCESS_KEY`], checked by
//!   recomputing it with the AWS SDK's signer; anything else is a 403.
//! - Errors are AWS's: the status, `x-amzn-ErrorType: <Type>` and `{"message"}`.
//! - Timestamps are epoch seconds (restJson1's default).
//!
//! Each job run is a local process started through [`process`] (an entry point
//! `.py` runs with python3, a `.jar` with java and `--class`, anything else is
//! executed). It moves SUBMITTED → PENDING → SCHEDULED → RUNNING → SUCCESS or
//! FAILED; CancelJobRun gives CANCELLING → CANCELLED; a failed attempt starts
//! the next one while `retryPolicy.maxAttempts` allows; a run beyond its
//! application's `schedulerConfiguration.maxConcurrentRuns` waits QUEUED. All
//! of it is driven by process exits and requests: no polling loop.
//!
//! Deliberate differences: an application is ready at once (no CREATING or
//! STARTING, and no start/stop/update/delete calls); queueTimeoutMinutes is
//! not enforced; no resource accounting (totalResourceUtilization is zero);
//! entry points are local paths, and the driver gets `EMR_SERVERLESS_APPLICATION_ID`,
//! `EMR_SERVERLESS_JOB_RUN_ID` and `EMR_SERVERLESS_ATTEMPT` in its environment.
//! Driver output goes to `<work_dir>/<jobRunId>/attempt-<n>/stdout|stderr`.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::process::{self, App, LaunchPlan, Spawner};
use crate::{Context, StandIn, SubmissionRecord};

/// The access key id the stand-in accepts (a local stand-in, not a real credential).
pub const ACCESS_KEY_ID: &str = "DROVERSTANDINKEY";
/// The secret the stand-in checks SigV4 signatures against.
pub const SECRET_ACCESS_KEY: &str = "drover-stand-in-secret-access-key";
/// The one application the stand-in starts with.
pub const APPLICATION_ID: &str = "00fdroverstandin";
/// The region the stand-in signs for.
pub const REGION: &str = "us-east-1";
/// The account in every ARN the stand-in makes.
pub const ACCOUNT_ID: &str = "123456789012";
/// The service's default `schedulerConfiguration.maxConcurrentRuns`.
pub const DEFAULT_MAX_CONCURRENT_RUNS: u32 = 15;
/// The service name in a request's credential scope.
pub const SERVICE: &str = "emr-serverless";

/// How far a request's `x-amz-date` may be from the stand-in's clock (AWS: 15 minutes).
const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(15);
/// Larger request bodies are refused before they are read.
const MAX_BODY_BYTES: usize = 1 << 20;
const PAGE_SIZE: usize = 50;

/// A job run's (or one attempt's) state, as the service spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Submitted,
    Pending,
    Scheduled,
    Running,
    Success,
    Failed,
    Cancelling,
    Cancelled,
    Queued,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "SUBMITTED",
            Self::Pending => "PENDING",
            Self::Scheduled => "SCHEDULED",
            Self::Running => "RUNNING",
            Self::Success => "SUCCESS",
            Self::Failed => "FAILED",
            Self::Cancelling => "CANCELLING",
            Self::Cancelled => "CANCELLED",
            Self::Queued => "QUEUED",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::Failed | Self::Cancelled)
    }
}

#[derive(Debug)]
struct Application {
    id: String,
    name: String,
    arn: String,
    release_label: String,
    kind: String,
    client_token: Option<String>,
    max_concurrent_runs: u32,
    queue_timeout_minutes: u32,
    tags: BTreeMap<String, String>,
    created_at: DateTime<Utc>,
}

/// What a job run runs, parsed from its jobDriver and configurationOverrides.
#[derive(Debug, Default)]
struct RunSpec {
    entry_point: String,
    args: Vec<String>,
    main_class: Option<String>,
    conf: BTreeMap<String, String>,
    env: Vec<(String, String)>,
}

#[derive(Debug)]
struct Attempt {
    state: RunState,
    details: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug)]
struct JobRun {
    application_id: String,
    id: String,
    arn: String,
    name: Option<String>,
    client_token: String,
    execution_role: String,
    release_label: String,
    job_driver: Value,
    configuration_overrides: Option<Value>,
    tags: BTreeMap<String, String>,
    /// `retryPolicy` as sent (echoed back), and its maxAttempts (default 1).
    retry_policy: Option<Value>,
    max_attempts: u32,
    execution_timeout_minutes: u32,
    spec: Arc<RunSpec>,
    state: RunState,
    details: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    /// attempts[n - 1] is attempt n; the last is the current one.
    attempts: Vec<Attempt>,
    /// Holds one of its application's concurrent-run slots.
    admitted: bool,
    /// The current attempt's process group, while it runs.
    pid: Option<u32>,
    cancel: CancellationToken,
}

impl JobRun {
    fn set_state(&mut self, state: RunState, details: &str) {
        let now = Utc::now();
        self.state = state;
        self.details = details.to_owned();
        self.updated_at = now;
        if let Some(a) = self.attempts.last_mut() {
            a.state = state;
            a.details = details.to_owned();
            a.updated_at = now;
        }
        if state == RunState::Running && self.started_at.is_none() {
            self.started_at = Some(now);
        }
        if state.is_terminal() {
            self.ended_at = Some(now);
        }
    }
}

#[derive(Debug, Default)]
struct EmrState {
    applications: BTreeMap<String, Application>,
    /// In creation order.
    runs: Vec<JobRun>,
    next_number: u64,
    submissions: Vec<SubmissionRecord>,
}

impl EmrState {
    fn new_id(&mut self) -> String {
        self.next_number += 1;
        let millis = u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default();
        // 16 lowercase alphanumerics, like the service's ids.
        format!(
            "00f{}{:0>5}",
            base36(millis),
            base36(self.next_number % 36u64.pow(5))
        )
    }

    fn run(&self, app: &str, id: &str) -> Result<&JobRun, AwsError> {
        self.application(app)?;
        self.runs
            .iter()
            .find(|r| r.application_id == app && r.id == id)
            .ok_or_else(|| AwsError::not_found(format!("Job run {id} does not exist.")))
    }

    fn application(&self, id: &str) -> Result<&Application, AwsError> {
        self.applications
            .get(id)
            .ok_or_else(|| AwsError::not_found(format!("Application {id} does not exist.")))
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The service: applications, job runs, and the tasks driving them.
pub struct Emr {
    work_dir: PathBuf,
    spawner: Arc<Spawner>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    state: Mutex<EmrState>,
}

pub(crate) fn start(ctx: &Context) -> anyhow::Result<(Arc<dyn StandIn>, Router)> {
    let emr = Arc::new(Emr::new(ctx));
    let router = router(emr.clone());
    Ok((emr, router))
}

impl Emr {
    fn new(ctx: &Context) -> Self {
        let now = Utc::now();
        let mut state = EmrState::default();
        state.applications.insert(
            APPLICATION_ID.to_owned(),
            Application {
                id: APPLICATION_ID.to_owned(),
                name: "drover-stand-in".to_owned(),
                arn: application_arn(APPLICATION_ID),
                release_label: "emr-7.1.0".to_owned(),
                kind: "Spark".to_owned(),
                client_token: None,
                max_concurrent_runs: DEFAULT_MAX_CONCURRENT_RUNS,
                queue_timeout_minutes: 360,
                tags: BTreeMap::new(),
                created_at: now,
            },
        );
        Self {
            work_dir: ctx.work_dir.clone(),
            spawner: ctx.spawner.clone(),
            cancel: ctx.cancel.child_token(),
            tasks: TaskTracker::new(),
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> MutexGuard<'_, EmrState> {
        // A panic elsewhere must not take the whole stand-in down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut JobRun)) {
        if let Some(r) = self.lock().runs.iter_mut().find(|r| r.id == id) {
            change(r);
        }
    }

    /// Move a run on, unless a cancel has already said CANCELLING.
    fn advance(&self, id: &str, state: RunState) {
        self.update(id, |r| {
            if r.state != RunState::Cancelling {
                r.set_state(state, "");
            }
        });
    }

    /// Admit waiting runs, oldest first, while their application has free
    /// slots; the rest wait QUEUED. Called whenever a run arrives or ends.
    fn schedule(self: &Arc<Self>) {
        if self.cancel.is_cancelled() {
            return;
        }
        let mut admitted = Vec::new();
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            let mut used: BTreeMap<String, u32> = BTreeMap::new();
            for r in st.runs.iter().filter(|r| r.admitted) {
                *used.entry(r.application_id.clone()).or_default() += 1;
            }
            for r in st.runs.iter_mut() {
                if r.admitted || !matches!(r.state, RunState::Submitted | RunState::Queued) {
                    continue;
                }
                let limit = st
                    .applications
                    .get(&r.application_id)
                    .map_or(DEFAULT_MAX_CONCURRENT_RUNS, |a| a.max_concurrent_runs);
                let in_use = used.entry(r.application_id.clone()).or_default();
                if *in_use < limit {
                    *in_use += 1;
                    r.admitted = true;
                    r.set_state(RunState::Pending, "");
                    admitted.push((
                        r.id.clone(),
                        r.spec.clone(),
                        r.cancel.clone(),
                        r.max_attempts,
                        r.execution_timeout_minutes,
                    ));
                } else if r.state == RunState::Submitted {
                    r.set_state(
                        RunState::Queued,
                        "The application has reached its maximum number of concurrent job runs.",
                    );
                }
            }
        }
        for (id, spec, cancel, max_attempts, timeout) in admitted {
            let emr = self.clone();
            self.tasks.spawn(async move {
                let (state, details) = emr.drive(&id, &spec, &cancel, max_attempts, timeout).await;
                emr.finish(&id, state, &details);
            });
        }
    }

    /// Runs the job's attempts until one succeeds, attempts run out, or it is
    /// cancelled; answers the final state and its details.
    async fn drive(
        &self,
        id: &str,
        spec: &RunSpec,
        cancel: &CancellationToken,
        max_attempts: u32,
        timeout_minutes: u32,
    ) -> (RunState, String) {
        let cancelled = || (RunState::Cancelled, "Job run was cancelled.".to_owned());
        let mut details = String::new();
        for attempt in 1..=max_attempts.max(1) {
            if cancel.is_cancelled() {
                return cancelled();
            }
            self.advance(id, RunState::Scheduled);
            match self
                .run_attempt(id, spec, cancel, attempt, timeout_minutes)
                .await
            {
                AttemptEnd::Succeeded => return (RunState::Success, String::new()),
                AttemptEnd::Cancelled => return cancelled(),
                AttemptEnd::Failed(why) => {
                    info!(job_run_id = %id, attempt, why = %why, "job run attempt failed");
                    if attempt < max_attempts {
                        // The failed attempt keeps its FAILED in the attempts list;
                        // the job run itself never shows a terminal state in between.
                        self.update(id, |r| {
                            let now = Utc::now();
                            if let Some(a) = r.attempts.last_mut() {
                                a.state = RunState::Failed;
                                a.details.clone_from(&why);
                                a.updated_at = now;
                            }
                            r.attempts.push(Attempt {
                                state: RunState::Pending,
                                details: String::new(),
                                created_at: now,
                                updated_at: now,
                            });
                            if r.state != RunState::Cancelling {
                                r.set_state(RunState::Pending, "");
                            }
                        });
                    }
                    details = why;
                }
            }
        }
        (RunState::Failed, details)
    }

    async fn run_attempt(
        &self,
        id: &str,
        spec: &RunSpec,
        cancel: &CancellationToken,
        attempt: u32,
        timeout_minutes: u32,
    ) -> AttemptEnd {
        let failed = |why: String| AttemptEnd::Failed(why);
        let plan = match LaunchPlan::resolve(&App {
            resource: &spec.entry_point,
            main_class: spec.main_class.as_deref(),
            args: &spec.args,
            conf: &spec.conf,
        }) {
            Ok(plan) => plan,
            Err(err) => return failed(format!("Job failed: {}", err.java_exception())),
        };
        let dir = self.work_dir.join(id).join(format!("attempt-{attempt}"));
        let application_id = self
            .lock()
            .runs
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.application_id.clone());
        let mut env = spec.env.clone();
        env.extend([
            (
                "EMR_SERVERLESS_APPLICATION_ID".to_owned(),
                application_id.unwrap_or_default(),
            ),
            ("EMR_SERVERLESS_JOB_RUN_ID".to_owned(), id.to_owned()),
            ("EMR_SERVERLESS_ATTEMPT".to_owned(), attempt.to_string()),
        ]);
        let cmd = match process::driver_command(&plan, &dir, &env) {
            Ok(cmd) => cmd,
            Err(err) => return failed(format!("Job failed: java.io.IOException: {err}")),
        };
        let mut child = match self.spawner.spawn(cmd).await {
            Ok(child) => child,
            Err(err) => {
                return failed(format!(
                    "Job failed: {}",
                    process::cannot_run_program(&plan, &dir, &err)
                ));
            }
        };
        let pid = child.id();
        self.update(id, |r| r.pid = pid);
        self.advance(id, RunState::Running);
        info!(job_run_id = %id, attempt, pid, command = %plan.display(), "job run running");
        let timeout = async {
            match timeout_minutes {
                0 => std::future::pending().await,
                m => tokio::time::sleep(Duration::from_secs(u64::from(m) * 60)).await,
            }
        };
        let end = tokio::select! {
            status = child.wait() => match status {
                Ok(s) if s.success() => AttemptEnd::Succeeded,
                Ok(s) => failed(format!(
                    "Job failed, please check complete logs in configured logging destination. ExitCode: {}.",
                    process::exit_code(s)
                )),
                Err(err) => failed(format!("Job failed: java.io.IOException: {err}")),
            },
            () = cancel.cancelled() => {
                if let Err(err) = process::terminate_group(&mut child, process::KILL_GRACE).await {
                    warn!(job_run_id = %id, error = %err, "waiting for a cancelled job run failed");
                }
                AttemptEnd::Cancelled
            }
            () = timeout => {
                if let Err(err) = process::terminate_group(&mut child, process::KILL_GRACE).await {
                    warn!(job_run_id = %id, error = %err, "waiting for a timed-out job run failed");
                }
                failed(format!("Job run exceeded the execution timeout of {timeout_minutes} minutes."))
            }
        };
        self.update(id, |r| r.pid = None);
        end
    }

    /// Record a run's end, give its slot back, and admit whatever waits.
    fn finish(self: &Arc<Self>, id: &str, state: RunState, details: &str) {
        self.update(id, |r| {
            r.set_state(state, details);
            r.admitted = false;
            r.pid = None;
        });
        info!(job_run_id = %id, state = state.as_str(), "job run ended");
        self.schedule();
    }

    fn start_job_run(self: &Arc<Self>, app_id: &str, body: &[u8]) -> Result<Value, AwsError> {
        let req = parse_object(body)?;
        let client_token = string_field(&req, "clientToken", true)?.unwrap_or_default();
        if client_token.is_empty() || client_token.len() > 64 {
            return Err(AwsError::validation(
                "clientToken must be 1 to 64 characters long.",
            ));
        }
        {
            let st = self.lock();
            st.application(app_id)?;
            // The idempotency key: the same token answers the same job run.
            if let Some(r) = st
                .runs
                .iter()
                .find(|r| r.application_id == app_id && r.client_token == client_token)
            {
                return Ok(
                    json!({"applicationId": r.application_id, "jobRunId": r.id, "arn": r.arn}),
                );
            }
        }
        let execution_role = string_field(&req, "executionRoleArn", true)?.unwrap_or_default();
        if execution_role.len() < 20 || !execution_role.starts_with("arn:") {
            return Err(AwsError::validation(format!(
                "executionRoleArn {execution_role:?} is not a valid role ARN."
            )));
        }
        let name = string_field(&req, "name", false)?;
        let job_driver = req
            .get("jobDriver")
            .cloned()
            .ok_or_else(|| AwsError::validation("jobDriver is required."))?;
        let configuration_overrides = req
            .get("configurationOverrides")
            .filter(|v| !v.is_null())
            .cloned();
        let spec = run_spec(&job_driver, configuration_overrides.as_ref())?;
        let tags = string_map(req.get("tags"), "tags")?;
        let retry_policy = req.get("retryPolicy").filter(|v| !v.is_null()).cloned();
        let max_attempts = match retry_policy.as_ref().map(|p| p.get("maxAttempts")) {
            None | Some(None) => 1,
            Some(Some(v)) => match v.as_u64() {
                Some(n @ 1..=10) => n as u32,
                _ => {
                    return Err(AwsError::validation(
                        "retryPolicy.maxAttempts must be between 1 and 10.",
                    ));
                }
            },
        };
        let execution_timeout_minutes = match req.get("executionTimeoutMinutes") {
            None | Some(Value::Null) => 720,
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n <= 1_000_000)
                .ok_or_else(|| {
                    AwsError::validation("executionTimeoutMinutes must be between 0 and 1000000.")
                })?,
        };

        let now = Utc::now();
        let reply = {
            let mut guard = self.lock();
            let st = &mut *guard;
            let release_label = st.application(app_id)?.release_label.clone();
            let id = st.new_id();
            let arn = format!("{}/jobruns/{id}", application_arn(app_id));
            st.submissions.push(SubmissionRecord {
                manager: "emr-serverless",
                submission_id: id.clone(),
                app_name: name.clone().unwrap_or_default(),
                submission_key: Some(client_token.clone()),
                received_at: now,
            });
            st.runs.push(JobRun {
                application_id: app_id.to_owned(),
                id: id.clone(),
                arn: arn.clone(),
                name,
                client_token,
                execution_role,
                release_label,
                job_driver,
                configuration_overrides,
                tags,
                retry_policy,
                max_attempts,
                execution_timeout_minutes,
                spec: Arc::new(spec),
                state: RunState::Submitted,
                details: String::new(),
                created_at: now,
                updated_at: now,
                started_at: None,
                ended_at: None,
                attempts: vec![Attempt {
                    state: RunState::Submitted,
                    details: String::new(),
                    created_at: now,
                    updated_at: now,
                }],
                admitted: false,
                pid: None,
                cancel: self.cancel.child_token(),
            });
            info!(job_run_id = %id, application_id = %app_id, "job run submitted");
            json!({"applicationId": app_id, "jobRunId": id, "arn": arn})
        };
        self.schedule();
        Ok(reply)
    }

    fn cancel_job_run(&self, app_id: &str, id: &str) -> Result<Value, AwsError> {
        let mut guard = self.lock();
        guard.run(app_id, id)?;
        let Some(r) = guard
            .runs
            .iter_mut()
            .find(|r| r.application_id == app_id && r.id == id)
        else {
            return Err(AwsError::not_found(format!("Job run {id} does not exist.")));
        };
        if r.state.is_terminal() {
            return Err(AwsError::validation(format!(
                "Job run {id} cannot be cancelled: it is already in state {}.",
                r.state.as_str()
            )));
        }
        if r.admitted {
            // Its task stops the process and then says CANCELLED.
            if r.state != RunState::Cancelling {
                r.set_state(RunState::Cancelling, "");
            }
        } else {
            r.set_state(RunState::Cancelled, "Job run was cancelled.");
        }
        r.cancel.cancel();
        info!(job_run_id = %id, "job run cancel requested");
        Ok(json!({"applicationId": app_id, "jobRunId": id}))
    }

    fn get_job_run(
        &self,
        app_id: &str,
        id: &str,
        attempt: Option<&str>,
    ) -> Result<Value, AwsError> {
        let st = self.lock();
        let r = st.run(app_id, id)?;
        let n = match attempt {
            None => r.attempts.len(),
            Some(a) => a
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=r.attempts.len()).contains(n))
                .ok_or_else(|| AwsError::validation(format!("Job run {id} has no attempt {a}.")))?,
        };
        Ok(json!({"jobRun": job_run_json(r, n)}))
    }

    fn list_job_run_attempts(&self, app_id: &str, id: &str) -> Result<Value, AwsError> {
        let st = self.lock();
        let r = st.run(app_id, id)?;
        let attempts: Vec<Value> = r
            .attempts
            .iter()
            .enumerate()
            .map(|(i, a)| {
                json!({
                    "applicationId": r.application_id,
                    "id": r.id,
                    "name": r.name,
                    "mode": "BATCH",
                    "arn": r.arn,
                    "createdBy": created_by(),
                    "jobCreatedAt": epoch(r.created_at),
                    "createdAt": epoch(a.created_at),
                    "updatedAt": epoch(a.updated_at),
                    "executionRole": r.execution_role,
                    "state": a.state.as_str(),
                    "stateDetails": a.details,
                    "releaseLabel": r.release_label,
                    "type": "Spark",
                    "attempt": i + 1,
                })
            })
            .collect();
        Ok(json!({"jobRunAttempts": attempts}))
    }

    fn list_job_runs(&self, app_id: &str, query: &[(String, String)]) -> Result<Value, AwsError> {
        let st = self.lock();
        st.application(app_id)?;
        let param = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
        let states: Vec<&str> = query
            .iter()
            .filter(|(k, _)| k == "states")
            .map(|(_, v)| v.as_str())
            .collect();
        let max = match param("maxResults") {
            None => PAGE_SIZE,
            Some(m) => m
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=PAGE_SIZE).contains(n))
                .ok_or_else(|| {
                    AwsError::validation(format!("maxResults must be between 1 and {PAGE_SIZE}."))
                })?,
        };
        let start = match param("nextToken") {
            None => 0,
            Some(t) => t
                .parse::<usize>()
                .map_err(|_| AwsError::validation("The nextToken is not valid."))?,
        };
        let after = time_param(param("createdAtAfter"), "createdAtAfter")?;
        let before = time_param(param("createdAtBefore"), "createdAtBefore")?;
        let matching: Vec<&JobRun> = st
            .runs
            .iter()
            .rev()
            .filter(|r| r.application_id == app_id)
            .filter(|r| states.is_empty() || states.contains(&r.state.as_str()))
            .filter(|r| {
                after.is_none_or(|t| r.created_at > t) && before.is_none_or(|t| r.created_at < t)
            })
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(max)
            .map(|r| {
                json!({
                    "applicationId": r.application_id,
                    "id": r.id,
                    "name": r.name,
                    "mode": "BATCH",
                    "arn": r.arn,
                    "createdBy": created_by(),
                    "createdAt": epoch(r.created_at),
                    "updatedAt": epoch(r.updated_at),
                    "executionRole": r.execution_role,
                    "state": r.state.as_str(),
                    "stateDetails": r.details,
                    "releaseLabel": r.release_label,
                    "type": "Spark",
                    "attempt": r.attempts.len(),
                    "attemptCreatedAt": r.attempts.last().map(|a| epoch(a.created_at)),
                    "attemptUpdatedAt": r.attempts.last().map(|a| epoch(a.updated_at)),
                })
            })
            .collect();
        let mut reply = json!({"jobRuns": page});
        if start + max < matching.len() {
            reply["nextToken"] = json!((start + max).to_string());
        }
        Ok(reply)
    }

    fn create_application(&self, body: &[u8]) -> Result<Value, AwsError> {
        let req = parse_object(body)?;
        let name = string_field(&req, "name", false)?.unwrap_or_default();
        let release_label = string_field(&req, "releaseLabel", true)?.unwrap_or_default();
        let kind = string_field(&req, "type", true)?.unwrap_or_default();
        if !kind.eq_ignore_ascii_case("spark") {
            return Err(AwsError::validation(format!(
                "Application type {kind} is not supported; only Spark."
            )));
        }
        let client_token = string_field(&req, "clientToken", false)?;
        let scheduler = req.get("schedulerConfiguration");
        let number = |key: &str, default: u32| -> Result<u32, AwsError> {
            match scheduler.and_then(|s| s.get(key)) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        AwsError::validation(format!(
                            "schedulerConfiguration.{key} must be a positive number."
                        ))
                    }),
            }
        };
        let max_concurrent_runs = number("maxConcurrentRuns", DEFAULT_MAX_CONCURRENT_RUNS)?;
        let queue_timeout_minutes = number("queueTimeoutMinutes", 360)?;
        let tags = string_map(req.get("tags"), "tags")?;
        let mut st = self.lock();
        if let Some(token) = &client_token
            && let Some(a) = st
                .applications
                .values()
                .find(|a| a.client_token.as_ref() == Some(token))
        {
            return Ok(json!({"applicationId": a.id, "name": a.name, "arn": a.arn}));
        }
        let id = st.new_id();
        let app = Application {
            arn: application_arn(&id),
            id: id.clone(),
            name,
            release_label,
            kind: "Spark".to_owned(),
            client_token,
            max_concurrent_runs,
            queue_timeout_minutes,
            tags,
            created_at: Utc::now(),
        };
        let reply = json!({"applicationId": app.id, "name": app.name, "arn": app.arn});
        st.applications.insert(id, app);
        Ok(reply)
    }

    fn get_application(&self, id: &str) -> Result<Value, AwsError> {
        let st = self.lock();
        Ok(json!({"application": application_json(st.application(id)?)}))
    }

    fn list_applications(&self) -> Value {
        let st = self.lock();
        let apps: Vec<Value> = st
            .applications
            .values()
            .map(|a| {
                json!({
                    "id": a.id, "name": a.name, "arn": a.arn, "releaseLabel": a.release_label,
                    "type": a.kind, "state": "STARTED", "createdAt": epoch(a.created_at),
                    "updatedAt": epoch(a.created_at),
                })
            })
            .collect();
        json!({"applications": apps})
    }

    /// Cancel every job run and wait until all are reaped.
    async fn shutdown(&self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Best-effort synchronous kill for `Drop`.
    fn kill_now(&self) {
        self.cancel.cancel();
        for pid in self.lock().runs.iter().filter_map(|r| r.pid) {
            process::kill_group_now(pid);
        }
    }
}

enum AttemptEnd {
    Succeeded,
    Failed(String),
    Cancelled,
}

impl StandIn for Emr {
    fn submissions(&self) -> Vec<SubmissionRecord> {
        self.lock().submissions.clone()
    }

    fn shutdown(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(Emr::shutdown(self))
    }

    fn kill_now(&self) {
        Emr::kill_now(self)
    }
}

fn application_arn(id: &str) -> String {
    format!("arn:aws:emr-serverless:{REGION}:{ACCOUNT_ID}:/applications/{id}")
}

fn created_by() -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:user/drover-stand-in")
}

/// restJson1 timestamps: epoch seconds, fractional.
fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn time_param(v: Option<&str>, name: &str) -> Result<Option<DateTime<Utc>>, AwsError> {
    let Some(v) = v else { return Ok(None) };
    if let Ok(secs) = v.parse::<f64>() {
        return Ok(DateTime::from_timestamp_millis((secs * 1000.0) as i64));
    }
    DateTime::parse_from_rfc3339(v)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| AwsError::validation(format!("{name} is not a valid timestamp.")))
}

/// The GetJobRun view of `r` as of attempt `n` (the current one when n is the last).
fn job_run_json(r: &JobRun, n: usize) -> Value {
    let a = &r.attempts[n - 1];
    let mut v = json!({
        "applicationId": r.application_id,
        "jobRunId": r.id,
        "name": r.name,
        "arn": r.arn,
        "createdBy": created_by(),
        "createdAt": epoch(r.created_at),
        "updatedAt": epoch(r.updated_at),
        "executionRole": r.execution_role,
        "state": a.state.as_str(),
        "stateDetails": a.details,
        "releaseLabel": r.release_label,
        "jobDriver": r.job_driver,
        "tags": r.tags,
        "totalResourceUtilization": {"vCPUHour": 0.0, "memoryGBHour": 0.0, "storageGBHour": 0.0},
        "totalExecutionDurationSeconds": r.started_at.map_or(0, |s| (r.ended_at.unwrap_or_else(Utc::now) - s).num_seconds()),
        "executionTimeoutMinutes": r.execution_timeout_minutes,
        "mode": "BATCH",
        "attempt": n,
        "attemptCreatedAt": epoch(a.created_at),
        "attemptUpdatedAt": epoch(a.updated_at),
    });
    if let Some(o) = &r.configuration_overrides {
        v["configurationOverrides"] = o.clone();
    }
    if let Some(p) = &r.retry_policy {
        v["retryPolicy"] = p.clone();
    }
    if let Some(t) = r.started_at {
        v["startedAt"] = json!(epoch(t));
    }
    if let Some(t) = r.ended_at {
        v["endedAt"] = json!(epoch(t));
    }
    v
}

fn application_json(a: &Application) -> Value {
    json!({
        "applicationId": a.id,
        "name": a.name,
        "arn": a.arn,
        "releaseLabel": a.release_label,
        "type": a.kind,
        "state": "STARTED",
        "stateDetails": "",
        "createdAt": epoch(a.created_at),
        "updatedAt": epoch(a.created_at),
        "tags": a.tags,
        "autoStartConfiguration": {"enabled": true},
        "autoStopConfiguration": {"enabled": true, "idleTimeoutMinutes": 15},
        "architecture": "X86_64",
        "schedulerConfiguration": {
            "maxConcurrentRuns": a.max_concurrent_runs,
            "queueTimeoutMinutes": a.queue_timeout_minutes,
        },
    })
}

/// What `jobDriver.sparkSubmit` and the `spark-defaults` classification ask
/// to run. `sparkSubmitParameters` is split on whitespace, as the service does.
fn run_spec(job_driver: &Value, overrides: Option<&Value>) -> Result<RunSpec, AwsError> {
    let submit = job_driver
        .get("sparkSubmit")
        .filter(|s| s.is_object())
        .ok_or_else(|| {
            AwsError::validation("jobDriver.sparkSubmit is required (only Spark jobs run here).")
        })?;
    let entry_point = submit
        .get("entryPoint")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AwsError::validation("jobDriver.sparkSubmit.entryPoint is required."))?
        .to_owned();
    let args = match submit.get("entryPointArguments") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                AwsError::validation("entryPointArguments must be a list of strings.")
            })?,
        Some(_) => {
            return Err(AwsError::validation(
                "entryPointArguments must be a list of strings.",
            ));
        }
    };
    let mut spec = RunSpec {
        entry_point,
        args,
        ..RunSpec::default()
    };
    // spark-defaults first: --conf on the command line wins, as in spark-submit.
    let configurations = overrides
        .and_then(|o| o.get("applicationConfiguration"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in configurations {
        if c.get("classification").and_then(Value::as_str) == Some("spark-defaults") {
            spec.conf
                .extend(string_map(c.get("properties"), "properties")?);
        }
    }
    let parameters = submit
        .get("sparkSubmitParameters")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut words = parameters.split_whitespace();
    while let Some(flag) = words.next() {
        let mut value = || {
            words.next().ok_or_else(|| {
                AwsError::validation(format!("sparkSubmitParameters: {flag} needs a value."))
            })
        };
        match flag {
            "--class" => spec.main_class = Some(value()?.to_owned()),
            "--conf" => {
                let kv = value()?;
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    AwsError::validation(format!(
                        "sparkSubmitParameters: --conf {kv} is not key=value."
                    ))
                })?;
                spec.conf.insert(k.to_owned(), v.to_owned());
            }
            "--jars" => append_list(&mut spec.conf, "spark.jars", value()?),
            "--files" => append_list(&mut spec.conf, "spark.files", value()?),
            "--py-files" => append_list(&mut spec.conf, "spark.submit.pyFiles", value()?),
            "--archives" => append_list(&mut spec.conf, "spark.archives", value()?),
            "--deploy-mode" | "--master" => {
                return Err(AwsError::validation(format!(
                    "sparkSubmitParameters: {flag} is not supported: the service decides where the driver runs."
                )));
            }
            other => {
                return Err(AwsError::validation(format!(
                    "sparkSubmitParameters: unsupported parameter {other}."
                )));
            }
        }
    }
    for key in ["spark.submit.deployMode", "spark.master"] {
        if spec.conf.contains_key(key) {
            return Err(AwsError::validation(format!(
                "{key} cannot be set: the service decides where the driver runs."
            )));
        }
    }
    const ENV_PREFIX: &str = "spark.emr-serverless.driverEnv.";
    spec.env = spec
        .conf
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(ENV_PREFIX)
                .map(|name| (name.to_owned(), v.clone()))
        })
        .collect();
    Ok(spec)
}

fn append_list(conf: &mut BTreeMap<String, String>, key: &str, value: &str) {
    let merged = match conf.get(key).filter(|v| !v.is_empty()) {
        Some(existing) => format!("{existing},{value}"),
        None => value.to_owned(),
    };
    conf.insert(key.to_owned(), merged);
}

fn parse_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, AwsError> {
    if body.is_empty() {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(AwsError::validation(
            "The request body is not a JSON object.",
        )),
    }
}

fn string_field(
    req: &serde_json::Map<String, Value>,
    name: &str,
    required: bool,
) -> Result<Option<String>, AwsError> {
    match req.get(name) {
        None | Some(Value::Null) if required => {
            Err(AwsError::validation(format!("{name} is required.")))
        }
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AwsError::validation(format!("{name} must be a string."))),
    }
}

fn string_map(v: Option<&Value>, name: &str) -> Result<BTreeMap<String, String>, AwsError> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
            .collect::<Option<_>>()
            .ok_or_else(|| AwsError::validation(format!("{name} must map strings to strings."))),
        Some(_) => Err(AwsError::validation(format!(
            "{name} must map strings to strings."
        ))),
    }
}

/// An AWS restJson1 error: status, `x-amzn-ErrorType`, `{"message"}`.
#[derive(Debug)]
pub struct AwsError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl AwsError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    fn forbidden(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, kind, message)
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        (
            self.status,
            [
                ("x-amzn-errortype", self.kind),
                (header::CONTENT_TYPE.as_str(), "application/json"),
            ],
            json!({"message": self.message}).to_string(),
        )
            .into_response()
    }
}

fn reply(result: Result<Value, AwsError>) -> Response {
    match result {
        Ok(v) => ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response(),
        Err(e) => e.into_response(),
    }
}

fn router(emr: Arc<Emr>) -> Router {
    Router::new()
        .route(
            "/applications",
            get(list_applications).post(create_application),
        )
        .route("/applications/{app}", get(get_application))
        .route(
            "/applications/{app}/jobruns",
            get(list_job_runs).post(start_job_run),
        )
        .route(
            "/applications/{app}/jobruns/{run}",
            get(get_job_run).delete(cancel_job_run),
        )
        .route(
            "/applications/{app}/jobruns/{run}/attempts",
            get(list_job_run_attempts),
        )
        .route_layer(middleware::from_fn(check_signature))
        .with_state(emr)
}

async fn list_applications(State(emr): State<Arc<Emr>>) -> Response {
    reply(Ok(emr.list_applications()))
}

async fn create_application(State(emr): State<Arc<Emr>>, body: Bytes) -> Response {
    reply(emr.create_application(&body))
}

async fn get_application(State(emr): State<Arc<Emr>>, UrlPath(app): UrlPath<String>) -> Response {
    reply(emr.get_application(&app))
}

async fn start_job_run(
    State(emr): State<Arc<Emr>>,
    UrlPath(app): UrlPath<String>,
    body: Bytes,
) -> Response {
    reply(emr.start_job_run(&app, &body))
}

async fn list_job_runs(
    State(emr): State<Arc<Emr>>,
    UrlPath(app): UrlPath<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    reply(emr.list_job_runs(&app, &query))
}

async fn get_job_run(
    State(emr): State<Arc<Emr>>,
    UrlPath((app, run)): UrlPath<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let attempt = query
        .iter()
        .find(|(k, _)| k == "attempt")
        .map(|(_, v)| v.as_str());
    reply(emr.get_job_run(&app, &run, attempt))
}

async fn cancel_job_run(
    State(emr): State<Arc<Emr>>,
    UrlPath((app, run)): UrlPath<(String, String)>,
) -> Response {
    reply(emr.cancel_job_run(&app, &run))
}

async fn list_job_run_attempts(
    State(emr): State<Arc<Emr>>,
    UrlPath((app, run)): UrlPath<(String, String)>,
) -> Response {
    reply(emr.list_job_run_attempts(&app, &run))
}

/// Refuses any request without a valid SigV4 signature; passes the rest on
/// with their body intact.
async fn check_signature(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return AwsError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ValidationException",
                "The request body is too large.",
            )
            .into_response();
        }
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    if let Err(e) = sigv4::verify(
        parts.method.as_str(),
        path_and_query,
        &parts.headers,
        &body,
        Utc::now(),
    ) {
        warn!(path = %parts.uri.path(), error = %e.message, "refused an unsigned or badly signed request");
        return e.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// Checking AWS Signature V4 by recomputing it with the AWS SDK's signer.
pub mod sigv4 {
    use std::borrow::Cow;

    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    use axum::http::HeaderMap;
    use chrono::{DateTime, NaiveDateTime, Utc};

    use super::{ACCESS_KEY_ID, AwsError, MAX_CLOCK_SKEW, REGION, SECRET_ACCESS_KEY, SERVICE};

    const INVALID_SIGNATURE: &str = "InvalidSignatureException";

    /// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Authorization<'a> {
        pub access_key_id: &'a str,
        pub date: &'a str,
        pub region: &'a str,
        pub service: &'a str,
        pub signed_headers: Vec<&'a str>,
        pub signature: &'a str,
    }

    pub fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
        let rest = value.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',').map(str::trim) {
            let (k, v) = part.split_once('=')?;
            match k {
                "Credential" => credential = Some(v),
                "SignedHeaders" => signed_headers = Some(v),
                "Signature" => signature = Some(v),
                _ => {}
            }
        }
        let mut scope = credential?.split('/');
        let auth = Authorization {
            access_key_id: scope.next()?,
            date: scope.next()?,
            region: scope.next()?,
            service: scope.next()?,
            signed_headers: signed_headers?.split(';').collect(),
            signature: signature?,
        };
        (scope.next()? == "aws4_request" && scope.next().is_none()).then_some(auth)
    }

    /// Ok when the request is signed by [`ACCESS_KEY_ID`] with [`SECRET_ACCESS_KEY`]
    /// for [`REGION`] and service `emr-serverless`, within the allowed clock skew.
    pub fn verify(
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let Some(value) = header("authorization") else {
            return Err(AwsError::forbidden(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        };
        let auth = parse_authorization(value).ok_or_else(|| {
            AwsError::forbidden(
                "IncompleteSignatureException",
                format!("Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters (AWS4-HMAC-SHA256). Authorization={value}"),
            )
        })?;
        if auth.access_key_id != ACCESS_KEY_ID {
            return Err(AwsError::forbidden(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        }
        if auth.service != SERVICE {
            return Err(AwsError::forbidden(
                INVALID_SIGNATURE,
                format!("Credential should be scoped to correct service: '{SERVICE}'."),
            ));
        }
        if auth.region != REGION {
            return Err(AwsError::forbidden(
                INVALID_SIGNATURE,
                format!(
                    "Credential should be scoped to a valid region, not '{}'.",
                    auth.region
                ),
            ));
        }
        let amz_date = header("x-amz-date").ok_or_else(|| {
            AwsError::forbidden(
                INVALID_SIGNATURE,
                "The request must carry an x-amz-date header.",
            )
        })?;
        let time = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
            .map_err(|_| {
                AwsError::forbidden(
                    INVALID_SIGNATURE,
                    format!("x-amz-date {amz_date:?} is not a valid date."),
                )
            })?
            .and_utc();
        if !amz_date.starts_with(auth.date) {
            return Err(AwsError::forbidden(
                INVALID_SIGNATURE,
                format!(
                    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
                    auth.date,
                    &amz_date[..8.min(amz_date.len())]
                ),
            ));
        }
        if (now - time).abs() > MAX_CLOCK_SKEW {
            return Err(AwsError::forbidden(
                INVALID_SIGNATURE,
                format!(
                    "Signature expired: {amz_date} is now earlier or later than the allowed 15 minutes around {}.",
                    now.format("%Y%m%dT%H%M%SZ")
                ),
            ));
        }
        if !auth.signed_headers.contains(&"host") {
            return Err(AwsError::forbidden(
                INVALID_SIGNATURE,
                "The host header must be signed.",
            ));
        }
        let mut signed: Vec<(&str, String)> = Vec::new();
        for name in &auth.signed_headers {
            let values: Vec<&str> = headers
                .get_all(*name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if values.is_empty() {
                return Err(AwsError::forbidden(
                    INVALID_SIGNATURE,
                    format!("Signed header {name} is missing from the request."),
                ));
            }
            signed.push((name, values.join(",")));
        }
        let host = header("host").unwrap_or_default();
        let expected = signature(
            method,
            &format!("http://{host}{path_and_query}"),
            &signed,
            body,
            time,
        )
        .map_err(|e| {
            AwsError::forbidden(
                INVALID_SIGNATURE,
                format!("The request cannot be signed: {e}"),
            )
        })?;
        if expected != auth.signature {
            return Err(AwsError::forbidden(
                INVALID_SIGNATURE,
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ));
        }
        Ok(())
    }

    /// The signature of a request with exactly `headers` signed.
    fn signature(
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
        time: DateTime<Utc>,
    ) -> Result<String, String> {
        let identity =
            Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "stand-in").into();
        let mut settings = SigningSettings::default();
        // Sign what the client signed, nothing more and nothing less.
        settings.excluded_headers = Some(Vec::<Cow<'static, str>>::new());
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name(SERVICE)
            .time(time.into())
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(k, v)| (*k, v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| e.to_string())?;
        let (_, signature) = sign(request, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        Ok(signature)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parses_the_authorization_header() {
            let a = parse_authorization(
                "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/emr-serverless/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abc",
            )
            .unwrap();
            assert_eq!(
                a,
                Authorization {
                    access_key_id: "AKID",
                    date: "20150830",
                    region: "us-east-1",
                    service: "emr-serverless",
                    signed_headers: vec!["host", "x-amz-date"],
                    signature: "abc",
                }
            );
            assert!(parse_authorization("Bearer x").is_none());
            assert!(
                parse_authorization(
                    "AWS4-HMAC-SHA256 Credential=A/d/r/s/other, SignedHeaders=host, Signature=x"
                )
                .is_none()
            );
        }

        fn signed_headers(secret: &str, time: DateTime<Utc>, body: &[u8]) -> HeaderMap {
            let identity = Credentials::new(ACCESS_KEY_ID, secret, None, None, "t").into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(REGION)
                .name(SERVICE)
                .time(time.into())
                .settings(SigningSettings::default())
                .build()
                .unwrap()
                .into();
            let req = SignableRequest::new(
                "POST",
                "http://127.0.0.1:9/applications/a/jobruns",
                [("content-type", "application/json")].into_iter(),
                SignableBody::Bytes(body),
            )
            .unwrap();
            let (instructions, _) = sign(req, &params).unwrap().into_parts();
            let mut headers = HeaderMap::new();
            headers.insert("host", "127.0.0.1:9".parse().unwrap());
            headers.insert("content-type", "application/json".parse().unwrap());
            for (k, v) in instructions.headers() {
                headers.insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            headers
        }

        #[test]
        fn accepts_a_good_signature_and_refuses_a_wrong_secret_body_or_clock() {
            let now = Utc::now();
            let good = signed_headers(SECRET_ACCESS_KEY, now, b"{}");
            let path = "/applications/a/jobruns";
            verify("POST", path, &good, b"{}", now).unwrap();
            let kind = |r: Result<(), AwsError>| r.unwrap_err().kind;
            assert_eq!(
                kind(verify(
                    "POST",
                    path,
                    &signed_headers("wrong", now, b"{}"),
                    b"{}",
                    now
                )),
                INVALID_SIGNATURE
            );
            assert_eq!(
                kind(verify("POST", path, &good, b"{ }", now)),
                INVALID_SIGNATURE
            );
            assert_eq!(
                kind(verify("GET", path, &good, b"{}", now)),
                INVALID_SIGNATURE
            );
            assert_eq!(
                kind(verify(
                    "POST",
                    path,
                    &good,
                    b"{}",
                    now + chrono::Duration::hours(1)
                )),
                INVALID_SIGNATURE
            );
            assert_eq!(
                kind(verify("POST", path, &HeaderMap::new(), b"{}", now)),
                "MissingAuthenticationTokenException"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_submit_parameters_become_a_launch_spec() {
        let driver = json!({"sparkSubmit": {
            "entryPoint": "/jobs/etl.jar",
            "entryPointArguments": ["a", "b"],
            "sparkSubmitParameters": "--class com.example.Etl --conf spark.executor.cores=2 \
                --conf spark.emr-serverless.driverEnv.TZ=UTC --jars /a.jar,/b.jar --py-files /d.zip",
        }});
        let overrides = json!({"applicationConfiguration": [{"classification": "spark-defaults",
            "properties": {"spark.executor.cores": "1", "spark.driver.extraJavaOptions": "-Xss4m -Da=b"}}]});
        let spec = run_spec(&driver, Some(&overrides)).unwrap();
        assert_eq!(spec.entry_point, "/jobs/etl.jar");
        assert_eq!(spec.args, ["a", "b"]);
        assert_eq!(spec.main_class.as_deref(), Some("com.example.Etl"));
        assert_eq!(
            spec.conf["spark.executor.cores"], "2",
            "--conf wins over spark-defaults"
        );
        assert_eq!(spec.conf["spark.driver.extraJavaOptions"], "-Xss4m -Da=b");
        assert_eq!(spec.conf["spark.jars"], "/a.jar,/b.jar");
        assert_eq!(spec.conf["spark.submit.pyFiles"], "/d.zip");
        assert_eq!(spec.env, [("TZ".to_owned(), "UTC".to_owned())]);
    }

    #[test]
    fn refuses_a_deploy_mode_and_unknown_parameters() {
        let with = |p: &str| {
            run_spec(
                &json!({"sparkSubmit": {"entryPoint": "/a.py", "sparkSubmitParameters": p}}),
                None,
            )
        };
        assert!(
            with("--deploy-mode cluster")
                .unwrap_err()
                .message
                .contains("decides where the driver runs")
        );
        assert!(with("--conf spark.submit.deployMode=client").is_err());
        assert!(with("--frobnicate").is_err());
        assert!(with("--conf").is_err());
        assert!(run_spec(&json!({"sparkSubmit": {}}), None).is_err());
    }

    #[test]
    fn ids_look_like_the_services() {
        let mut st = EmrState::default();
        let (a, b) = (st.new_id(), st.new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 16, "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{a}"
        );
    }
}
