//! EMR on EKS' job runs on its one virtual cluster: their states, StartJobRun's
//! checks, and the tasks that run each run's driver (again, while its retry
//! policy allows) as a local process.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::{ACCOUNT_ID, REGION, VIRTUAL_CLUSTER_ID};
use crate::aws::job_run::{self, Attempt, AttemptEnd, ListQuery};
use crate::aws::{self, AwsError, RunSpec, parse_object, string_field, string_map, time_param};
use crate::ids::base36;
use crate::process::Spawner;
use crate::stand_in::{Context, Drivers, StandIn};
use crate::SubmissionRecord;

/// The most attempts a retry policy may ask for here.
const MAX_ATTEMPTS: u64 = 10;

/// A job run's state, as the service spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Pending,
    Submitted,
    Running,
    Failed,
    Cancelled,
    CancelPending,
    Completed,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Submitted => "SUBMITTED",
            Self::Running => "RUNNING",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::CancelPending => "CANCEL_PENDING",
            Self::Completed => "COMPLETED",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Failed | Self::Cancelled | Self::Completed)
    }
}

#[derive(Debug)]
pub(super) struct JobRun {
    pub(super) id: String,
    pub(super) name: Option<String>,
    pub(super) arn: String,
    pub(super) client_token: String,
    pub(super) execution_role_arn: String,
    pub(super) release_label: String,
    pub(super) job_driver: Value,
    pub(super) configuration_overrides: Option<Value>,
    pub(super) tags: BTreeMap<String, String>,
    pub(super) retry_policy: Option<Value>,
    pub(super) max_attempts: u32,
    pub(super) spec: Arc<RunSpec>,
    pub(super) state: RunState,
    pub(super) details: Option<String>,
    pub(super) failure_reason: Option<&'static str>,
    pub(super) attempt: u32,
    pub(super) created_at: DateTime<Utc>,
    pub(super) finished_at: Option<DateTime<Utc>>,
    /// The current driver's process group, while it runs.
    pub(super) pid: Option<u32>,
    pub(super) cancel: CancellationToken,
}

impl JobRun {
    fn set_state(&mut self, state: RunState) {
        self.state = state;
        if state.is_terminal() {
            self.finished_at = Some(Utc::now());
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct EksState {
    /// In creation order.
    pub(super) runs: Vec<JobRun>,
    pub(super) next_number: u64,
    pub(super) submissions: Vec<SubmissionRecord>,
}

impl EksState {
    /// 19 lowercase alphanumerics, like the service's job run ids.
    fn new_id(&mut self) -> String {
        self.next_number += 1;
        let millis = u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default();
        format!("{:0>12}{:0>7}", base36(millis), base36(self.next_number % 36u64.pow(7)))
    }

    fn run(&self, vc: &str, id: &str) -> Result<&JobRun, AwsError> {
        check_cluster(vc)?;
        self.runs.iter().find(|r| r.id == id).ok_or_else(|| not_found(format!("Job run {id} doesn't exist.")))
    }
}

/// The service answers a missing resource with HTTP 400.
fn not_found(message: String) -> AwsError {
    AwsError::new(StatusCode::BAD_REQUEST, "ResourceNotFoundException", message)
}

pub(super) fn check_cluster(vc: &str) -> Result<(), AwsError> {
    if vc == VIRTUAL_CLUSTER_ID {
        Ok(())
    } else {
        Err(not_found(format!("Virtual cluster {vc} doesn't exist.")))
    }
}

/// The service: job runs and the tasks driving them.
pub struct Eks {
    work_dir: PathBuf,
    spawner: Arc<Spawner>,
    /// Where job runs' `s3:` resources are fetched from.
    s3: Option<crate::s3::S3Source>,
    drivers: Drivers,
    state: Mutex<EksState>,
}

impl Eks {
    pub(super) fn new(ctx: &Context) -> Self {
        Self {
            work_dir: ctx.work_dir.clone(),
            spawner: ctx.spawner.clone(),
            s3: ctx.s3.clone(),
            drivers: Drivers::new(ctx.cancel.child_token()),
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, EksState> {
        // A panic elsewhere must not take the whole stand-in down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut JobRun)) {
        if let Some(r) = self.lock().runs.iter_mut().find(|r| r.id == id) {
            change(r);
        }
    }

    /// Move a run on, unless a cancel has already said CANCEL_PENDING.
    fn advance(&self, id: &str, state: RunState, details: Option<String>) {
        self.update(id, |r| {
            if r.state != RunState::CancelPending {
                r.set_state(state);
                r.details = details;
            }
        });
    }

    /// Starts drivers until one completes, attempts run out, or the run is
    /// cancelled; then records the end.
    async fn drive(self: Arc<Self>, id: String, spec: Arc<RunSpec>, cancel: CancellationToken, max_attempts: u32) {
        self.advance(&id, RunState::Pending, None);
        let mut attempt = 1;
        let end = loop {
            self.update(&id, |r| r.attempt = attempt);
            match self.run_attempt(&id, &spec, &cancel, attempt).await {
                AttemptEnd::Failed(why) if attempt < max_attempts && !cancel.is_cancelled() => {
                    info!(job_run_id = %id, attempt, why = %why, "driver failed; the retry policy starts it again");
                    self.advance(&id, RunState::Pending, Some(format!("Attempt {attempt} failed: {why}")));
                    attempt += 1;
                }
                end => break end,
            }
        };
        self.update(&id, |r| {
            r.pid = None;
            match end {
                AttemptEnd::Succeeded => {
                    r.details = None;
                    r.set_state(RunState::Completed);
                }
                AttemptEnd::Failed(why) => {
                    r.details = Some(why);
                    r.failure_reason = Some("USER_ERROR");
                    r.set_state(RunState::Failed);
                }
                AttemptEnd::Cancelled => {
                    r.details = Some("JobRun CANCELLED successfully.".into());
                    r.set_state(RunState::Cancelled);
                }
            }
        });
        info!(job_run_id = %id, "job run ended");
    }

    async fn run_attempt(&self, id: &str, spec: &RunSpec, cancel: &CancellationToken, attempt: u32) -> AttemptEnd {
        let attempt = Attempt {
            job_run_id: id,
            s3: self.s3.as_ref(),
            number: attempt,
            spec,
            dir: self.work_dir.join(id).join(format!("attempt-{attempt}")),
            extra_env: vec![
                ("EMR_CONTAINERS_VIRTUAL_CLUSTER_ID".to_owned(), VIRTUAL_CLUSTER_ID.to_owned()),
                ("EMR_CONTAINERS_JOB_RUN_ID".to_owned(), id.to_owned()),
                ("EMR_CONTAINERS_ATTEMPT".to_owned(), attempt.to_string()),
            ],
            failed: "Driver failed",
            exit_details: |code| format!("Driver pod exited with code {code}."),
            timeout: None,
        };
        let end = job_run::run_attempt(&self.spawner, attempt, cancel, |pid| {
            self.update(id, |r| r.pid = pid);
            self.advance(id, RunState::Running, None);
        })
        .await;
        self.update(id, |r| r.pid = None);
        end
    }

    pub(super) fn start_job_run(self: &Arc<Self>, vc: &str, body: &[u8]) -> Result<Value, AwsError> {
        check_cluster(vc)?;
        let req = parse_object(body)?;
        let client_token = string_field(&req, "clientToken", true)?.unwrap_or_default();
        if client_token.trim().is_empty() || client_token.len() > 64 {
            return Err(AwsError::validation("clientToken must be 1 to 64 characters long."));
        }
        let answer = |r: &JobRun| json!({"id": r.id, "name": r.name, "arn": r.arn, "virtualClusterId": VIRTUAL_CLUSTER_ID});
        // The idempotency key: the same token answers the same job run.
        if let Some(r) = self.lock().runs.iter().find(|r| r.client_token == client_token) {
            return Ok(answer(r));
        }
        if req.contains_key("jobTemplateId") {
            return Err(AwsError::validation("Job templates are not supported by this stand-in."));
        }
        let name = string_field(&req, "name", false)?;
        if let Some(n) = &name
            && (n.is_empty() || n.len() > 64 || !n.chars().all(|c| c.is_ascii_alphanumeric() || ".-_/#".contains(c)))
        {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{n}' at 'name' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
            )));
        }
        let execution_role_arn = string_field(&req, "executionRoleArn", true)?.unwrap_or_default();
        if execution_role_arn.len() < 20 || !execution_role_arn.starts_with("arn:") || !execution_role_arn.contains(":role/") {
            return Err(AwsError::validation(format!("executionRoleArn {execution_role_arn:?} is not a valid role ARN.")));
        }
        let release_label = string_field(&req, "releaseLabel", true)?.unwrap_or_default();
        if !valid_release_label(&release_label) {
            return Err(not_found(format!("Release {release_label} doesn't exist.")));
        }
        let job_driver = req.get("jobDriver").cloned().ok_or_else(|| AwsError::validation("jobDriver is required."))?;
        let configuration_overrides = req.get("configurationOverrides").filter(|v| !v.is_null()).cloned();
        let submit = job_driver.get("sparkSubmitJobDriver").filter(|s| s.is_object()).ok_or_else(|| {
            AwsError::validation("jobDriver.sparkSubmitJobDriver is required (sparkSqlJobDriver does not run here).")
        })?;
        if submit.get("sparkSubmitParameters").and_then(Value::as_str).is_some_and(|p| p.trim().is_empty()) {
            return Err(AwsError::validation("sparkSubmitParameters must not be empty."));
        }
        let spec = aws::spark_submit_spec(
            submit,
            "jobDriver.sparkSubmitJobDriver",
            configuration_overrides.as_ref(),
            "spark.kubernetes.driverEnv.",
            "EMR on EKS runs the driver in cluster mode on the virtual cluster",
        )?;
        let tags = string_map(req.get("tags"), "tags")?;
        let retry_policy = req.get("retryPolicyConfiguration").filter(|v| !v.is_null()).cloned();
        let max_attempts = match &retry_policy {
            None => 1,
            Some(p) => match p.get("maxAttempts").and_then(Value::as_u64) {
                Some(n @ 1..=MAX_ATTEMPTS) => n as u32,
                _ => {
                    return Err(AwsError::validation(format!(
                        "retryPolicyConfiguration.maxAttempts must be between 1 and {MAX_ATTEMPTS}."
                    )));
                }
            },
        };
        let now = Utc::now();
        let (id, spec, cancel, max_attempts, reply) = {
            let mut guard = self.lock();
            let st = &mut *guard;
            // Checked again under the lock: two requests with one token make one run.
            if let Some(r) = st.runs.iter().find(|r| r.client_token == client_token) {
                return Ok(answer(r));
            }
            let id = st.new_id();
            st.submissions.push(SubmissionRecord {
                manager: "emr-containers",
                submission_id: id.clone(),
                app_name: name.clone().unwrap_or_default(),
                submission_key: Some(client_token.clone()),
                received_at: now,
            });
            let run = JobRun {
                arn: format!("arn:aws:emr-containers:{REGION}:{ACCOUNT_ID}:/virtualclusters/{VIRTUAL_CLUSTER_ID}/jobruns/{id}"),
                id: id.clone(),
                name,
                client_token,
                execution_role_arn,
                release_label,
                job_driver,
                configuration_overrides,
                tags,
                retry_policy,
                max_attempts,
                spec: Arc::new(spec),
                state: RunState::Submitted,
                details: None,
                failure_reason: None,
                attempt: 1,
                created_at: now,
                finished_at: None,
                pid: None,
                cancel: self.drivers.cancel.child_token(),
            };
            let reply = answer(&run);
            let started = (id.clone(), run.spec.clone(), run.cancel.clone(), run.max_attempts, reply);
            st.runs.push(run);
            started
        };
        info!(job_run_id = %id, "job run submitted");
        self.drivers.spawn(self.clone().drive(id, spec, cancel, max_attempts));
        Ok(reply)
    }

    pub(super) fn cancel_job_run(&self, vc: &str, id: &str) -> Result<Value, AwsError> {
        check_cluster(vc)?;
        let mut st = self.lock();
        let r = st.runs.iter_mut().find(|r| r.id == id).ok_or_else(|| not_found(format!("Job run {id} doesn't exist.")))?;
        if r.state.is_terminal() || r.state == RunState::CancelPending {
            return Err(AwsError::validation(format!("Job run {id} is not in a cancellable state")));
        }
        // Its task stops the driver and then says CANCELLED.
        r.set_state(RunState::CancelPending);
        r.cancel.cancel();
        info!(job_run_id = %id, "job run cancel requested");
        Ok(json!({"id": id, "virtualClusterId": VIRTUAL_CLUSTER_ID}))
    }

    pub(super) fn describe_job_run(&self, vc: &str, id: &str) -> Result<Value, AwsError> {
        Ok(json!({"jobRun": self.lock().run(vc, id)?.json()}))
    }

    pub(super) fn list_job_runs(&self, vc: &str, query: &[(String, String)]) -> Result<Value, AwsError> {
        check_cluster(vc)?;
        let q = ListQuery::parse(query)?;
        let after = time_param(q.param("createdAfter"), "createdAfter")?;
        let before = time_param(q.param("createdBefore"), "createdBefore")?;
        let name = q.param("name");
        let st = self.lock();
        let matching: Vec<&JobRun> = st
            .runs
            .iter()
            .rev()
            .filter(|r| q.wants(r.state.as_str()))
            .filter(|r| name.is_none_or(|n| r.name.as_deref() == Some(n)))
            .filter(|r| after.is_none_or(|t| r.created_at >= t) && before.is_none_or(|t| r.created_at <= t))
            .collect();
        Ok(q.page(&matching, |r| r.json()))
    }
}

/// `emr-6.9.0-latest` or `emr-6.9.0-20230905`.
fn valid_release_label(label: &str) -> bool {
    let Some(rest) = label.strip_prefix("emr-") else { return false };
    let Some((version, tag)) = rest.split_once('-') else { return false };
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && (tag == "latest" || (tag.len() == 8 && tag.chars().all(|c| c.is_ascii_digit())))
}

impl StandIn for Eks {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_the_services() {
        let mut st = EksState::default();
        let (a, b) = (st.new_id(), st.new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 19, "{a}");
        assert!(a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{a}");
        assert_eq!(VIRTUAL_CLUSTER_ID.len(), 25);
    }

    #[test]
    fn release_labels_are_checked_like_the_service() {
        assert!(valid_release_label("emr-7.1.0-latest"));
        assert!(valid_release_label("emr-6.9.0-20230905"));
        assert!(!valid_release_label("emr-7.1.0"));
        assert!(!valid_release_label("spark-3.5"));
    }

    #[test]
    fn the_driver_env_comes_from_kubernetes_driver_env_properties() {
        let submit = json!({"entryPoint": "/a.py", "sparkSubmitParameters": "--conf spark.kubernetes.driverEnv.TZ=UTC"});
        let spec = aws::spark_submit_spec(&submit, "d", None, "spark.kubernetes.driverEnv.", "x").unwrap();
        assert_eq!(spec.env, [("TZ".to_owned(), "UTC".to_owned())]);
        let bad = json!({"entryPoint": "/a.py", "sparkSubmitParameters": "--deploy-mode client"});
        let err = aws::spark_submit_spec(&bad, "d", None, "p.", "EMR on EKS runs the driver in cluster mode").unwrap_err();
        assert!(format!("{err:?}").contains("cluster mode"), "{err:?}");
    }
}
