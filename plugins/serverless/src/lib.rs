//! drover's EMR Serverless plugin: starts, tracks and cancels job runs through
//! the service's REST API (StartJobRun, GetJobRun, CancelJobRun, ListJobRuns,
//! and GetDashboardForJobRun for the tracking link), every request signed
//! with AWS Signature V4.
//!
//! The service decides where the driver runs, so the only deploy mode is
//! `service`. drover's submission key is the job run's clientToken (a repeated
//! StartJobRun returns the same run) and a tag (what [`find`](Backend::find)
//! searches by). The service's own retries (`retryPolicy.maxAttempts`) show as
//! the driver's cluster-level attempt.
//!
//! The wire format lives in [`api`], load-time checks in [`validate`], SigV4
//! signing and AWS's errors in the SDK's `aws` module; all are pure and tested
//! on the host target. This file only
//! wires them to `wasi:http` through the SDK.

pub mod api;
pub mod dashboard;
pub mod validate;
#[cfg(test)]
mod submit_flags;

use std::collections::BTreeSet;
use std::time::Instant;

use drover_plugin_sdk::aws;
use drover_plugin_sdk::batch;
use drover_plugin_sdk::http::{self, Method};
use drover_plugin_sdk::{
    Application, Backend, ConfigKey, DeployMode, DriverStatus, Info, LogChunk, PluginError,
    Problem, Settings, Submitted,
};
use serde::de::DeserializeOwned;

use crate::api::{GetJobRunResponse, ListJobRunsResponse, RunOptions, StartJobRunResponse};

/// ListJobRuns pages (of 50) `status_many` reads at most before asking
/// GetJobRun for the runs it has not seen.
pub const LIST_PAGES: usize = 40;

/// How many job runs `find` inspects (newest first) before it answers "none".
/// The clientToken still keeps a resubmission with the same key from
/// starting a second run.
pub const FIND_LIMIT: usize = 50;

pub struct Plugin;

impl Backend for Plugin {
    fn describe() -> Info {
        Info {
            name: "emr-serverless".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            deploy_modes: vec![DeployMode::Service],
            config_keys: aws::endpoint_keys(SERVICE)
                .into_iter()
                .chain([
                    ConfigKey::new(
                        "application_id",
                        "The EMR Serverless application to run on.",
                        true,
                    ),
                    ConfigKey::new("execution_role_arn", "IAM role the job runs as.", true),
                ])
                .chain(aws::credential_keys())
                .chain([
                    ConfigKey::new(
                        "max_attempts",
                        "retryPolicy.maxAttempts of each job run, 1 to 10; default: the service's (1).",
                        false,
                    ),
                    ConfigKey::new(
                        "execution_timeout_minutes",
                        "executionTimeoutMinutes of each job run; default: the service's (720).",
                        false,
                    ),
                    ConfigKey::new(
                        "log_uri",
                        "s3:// folder the service writes driver logs to (s3MonitoringConfiguration.logUri).",
                        false,
                    ),
                ])
                .collect(),
        }
    }

    fn validate(settings: &Settings, app: &Application) -> Vec<Problem> {
        let mut problems = validate::problems(settings, app);
        problems.extend(aws::credential_problems(settings));
        problems
    }

    fn submit(
        settings: &Settings,
        key: &str,
        app: &Application,
    ) -> Result<Submitted, PluginError> {
        if app.deploy_mode != DeployMode::Service {
            return Err(PluginError::Invalid(format!(
                "{}: {}",
                validate::DEPLOY_MODE,
                validate::DEPLOY_MODE_HINT
            )));
        }
        let client = Client::new(settings)?;
        let opts = RunOptions {
            execution_role_arn: settings.require("execution_role_arn")?.to_string(),
            max_attempts: validate::positive(
                settings,
                "max_attempts",
                Some(validate::MAX_ATTEMPTS),
            )
            .map_err(PluginError::Invalid)?,
            execution_timeout_minutes: validate::positive(
                settings,
                "execution_timeout_minutes",
                None,
            )
            .map_err(PluginError::Invalid)?,
            log_uri: settings.get("log_uri").map(str::to_string),
        };
        let request = api::start_job_run_request(key, app, &opts);
        let body = serde_json::to_vec(&request)
            .map_err(|e| PluginError::Invalid(format!("cannot encode the job run: {e}")))?;
        let path = format!(
            "/applications/{}/jobruns",
            http::encode_component(client.application_id)
        );
        let started: StartJobRunResponse = client.call(Method::Post, &path, Some(body))?;
        Ok(Submitted::Cluster(api::cluster_id(
            &started.application_id,
            &started.job_run_id,
        )))
    }

    fn find(settings: &Settings, key: &str) -> Result<Option<String>, PluginError> {
        // ListJobRuns shows no tags and there is no lookup by clientToken, so
        // read the newest job runs' tags one by one, up to FIND_LIMIT.
        let client = Client::new(settings)?;
        let app = http::encode_component(client.application_id);
        let mut next: Option<String> = None;
        let mut seen = 0;
        loop {
            let mut path = format!("/applications/{app}/jobruns?maxResults=50");
            if let Some(token) = &next {
                path.push_str(&format!("&nextToken={}", http::encode_component(token)));
            }
            let page: ListJobRunsResponse = client.call(Method::Get, &path, None)?;
            for summary in page.job_runs {
                if seen == FIND_LIMIT {
                    return Ok(None);
                }
                seen += 1;
                let run = match client.job_run(client.application_id, &summary.id) {
                    Ok(run) => run,
                    // Gone between the list and the get: not ours to find.
                    Err(PluginError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                };
                let tagged = run
                    .tags
                    .as_ref()
                    .and_then(|t| t.get(api::SUBMISSION_KEY_TAG));
                if tagged.map(String::as_str) == Some(key) {
                    return Ok(Some(api::cluster_id(&run.application_id, &run.job_run_id)));
                }
            }
            match page.next_token.filter(|t| !t.is_empty()) {
                Some(token) => next = Some(token),
                None => return Ok(None),
            }
        }
    }

    /// ListJobRuns of the backend's application, newest first, until every
    /// requested run of it has shown or [`LIST_PAGES`] pages are read; runs
    /// not shown and ids of other applications are asked one by one
    /// (GetJobRun), within a budget.
    fn status_many(
        settings: &Settings,
        ids: &[String],
    ) -> Result<Vec<Option<DriverStatus>>, PluginError> {
        let started = Instant::now();
        let client = Client::new(settings)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: BTreeSet<&str> = api::runs_of(ids, client.application_id)
            .into_iter()
            .collect();
        let listed = aws::list_wanted(&wanted, LIST_PAGES, |next| {
            let path = api::list_job_runs_path(client.application_id, next);
            let reply: ListJobRunsResponse = client.call(Method::Get, &path, None)?;
            let runs = reply
                .job_runs
                .iter()
                .filter_map(|summary| {
                    let run = summary.as_job_run(client.application_id)?;
                    Some((summary.id.clone(), run))
                })
                .collect();
            Ok((runs, reply.next_token))
        })?;
        let statuses = api::listed_statuses(&listed, ids, client.application_id);
        let mut resolved = batch::resolve(
            ids,
            statuses,
            batch::MAX_FALLBACKS,
            batch::clock_rotation(),
            batch::window_from(started),
            |id| {
                let (app, run) = api::split_cluster_id(id, client.application_id)?;
                Ok(api::driver_status(&client.job_run(app, run)?))
            },
        );
        let mut out_of_time = batch::window_from(started);
        for i in dashboard::wanted(&resolved) {
            if out_of_time() {
                break;
            }
            if let Some(st) = resolved[i].as_mut() {
                st.tracking_url = client.dashboard(&ids[i]);
            }
        }
        Ok(resolved)
    }

    fn status(settings: &Settings, id: &str) -> Result<DriverStatus, PluginError> {
        let client = Client::new(settings)?;
        let (app, run) = api::split_cluster_id(id, client.application_id)?;
        let mut status = api::driver_status(&client.job_run(app, run)?);
        if dashboard::has_ui(status.phase) {
            status.tracking_url = client.dashboard(id);
        }
        Ok(status)
    }

    fn kill(settings: &Settings, id: &str) -> Result<(), PluginError> {
        let client = Client::new(settings)?;
        let (app, run) = api::split_cluster_id(id, client.application_id)?;
        let path = format!(
            "/applications/{}/jobruns/{}",
            http::encode_component(app),
            http::encode_component(run)
        );
        match client.call::<serde_json::Value>(Method::Delete, &path, None) {
            Ok(_) => Ok(()),
            Err(PluginError::NotFound(m)) => Err(PluginError::NotFound(m)),
            // The service refuses to cancel a run that has already ended.
            Err(refused) => match client.job_run(app, run) {
                Ok(r) if api::phase(&r.state).is_terminal() => Ok(()),
                _ => Err(refused),
            },
        }
    }

    fn logs(_: &Settings, _: &str, _: &str, _: u64, _: u32) -> Result<LogChunk, PluginError> {
        Err(PluginError::Unsupported(
            "EMR Serverless has no API for driver logs: it writes them to S3 (set the backend's \
             log_uri) or CloudWatch, where they can be read"
                .into(),
        ))
    }
}

/// The SigV4 signing name of EMR Serverless.
pub const SERVICE: &str = "emr-serverless";

/// Signed requests to one backend's endpoint and application.
struct Client<'a> {
    aws: aws::Client<'a>,
    application_id: &'a str,
}

impl<'a> Client<'a> {
    fn new(settings: &'a Settings) -> Result<Self, PluginError> {
        Ok(Client {
            aws: aws::Client::from_settings(settings, SERVICE)?,
            application_id: settings.require("application_id")?,
        })
    }

    fn job_run(&self, app: &str, run: &str) -> Result<api::JobRun, PluginError> {
        let path = format!(
            "/applications/{}/jobruns/{}",
            http::encode_component(app),
            http::encode_component(run)
        );
        let reply: GetJobRunResponse = self.call(Method::Get, &path, None)?;
        Ok(reply.job_run)
    }

    /// The job run's dashboard link (GetDashboardForJobRun); `None` when
    /// the service does not give one: a tracking link is never worth
    /// failing a status for.
    fn dashboard(&self, id: &str) -> Option<String> {
        let (app, run) = api::split_cluster_id(id, self.application_id).ok()?;
        let reply: dashboard::GetDashboardForJobRunResponse =
            self.call(Method::Get, &dashboard::path(app, run), None).ok()?;
        reply.link()
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, PluginError> {
        self.aws.call(method, path, body)
    }
}

drover_plugin_sdk::export!(Plugin);
