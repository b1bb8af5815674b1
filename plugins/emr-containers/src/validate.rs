//! What EMR on EKS would refuse, found at DAG load time without a network call.

use drover_plugin_sdk::aws::{emr_problems, local_path_problems, positive};
use drover_plugin_sdk::spark::{CORES_MAX, Unsupported, YARN_QUEUE, refuse};
use drover_plugin_sdk::{Application, DeployMode, Problem, Settings};

pub const DEPLOY_MODE: &str = "EMR on EKS runs the driver in a pod of the virtual cluster's \
     namespace (cluster mode), so it cannot run the driver on this machine";
pub const DEPLOY_MODE_HINT: &str = "set deploy_mode = \"cluster\"";

/// `retryPolicyConfiguration.maxAttempts`; the service documents no upper
/// bound, so drover keeps a sane one.
pub const MAX_ATTEMPTS: u32 = 10;

pub fn problems(settings: &Settings, app: &Application) -> Vec<Problem> {
    let mut problems = emr_problems(app, DeployMode::Cluster, DEPLOY_MODE, DEPLOY_MODE_HINT, |key| {
        format!("EMR on EKS sets {key} itself (the driver runs on Kubernetes in cluster mode)")
    });
    problems.extend(local_path_problems(settings, app, "EMR on EKS"));
    if let Err(message) = positive(settings, "max_attempts", Some(MAX_ATTEMPTS)) {
        problems.push(Problem::new(
            "settings.max_attempts",
            message,
            "fix `max_attempts` in the backend's settings",
        ));
    }
    if let Err(message) = application_configuration(settings) {
        problems.push(Problem::new(
            "settings.application_configuration",
            message,
            "give a JSON list such as [{\"classification\": \"spark-defaults\", \"properties\": {\"k\": \"v\"}}]",
        ));
    }
    if let Some(ui) = settings.get("persistent_app_ui")
        && !matches!(ui, "ENABLED" | "DISABLED")
    {
        problems.push(Problem::new(
            "settings.persistent_app_ui",
            format!("persistent_app_ui is ENABLED or DISABLED, not {ui:?}"),
            "set persistent_app_ui = \"ENABLED\" or \"DISABLED\"",
        ));
    }
    problems.extend(refuse(app, "EMR on EKS", &UNSUPPORTED));
    problems
}

const KERBEROS_WHY: &str = "EMR on EKS has no Kerberos: a job run's identity is its execution role";
const KERBEROS_HINT: &str =
    "remove principal and keytab; grant the data's access to the backend's execution role";

/// spark-submit flags EMR on EKS cannot honour.
pub const UNSUPPORTED: [Unsupported; 4] = [
    YARN_QUEUE,
    CORES_MAX,
    Unsupported { key: "spark.kerberos.principal", why: KERBEROS_WHY, hint: KERBEROS_HINT },
    Unsupported { key: "spark.kerberos.keytab", why: KERBEROS_WHY, hint: KERBEROS_HINT },
];

/// The backend's `application_configuration` setting: a JSON list of
/// `{classification, properties, configurations}` objects.
pub fn application_configuration(settings: &Settings) -> Result<Vec<serde_json::Value>, String> {
    let Some(text) = settings.get("application_configuration") else {
        return Ok(Vec::new());
    };
    let list: Vec<serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| format!("application_configuration is not a JSON list: {e}"))?;
    for (i, c) in list.iter().enumerate() {
        if c.get("classification").and_then(|v| v.as_str()).is_none_or(str::is_empty) {
            return Err(format!("application_configuration[{i}] has no classification"));
        }
        if let Some(props) = c.get("properties")
            && !props.as_object().is_some_and(|m| m.values().all(|v| v.is_string()))
        {
            return Err(format!(
                "application_configuration[{i}].properties must map names to strings"
            ));
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_plugin_sdk::testing::{self, bare_app as app};

    fn settings(extra: &[(&str, &str)]) -> Settings {
        testing::settings(&[&[("endpoint", AWS)], extra].concat())
    }

    const AWS: &str = "https://emr-containers.us-east-1.amazonaws.com";

    #[test]
    fn accepts_an_s3_entry_point_in_cluster_mode() {
        assert_eq!(problems(&settings(&[]), &app("s3://b/job.py", DeployMode::Cluster)), vec![]);
    }

    #[test]
    fn rejects_client_mode_saying_why() {
        let p = problems(&settings(&[]), &app("s3://b/job.py", DeployMode::Client));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].field, "deploy_mode");
        assert!(p[0].message.contains("runs the driver in a pod") && p[0].message.contains("client"), "{p:?}");
        assert_eq!(p[0].hint, DEPLOY_MODE_HINT);
    }

    #[test]
    fn rejects_local_files_on_a_remote_service_and_bad_settings() {
        let p = problems(
            &settings(&[
                ("max_attempts", "0"),
                ("application_configuration", r#"[{"properties": {}}]"#),
                ("persistent_app_ui", "yes"),
            ]),
            &app("/home/me/job.py", DeployMode::Cluster),
        );
        let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["resource", "settings.max_attempts", "settings.application_configuration", "settings.persistent_app_ui"]
        );
    }

    #[test]
    fn reads_the_application_configuration_setting() {
        let s = settings(&[(
            "application_configuration",
            r#"[{"classification": "spark-defaults", "properties": {"a": "b"}}]"#,
        )]);
        assert_eq!(application_configuration(&s).unwrap().len(), 1);
        let bad = settings(&[("application_configuration", r#"[{"classification": "x", "properties": {"a": 1}}]"#)]);
        assert!(application_configuration(&bad).unwrap_err().contains("strings"));
    }
}
