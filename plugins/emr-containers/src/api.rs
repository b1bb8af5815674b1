//! The EMR on EKS job-run API (`emr-containers`, restJson1): request bodies,
//! reply shapes, state mapping, with no I/O. Shapes from botocore's service
//! model (`emr-containers/2020-10-01`).

use std::collections::BTreeMap;

use drover_plugin_sdk::aws::{job_run_id, spark_submit_parameters, split_job_run_id};
use drover_plugin_sdk::http::encode_component;
use drover_plugin_sdk::{Application, DriverPhase, DriverStatus, PluginError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The tag that carries drover's submission key (the job run's name and
/// clientToken carry it too).
pub const SUBMISSION_KEY_TAG: &str = "drover-submission-key";
/// The tag that carries the application's own name, since the job run's name
/// is the key.
pub const APPLICATION_TAG: &str = "drover-application";

/// The Spark properties that point the driver and executor pods at their
/// templates (how EMR on EKS users put drivers on on-demand nodes and
/// executors on spot).
pub const DRIVER_POD_TEMPLATE: &str = "spark.kubernetes.driver.podTemplateFile";
pub const EXECUTOR_POD_TEMPLATE: &str = "spark.kubernetes.executor.podTemplateFile";

/// `POST /virtualclusters/{virtualClusterId}/jobruns`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StartJobRunRequest {
    pub name: String,
    pub virtual_cluster_id: String,
    pub client_token: String,
    pub execution_role_arn: String,
    pub release_label: String,
    pub job_driver: JobDriver,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration_overrides: Option<ConfigurationOverrides>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_policy_configuration: Option<RetryPolicyConfiguration>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobDriver {
    pub spark_submit_job_driver: SparkSubmitJobDriver,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SparkSubmitJobDriver {
    pub entry_point: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry_point_arguments: Vec<String>,
    /// The service refuses an empty string (min length 1).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub spark_submit_parameters: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationOverrides {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub application_configuration: Vec<Value>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub monitoring_configuration: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicyConfiguration {
    pub max_attempts: u32,
}

/// What the backend's settings add to every job run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOptions {
    pub virtual_cluster_id: String,
    pub execution_role_arn: String,
    pub release_label: String,
    pub max_attempts: Option<u32>,
    /// `applicationConfiguration` as the backend gives it (a JSON list of
    /// `{classification, properties, configurations}`).
    pub application_configuration: Vec<Value>,
    /// `s3MonitoringConfiguration.logUri`.
    pub log_uri: Option<String>,
    /// `cloudWatchMonitoringConfiguration` (log group, stream prefix).
    pub log_group: Option<String>,
    pub log_stream_prefix: Option<String>,
    /// `persistentAppUI`: ENABLED or DISABLED.
    pub persistent_app_ui: Option<String>,
    pub driver_pod_template: Option<String>,
    pub executor_pod_template: Option<String>,
}

/// The StartJobRun body for `app`: named by `key` (so ListJobRuns finds it
/// by name), with `key` as clientToken and tag.
///
/// Spark properties go into `sparkSubmitParameters` as `--conf k=v`; values
/// with whitespace, `spark.app.name` and the pod templates go into the
/// `spark-defaults` classification, merged into the backend's own one
/// (the application's values win).
pub fn start_job_run_request(key: &str, app: &Application, opts: &RunOptions) -> StartJobRunRequest {
    let env: Vec<(String, String)> = app
        .env
        .iter()
        .map(|(k, v)| (format!("spark.kubernetes.driverEnv.{k}"), v.clone()))
        .collect();
    let (parameters, mut defaults) = spark_submit_parameters(app, &env);
    // The job run's name is the key; Spark's own name stays the application's
    // (names read well with spaces, which sparkSubmitParameters cannot carry).
    if !app.conf.iter().any(|(k, _)| k == "spark.app.name") {
        defaults.insert("spark.app.name".into(), app.name.clone());
    }
    for (prop, template) in [
        (DRIVER_POD_TEMPLATE, &opts.driver_pod_template),
        (EXECUTOR_POD_TEMPLATE, &opts.executor_pod_template),
    ] {
        if let Some(t) = template
            && !app.conf.iter().any(|(k, _)| k == prop)
        {
            defaults.insert(prop.to_string(), t.clone());
        }
    }
    let mut configurations = opts.application_configuration.clone();
    let existing = configurations
        .iter_mut()
        .find(|c| c.get("classification").and_then(Value::as_str) == Some("spark-defaults"));
    match existing {
        Some(c) => {
            let props = c
                .as_object_mut()
                .map(|o| o.entry("properties").or_insert_with(|| Value::Object(Default::default())));
            if let Some(Value::Object(props)) = props {
                for (k, v) in defaults {
                    props.insert(k, Value::String(v));
                }
            }
        }
        None if !defaults.is_empty() => configurations.push(serde_json::json!({
            "classification": "spark-defaults",
            "properties": defaults,
        })),
        None => {}
    }
    let mut monitoring = serde_json::Map::new();
    if let Some(uri) = &opts.log_uri {
        monitoring.insert("s3MonitoringConfiguration".into(), serde_json::json!({"logUri": uri}));
    }
    if let Some(group) = &opts.log_group {
        let mut cw = serde_json::json!({"logGroupName": group});
        if let Some(prefix) = &opts.log_stream_prefix {
            cw["logStreamNamePrefix"] = Value::String(prefix.clone());
        }
        monitoring.insert("cloudWatchMonitoringConfiguration".into(), cw);
    }
    if let Some(ui) = &opts.persistent_app_ui {
        monitoring.insert("persistentAppUI".into(), Value::String(ui.clone()));
    }
    let overrides = ConfigurationOverrides {
        application_configuration: configurations,
        monitoring_configuration: monitoring,
    };
    StartJobRunRequest {
        name: key.to_string(),
        virtual_cluster_id: opts.virtual_cluster_id.clone(),
        client_token: key.to_string(),
        execution_role_arn: opts.execution_role_arn.clone(),
        release_label: opts.release_label.clone(),
        job_driver: JobDriver {
            spark_submit_job_driver: SparkSubmitJobDriver {
                entry_point: app.resource.clone(),
                entry_point_arguments: app.args.clone(),
                spark_submit_parameters: parameters,
            },
        },
        configuration_overrides: (overrides != ConfigurationOverrides::default()).then_some(overrides),
        retry_policy_configuration: opts
            .max_attempts
            .map(|max_attempts| RetryPolicyConfiguration { max_attempts }),
        tags: BTreeMap::from([
            (SUBMISSION_KEY_TAG.to_string(), key.to_string()),
            (APPLICATION_TAG.to_string(), app.name.clone()),
        ]),
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StartJobRunResponse {
    pub id: String,
    pub virtual_cluster_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arn: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DescribeJobRunResponse {
    pub job_run: JobRun,
}

/// The fields of `JobRun` this plugin reads (DescribeJobRun and ListJobRuns
/// answer the same shape); the rest are ignored.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct JobRun {
    pub id: String,
    #[serde(default)]
    pub virtual_cluster_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    /// In the service model; not every server answers it.
    #[serde(default)]
    pub client_token: Option<String>,
    #[serde(default)]
    pub state_details: Option<String>,
    #[serde(default)]
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub retry_policy_execution: Option<RetryPolicyExecution>,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicyExecution {
    pub current_attempt_count: u32,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ListJobRunsResponse {
    #[serde(default)]
    pub job_runs: Vec<JobRun>,
    #[serde(default)]
    pub next_token: Option<String>,
}

/// ListJobRuns' page size (the service's largest is not documented; 50 is safe).
pub const LIST_PAGE: u32 = 50;

/// The ListJobRuns path for one page of `virtual_cluster`'s runs, newest
/// first, optionally only those named `name`.
pub fn list_job_runs_path(virtual_cluster: &str, name: Option<&str>, next_token: Option<&str>) -> String {
    let mut path = format!(
        "/virtualclusters/{}/jobruns?maxResults={LIST_PAGE}",
        encode_component(virtual_cluster)
    );
    if let Some(name) = name {
        path.push_str(&format!("&name={}", encode_component(name)));
    }
    if let Some(token) = next_token {
        path.push_str(&format!("&nextToken={}", encode_component(token)));
    }
    path
}

pub fn job_run_path(virtual_cluster: &str, run: &str) -> String {
    format!(
        "/virtualclusters/{}/jobruns/{}",
        encode_component(virtual_cluster),
        encode_component(run)
    )
}

/// Whether `run` is the job run submitted under `key`: named by it, and
/// carrying it as clientToken or tag where the server shows those.
pub fn is_submission_of(run: &JobRun, key: &str) -> bool {
    let tagged = run.tags.as_ref().and_then(|t| t.get(SUBMISSION_KEY_TAG));
    run.name.as_deref() == Some(key)
        && run.client_token.as_deref().is_none_or(|t| t == key)
        && tagged.is_none_or(|t| t == key)
}

/// drover's id for a job run: `virtualClusterId/jobRunId`.
pub fn cluster_id(virtual_cluster: &str, run: &str) -> String {
    job_run_id(virtual_cluster, run)
}

/// Splits a cluster id into (virtualClusterId, jobRunId); a bare job run id
/// belongs to `default_cluster`.
pub fn split_cluster_id<'a>(id: &'a str, default_cluster: &'a str) -> Result<(&'a str, &'a str), PluginError> {
    split_job_run_id(id, default_cluster, "an EMR on EKS job run id (virtualClusterId/jobRunId)")
}

/// drover's phase for a job-run state. The seven documented states map; a
/// state added later is `unknown` (not terminal).
pub fn phase(state: &str) -> DriverPhase {
    match state {
        "PENDING" | "SUBMITTED" => DriverPhase::Submitted,
        // CANCEL_PENDING is not terminal: the driver pod may still run.
        "RUNNING" | "CANCEL_PENDING" => DriverPhase::Running,
        "COMPLETED" => DriverPhase::Succeeded,
        "FAILED" => DriverPhase::Failed,
        "CANCELLED" => DriverPhase::Killed,
        _ => DriverPhase::Unknown,
    }
}

/// The status of `run`, which belongs to `virtual_cluster` unless it says otherwise.
pub fn driver_status(run: &JobRun, virtual_cluster: &str) -> DriverStatus {
    let state = run.state.as_deref().map(str::trim).unwrap_or_default();
    let phase = phase(state);
    let details = run.state_details.as_deref().map(str::trim).filter(|d| !d.is_empty());
    let reason = run.failure_reason.as_deref().filter(|r| !r.is_empty());
    let message = match (details, reason) {
        (Some(d), Some(r)) => Some(format!("{r}: {d}")),
        (Some(d), None) => Some(d.to_string()),
        (None, Some(r)) => Some(r.to_string()),
        (None, None) if state == "CANCEL_PENDING" => {
            Some("cancel requested; the job run is stopping".to_string())
        }
        (None, None) if phase == DriverPhase::Unknown => {
            Some(format!("job run state {state:?} is not one this plugin knows"))
        }
        (None, None) => None,
    };
    DriverStatus {
        phase,
        raw_state: state.to_string(),
        attempt: run.retry_policy_execution.as_ref().map(|r| r.current_attempt_count),
        location: Some(format!(
            "EMR on EKS virtual cluster {}",
            run.virtual_cluster_id.as_deref().unwrap_or(virtual_cluster)
        )),
        message,
        tracking_url: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_plugin_sdk::testing::{bare_app, s3_app};
    use drover_plugin_sdk::DeployMode;
    use serde_json::json;

    fn app() -> Application {
        let mut app = s3_app(DeployMode::Cluster);
        app.files = vec!["s3://bucket/f.txt".into()];
        app
    }

    fn opts() -> RunOptions {
        RunOptions {
            virtual_cluster_id: "vc1".into(),
            execution_role_arn: "arn:aws:iam::123456789012:role/job".into(),
            release_label: "emr-7.1.0-latest".into(),
            max_attempts: Some(3),
            application_configuration: vec![json!({
                "classification": "spark-defaults",
                "properties": {"spark.dynamicAllocation.enabled": "false"},
            })],
            log_uri: Some("s3://bucket/logs/".into()),
            log_group: Some("/emr/jobs".into()),
            log_stream_prefix: None,
            persistent_app_ui: Some("ENABLED".into()),
            driver_pod_template: Some("s3://bucket/templates/driver-on-demand.yaml".into()),
            executor_pod_template: Some("s3://bucket/templates/executor-spot.yaml".into()),
        }
    }

    #[test]
    fn start_job_run_has_the_exact_wire_shape() {
        let req = start_job_run_request("drover-k1", &app(), &opts());
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({
                "name": "drover-k1",
                "virtualClusterId": "vc1",
                "clientToken": "drover-k1",
                "executionRoleArn": "arn:aws:iam::123456789012:role/job",
                "releaseLabel": "emr-7.1.0-latest",
                "jobDriver": {"sparkSubmitJobDriver": {
                    "entryPoint": "s3://bucket/jobs/etl.jar",
                    "entryPointArguments": ["--day", "2026-01-01"],
                    "sparkSubmitParameters": "--class com.example.Etl \
                        --conf spark.sql.shuffle.partitions=8 \
                        --conf spark.driver.memory=2048m --conf spark.driver.cores=1 \
                        --conf spark.executor.cores=2 --conf spark.executor.instances=3 \
                        --conf spark.kubernetes.driverEnv.TZ=UTC \
                        --jars s3://bucket/a.jar --files s3://bucket/f.txt",
                }},
                "configurationOverrides": {
                    "applicationConfiguration": [{
                        "classification": "spark-defaults",
                        "properties": {
                            "spark.dynamicAllocation.enabled": "false",
                            "spark.app.name": "nightly etl",
                            "spark.driver.extraJavaOptions": "-Xss4m -Dx=y",
                            "spark.kubernetes.driver.podTemplateFile": "s3://bucket/templates/driver-on-demand.yaml",
                            "spark.kubernetes.executor.podTemplateFile": "s3://bucket/templates/executor-spot.yaml",
                        },
                    }],
                    "monitoringConfiguration": {
                        "s3MonitoringConfiguration": {"logUri": "s3://bucket/logs/"},
                        "cloudWatchMonitoringConfiguration": {"logGroupName": "/emr/jobs"},
                        "persistentAppUI": "ENABLED",
                    },
                },
                "retryPolicyConfiguration": {"maxAttempts": 3},
                "tags": {"drover-submission-key": "drover-k1", "drover-application": "nightly etl"},
            })
        );
    }

    #[test]
    fn an_application_pod_template_wins_over_the_backends() {
        let mut a = app();
        a.conf.push((DRIVER_POD_TEMPLATE.into(), "s3://mine/driver.yaml".into()));
        let v = serde_json::to_value(start_job_run_request("k", &a, &opts())).unwrap();
        let props = &v["configurationOverrides"]["applicationConfiguration"][0]["properties"];
        assert!(props.get(DRIVER_POD_TEMPLATE).is_none(), "{props}");
        assert!(
            v["jobDriver"]["sparkSubmitJobDriver"]["sparkSubmitParameters"]
                .as_str()
                .unwrap()
                .contains("--conf spark.kubernetes.driver.podTemplateFile=s3://mine/driver.yaml")
        );
        assert_eq!(props[EXECUTOR_POD_TEMPLATE], "s3://bucket/templates/executor-spot.yaml");
    }

    #[test]
    fn a_bare_python_app_has_a_minimal_body() {
        let mut a = bare_app("s3://b/job.py", DeployMode::Cluster);
        a.name = "n".into();
        a.py_files = vec!["s3://b/deps.zip".into()];
        let o = RunOptions {
            virtual_cluster_id: "vc".into(),
            execution_role_arn: "r".into(),
            release_label: "emr-7.1.0-latest".into(),
            ..Default::default()
        };
        let v = serde_json::to_value(start_job_run_request("k", &a, &o)).unwrap();
        assert_eq!(v["jobDriver"], json!({"sparkSubmitJobDriver": {
            "entryPoint": "s3://b/job.py", "sparkSubmitParameters": "--py-files s3://b/deps.zip"}}));
        assert_eq!(
            v["configurationOverrides"],
            json!({"applicationConfiguration": [{"classification": "spark-defaults", "properties": {"spark.app.name": "n"}}]})
        );
        assert!(v.get("retryPolicyConfiguration").is_none(), "{v}");
    }

    #[test]
    fn maps_all_seven_job_run_states() {
        let cases = [
            ("PENDING", DriverPhase::Submitted),
            ("SUBMITTED", DriverPhase::Submitted),
            ("RUNNING", DriverPhase::Running),
            ("CANCEL_PENDING", DriverPhase::Running),
            ("COMPLETED", DriverPhase::Succeeded),
            ("FAILED", DriverPhase::Failed),
            ("CANCELLED", DriverPhase::Killed),
        ];
        for (state, expected) in cases {
            assert_eq!(phase(state), expected, "{state}");
        }
        assert!(!phase("CANCEL_PENDING").is_terminal());
        assert_eq!(phase("HIBERNATING"), DriverPhase::Unknown);
    }

    #[test]
    fn status_carries_the_attempt_and_the_failure_reason() {
        let reply: DescribeJobRunResponse = serde_json::from_value(json!({"jobRun": {
            "id": "0000000abc", "name": "drover-k", "virtualClusterId": "vc1", "state": "FAILED",
            "stateDetails": "Driver exited with code 3", "failureReason": "USER_ERROR",
            "retryPolicyConfiguration": {"maxAttempts": 2},
            "retryPolicyExecution": {"currentAttemptCount": 2}, "createdAt": 1.7e9}}))
        .unwrap();
        let s = driver_status(&reply.job_run, "other");
        assert_eq!((s.phase, s.raw_state.as_str(), s.attempt), (DriverPhase::Failed, "FAILED", Some(2)));
        assert_eq!(s.message.as_deref(), Some("USER_ERROR: Driver exited with code 3"));
        assert_eq!(s.location.as_deref(), Some("EMR on EKS virtual cluster vc1"));
    }

    #[test]
    fn a_run_is_ours_by_name_and_by_token_or_tag_where_shown() {
        let run = |name: &str, token: Option<&str>| JobRun {
            id: "j".into(),
            name: Some(name.into()),
            client_token: token.map(Into::into),
            ..Default::default()
        };
        assert!(is_submission_of(&run("drover-k", None), "drover-k"));
        assert!(is_submission_of(&run("drover-k", Some("drover-k")), "drover-k"));
        assert!(!is_submission_of(&run("drover-k", Some("other")), "drover-k"));
        // moto filters names by substring: the name must be exactly the key.
        assert!(!is_submission_of(&run("drover-k2", None), "drover-k"));
    }

    #[test]
    fn paths_encode_and_page() {
        assert_eq!(list_job_runs_path("vc", None, None), "/virtualclusters/vc/jobruns?maxResults=50");
        assert_eq!(
            list_job_runs_path("vc", Some("drover-k"), Some("a+b")),
            "/virtualclusters/vc/jobruns?maxResults=50&name=drover-k&nextToken=a%2Bb"
        );
        assert_eq!(job_run_path("vc", "j"), "/virtualclusters/vc/jobruns/j");
        assert_eq!(split_cluster_id("vc/j", "d").unwrap(), ("vc", "j"));
        assert_eq!(split_cluster_id("j", "d").unwrap(), ("d", "j"));
        assert!(split_cluster_id("a/b/c", "d").is_err());
    }
}
