//! What the master would refuse, found at DAG load time without a network call.

use drover_plugin_sdk::spark::{Unsupported, YARN_QUEUE, extension, refuse, refuse_proxy_user};
use drover_plugin_sdk::{Application, DeployMode, Problem, Settings};

pub const SERVICE_MODE: &str =
    "Spark standalone has no service deploy mode: the DAG chooses where the driver runs";

pub fn problems(settings: &Settings, app: &Application) -> Vec<Problem> {
    let mut problems = Vec::new();
    let ext = extension(&app.resource);
    match app.deploy_mode {
        DeployMode::Service => problems.push(Problem::new(
            "deploy_mode",
            SERVICE_MODE,
            "use deploy_mode = \"client\" (driver in a local process) or \"cluster\" (driver on a worker)",
        )),
        DeployMode::Client => {}
        DeployMode::Cluster => {
            match ext.as_deref() {
                Some("py") => problems.push(Problem::new(
                    "deploy_mode",
                    "Spark standalone cannot run Python applications in cluster mode",
                    "use deploy_mode = \"client\", or package the job as a jar",
                )),
                Some("r") => problems.push(Problem::new(
                    "deploy_mode",
                    "Spark standalone cannot run R applications in cluster mode",
                    "use deploy_mode = \"client\"",
                )),
                // The REST server refuses a submission without a main class
                // ("Main class is missing"); it does not read the jar's manifest.
                _ if app.main_class.as_deref().is_none_or(|c| c.trim().is_empty()) => {
                    problems.push(Problem::new(
                        "main_class",
                        "Spark standalone needs main_class in cluster mode: its REST server does not read the jar's manifest",
                        "set main_class to the fully qualified class, e.g. \"com.example.Main\"",
                    ))
                }
                _ => {}
            }
            if settings.get("rest_url").is_none() {
                problems.push(Problem::new(
                    "deploy_mode",
                    "cluster mode needs the backend's rest_url setting (the master's REST \
                     submission server)",
                    "set rest_url = \"http://master:6066\" on the backend (the master needs \
                     spark.master.rest.enabled=true), or use deploy_mode = \"client\"",
                ));
            }
            problems.extend(refuse_proxy_user(
                app,
                "Spark standalone in cluster mode",
                "the REST submission names no user, and the worker runs the driver as its own user",
                "use deploy_mode = \"client\" (spark-submit --proxy-user), or remove proxy_user",
            ));
        }
    }
    problems.extend(refuse(app, "Spark standalone", &UNSUPPORTED));
    problems
}

const KERBEROS_WHY: &str =
    "Spark logs in with a keytab and renews delegation tokens only on YARN and Kubernetes";
const KERBEROS_HINT: &str =
    "remove principal and keytab; reach a kerberized cluster through a YARN or Kubernetes backend";

/// spark-submit flags a standalone master cannot honour.
pub const UNSUPPORTED: [Unsupported; 3] = [
    YARN_QUEUE,
    Unsupported { key: "spark.kerberos.principal", why: KERBEROS_WHY, hint: KERBEROS_HINT },
    Unsupported { key: "spark.kerberos.keytab", why: KERBEROS_WHY, hint: KERBEROS_HINT },
];

#[cfg(test)]
mod tests {
    use super::*;
    use drover_plugin_sdk::testing::{bare_app, settings};

    fn app(resource: &str, main_class: Option<&str>, mode: DeployMode) -> Application {
        let mut app = bare_app(resource, mode);
        app.main_class = main_class.map(Into::into);
        app
    }

    fn with_rest() -> Settings {
        settings(&[("master", "spark://m:7077"), ("rest_url", "http://m:6066")])
    }

    #[test]
    fn accepts_a_jar_with_a_main_class_in_cluster_mode() {
        assert_eq!(
            problems(&with_rest(), &app("/a.jar", Some("M"), DeployMode::Cluster)),
            vec![]
        );
    }

    #[test]
    fn accepts_python_in_client_mode() {
        assert_eq!(
            problems(
                &Settings::default(),
                &app("/a.py", None, DeployMode::Client)
            ),
            vec![]
        );
    }

    #[test]
    fn rejects_cluster_mode_for_python_on_standalone() {
        let p = problems(
            &with_rest(),
            &app("s3a://b/job.py", None, DeployMode::Cluster),
        );
        assert_eq!(
            p,
            vec![Problem::new(
                "deploy_mode",
                "Spark standalone cannot run Python applications in cluster mode",
                "use deploy_mode = \"client\", or package the job as a jar",
            )]
        );
    }

    #[test]
    fn rejects_a_cluster_mode_jar_without_main_class() {
        let p = problems(&with_rest(), &app("/a.jar", None, DeployMode::Cluster));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].field, "main_class");
    }

    #[test]
    fn rejects_the_service_deploy_mode() {
        let p = problems(&with_rest(), &app("/a.jar", Some("M"), DeployMode::Service));
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].field.as_str(), p[0].message.as_str()),
            ("deploy_mode", SERVICE_MODE)
        );
    }

    #[test]
    fn rejects_cluster_mode_without_rest_url() {
        let p = problems(&settings(&[("master", "spark://m:7077")]), &app("/a.jar", Some("M"), DeployMode::Cluster));
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("rest_url"), "{p:?}");
    }
}
