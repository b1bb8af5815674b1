//! What Livy would refuse, found at DAG load time without a network call.

use drover_plugin_sdk::http::parse_url;
use drover_plugin_sdk::{Application, DeployMode, Problem, Settings};

/// Why a deploy mode other than cluster is refused.
pub const DEPLOY_MODE: &str = "Livy runs batches in cluster mode only: its server runs \
     spark-submit --deploy-mode cluster, so the driver runs in the cluster, never in a \
     process drover supervises, and the DAG chooses no service mode";
pub const DEPLOY_MODE_HINT: &str = "use deploy_mode = \"cluster\"";

pub fn problems(settings: &Settings, app: &Application) -> Vec<Problem> {
    let mut problems = Vec::new();
    match settings.get("url").map(parse_url) {
        None => problems.push(Problem::new(
            "backend.url",
            "the livy backend needs the url setting (the Livy server's address)",
            "set url = \"http://livy-server:8998\" on the backend",
        )),
        Some(Err(e)) => problems.push(Problem::new(
            "backend.url",
            e.message(),
            "use http://host:port or https://host:port",
        )),
        Some(Ok(_)) => {}
    }
    for key in ["proxy_user", "queue"] {
        if let Some(v) = settings.get(key)
            && v.chars().any(char::is_whitespace)
        {
            problems.push(Problem::new(
                format!("backend.{key}"),
                format!("{v:?} has white space in it; Livy would pass it to spark-submit as it is"),
                format!("set {key} to a single word, e.g. \"etl\""),
            ));
        }
    }
    if let Some(user) = &app.proxy_user
        && user.chars().any(char::is_whitespace)
    {
        problems.push(Problem::new(
            "proxy_user",
            format!("{user:?} has white space in it; Livy would pass it to spark-submit as it is"),
            "set proxy_user to a single word, e.g. \"etl\"",
        ));
    }
    if app.deploy_mode != DeployMode::Cluster {
        problems.push(Problem::new(
            "deploy_mode",
            format!("deploy mode {} is not supported: {DEPLOY_MODE}", app.deploy_mode.as_str()),
            DEPLOY_MODE_HINT,
        ));
    }
    if app.resource.trim().is_empty() {
        problems.push(Problem::new(
            "resource",
            "Livy needs the application's file (the main jar or script) to create a batch",
            "set the task's jar or script to a path the Livy server's cluster can read, e.g. hdfs:///jobs/app.jar",
        ));
    }
    for (role, r) in [("driver", &app.driver), ("executor", &app.executor)] {
        if r.memory_mb == Some(0) || r.cores == Some(0) {
            problems.push(Problem::new(
                role,
                format!("the {role}'s memory and cores must be more than zero"),
                "leave them out for the cluster's defaults, or use sizes like \"512m\" and whole core counts",
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::app;
    use drover_plugin_sdk::testing::settings;

    fn fields(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.field.as_str()).collect()
    }

    #[test]
    fn a_cluster_mode_application_with_a_url_is_fine() {
        let s = settings(&[("url", "http://livy:8998"), ("proxy_user", "etl"), ("queue", "root.etl")]);
        assert_eq!(problems(&s, &app()), vec![]);
    }

    #[test]
    fn client_and_service_modes_are_refused_with_the_reason() {
        let s = settings(&[("url", "http://livy:8998")]);
        for mode in [DeployMode::Client, DeployMode::Service] {
            let mut a = app();
            a.deploy_mode = mode;
            let p = problems(&s, &a);
            assert_eq!(fields(&p), ["deploy_mode"], "{mode:?}");
            assert!(p[0].message.contains(mode.as_str()), "{}", p[0].message);
            assert!(p[0].message.contains("cluster mode only"), "{}", p[0].message);
            assert_eq!(p[0].hint, DEPLOY_MODE_HINT);
        }
    }

    #[test]
    fn a_missing_or_bad_url_is_named() {
        let p = problems(&settings(&[]), &app());
        assert_eq!(fields(&p), ["backend.url"]);
        let p = problems(&settings(&[("url", "livy:8998")]), &app());
        assert_eq!(fields(&p), ["backend.url"]);
        assert!(p[0].message.contains("bad URL"), "{}", p[0].message);
    }

    #[test]
    fn bad_settings_and_resources_are_reported_together() {
        let s = settings(&[("url", "http://livy:8998"), ("queue", "root etl")]);
        let mut a = app();
        a.resource = " ".into();
        a.executor.cores = Some(0);
        assert_eq!(fields(&problems(&s, &a)), ["backend.queue", "resource", "executor"]);
    }
}
