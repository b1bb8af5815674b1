//! What EMR Serverless would refuse, found at DAG load time without a network call.

use drover_plugin_sdk::aws::emr_problems;
use drover_plugin_sdk::spark::{CORES_MAX, Unsupported, YARN_QUEUE, refuse};
use drover_plugin_sdk::{Application, DeployMode, Problem, Settings};

pub const DEPLOY_MODE: &str = "EMR Serverless decides where the driver runs (the service runs it itself), \
     so a DAG cannot choose client or cluster mode";
pub const DEPLOY_MODE_HINT: &str = "remove deploy_mode, or set deploy_mode = \"service\"";

/// `retryPolicy.maxAttempts` is 1 to 10 in the service.
pub const MAX_ATTEMPTS: u32 = 10;

pub fn problems(settings: &Settings, app: &Application) -> Vec<Problem> {
    let mut problems = emr_problems(app, DeployMode::Service, DEPLOY_MODE, DEPLOY_MODE_HINT, |key| {
        format!("EMR Serverless sets {key} itself and refuses a job run that sets it")
    });
    problems.extend(local_path_problems(settings, app, "EMR Serverless"));
    for (key, max) in [
        ("max_attempts", Some(MAX_ATTEMPTS)),
        ("execution_timeout_minutes", None),
    ] {
        if let Err(message) = positive(settings, key, max) {
            problems.push(Problem::new(
                format!("settings.{key}"),
                message,
                format!("fix `{key}` in the backend's settings"),
            ));
        }
    }
    problems.extend(refuse(app, "EMR Serverless", &UNSUPPORTED));
    problems
}

const KERBEROS_WHY: &str = "EMR Serverless has no Kerberos: a job run's identity is its execution role";
const KERBEROS_HINT: &str =
    "remove principal and keytab; grant the data's access to the backend's execution role";

/// spark-submit flags EMR Serverless cannot honour.
pub const UNSUPPORTED: [Unsupported; 4] = [
    YARN_QUEUE,
    CORES_MAX,
    Unsupported { key: "spark.kerberos.principal", why: KERBEROS_WHY, hint: KERBEROS_HINT },
    Unsupported { key: "spark.kerberos.keytab", why: KERBEROS_WHY, hint: KERBEROS_HINT },
];

pub use drover_plugin_sdk::aws::{local_path_problems, positive, reads_local_files};

#[cfg(test)]
mod tests {
    use super::*;
    use drover_plugin_sdk::testing::{self, bare_app as app};

    fn settings(endpoint: &str, extra: &[(&str, &str)]) -> Settings {
        testing::settings(&[&[("endpoint", endpoint)], extra].concat())
    }

    const AWS: &str = "https://emr-serverless.us-east-1.amazonaws.com";

    #[test]
    fn accepts_an_s3_entry_point_in_service_mode() {
        assert_eq!(
            problems(
                &settings(AWS, &[]),
                &app("s3://b/job.py", DeployMode::Service)
            ),
            vec![]
        );
    }

    #[test]
    fn rejects_cluster_mode_on_serverless_saying_why() {
        let p = problems(
            &settings(AWS, &[]),
            &app("s3://b/job.jar", DeployMode::Cluster),
        );
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].field, "deploy_mode");
        assert!(
            p[0].message.contains("decides where the driver runs")
                && p[0].message.contains("cluster"),
            "{p:?}"
        );
        assert_eq!(p[0].hint, DEPLOY_MODE_HINT);
    }

    #[test]
    fn rejects_local_paths_for_a_remote_service_but_not_for_a_local_endpoint() {
        let mut a = app("/home/me/job.py", DeployMode::Service);
        a.py_files = vec!["s3://b/ok.zip".into(), "file:/tmp/dep.zip".into()];
        let p = problems(&settings(AWS, &[]), &a);
        let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["resource", "py_files[1]"]);
        assert!(p[0].message.contains("cannot read"), "{p:?}");
        assert_eq!(
            problems(&settings("http://127.0.0.1:6066", &[]), &a),
            vec![]
        );
        assert_eq!(problems(&settings("http://localhost:1", &[]), &a), vec![]);
        assert!(
            problems(
                &settings(AWS, &[]),
                &app("local:///opt/job.py", DeployMode::Service)
            )
            .is_empty()
        );
    }

    #[test]
    fn rejects_spark_properties_the_service_owns() {
        let mut a = app("s3://b/j.py", DeployMode::Service);
        a.conf = vec![("spark.submit.deployMode".into(), "cluster".into())];
        let p = problems(&settings(AWS, &[]), &a);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].field, "conf.spark.submit.deployMode");
    }

    #[test]
    fn rejects_bad_retry_and_timeout_settings() {
        let a = app("s3://b/j.py", DeployMode::Service);
        let p = problems(
            &settings(
                AWS,
                &[("max_attempts", "11"), ("execution_timeout_minutes", "x")],
            ),
            &a,
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].message.contains("1 to 10"));
        assert_eq!(
            positive(
                &settings(AWS, &[("max_attempts", "3")]),
                "max_attempts",
                Some(10)
            ),
            Ok(Some(3))
        );
        assert_eq!(
            positive(&settings(AWS, &[]), "max_attempts", Some(10)),
            Ok(None)
        );
    }
}
