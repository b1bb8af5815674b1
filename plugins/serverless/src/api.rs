//! The EMR Serverless job-run API (restJson1, service `emr-serverless`):
//! request bodies, reply shapes, state mapping and error mapping, with no I/O.

use std::collections::BTreeMap;

use drover_plugin_sdk::aws::{job_run_id as job_run_id_of, spark_submit_parameters, split_job_run_id};
use drover_plugin_sdk::{Application, DriverPhase, DriverStatus, PluginError};
use serde::{Deserialize, Serialize};

/// The tag that carries drover's submission key on a job run (the clientToken
/// carries it too, but the service never shows the token back).
pub const SUBMISSION_KEY_TAG: &str = "drover-submission-key";

/// The Spark property prefix EMR Serverless reads driver environment variables from.
pub const DRIVER_ENV_PREFIX: &str = "spark.emr-serverless.driverEnv.";

/// `POST /applications/{applicationId}/jobruns`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StartJobRunRequest {
    pub client_token: String,
    pub name: String,
    pub execution_role_arn: String,
    pub job_driver: JobDriver,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration_overrides: Option<ConfigurationOverrides>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_timeout_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobDriver {
    pub spark_submit: SparkSubmit,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SparkSubmit {
    pub entry_point: String,
    pub entry_point_arguments: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub spark_submit_parameters: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationOverrides {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub application_configuration: Vec<Configuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitoring_configuration: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    pub classification: String,
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    pub max_attempts: u32,
}

/// What the backend's settings add to every job run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOptions {
    pub execution_role_arn: String,
    pub max_attempts: Option<u32>,
    pub execution_timeout_minutes: Option<u32>,
    /// `s3MonitoringConfiguration.logUri`.
    pub log_uri: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StartJobRunResponse {
    pub application_id: String,
    pub job_run_id: String,
    #[serde(default)]
    pub arn: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GetJobRunResponse {
    pub job_run: JobRun,
}

/// The fields of `jobRun` this plugin reads; the rest are ignored.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct JobRun {
    pub application_id: String,
    pub job_run_id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub state: String,
    #[serde(default)]
    pub state_details: Option<String>,
    /// Present where the service retries job runs itself (retryPolicy).
    #[serde(default)]
    pub attempt: Option<u32>,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ListJobRunsResponse {
    #[serde(default)]
    pub job_runs: Vec<JobRunSummary>,
    #[serde(default)]
    pub next_token: Option<String>,
}

/// ListJobRuns' `JobRunSummary`: `applicationId`, `id`, `state` and
/// `stateDetails` always; `attempt` where the service retries job runs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobRunSummary {
    pub id: String,
    #[serde(default)]
    pub application_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub state_details: Option<String>,
    #[serde(default)]
    pub attempt: Option<u32>,
}

impl JobRunSummary {
    /// The summary as the `jobRun` GetJobRun would answer, for
    /// [`driver_status`]; `None` without a state (nothing to map).
    pub fn as_job_run(&self, application_id: &str) -> Option<JobRun> {
        let state = self
            .state
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())?;
        Some(JobRun {
            application_id: self
                .application_id
                .clone()
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| application_id.to_string()),
            job_run_id: self.id.clone(),
            name: self.name.clone(),
            state: state.to_string(),
            state_details: self.state_details.clone(),
            attempt: self.attempt,
            tags: None,
        })
    }
}

/// The ListJobRuns path for one page of `application_id`'s runs, newest first.
pub fn list_job_runs_path(application_id: &str, next_token: Option<&str>) -> String {
    let mut path = format!(
        "/applications/{}/jobruns?maxResults={LIST_PAGE}",
        drover_plugin_sdk::http::encode_component(application_id)
    );
    if let Some(token) = next_token {
        path.push_str(&format!(
            "&nextToken={}",
            drover_plugin_sdk::http::encode_component(token)
        ));
    }
    path
}

/// ListJobRuns' largest `maxResults`.
pub const LIST_PAGE: u32 = 50;

/// The job run ids of `ids` that belong to `application_id` (the ones its
/// ListJobRuns can show).
pub fn runs_of<'a>(ids: &'a [String], application_id: &'a str) -> Vec<&'a str> {
    ids.iter()
        .filter_map(|id| split_cluster_id(id, application_id).ok())
        .filter(|(app, _)| *app == application_id)
        .map(|(_, run)| run)
        .collect()
}

/// One entry per id from the job runs ListJobRuns showed (by job run id),
/// mapped by [`driver_status`] like `status` does; `None` for ids of another
/// application, ids that do not parse and runs the pages read did not show:
/// the caller asks GetJobRun for those one by one.
pub fn listed_statuses(
    listed: &BTreeMap<String, JobRun>,
    ids: &[String],
    application_id: &str,
) -> Vec<Option<DriverStatus>> {
    ids.iter()
        .map(|id| {
            let (app, run) = split_cluster_id(id, application_id).ok()?;
            if app != application_id {
                return None;
            }
            listed.get(run).map(driver_status)
        })
        .collect()
}

/// drover's id for a job run: `applicationId/jobRunId`.
pub fn cluster_id(application_id: &str, job_run_id: &str) -> String {
    job_run_id_of(application_id, job_run_id)
}

/// Splits a cluster id into (applicationId, jobRunId); a bare job run id
/// belongs to `default_application`.
pub fn split_cluster_id<'a>(
    id: &'a str,
    default_application: &'a str,
) -> Result<(&'a str, &'a str), PluginError> {
    split_job_run_id(
        id,
        default_application,
        "an EMR Serverless job run id (applicationId/jobRunId)",
    )
}

/// The StartJobRun body for `app`, carrying `key` as clientToken and tag.
///
/// Spark properties go into `sparkSubmitParameters` as `--conf k=v`, except
/// values with whitespace: the service splits that string on whitespace, so
/// those go into the `spark-defaults` classification, which carries any value.
pub fn start_job_run_request(
    key: &str,
    app: &Application,
    opts: &RunOptions,
) -> StartJobRunRequest {
    let env: Vec<(String, String)> = app
        .env
        .iter()
        .map(|(k, v)| (format!("{DRIVER_ENV_PREFIX}{k}"), v.clone()))
        .collect();
    let (parameters, defaults) = spark_submit_parameters(app, &env);
    let mut overrides = ConfigurationOverrides::default();
    if !defaults.is_empty() {
        overrides.application_configuration.push(Configuration {
            classification: "spark-defaults".into(),
            properties: defaults,
        });
    }
    if let Some(uri) = &opts.log_uri {
        overrides.monitoring_configuration =
            Some(serde_json::json!({"s3MonitoringConfiguration": {"logUri": uri}}));
    }
    StartJobRunRequest {
        client_token: key.to_string(),
        name: app.name.clone(),
        execution_role_arn: opts.execution_role_arn.clone(),
        job_driver: JobDriver {
            spark_submit: SparkSubmit {
                entry_point: app.resource.clone(),
                entry_point_arguments: app.args.clone(),
                spark_submit_parameters: parameters,
            },
        },
        configuration_overrides: (overrides != ConfigurationOverrides::default())
            .then_some(overrides),
        execution_timeout_minutes: opts.execution_timeout_minutes,
        retry_policy: opts
            .max_attempts
            .map(|max_attempts| RetryPolicy { max_attempts }),
        tags: BTreeMap::from([(SUBMISSION_KEY_TAG.to_string(), key.to_string())]),
    }
}

/// drover's phase for a job-run state. All nine states the service documents
/// map; a state it adds later is `unknown` (not terminal) rather than an error,
/// so tracking carries on until the task's timeout decides.
pub fn phase(state: &str) -> DriverPhase {
    match state {
        "SUBMITTED" | "PENDING" => DriverPhase::Submitted,
        // Waiting for capacity: SCHEDULED (workers being allocated) and QUEUED
        // (the application's maxConcurrentRuns is reached). Neither is terminal.
        "SCHEDULED" | "QUEUED" => DriverPhase::Queued,
        // CANCELLING is not terminal: the driver may still be running.
        "RUNNING" | "CANCELLING" => DriverPhase::Running,
        "SUCCESS" => DriverPhase::Succeeded,
        "FAILED" => DriverPhase::Failed,
        "CANCELLED" => DriverPhase::Killed,
        _ => DriverPhase::Unknown,
    }
}

pub fn driver_status(run: &JobRun) -> DriverStatus {
    let phase = phase(&run.state);
    let details = run
        .state_details
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    let message = match (run.state.as_str(), details) {
        (_, Some(d)) => Some(d.to_string()),
        ("CANCELLING", None) => Some("cancel requested; the job run is stopping".to_string()),
        (s, None) if phase == DriverPhase::Unknown => {
            Some(format!("job run state {s:?} is not one this plugin knows"))
        }
        _ => None,
    };
    DriverStatus {
        phase,
        raw_state: run.state.clone(),
        attempt: run.attempt,
        location: Some(format!("EMR Serverless application {}", run.application_id)),
        message,
        tracking_url: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_plugin_sdk::testing::s3_app;
    use drover_plugin_sdk::{DeployMode, Resources};
    use serde_json::json;

    fn app() -> Application {
        let mut app = s3_app(DeployMode::Service);
        app.jars.push("s3://bucket/b.jar".into());
        app
    }

    fn opts() -> RunOptions {
        RunOptions {
            execution_role_arn: "arn:aws:iam::123456789012:role/job".into(),
            max_attempts: Some(2),
            execution_timeout_minutes: None,
            log_uri: Some("s3://bucket/logs/".into()),
        }
    }

    #[test]
    fn start_job_run_has_the_exact_wire_shape() {
        let req = start_job_run_request("drover-k1", &app(), &opts());
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({
                "clientToken": "drover-k1",
                "name": "nightly etl",
                "executionRoleArn": "arn:aws:iam::123456789012:role/job",
                "jobDriver": {"sparkSubmit": {
                    "entryPoint": "s3://bucket/jobs/etl.jar",
                    "entryPointArguments": ["--day", "2026-01-01"],
                    "sparkSubmitParameters": "--class com.example.Etl \
                        --conf spark.sql.shuffle.partitions=8 \
                        --conf spark.driver.memory=2048m --conf spark.driver.cores=1 \
                        --conf spark.executor.cores=2 --conf spark.executor.instances=3 \
                        --conf spark.emr-serverless.driverEnv.TZ=UTC \
                        --jars s3://bucket/a.jar,s3://bucket/b.jar",
                }},
                "configurationOverrides": {
                    "applicationConfiguration": [{
                        "classification": "spark-defaults",
                        "properties": {"spark.driver.extraJavaOptions": "-Xss4m -Dx=y"},
                    }],
                    "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": "s3://bucket/logs/"}},
                },
                "retryPolicy": {"maxAttempts": 2},
                "tags": {"drover-submission-key": "drover-k1"},
            })
        );
    }

    #[test]
    fn a_python_app_without_settings_extras_has_a_minimal_body() {
        let mut a = app();
        a.resource = "s3://bucket/job.py".into();
        a.main_class = None;
        a.conf.clear();
        a.driver = Resources {
            memory_mb: None,
            cores: None,
            instances: None,
        };
        a.executor = a.driver;
        a.jars.clear();
        a.env.clear();
        a.py_files = vec!["s3://bucket/deps.zip".into()];
        let opts = RunOptions {
            execution_role_arn: "r".into(),
            execution_timeout_minutes: Some(30),
            ..Default::default()
        };
        let v = serde_json::to_value(start_job_run_request("k", &a, &opts)).unwrap();
        assert_eq!(
            v["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"],
            "--py-files s3://bucket/deps.zip"
        );
        assert_eq!(v["executionTimeoutMinutes"], 30);
        assert!(
            v.get("configurationOverrides").is_none() && v.get("retryPolicy").is_none(),
            "{v}"
        );
    }

    #[test]
    fn maps_all_nine_job_run_states() {
        let cases = [
            ("SUBMITTED", DriverPhase::Submitted),
            ("PENDING", DriverPhase::Submitted),
            ("SCHEDULED", DriverPhase::Queued),
            ("QUEUED", DriverPhase::Queued),
            ("RUNNING", DriverPhase::Running),
            ("CANCELLING", DriverPhase::Running),
            ("SUCCESS", DriverPhase::Succeeded),
            ("FAILED", DriverPhase::Failed),
            ("CANCELLED", DriverPhase::Killed),
        ];
        for (state, expected) in cases {
            assert_eq!(phase(state), expected, "{state}");
        }
        for never_terminal in ["QUEUED", "CANCELLING", "SCHEDULED", "PENDING"] {
            assert!(!phase(never_terminal).is_terminal(), "{never_terminal}");
        }
        assert_eq!(phase("HIBERNATING"), DriverPhase::Unknown);
    }

    #[test]
    fn status_carries_attempt_state_and_details() {
        let reply: GetJobRunResponse = serde_json::from_value(json!({"jobRun": {
            "applicationId": "00a", "jobRunId": "00j", "name": "n", "state": "FAILED",
            "stateDetails": "Job failed, exit code 3", "attempt": 2, "createdAt": 1.7e9,
            "tags": {"drover-submission-key": "k"}}}))
        .unwrap();
        let s = driver_status(&reply.job_run);
        assert_eq!(
            (s.phase, s.raw_state.as_str(), s.attempt),
            (DriverPhase::Failed, "FAILED", Some(2))
        );
        assert_eq!(s.message.as_deref(), Some("Job failed, exit code 3"));
        assert_eq!(
            s.location.as_deref(),
            Some("EMR Serverless application 00a")
        );
        // moto's replies have no attempt.
        let moto: GetJobRunResponse = serde_json::from_value(
            json!({"jobRun": {"applicationId": "a", "jobRunId": "j", "state": "SUCCESS"}}),
        )
        .unwrap();
        assert_eq!(driver_status(&moto.job_run).attempt, None);
    }

    #[test]
    fn list_summaries_map_like_get_job_run() {
        // JobRunSummary as the service answers it (attempt* where it retries runs).
        let page: ListJobRunsResponse = serde_json::from_value(json!({
            "jobRuns": [
                {"applicationId": "00a", "id": "r3", "name": "n3", "mode": "BATCH",
                 "arn": "arn:aws:emr-serverless:us-east-1:1:/applications/00a/jobruns/r3",
                 "createdBy": "arn:aws:iam::1:user/me", "createdAt": 1.7e9, "updatedAt": 1.7e9,
                 "executionRole": "arn:aws:iam::1:role/r", "state": "FAILED",
                 "stateDetails": "Job failed, exit code 3", "releaseLabel": "emr-7.0.0",
                 "type": "Spark", "attempt": 2, "attemptCreatedAt": 1.7e9, "attemptUpdatedAt": 1.7e9},
                {"applicationId": "00a", "id": "r2", "state": "RUNNING", "stateDetails": ""},
                {"applicationId": "00a", "id": "r1", "state": "QUEUED"},
                {"applicationId": "00a", "id": "r0"}
            ],
            "nextToken": "t2"
        }))
        .unwrap();
        assert_eq!(page.next_token.as_deref(), Some("t2"));
        let listed: BTreeMap<String, JobRun> = page
            .job_runs
            .iter()
            .filter_map(|s| Some((s.id.clone(), s.as_job_run("00a")?)))
            .collect();
        assert!(!listed.contains_key("r0"), "no state: nothing to map");
        let ids: Vec<String> = ["00a/r2", "00a/r9", "r3", "00b/r1", "00a/r1", "a/b/c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = listed_statuses(&listed, &ids, "00a");
        assert_eq!(out[0].as_ref().unwrap().phase, DriverPhase::Running);
        assert_eq!(out[1], None, "not in the pages read: GetJobRun");
        let failed = out[2].as_ref().unwrap();
        // The same status GetJobRun gives for the same run.
        let get: GetJobRunResponse = serde_json::from_value(json!({"jobRun": {
            "applicationId": "00a", "jobRunId": "r3", "name": "n3", "state": "FAILED",
            "stateDetails": "Job failed, exit code 3", "attempt": 2}}))
        .unwrap();
        assert_eq!(failed, &driver_status(&get.job_run));
        assert_eq!(failed.attempt, Some(2));
        assert_eq!(out[3], None, "another application: GetJobRun");
        assert_eq!(out[4].as_ref().unwrap().phase, DriverPhase::Queued);
        assert_eq!(out[5], None);
        assert_eq!(runs_of(&ids, "00a"), ["r2", "r9", "r3", "r1"]);
    }

    #[test]
    fn list_paths_page_with_the_token() {
        assert_eq!(
            list_job_runs_path("00a", None),
            "/applications/00a/jobruns?maxResults=50"
        );
        assert_eq!(
            list_job_runs_path("00a", Some("a+b/=")),
            "/applications/00a/jobruns?maxResults=50&nextToken=a%2Bb%2F%3D"
        );
    }

    #[test]
    fn cluster_ids_carry_the_application() {
        assert_eq!(cluster_id("00a", "00j"), "00a/00j");
        assert_eq!(split_cluster_id("00a/00j", "dflt").unwrap(), ("00a", "00j"));
        assert_eq!(split_cluster_id("00j", "dflt").unwrap(), ("dflt", "00j"));
        assert!(matches!(
            split_cluster_id("a/b/c", "d"),
            Err(PluginError::Invalid(_))
        ));
        assert!(matches!(
            split_cluster_id("/j", "d"),
            Err(PluginError::Invalid(_))
        ));
    }
}
