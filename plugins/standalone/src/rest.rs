//! The master's REST submission protocol (`/v1/submissions/*`, port 6066):
//! request building and reply interpretation, with no I/O.

use std::collections::BTreeMap;

use drover_plugin_sdk::spark::{extension, resolve_uri, set, spark_properties};
use drover_plugin_sdk::{Application, DriverPhase, DriverStatus, PluginError, Settings};
use serde::{Deserialize, Serialize};

use crate::SUBMISSION_KEY_PROPERTY;

pub const DEFAULT_SPARK_VERSION: &str = "4.0.0";

/// The body of `POST /v1/submissions/create`, field for field as
/// `org.apache.spark.deploy.rest.CreateSubmissionRequest` has it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreateSubmissionRequest {
    pub action: &'static str,
    pub client_spark_version: String,
    pub app_resource: String,
    pub main_class: String,
    pub app_args: Vec<String>,
    pub spark_properties: BTreeMap<String, String>,
    pub environment_variables: BTreeMap<String, String>,
}

/// Any reply of the REST server: `CreateSubmissionResponse`,
/// `SubmissionStatusResponse`, `KillSubmissionResponse` or `ErrorResponse`.
/// Every field is optional so that the interpretation, not serde, says what
/// was missing.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RestResponse {
    pub action: Option<String>,
    pub success: Option<bool>,
    pub message: Option<String>,
    pub submission_id: Option<String>,
    pub server_spark_version: Option<String>,
    pub driver_state: Option<String>,
    pub worker_id: Option<String>,
    pub worker_host_port: Option<String>,
}

impl RestResponse {
    fn is_error(&self) -> bool {
        self.action.as_deref() == Some("ErrorResponse")
    }

    fn message_or(&self, fallback: &str) -> String {
        self.message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or(fallback)
            .to_string()
    }
}

pub fn create_request(
    settings: &Settings,
    master: &str,
    key: &str,
    app: &Application,
) -> Result<CreateSubmissionRequest, PluginError> {
    let main_class = app
        .main_class
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            PluginError::Invalid("cluster mode on Spark standalone needs main_class".into())
        })?;
    if matches!(extension(&app.resource).as_deref(), Some("py" | "r")) {
        return Err(PluginError::Invalid(
            "Spark standalone cannot run Python or R applications in cluster mode".into(),
        ));
    }
    let supervise = settings.get_bool("supervise", false)?;
    let app_resource = resolve_uri(&app.resource);

    let mut props = spark_properties(app);
    set(&mut props, "spark.app.name", &app.name);
    set(&mut props, "spark.master", master);
    set(&mut props, "spark.submit.deployMode", "cluster");
    set(
        &mut props,
        "spark.driver.supervise",
        if supervise { "true" } else { "false" },
    );
    // As spark-submit does for a JVM app outside YARN: the app jar goes on
    // spark.jars after the extra jars, so executors get it too.
    let jars = merged_list(
        &props,
        "spark.jars",
        app.jars
            .iter()
            .map(|j| resolve_uri(j))
            .chain([app_resource.clone()]),
    );
    set(&mut props, "spark.jars", &jars);
    if !app.files.is_empty() {
        let files = merged_list(
            &props,
            "spark.files",
            app.files.iter().map(|f| resolve_uri(f)),
        );
        set(&mut props, "spark.files", &files);
    }
    set(&mut props, SUBMISSION_KEY_PROPERTY, key);

    Ok(CreateSubmissionRequest {
        action: "CreateSubmissionRequest",
        client_spark_version: settings
            .get_or("spark_version", DEFAULT_SPARK_VERSION)
            .to_string(),
        app_resource,
        main_class: main_class.to_string(),
        app_args: app.args.clone(),
        spark_properties: props.into_iter().collect(),
        environment_variables: app.env.iter().cloned().collect(),
    })
}

/// A comma-separated property's existing entries (from the app's conf) followed by `more`.
fn merged_list(
    props: &[(String, String)],
    key: &str,
    more: impl Iterator<Item = String>,
) -> String {
    let existing = props
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    existing
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .chain(more)
        .collect::<Vec<_>>()
        .join(",")
}

/// The error for a reply that says no, by HTTP status and message. A master
/// that is not the active one (standby or recovering) is worth retrying.
fn refusal(http_status: u16, reply: &RestResponse, fallback: &str) -> PluginError {
    let message = reply.message_or(fallback);
    if matches!(http_status, 429 | 502..=504) || message.contains("ALIVE state") {
        PluginError::Unavailable(format!("the master is not accepting requests: {message}"))
    } else {
        PluginError::Rejected(message)
    }
}

/// The driver id from a `CreateSubmissionResponse`.
pub fn submission_id(http_status: u16, reply: RestResponse) -> Result<String, PluginError> {
    if reply.is_error() || reply.success != Some(true) {
        return Err(refusal(
            http_status,
            &reply,
            "the master refused the submission without a message",
        ));
    }
    reply
        .submission_id
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| {
            PluginError::Protocol(
                "the master accepted the submission but sent no submissionId".into(),
            )
        })
}

/// Interprets a `SubmissionStatusResponse` for driver `id`.
pub fn driver_status(
    id: &str,
    http_status: u16,
    reply: &RestResponse,
) -> Result<DriverStatus, PluginError> {
    if reply.is_error() {
        return Err(refusal(
            http_status,
            reply,
            "the master answered an error without a message",
        ));
    }
    let state = reply
        .driver_state
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let Some(state) = state else {
        // The master answers success:false and no state for a driver it does not know.
        return Err(match reply.success {
            Some(false) => PluginError::NotFound(match &reply.message {
                Some(m) if !m.trim().is_empty() => {
                    format!("the master does not know driver {id}: {}", m.trim())
                }
                _ => format!("the master does not know driver {id}"),
            }),
            _ => PluginError::Protocol(format!(
                "the status reply for driver {id} has no driverState"
            )),
        });
    };
    let message = reply
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    let (phase, message) = match state {
        "SUBMITTED" => (DriverPhase::Submitted, message),
        "RUNNING" => (DriverPhase::Running, message),
        "RELAUNCHING" => (
            DriverPhase::Running,
            Some(match message {
                Some(m) => format!("the master is relaunching the supervised driver: {m}"),
                None => "the master is relaunching the supervised driver".to_string(),
            }),
        ),
        "FINISHED" => (DriverPhase::Succeeded, message),
        "FAILED" | "ERROR" => (DriverPhase::Failed, message),
        "KILLED" => (DriverPhase::Killed, message),
        "UNKNOWN" => (DriverPhase::Unknown, message),
        other => {
            return Err(PluginError::Protocol(format!(
                "driver {id} is in state {other:?}, which Spark does not define"
            )));
        }
    };
    let nonempty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let location = match (
        nonempty(&reply.worker_host_port),
        nonempty(&reply.worker_id),
    ) {
        (Some(host_port), Some(worker)) => Some(format!("{host_port} ({worker})")),
        (a, b) => a.or(b),
    };
    Ok(DriverStatus {
        phase,
        raw_state: state.to_string(),
        // The REST protocol does not count relaunches.
        attempt: None,
        location,
        message,
        tracking_url: None,
    })
}

/// Ok when the master accepted the kill; the master's refusal otherwise (the
/// caller then asks whether the driver had already ended).
pub fn kill_outcome(http_status: u16, reply: RestResponse) -> Result<(), PluginError> {
    if !reply.is_error() && reply.success == Some(true) {
        Ok(())
    } else {
        Err(refusal(
            http_status,
            &reply,
            "the master refused to kill the driver without a message",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_plugin_sdk::{DeployMode, Resources};
    use serde_json::json;

    fn app() -> Application {
        Application {
            name: "etl".into(),
            resource: "/jobs/etl.jar".into(),
            main_class: Some("com.example.Etl".into()),
            args: vec!["2026-01-01".into()],
            conf: vec![("spark.jars".into(), "hdfs://nn/c.jar".into())],
            deploy_mode: DeployMode::Cluster,
            driver: Resources {
                memory_mb: Some(1024),
                cores: Some(1),
                instances: None,
            },
            executor: Resources {
                memory_mb: None,
                cores: Some(2),
                instances: Some(2),
            },
            jars: vec!["/libs/a.jar".into()],
            files: vec!["/conf/app.conf".into()],
            py_files: vec![],
            env: vec![("TZ".into(), "UTC".into())],
            proxy_user: None,
        }
    }

    fn settings(extra: &[(&str, &str)]) -> Settings {
        let mut pairs = vec![("master".to_string(), "spark://m:7077".to_string())];
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Settings::new(pairs)
    }

    fn reply(v: serde_json::Value) -> RestResponse {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn create_request_has_the_exact_wire_shape() {
        let req = create_request(
            &settings(&[("supervise", "true")]),
            "spark://m:7077",
            "key-7",
            &app(),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({
                "action": "CreateSubmissionRequest",
                "clientSparkVersion": "4.0.0",
                "appResource": "file:/jobs/etl.jar",
                "mainClass": "com.example.Etl",
                "appArgs": ["2026-01-01"],
                "sparkProperties": {
                    "spark.app.name": "etl",
                    "spark.master": "spark://m:7077",
                    "spark.submit.deployMode": "cluster",
                    "spark.driver.supervise": "true",
                    "spark.jars": "hdfs://nn/c.jar,file:/libs/a.jar,file:/jobs/etl.jar",
                    "spark.files": "file:/conf/app.conf",
                    "spark.driver.memory": "1024m",
                    "spark.driver.cores": "1",
                    "spark.executor.cores": "2",
                    "spark.executor.instances": "2",
                    "spark.drover.submissionKey": "key-7",
                },
                "environmentVariables": {"TZ": "UTC"},
            })
        );
    }

    #[test]
    fn create_request_takes_the_spark_version_setting_and_refuses_python() {
        let req = create_request(
            &settings(&[("spark_version", "3.5.1")]),
            "spark://m:7077",
            "k",
            &app(),
        )
        .unwrap();
        assert_eq!(req.client_spark_version, "3.5.1");
        assert_eq!(req.spark_properties["spark.driver.supervise"], "false");
        let mut py = app();
        py.resource = "/a.py".into();
        assert!(matches!(
            create_request(&settings(&[]), "m", "k", &py),
            Err(PluginError::Invalid(_))
        ));
        let mut no_class = app();
        no_class.main_class = None;
        assert!(matches!(
            create_request(&settings(&[]), "m", "k", &no_class),
            Err(PluginError::Invalid(_))
        ));
    }

    #[test]
    fn submission_id_reads_the_create_response() {
        let ok = reply(
            json!({"action":"CreateSubmissionResponse","serverSparkVersion":"4.0.0",
            "submissionId":"driver-20261120123456-0000","success":true,"message":"Driver successfully submitted"}),
        );
        assert_eq!(
            submission_id(200, ok).unwrap(),
            "driver-20261120123456-0000"
        );

        let refused =
            reply(json!({"action":"CreateSubmissionResponse","success":false,"message":"no"}));
        assert_eq!(
            submission_id(200, refused),
            Err(PluginError::Rejected("no".into()))
        );

        let error = reply(
            json!({"action":"ErrorResponse","message":"Malformed request","highestProtocolVersion":"v1"}),
        );
        assert_eq!(
            submission_id(400, error),
            Err(PluginError::Rejected("Malformed request".into()))
        );

        let standby = reply(json!({"action":"CreateSubmissionResponse","success":false,
            "message":"Current state is not alive: STANDBY. Can only accept driver submissions in ALIVE state."}));
        assert!(matches!(
            submission_id(200, standby),
            Err(PluginError::Unavailable(_))
        ));

        let no_id = reply(json!({"action":"CreateSubmissionResponse","success":true}));
        assert!(matches!(
            submission_id(200, no_id),
            Err(PluginError::Protocol(_))
        ));
    }

    fn status_of(state: &str) -> DriverStatus {
        let r = reply(
            json!({"action":"SubmissionStatusResponse","submissionId":"driver-1","success":true,
            "driverState":state,"workerId":"worker-1","workerHostPort":"10.0.0.5:7078","message":"m"}),
        );
        driver_status("driver-1", 200, &r).unwrap()
    }

    #[test]
    fn maps_every_standalone_driver_state() {
        let cases = [
            ("SUBMITTED", DriverPhase::Submitted),
            ("RUNNING", DriverPhase::Running),
            ("RELAUNCHING", DriverPhase::Running),
            ("FINISHED", DriverPhase::Succeeded),
            ("UNKNOWN", DriverPhase::Unknown),
            ("KILLED", DriverPhase::Killed),
            ("FAILED", DriverPhase::Failed),
            ("ERROR", DriverPhase::Failed),
        ];
        for (state, phase) in cases {
            let s = status_of(state);
            assert_eq!(s.phase, phase, "{state}");
            assert_eq!(s.raw_state, state);
            assert_eq!(s.location.as_deref(), Some("10.0.0.5:7078 (worker-1)"));
            assert_eq!(s.attempt, None);
        }
        assert!(
            status_of("RELAUNCHING")
                .message
                .unwrap()
                .contains("relaunching")
        );
    }

    #[test]
    fn error_state_carries_the_masters_message() {
        let r = reply(
            json!({"action":"SubmissionStatusResponse","submissionId":"driver-1","success":true,
            "driverState":"ERROR","message":"Exception from the cluster:\njava.nio.file.NoSuchFileException: /x.jar"}),
        );
        let s = driver_status("driver-1", 200, &r).unwrap();
        assert_eq!(s.phase, DriverPhase::Failed);
        assert!(s.message.unwrap().contains("NoSuchFileException"));
        assert_eq!(s.location, None);
    }

    #[test]
    fn unknown_driver_is_not_found() {
        let r = reply(
            json!({"action":"SubmissionStatusResponse","submissionId":"driver-9","success":false}),
        );
        assert!(
            matches!(driver_status("driver-9", 200, &r), Err(PluginError::NotFound(m)) if m.contains("driver-9"))
        );
    }

    #[test]
    fn odd_status_replies_are_protocol_errors() {
        let no_state = reply(json!({"success":true}));
        assert!(matches!(
            driver_status("d", 200, &no_state),
            Err(PluginError::Protocol(_))
        ));
        let new_state = reply(json!({"success":true,"driverState":"EXPLODED"}));
        assert!(
            matches!(driver_status("d", 200, &new_state), Err(PluginError::Protocol(m)) if m.contains("EXPLODED"))
        );
    }

    #[test]
    fn garbage_json_shapes_do_not_panic() {
        // Wrong types in known fields fail parsing (the SDK makes that a
        // Protocol error); unknown fields are ignored.
        assert!(serde_json::from_value::<RestResponse>(json!({"success":"yes"})).is_err());
        assert_eq!(reply(json!({"extra":1})), RestResponse::default());
    }

    #[test]
    fn kill_outcome_follows_success() {
        assert_eq!(kill_outcome(200, reply(json!({"success":true}))), Ok(()));
        let refused = reply(
            json!({"success":false,"message":"Driver driver-1 has already finished or does not exist"}),
        );
        assert!(
            matches!(kill_outcome(200, refused), Err(PluginError::Rejected(m)) if m.contains("already finished"))
        );
    }
}
