//! An EMR on EKS endpoint (`emr-containers`), as seen over HTTP (restJson1,
//! SigV4-signed), with one virtual cluster, [`VIRTUAL_CLUSTER_ID`].
//!
//! Emulated from botocore's service model (`emr-containers/2020-10-01`), so
//! that drover's plugin and boto3 cannot tell the difference where it matters:
//!
//! - `POST /virtualclusters/{vc}/jobruns` (StartJobRun, idempotent by
//!   `clientToken`), `GET /virtualclusters/{vc}/jobruns` (ListJobRuns, newest
//!   first, filtered by `states`, exact `name`, `createdAfter`/`createdBefore`,
//!   paged with `maxResults`/`nextToken`), `GET …/jobruns/{id}`
//!   (DescribeJobRun), `DELETE …/jobruns/{id}` (CancelJobRun), and
//!   `GET /virtualclusters/{vc}` (DescribeVirtualCluster).
//! - Every request must carry a valid SigV4 signature for service
//!   `emr-containers` with the stand-ins' credentials ([`crate::aws`]).
//! - Errors are the service's: `ValidationException` and
//!   `ResourceNotFoundException` both with HTTP 400, as its model says.
//!
//! Each job run's driver is a local process started through [`process`]
//! (`jobDriver.sparkSubmitJobDriver`: a `.py` entry point runs with python3,
//! a `.jar` with java and `--class`, anything else is executed). A run moves
//! SUBMITTED → PENDING → RUNNING → COMPLETED or FAILED (with
//! `failureReason` USER_ERROR); CancelJobRun gives CANCEL_PENDING →
//! CANCELLED. With `retryPolicyConfiguration.maxAttempts`, a failed driver is
//! started again (the run goes back to PENDING) until attempts run out;
//! `retryPolicyExecution.currentAttemptCount` counts them.
//!
//! Deliberate differences: no Kubernetes (pod templates are taken and echoed,
//! not applied); job templates, sparkSqlJobDriver and managed endpoints are
//! refused or absent; entry points are local paths. The driver gets its
//! `spark.kubernetes.driverEnv.*` variables and `EMR_CONTAINERS_JOB_RUN_ID`,
//! `EMR_CONTAINERS_VIRTUAL_CLUSTER_ID`, `EMR_CONTAINERS_ATTEMPT`; its output
//! goes to `<work_dir>/<jobRunId>/attempt-<n>/stdout|stderr`.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use crate::aws::{ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY};
use crate::aws::{self, AwsError, RunSpec, base36, epoch, parse_object, reply, string_field, string_map, time_param};
use crate::process::{self, App, LaunchPlan, Spawner};
use crate::{Context, StandIn, SubmissionRecord};

/// The SigV4 signing name of EMR on EKS.
pub const SERVICE: &str = "emr-containers";
/// The one virtual cluster the stand-in has (25 lowercase alphanumerics, like the service's).
pub const VIRTUAL_CLUSTER_ID: &str = "droverstandinvirtualclust";
/// A release label the stand-in takes for granted in examples.
pub const RELEASE_LABEL: &str = "emr-7.1.0-latest";
/// The most attempts a retry policy may ask for here.
const MAX_ATTEMPTS: u64 = 10;
const PAGE_SIZE: usize = 50;

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
struct JobRun {
    id: String,
    name: Option<String>,
    arn: String,
    client_token: String,
    execution_role_arn: String,
    release_label: String,
    job_driver: Value,
    configuration_overrides: Option<Value>,
    tags: BTreeMap<String, String>,
    retry_policy: Option<Value>,
    max_attempts: u32,
    spec: Arc<RunSpec>,
    state: RunState,
    details: Option<String>,
    failure_reason: Option<&'static str>,
    attempt: u32,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    /// The current driver's process group, while it runs.
    pid: Option<u32>,
    cancel: CancellationToken,
}

impl JobRun {
    fn set_state(&mut self, state: RunState) {
        self.state = state;
        if state.is_terminal() {
            self.finished_at = Some(Utc::now());
        }
    }

    fn json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "virtualClusterId": VIRTUAL_CLUSTER_ID,
            "arn": self.arn,
            "state": self.state.as_str(),
            "clientToken": self.client_token,
            "executionRoleArn": self.execution_role_arn,
            "releaseLabel": self.release_label,
            "jobDriver": self.job_driver,
            "createdAt": epoch(self.created_at),
            "createdBy": format!("arn:aws:iam::{ACCOUNT_ID}:user/drover-stand-in"),
            "tags": self.tags,
        });
        let optional = [
            ("configurationOverrides", self.configuration_overrides.clone()),
            ("retryPolicyConfiguration", self.retry_policy.clone()),
            ("retryPolicyExecution", self.retry_policy.as_ref().map(|_| json!({"currentAttemptCount": self.attempt}))),
            ("finishedAt", self.finished_at.map(|t| json!(epoch(t)))),
            ("stateDetails", self.details.clone().map(Value::String)),
            ("failureReason", self.failure_reason.map(|r| json!(r))),
        ];
        for (k, value) in optional {
            if let Some(value) = value {
                v[k] = value;
            }
        }
        v
    }
}

#[derive(Debug, Default)]
struct EksState {
    /// In creation order.
    runs: Vec<JobRun>,
    next_number: u64,
    submissions: Vec<SubmissionRecord>,
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

fn check_cluster(vc: &str) -> Result<(), AwsError> {
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
    cancel: CancellationToken,
    tasks: TaskTracker,
    state: Mutex<EksState>,
}

pub(crate) fn start(ctx: &Context) -> anyhow::Result<(Arc<dyn StandIn>, Router)> {
    let eks = Arc::new(Eks {
        work_dir: ctx.work_dir.clone(),
        spawner: ctx.spawner.clone(),
        cancel: ctx.cancel.child_token(),
        tasks: TaskTracker::new(),
        state: Mutex::default(),
    });
    let routes = Router::new()
        .route("/virtualclusters/{vc}", get(describe_virtual_cluster))
        .route("/virtualclusters/{vc}/jobruns", get(list_job_runs).post(start_job_run))
        .route("/virtualclusters/{vc}/jobruns/{id}", get(describe_job_run).delete(cancel_job_run));
    let router = aws::signed(routes, SERVICE).with_state(eks.clone());
    Ok((eks, router))
}

enum AttemptEnd {
    Completed,
    Failed(String),
    Cancelled,
}

impl Eks {
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
                AttemptEnd::Completed => {
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
        if cancel.is_cancelled() {
            return AttemptEnd::Cancelled;
        }
        let app = App {
            resource: &spec.entry_point,
            main_class: spec.main_class.as_deref(),
            args: &spec.args,
            conf: &spec.conf,
        };
        let plan = match LaunchPlan::resolve(&app) {
            Ok(plan) => plan,
            Err(err) => return AttemptEnd::Failed(format!("Driver failed: {}", err.java_exception())),
        };
        let dir = self.work_dir.join(id).join(format!("attempt-{attempt}"));
        let mut env = spec.env.clone();
        env.extend([
            ("EMR_CONTAINERS_VIRTUAL_CLUSTER_ID".to_owned(), VIRTUAL_CLUSTER_ID.to_owned()),
            ("EMR_CONTAINERS_JOB_RUN_ID".to_owned(), id.to_owned()),
            ("EMR_CONTAINERS_ATTEMPT".to_owned(), attempt.to_string()),
        ]);
        let cmd = match process::driver_command(&plan, &dir, &env) {
            Ok(cmd) => cmd,
            Err(err) => return AttemptEnd::Failed(format!("Driver failed: java.io.IOException: {err}")),
        };
        let mut child = match self.spawner.spawn(cmd).await {
            Ok(child) => child,
            Err(err) => {
                return AttemptEnd::Failed(format!("Driver failed: {}", process::cannot_run_program(&plan, &dir, &err)));
            }
        };
        let pid = child.id();
        self.update(id, |r| r.pid = pid);
        self.advance(id, RunState::Running, None);
        info!(job_run_id = %id, attempt, pid, command = %plan.display(), "driver running");
        let end = tokio::select! {
            status = child.wait() => match status {
                Ok(s) if s.success() => AttemptEnd::Completed,
                Ok(s) => AttemptEnd::Failed(format!("Driver pod exited with code {}.", process::exit_code(s))),
                Err(err) => AttemptEnd::Failed(format!("Driver failed: java.io.IOException: {err}")),
            },
            () = cancel.cancelled() => {
                if let Err(err) = process::terminate_group(&mut child, process::KILL_GRACE).await {
                    warn!(job_run_id = %id, error = %err, "waiting for a cancelled driver failed");
                }
                AttemptEnd::Cancelled
            }
        };
        self.update(id, |r| r.pid = None);
        end
    }

    fn start_job_run(self: &Arc<Self>, vc: &str, body: &[u8]) -> Result<Value, AwsError> {
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
                cancel: self.cancel.child_token(),
            };
            let reply = answer(&run);
            let started = (id.clone(), run.spec.clone(), run.cancel.clone(), run.max_attempts, reply);
            st.runs.push(run);
            started
        };
        info!(job_run_id = %id, "job run submitted");
        self.tasks.spawn(self.clone().drive(id, spec, cancel, max_attempts));
        Ok(reply)
    }

    fn cancel_job_run(&self, vc: &str, id: &str) -> Result<Value, AwsError> {
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

    fn describe_job_run(&self, vc: &str, id: &str) -> Result<Value, AwsError> {
        Ok(json!({"jobRun": self.lock().run(vc, id)?.json()}))
    }

    fn list_job_runs(&self, vc: &str, query: &[(String, String)]) -> Result<Value, AwsError> {
        check_cluster(vc)?;
        let param = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
        let states: Vec<&str> = query.iter().filter(|(k, _)| k == "states").map(|(_, v)| v.as_str()).collect();
        let max = match param("maxResults") {
            None => PAGE_SIZE,
            Some(m) => m.parse::<usize>().ok().filter(|n| (1..=PAGE_SIZE).contains(n)).ok_or_else(|| {
                AwsError::validation(format!("maxResults must be between 1 and {PAGE_SIZE}."))
            })?,
        };
        let start = match param("nextToken") {
            None => 0,
            Some(t) => t.parse::<usize>().map_err(|_| AwsError::validation("The nextToken is not valid."))?,
        };
        let after = time_param(param("createdAfter"), "createdAfter")?;
        let before = time_param(param("createdBefore"), "createdBefore")?;
        let name = param("name");
        let st = self.lock();
        let matching: Vec<&JobRun> = st
            .runs
            .iter()
            .rev()
            .filter(|r| states.is_empty() || states.contains(&r.state.as_str()))
            .filter(|r| name.is_none_or(|n| r.name.as_deref() == Some(n)))
            .filter(|r| after.is_none_or(|t| r.created_at >= t) && before.is_none_or(|t| r.created_at <= t))
            .collect();
        let page: Vec<Value> = matching.iter().skip(start).take(max).map(|r| r.json()).collect();
        let mut reply = json!({"jobRuns": page});
        if start + max < matching.len() {
            reply["nextToken"] = json!((start + max).to_string());
        }
        Ok(reply)
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

    fn shutdown(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(Eks::shutdown(self))
    }

    fn kill_now(&self) {
        Eks::kill_now(self)
    }
}

async fn describe_virtual_cluster(UrlPath(vc): UrlPath<String>) -> Response {
    reply(check_cluster(&vc).map(|()| {
        json!({"virtualCluster": {
            "id": VIRTUAL_CLUSTER_ID,
            "name": "drover-stand-in",
            "arn": format!("arn:aws:emr-containers:{REGION}:{ACCOUNT_ID}:/virtualclusters/{VIRTUAL_CLUSTER_ID}"),
            "state": "RUNNING",
            "containerProvider": {"type": "EKS", "id": "drover-stand-in", "info": {"eksInfo": {"namespace": "default"}}},
        }})
    }))
}

async fn start_job_run(State(eks): State<Arc<Eks>>, UrlPath(vc): UrlPath<String>, body: Bytes) -> Response {
    reply(eks.start_job_run(&vc, &body))
}

async fn list_job_runs(
    State(eks): State<Arc<Eks>>,
    UrlPath(vc): UrlPath<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    reply(eks.list_job_runs(&vc, &query))
}

async fn describe_job_run(State(eks): State<Arc<Eks>>, UrlPath((vc, id)): UrlPath<(String, String)>) -> Response {
    reply(eks.describe_job_run(&vc, &id))
}

async fn cancel_job_run(State(eks): State<Arc<Eks>>, UrlPath((vc, id)): UrlPath<(String, String)>) -> Response {
    reply(eks.cancel_job_run(&vc, &id))
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
