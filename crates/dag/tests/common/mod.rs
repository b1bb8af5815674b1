//! A stand-in for the plugin host: a Spark standalone-like "local" backend and a
//! "serverless" one that only runs whole applications.

use drover_dag::{AppProblem, ApplicationTemplate, Backends, DeployMode};

pub struct FakeBackends;

impl Backends for FakeBackends {
    fn names(&self) -> Vec<String> {
        vec!["local".into(), "serverless".into()]
    }

    fn deploy_modes(&self, backend: &str) -> Option<Vec<DeployMode>> {
        match backend {
            "local" => Some(vec![DeployMode::Client, DeployMode::Cluster]),
            "serverless" => Some(vec![DeployMode::Service]),
            _ => None,
        }
    }

    fn check_application(&self, backend: &str, app: &ApplicationTemplate) -> Vec<AppProblem> {
        if backend == "local"
            && app.resource.ends_with(".py")
            && app.deploy_mode == DeployMode::Cluster
        {
            return vec![AppProblem {
                field: "deploy_mode".into(),
                message: "Spark standalone cannot run Python applications in cluster mode".into(),
                hint: "use deploy_mode = \"client\" or a jar".into(),
            }];
        }
        if backend == "serverless" && app.conf.contains_key("spark.yarn.queue") {
            return vec![AppProblem {
                field: "conf.spark.yarn.queue".into(),
                message: "spark.yarn.queue is not supported on serverless".into(),
                hint: "remove `queue`".into(),
            }];
        }
        Vec::new()
    }

    fn notifiers(&self) -> Vec<String> {
        vec!["ops".into(), "team-slack".into()]
    }
}
