//! What YARN would refuse, found at DAG load time without a network call.

use drover_plugin_sdk::http::parse_url;
use drover_plugin_sdk::spark::{CORES_MAX, Unsupported, extension, refuse};
use drover_plugin_sdk::{Application, DeployMode, Problem, Settings};

use crate::submit::{am_resource, max_app_attempts, queue};

pub const SERVICE_MODE: &str =
    "YARN has no service deploy mode: the DAG chooses where the driver runs (client or cluster)";

pub fn problems(settings: &Settings, app: &Application) -> Vec<Problem> {
    let mut problems = Vec::new();
    match settings.get("rm_url").map(parse_url) {
        None => problems.push(Problem::new(
            "backend.rm_url",
            "the yarn backend needs the rm_url setting (the ResourceManager's web address)",
            "set rm_url = \"http://resourcemanager:8088\" on the backend",
        )),
        Some(Err(e)) => problems.push(Problem::new(
            "backend.rm_url",
            e.message(),
            "use http://host:port or https://host:port",
        )),
        Some(Ok(_)) => {}
    }
    if let Err(e) = max_app_attempts(settings, app) {
        problems.push(Problem::new(
            "conf.spark.yarn.maxAppAttempts",
            e.message(),
            "YARN caps it at yarn.resourcemanager.am.max-attempts; 1 disables AM retries",
        ));
    }
    let q = queue(settings, app);
    if q.chars().any(char::is_whitespace) || q.starts_with('.') || q.ends_with('.') {
        problems.push(Problem::new(
            "conf.spark.yarn.queue",
            format!("{q:?} is not a YARN queue name"),
            "queue names are dotted paths without spaces, e.g. \"root.etl\" or \"etl\"",
        ));
    }
    match app.deploy_mode {
        DeployMode::Service => problems.push(Problem::new(
            "deploy_mode",
            SERVICE_MODE,
            "use deploy_mode = \"cluster\" (driver in the ApplicationMaster) or \"client\" (driver in a local process)",
        )),
        DeployMode::Client => {}
        DeployMode::Cluster => {
            let python = extension(&app.resource).as_deref() == Some("py");
            if !python && app.main_class.as_deref().is_none_or(|c| c.trim().is_empty()) {
                problems.push(Problem::new(
                    "main_class",
                    "YARN cluster mode needs main_class: the ApplicationMaster starts the driver by class \
                     (--class), and drover does not read the jar's manifest",
                    "set main_class to the fully qualified class, e.g. \"com.example.Main\"",
                ));
            }
            if let Err(e) = am_resource(app) {
                problems.push(Problem::new("driver", e.message(), "use sizes like \"512m\" or \"2g\" and whole core counts"));
            }
            problems.extend(refuse(app, "YARN in cluster mode", &CLUSTER_UNSUPPORTED));
        }
    }
    problems.extend(refuse(app, "YARN", &[CORES_MAX]));
    problems
}

const PACKAGES_WHY: &str = "spark-submit resolves Maven coordinates on the client and uploads the jars; \
     drover submits to the ResourceManager directly and the ApplicationMaster resolves nothing";
const PACKAGES_HINT: &str =
    "use deploy_mode = \"client\" (spark-submit resolves them), or list the jars in `jars`";
const KEYTAB_WHY: &str = "spark-submit ships the keytab to the ApplicationMaster as a local resource; \
     drover's REST submission does not";
const KEYTAB_HINT: &str =
    "use deploy_mode = \"client\" (spark-submit logs in locally and ships delegation tokens)";

/// spark-submit flags only a local spark-submit can honour on YARN.
pub const CLUSTER_UNSUPPORTED: [Unsupported; 5] = [
    Unsupported { key: "spark.jars.packages", why: PACKAGES_WHY, hint: PACKAGES_HINT },
    Unsupported { key: "spark.jars.repositories", why: PACKAGES_WHY, hint: PACKAGES_HINT },
    Unsupported { key: "spark.jars.excludes", why: PACKAGES_WHY, hint: PACKAGES_HINT },
    Unsupported { key: "spark.kerberos.principal", why: KEYTAB_WHY, hint: KEYTAB_HINT },
    Unsupported { key: "spark.kerberos.keytab", why: KEYTAB_WHY, hint: KEYTAB_HINT },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::submit::tests::{app, settings};

    #[test]
    fn accepts_a_cluster_mode_jar_with_a_main_class() {
        assert_eq!(problems(&settings(&[]), &app()), vec![]);
    }

    #[test]
    fn rejects_the_service_deploy_mode() {
        let mut a = app();
        a.deploy_mode = DeployMode::Service;
        let p = problems(&settings(&[]), &a);
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].field.as_str(), p[0].message.as_str()),
            ("deploy_mode", SERVICE_MODE)
        );
    }

    #[test]
    fn rejects_a_cluster_mode_jar_without_main_class_but_not_python() {
        let mut a = app();
        a.main_class = None;
        let p = problems(&settings(&[]), &a);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].field, "main_class");
        a.resource = "/jobs/main.py".into();
        assert_eq!(problems(&settings(&[]), &a), vec![]);
        a.resource = "/jobs/x.jar".into();
        a.deploy_mode = DeployMode::Client;
        assert_eq!(problems(&settings(&[]), &a), vec![]);
    }

    #[test]
    fn rejects_bad_settings_and_conf() {
        let p = problems(&Settings::default(), &app());
        assert!(p.iter().any(|p| p.field == "backend.rm_url"), "{p:?}");
        let p = problems(
            &settings(&[("max_app_attempts", "many"), ("queue", "my queue")]),
            &app(),
        );
        let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["conf.spark.yarn.maxAppAttempts", "conf.spark.yarn.queue"]
        );
        let mut a = app();
        a.conf.push(("spark.driver.memory".into(), "lots".into()));
        a.driver.memory_mb = None;
        assert!(
            problems(&settings(&[]), &a)
                .iter()
                .any(|p| p.field == "driver")
        );
    }
}
