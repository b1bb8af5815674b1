//! drover's EMR on EKS plugin: starts, tracks and cancels job runs on a
//! virtual cluster through the `emr-containers` REST API (StartJobRun,
//! DescribeJobRun, CancelJobRun, ListJobRuns), every request signed with AWS
//! Signature V4 (the SDK's `aws` module).
//!
//! EMR on EKS runs the driver in a pod, so the only deploy mode is `cluster`.
//! drover's submission key is the job run's clientToken (a repeated
//! StartJobRun returns the same run) and its name, which is what
//! [`find`](Backend::find) asks ListJobRuns for: the name filter finds the run
//! in one request however long the history, where the clientToken is not a
//! filter. The application's own name goes to `spark.app.name` and a tag.
//! The service's driver retries (`retryPolicyConfiguration.maxAttempts`)
//! show as the driver's cluster-level attempt.
//!
//! The wire format lives in [`api`], load-time checks in [`validate`]; both
//! are pure and tested on the host target. This file only wires them to
//! `wasi:http` through the SDK.

pub mod api;
pub mod validate;
#[cfg(test)]
mod submit_flags;

use std::collections::BTreeSet;
use std::time::Instant;

use drover_plugin_sdk::aws;
use drover_plugin_sdk::batch;
use drover_plugin_sdk::http::Method;
use drover_plugin_sdk::{
    Application, Backend, ConfigKey, DeployMode, DriverStatus, Info, LogChunk, PluginError, Problem, Settings,
    Submitted,
};

use crate::api::{DescribeJobRunResponse, ListJobRunsResponse, RunOptions, StartJobRunResponse};

/// The SigV4 signing name of EMR on EKS.
pub const SERVICE: &str = "emr-containers";

/// ListJobRuns pages `status_many` reads at most before asking DescribeJobRun
/// for the runs it has not seen.
pub const LIST_PAGES: usize = 40;

pub struct Plugin;

impl Backend for Plugin {
    fn describe() -> Info {
        Info {
            name: "emr-containers".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            deploy_modes: vec![DeployMode::Cluster],
            config_keys: aws::endpoint_keys(SERVICE)
                .into_iter()
                .chain([
                    ConfigKey::new("virtual_cluster_id", "The EMR on EKS virtual cluster to run on.", true),
                    ConfigKey::new("execution_role_arn", "IAM role the job runs as.", true),
                    ConfigKey::new("release_label", "EMR release of the job runs, e.g. emr-7.1.0-latest.", true),
                ])
                .chain(aws::credential_keys())
                .chain([
                    ConfigKey::new(
                        "max_attempts",
                        "retryPolicyConfiguration.maxAttempts: how often the service starts the driver \
                         of one job run (1 to 10); default: the service's (1).",
                        false,
                    ),
                    ConfigKey::new(
                        "application_configuration",
                        "configurationOverrides.applicationConfiguration of every job run, as a JSON list \
                         of {classification, properties, configurations}.",
                        false,
                    ),
                    ConfigKey::new(
                        "driver_pod_template",
                        "s3:// pod template for drivers (spark.kubernetes.driver.podTemplateFile), \
                         e.g. one selecting eks.amazonaws.com/capacityType: ON_DEMAND.",
                        false,
                    ),
                    ConfigKey::new(
                        "executor_pod_template",
                        "s3:// pod template for executors (spark.kubernetes.executor.podTemplateFile), \
                         e.g. one selecting eks.amazonaws.com/capacityType: SPOT.",
                        false,
                    ),
                    ConfigKey::new(
                        "log_uri",
                        "s3:// folder for driver and executor logs (s3MonitoringConfiguration.logUri).",
                        false,
                    ),
                    ConfigKey::new(
                        "log_group",
                        "CloudWatch log group for the job runs' logs (cloudWatchMonitoringConfiguration).",
                        false,
                    ),
                    ConfigKey::new("log_stream_prefix", "CloudWatch log stream prefix, with log_group.", false),
                    ConfigKey::new("persistent_app_ui", "persistentAppUI: ENABLED or DISABLED.", false),
                ])
                .collect(),
        }
    }

    fn validate(settings: &Settings, app: &Application) -> Vec<Problem> {
        let mut problems = validate::problems(settings, app);
        problems.extend(aws::credential_problems(settings));
        problems
    }

    fn submit(settings: &Settings, key: &str, app: &Application) -> Result<Submitted, PluginError> {
        if app.deploy_mode != DeployMode::Cluster {
            return Err(PluginError::Invalid(format!("{}: {}", validate::DEPLOY_MODE, validate::DEPLOY_MODE_HINT)));
        }
        let client = Client::new(settings)?;
        let opts = RunOptions {
            virtual_cluster_id: client.virtual_cluster.to_string(),
            execution_role_arn: settings.require("execution_role_arn")?.to_string(),
            release_label: settings.require("release_label")?.to_string(),
            max_attempts: aws::positive(settings, "max_attempts", Some(validate::MAX_ATTEMPTS))
                .map_err(PluginError::Invalid)?,
            application_configuration: validate::application_configuration(settings)
                .map_err(PluginError::Invalid)?,
            log_uri: settings.get("log_uri").map(str::to_string),
            log_group: settings.get("log_group").map(str::to_string),
            log_stream_prefix: settings.get("log_stream_prefix").map(str::to_string),
            persistent_app_ui: settings.get("persistent_app_ui").map(str::to_string),
            driver_pod_template: settings.get("driver_pod_template").map(str::to_string),
            executor_pod_template: settings.get("executor_pod_template").map(str::to_string),
        };
        let request = api::start_job_run_request(key, app, &opts);
        let body = serde_json::to_vec(&request)
            .map_err(|e| PluginError::Invalid(format!("cannot encode the job run: {e}")))?;
        let path = format!("/virtualclusters/{}/jobruns", drover_plugin_sdk::http::encode_component(client.virtual_cluster));
        let started: StartJobRunResponse = client.aws.call(Method::Post, &path, Some(body))?;
        Ok(Submitted::Cluster(api::cluster_id(&started.virtual_cluster_id, &started.id)))
    }

    /// ListJobRuns filtered by the name, which is the key.
    fn find(settings: &Settings, key: &str) -> Result<Option<String>, PluginError> {
        let client = Client::new(settings)?;
        let mut next: Option<String> = None;
        loop {
            let path = api::list_job_runs_path(client.virtual_cluster, Some(key), next.as_deref());
            let page: ListJobRunsResponse = client.aws.call(Method::Get, &path, None)?;
            if let Some(run) = page.job_runs.iter().find(|r| api::is_submission_of(r, key)) {
                let vc = run.virtual_cluster_id.as_deref().unwrap_or(client.virtual_cluster);
                return Ok(Some(api::cluster_id(vc, &run.id)));
            }
            match page.next_token.filter(|t| !t.is_empty()) {
                Some(token) => next = Some(token),
                None => return Ok(None),
            }
        }
    }

    /// ListJobRuns of the backend's virtual cluster, newest first, until every
    /// requested run of it has shown or [`LIST_PAGES`] pages are read; the
    /// rest are asked one by one (DescribeJobRun), within a budget.
    fn status_many(settings: &Settings, ids: &[String]) -> Result<Vec<Option<DriverStatus>>, PluginError> {
        let started = Instant::now();
        let client = Client::new(settings)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let vc = client.virtual_cluster;
        fn ours<'a>(id: &'a str, vc: &'a str) -> Option<&'a str> {
            api::split_cluster_id(id, vc).ok().filter(|(v, _)| *v == vc).map(|(_, run)| run)
        }
        let wanted: BTreeSet<&str> = ids.iter().filter_map(|id| ours(id, vc)).collect();
        let listed = aws::list_wanted(&wanted, LIST_PAGES, |next| {
            let path = api::list_job_runs_path(vc, None, next);
            let reply: ListJobRunsResponse = client.aws.call(Method::Get, &path, None)?;
            let runs = reply
                .job_runs
                .iter()
                .filter(|run| run.state.as_deref().is_some_and(|s| !s.trim().is_empty()))
                .map(|run| (run.id.clone(), api::driver_status(run, vc)))
                .collect();
            Ok((runs, reply.next_token))
        })?;
        let statuses = ids.iter().map(|id| ours(id, vc).and_then(|run| listed.get(run).cloned())).collect();
        Ok(batch::resolve(
            ids,
            statuses,
            batch::MAX_FALLBACKS,
            batch::clock_rotation(),
            batch::window_from(started),
            |id| client.status(id),
        ))
    }

    fn status(settings: &Settings, id: &str) -> Result<DriverStatus, PluginError> {
        Client::new(settings)?.status(id)
    }

    fn kill(settings: &Settings, id: &str) -> Result<(), PluginError> {
        let client = Client::new(settings)?;
        let (vc, run) = api::split_cluster_id(id, client.virtual_cluster)?;
        match client.aws.call::<serde_json::Value>(Method::Delete, &api::job_run_path(vc, run), None) {
            Ok(_) => Ok(()),
            Err(PluginError::NotFound(m)) => Err(PluginError::NotFound(m)),
            // The service refuses to cancel a run that has already ended.
            Err(refused) => match client.status(id) {
                Ok(s) if s.phase.is_terminal() => Ok(()),
                _ => Err(refused),
            },
        }
    }

    fn logs(_: &Settings, _: &str, _: &str, _: u64, _: u32) -> Result<LogChunk, PluginError> {
        Err(PluginError::Unsupported(
            "EMR on EKS has no API for driver logs: it writes them to S3 (set the backend's log_uri) \
             or CloudWatch (log_group), where they can be read"
                .into(),
        ))
    }
}

/// Signed requests to one backend's endpoint and virtual cluster.
struct Client<'a> {
    aws: aws::Client<'a>,
    virtual_cluster: &'a str,
}

impl<'a> Client<'a> {
    fn new(settings: &'a Settings) -> Result<Self, PluginError> {
        Ok(Client {
            aws: aws::Client::from_settings(settings, SERVICE)?,
            virtual_cluster: settings.require("virtual_cluster_id")?,
        })
    }

    fn status(&self, id: &str) -> Result<DriverStatus, PluginError> {
        let (vc, run) = api::split_cluster_id(id, self.virtual_cluster)?;
        let reply: DescribeJobRunResponse = self.aws.call(Method::Get, &api::job_run_path(vc, run), None)?;
        Ok(api::driver_status(&reply.job_run, vc))
    }
}

drover_plugin_sdk::export!(Plugin);
