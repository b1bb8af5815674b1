//! The job-run plumbing whose logic is the same in EMR Serverless and EMR on
//! EKS: running one attempt of a driver (launch, wait, cancel, optional
//! timeout) and ListJobRuns' paging. What each service calls its states and
//! how it words a failure stay with the service; only the wording is passed in.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{AwsError, RunSpec};
use crate::process::{self, App, LaunchPlan, Spawner};

/// How many job runs one ListJobRuns page holds at most (both services: 50).
pub(crate) const PAGE_SIZE: usize = 50;

/// How one attempt of a job run's driver ended.
pub(crate) enum AttemptEnd {
    Succeeded,
    /// With the run's state details.
    Failed(String),
    Cancelled,
}

/// One attempt of a job run's driver, and how its service words what goes wrong.
pub(crate) struct Attempt<'a> {
    pub job_run_id: &'a str,
    pub number: u32,
    pub spec: &'a RunSpec,
    /// Where the driver's stdout and stderr go.
    pub dir: PathBuf,
    /// Variables the service adds to the driver's own (`spec.env`).
    pub extra_env: Vec<(String, String)>,
    /// What a failure's details start with (`Job failed`, `Driver failed`).
    pub failed: &'static str,
    /// The details of a driver that exited non-zero, from its exit code.
    pub exit_details: fn(i32) -> String,
    /// A run-time limit and the details of a run that hit it.
    pub timeout: Option<(Duration, String)>,
    /// Where the run's `s3:` resources are fetched from (into `dir`, where
    /// the driver runs), as EMRFS reads them.
    pub s3: Option<&'a crate::s3::S3Source>,
}

/// Start the driver, tell `running` its process group, and wait until it
/// exits, is cancelled, or runs out of time (then its group is stopped).
pub(crate) async fn run_attempt(
    spawner: &Spawner,
    attempt: Attempt<'_>,
    cancel: &CancellationToken,
    running: impl FnOnce(Option<u32>),
) -> AttemptEnd {
    let Attempt { job_run_id: id, number, spec, dir, extra_env, failed, exit_details, timeout, s3 } = attempt;
    if cancel.is_cancelled() {
        return AttemptEnd::Cancelled;
    }
    let fail = |why: String| AttemptEnd::Failed(format!("{failed}: {why}"));
    let mut conf = spec.conf.clone();
    let entry_point = match s3 {
        Some(s3) => match s3.localize(&dir, &spec.entry_point, &mut conf).await {
            Ok(local) => local,
            Err(why) => return fail(why),
        },
        None => spec.entry_point.clone(),
    };
    let plan = match LaunchPlan::resolve(&App {
        resource: &entry_point,
        main_class: spec.main_class.as_deref(),
        args: &spec.args,
        conf: &conf,
    }) {
        Ok(plan) => plan,
        Err(err) => return fail(err.java_exception()),
    };
    let mut env = spec.env.clone();
    env.extend(extra_env);
    let cmd = match process::driver_command(&plan, &dir, &env) {
        Ok(cmd) => cmd,
        Err(err) => return fail(format!("java.io.IOException: {err}")),
    };
    let mut child = match spawner.spawn(cmd).await {
        Ok(child) => child,
        Err(err) => return fail(process::cannot_run_program(&plan, &dir, &err)),
    };
    let pid = child.id();
    running(pid);
    info!(job_run_id = %id, attempt = number, pid, command = %plan.display(), "job run attempt running");
    let limit = timeout.as_ref().map(|(after, _)| *after);
    let deadline = async {
        match limit {
            Some(after) => tokio::time::sleep(after).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        status = child.wait() => match status {
            Ok(s) if s.success() => AttemptEnd::Succeeded,
            Ok(s) => AttemptEnd::Failed(exit_details(process::exit_code(s))),
            Err(err) => fail(format!("java.io.IOException: {err}")),
        },
        () = cancel.cancelled() => {
            if let Err(err) = process::terminate_group(&mut child, process::KILL_GRACE).await {
                warn!(job_run_id = %id, error = %err, "waiting for a cancelled job run failed");
            }
            AttemptEnd::Cancelled
        }
        () = deadline => {
            if let Err(err) = process::terminate_group(&mut child, process::KILL_GRACE).await {
                warn!(job_run_id = %id, error = %err, "waiting for a timed-out job run failed");
            }
            AttemptEnd::Failed(timeout.map(|(_, details)| details).unwrap_or_default())
        }
    }
}

/// ListJobRuns' query: the `states` filter and the page asked for
/// (`maxResults`, 1 to [`PAGE_SIZE`]; `nextToken`, an offset into the list).
pub(crate) struct ListQuery<'a> {
    query: &'a [(String, String)],
    pub states: Vec<&'a str>,
    max: usize,
    start: usize,
}

impl<'a> ListQuery<'a> {
    pub fn parse(query: &'a [(String, String)]) -> Result<Self, AwsError> {
        let mut q = Self {
            query,
            states: query
                .iter()
                .filter(|(k, _)| k == "states")
                .map(|(_, v)| v.as_str())
                .collect(),
            max: PAGE_SIZE,
            start: 0,
        };
        if let Some(m) = q.param("maxResults") {
            q.max = m
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=PAGE_SIZE).contains(n))
                .ok_or_else(|| {
                    AwsError::validation(format!("maxResults must be between 1 and {PAGE_SIZE}."))
                })?;
        }
        if let Some(t) = q.param("nextToken") {
            q.start = t
                .parse::<usize>()
                .map_err(|_| AwsError::validation("The nextToken is not valid."))?;
        }
        Ok(q)
    }

    /// The first value of query parameter `k`.
    pub fn param(&self, k: &str) -> Option<&'a str> {
        self.query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str())
    }

    /// Does `state` pass the `states` filter (none given: every state does)?
    pub fn wants(&self, state: &str) -> bool {
        self.states.is_empty() || self.states.contains(&state)
    }

    /// `{"jobRuns": […]}` with the asked-for page of `matching`, and a
    /// `nextToken` when more follow.
    pub fn page<T>(&self, matching: &[T], view: impl Fn(&T) -> Value) -> Value {
        let page: Vec<Value> = matching.iter().skip(self.start).take(self.max).map(view).collect();
        let mut reply = json!({"jobRuns": page});
        if self.start + self.max < matching.len() {
            reply["nextToken"] = json!((self.start + self.max).to_string());
        }
        reply
    }
}
