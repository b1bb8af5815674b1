//! EMR Serverless' applications and job runs: their states, the admission
//! of runs into an application's concurrent-run slots, and the tasks that
//! drive each run's attempts as local processes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::{ACCOUNT_ID, DASHBOARD_PREFIX, REGION, wire};
use crate::aws::job_run::{self, AttemptEnd, ListQuery};
use crate::aws::{self, AwsError, RunSpec, parse_object, string_field, string_map, time_param};
use crate::http::escape_html;
use crate::ids::{base36, random_u64};
use crate::process::Spawner;
use crate::stand_in::{Context, Drivers, StandIn};
use crate::SubmissionRecord;

/// The one application the stand-in starts with.
pub const APPLICATION_ID: &str = "00fdroverstandin";
/// The service's default `schedulerConfiguration.maxConcurrentRuns`.
pub const DEFAULT_MAX_CONCURRENT_RUNS: u32 = 15;

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
pub(super) struct Application {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) arn: String,
    pub(super) release_label: String,
    pub(super) kind: String,
    pub(super) client_token: Option<String>,
    pub(super) max_concurrent_runs: u32,
    pub(super) queue_timeout_minutes: u32,
    pub(super) tags: BTreeMap<String, String>,
    pub(super) created_at: DateTime<Utc>,
}

#[derive(Debug)]
pub(super) struct Attempt {
    pub(super) state: RunState,
    pub(super) details: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

#[derive(Debug)]
pub(super) struct JobRun {
    pub(super) application_id: String,
    pub(super) id: String,
    pub(super) arn: String,
    pub(super) name: Option<String>,
    pub(super) client_token: String,
    pub(super) execution_role: String,
    pub(super) release_label: String,
    pub(super) job_driver: Value,
    pub(super) configuration_overrides: Option<Value>,
    pub(super) tags: BTreeMap<String, String>,
    /// `retryPolicy` as sent (echoed back), and its maxAttempts (default 1).
    pub(super) retry_policy: Option<Value>,
    pub(super) max_attempts: u32,
    pub(super) execution_timeout_minutes: u32,
    pub(super) spec: Arc<RunSpec>,
    pub(super) state: RunState,
    pub(super) details: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) started_at: Option<DateTime<Utc>>,
    pub(super) ended_at: Option<DateTime<Utc>>,
    /// attempts[n - 1] is attempt n; the last is the current one.
    pub(super) attempts: Vec<Attempt>,
    /// Holds one of its application's concurrent-run slots.
    pub(super) admitted: bool,
    /// The current attempt's process group, while it runs.
    pub(super) pid: Option<u32>,
    pub(super) cancel: CancellationToken,
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
pub(super) struct EmrState {
    pub(super) applications: BTreeMap<String, Application>,
    /// In creation order.
    pub(super) runs: Vec<JobRun>,
    pub(super) next_number: u64,
    pub(super) submissions: Vec<SubmissionRecord>,
}

impl EmrState {
    pub(super) fn new_id(&mut self) -> String {
        self.next_number += 1;
        let millis = u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default();
        // 16 lowercase alphanumerics, like the service's ids.
        format!(
            "00f{}{:0>5}",
            base36(millis),
            base36(self.next_number % 36u64.pow(5))
        )
    }

    pub(super) fn run(&self, app: &str, id: &str) -> Result<&JobRun, AwsError> {
        self.application(app)?;
        self.runs
            .iter()
            .find(|r| r.application_id == app && r.id == id)
            .ok_or_else(|| AwsError::not_found(format!("Job run {id} does not exist.")))
    }

    pub(super) fn application(&self, id: &str) -> Result<&Application, AwsError> {
        self.applications
            .get(id)
            .ok_or_else(|| AwsError::not_found(format!("Application {id} does not exist.")))
    }
}

/// The service: applications, job runs, and the tasks driving them.
pub struct Emr {
    work_dir: PathBuf,
    spawner: Arc<Spawner>,
    /// Where job runs' `s3:` resources are fetched from.
    s3: Option<crate::s3::S3Source>,
    drivers: Drivers,
    state: Mutex<EmrState>,
}

impl Emr {
    pub(super) fn new(ctx: &Context) -> Self {
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
            s3: ctx.s3.clone(),
            drivers: Drivers::new(ctx.cancel.child_token()),
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
        if self.drivers.cancel.is_cancelled() {
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
            self.drivers.spawn(async move {
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
        let application_id = self
            .lock()
            .runs
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.application_id.clone());
        let attempt = job_run::Attempt {
            job_run_id: id,
            s3: self.s3.as_ref(),
            number: attempt,
            spec,
            dir: self.work_dir.join(id).join(format!("attempt-{attempt}")),
            extra_env: vec![
                (
                    "EMR_SERVERLESS_APPLICATION_ID".to_owned(),
                    application_id.unwrap_or_default(),
                ),
                ("EMR_SERVERLESS_JOB_RUN_ID".to_owned(), id.to_owned()),
                ("EMR_SERVERLESS_ATTEMPT".to_owned(), attempt.to_string()),
            ],
            failed: "Job failed",
            exit_details: |code| {
                format!(
                    "Job failed, please check complete logs in configured logging destination. ExitCode: {code}."
                )
            },
            timeout: (timeout_minutes > 0).then(|| {
                (
                    Duration::from_secs(u64::from(timeout_minutes) * 60),
                    format!("Job run exceeded the execution timeout of {timeout_minutes} minutes."),
                )
            }),
        };
        let end = job_run::run_attempt(&self.spawner, attempt, cancel, |pid| {
            self.update(id, |r| r.pid = pid);
            self.advance(id, RunState::Running);
        })
        .await;
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

    pub(super) fn start_job_run(self: &Arc<Self>, app_id: &str, body: &[u8]) -> Result<Value, AwsError> {
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
                cancel: self.drivers.cancel.child_token(),
            });
            info!(job_run_id = %id, application_id = %app_id, "job run submitted");
            json!({"applicationId": app_id, "jobRunId": id, "arn": arn})
        };
        self.schedule();
        Ok(reply)
    }

    pub(super) fn cancel_job_run(&self, app_id: &str, id: &str) -> Result<Value, AwsError> {
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

    pub(super) fn get_job_run(
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
        Ok(json!({"jobRun": wire::job_run(r, n)}))
    }

    /// GetDashboardForJobRun: the link to the run's Spark UI. The service
    /// signs a URL on its own host for an hour; the stand-in links to a
    /// page of its own (on the host the request came to) that shows the run.
    pub(super) fn dashboard_for_job_run(&self, app_id: &str, id: &str, host: &str) -> Result<Value, AwsError> {
        let st = self.lock();
        st.run(app_id, id)?;
        let token = base36(random_u64());
        Ok(json!({"url": format!("http://{host}{DASHBOARD_PREFIX}/{app_id}/{id}?authToken={token}")}))
    }

    /// The page a dashboard link opens: the run's state, as a stand-in for its Spark UI.
    pub(super) fn dashboard_page(&self, app_id: &str, id: &str) -> Option<String> {
        let st = self.lock();
        let r = st.run(app_id, id).ok()?;
        Some(format!(
            "<!doctype html><title>Spark UI of job run {id}</title><h1>Job run {id}</h1>\
             <p>EMR Serverless stand-in: application {app}, state {state}.</p>",
            id = escape_html(id),
            app = escape_html(app_id),
            state = r.state.as_str()
        ))
    }

    pub(super) fn list_job_run_attempts(&self, app_id: &str, id: &str) -> Result<Value, AwsError> {
        let st = self.lock();
        let r = st.run(app_id, id)?;
        let attempts: Vec<Value> = r
            .attempts
            .iter()
            .enumerate()
            .map(|(i, a)| wire::job_run_attempt(r, a, i + 1))
            .collect();
        Ok(json!({"jobRunAttempts": attempts}))
    }

    pub(super) fn list_job_runs(&self, app_id: &str, query: &[(String, String)]) -> Result<Value, AwsError> {
        let st = self.lock();
        st.application(app_id)?;
        let q = ListQuery::parse(query)?;
        let after = time_param(q.param("createdAtAfter"), "createdAtAfter")?;
        let before = time_param(q.param("createdAtBefore"), "createdAtBefore")?;
        let matching: Vec<&JobRun> = st
            .runs
            .iter()
            .rev()
            .filter(|r| r.application_id == app_id)
            .filter(|r| q.wants(r.state.as_str()))
            .filter(|r| {
                after.is_none_or(|t| r.created_at > t) && before.is_none_or(|t| r.created_at < t)
            })
            .collect();
        Ok(q.page(&matching, |r| wire::job_run_summary(r)))
    }

    pub(super) fn create_application(&self, body: &[u8]) -> Result<Value, AwsError> {
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

    pub(super) fn get_application(&self, id: &str) -> Result<Value, AwsError> {
        let st = self.lock();
        Ok(json!({"application": wire::application(st.application(id)?)}))
    }

    pub(super) fn list_applications(&self) -> Value {
        let st = self.lock();
        let apps: Vec<Value> = st
            .applications
            .values()
            .map(wire::application_summary)
            .collect();
        json!({"applications": apps})
    }
}

impl StandIn for Emr {
    fn submissions(&self) -> Vec<SubmissionRecord> {
        self.lock().submissions.clone()
    }

    fn drivers(&self) -> &Drivers {
        &self.drivers
    }

    fn running_pids(&self) -> Vec<u32> {
        self.lock().runs.iter().filter_map(|r| r.pid).collect()
    }
}

pub(super) fn application_arn(id: &str) -> String {
    format!("arn:aws:emr-serverless:{REGION}:{ACCOUNT_ID}:/applications/{id}")
}

/// What `jobDriver.sparkSubmit` and the `spark-defaults` classification ask to run.
fn run_spec(job_driver: &Value, overrides: Option<&Value>) -> Result<RunSpec, AwsError> {
    let submit = job_driver
        .get("sparkSubmit")
        .filter(|s| s.is_object())
        .ok_or_else(|| {
            AwsError::validation("jobDriver.sparkSubmit is required (only Spark jobs run here).")
        })?;
    aws::spark_submit_spec(
        submit,
        "jobDriver.sparkSubmit",
        overrides,
        "spark.emr-serverless.driverEnv.",
        "the service decides where the driver runs",
    )
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
