//! What Kubernetes (or Spark on Kubernetes) would refuse, found at DAG load
//! time without a network call.

use drover_plugin_sdk::http::parse_url;
use drover_plugin_sdk::spark::{CORES_MAX, Unsupported, YARN_QUEUE, refuse};
use drover_plugin_sdk::{Application, DeployMode, Problem, Settings};

use crate::pod::{self, DEFAULT_NAMESPACE, is_dns_label};

pub const SERVICE_MODE: &str =
    "Kubernetes has no service deploy mode: the DAG chooses where the driver runs";

pub fn problems(settings: &Settings, app: &Application) -> Vec<Problem> {
    let mut problems = Vec::new();
    let backend = |message: String, hint: &str| Problem::new("backend", message, hint);
    match settings.get("api_url").map(parse_url) {
        None => problems.push(backend(
            "the backend setting api_url is required".into(),
            "set api_url = \"https://<api server>:6443\" on the backend",
        )),
        Some(Err(e)) => problems.push(backend(
            format!("the backend setting api_url is not an http(s) URL: {}", e.message()),
            "set api_url = \"https://<api server>:6443\" (kubectl config view shows it as `server`)",
        )),
        Some(Ok(_)) => {}
    }
    let ns = settings.get_or("namespace", DEFAULT_NAMESPACE);
    if !is_dns_label(ns) {
        problems.push(backend(
            format!("the backend setting namespace {ns:?} is not a Kubernetes namespace name"),
            "use lower-case letters, digits and '-', at most 63 characters",
        ));
    }
    if let Some(t) = settings.get("driver_pod_template")
        && let Err(e) = pod::driver_template(t)
    {
        problems.push(backend(e, "give a JSON Pod, e.g. {\"spec\":{\"nodeSelector\":{\"eks.amazonaws.com/capacityType\":\"ON_DEMAND\"}}}"));
    }
    if let Some(t) = settings.get("executor_pod_template")
        && let Err(e) = pod::executor_template(t)
    {
        problems.push(backend(e, "keep the inline template to labels, annotations and nodeSelector, or point at a template file"));
    }
    match app.deploy_mode {
        DeployMode::Service => problems.push(Problem::new(
            "deploy_mode",
            SERVICE_MODE,
            "use deploy_mode = \"client\" (driver in a local process) or \"cluster\" (driver in a pod)",
        )),
        DeployMode::Client => {}
        DeployMode::Cluster => {
            for (k, v) in &app.conf {
                let owned = match k.as_str() {
                    "spark.kubernetes.namespace" if v.trim() != ns => {
                        Some("the driver pod goes to the backend's namespace setting")
                    }
                    "spark.kubernetes.driver.pod.name" => {
                        Some("drover names each driver pod itself, one per try")
                    }
                    "spark.kubernetes.driver.podTemplateFile" => Some(
                        "drover cannot read files: put the template in the backend's \
                         driver_pod_template setting",
                    ),
                    "spark.kubernetes.file.upload.path" => Some(
                        "drover does not upload local files: use local:// paths in the image \
                         or remote URIs (s3a://, hdfs://, https://)",
                    ),
                    _ => None,
                };
                if let Some(why) = owned {
                    problems.push(Problem::new(
                        format!("conf.{k}"),
                        format!("{k} cannot be set on a cluster-mode application of this backend: {why}"),
                        "remove it from the application's conf",
                    ));
                }
            }
            problems.extend(refuse(app, "Kubernetes in cluster mode", &CLUSTER_UNSUPPORTED));
        }
    }
    problems.extend(refuse(app, "Kubernetes", &[YARN_QUEUE, CORES_MAX]));
    problems
}

const KEYTAB_WHY: &str = "spark-submit puts the keytab into a Secret for the driver pod; \
     drover renders the driver pod itself and cannot read the keytab file";
const KEYTAB_HINT: &str =
    "use deploy_mode = \"client\" (spark-submit logs in locally and ships delegation tokens)";

/// spark-submit flags only a local spark-submit can honour on Kubernetes.
pub const CLUSTER_UNSUPPORTED: [Unsupported; 2] = [
    Unsupported { key: "spark.kerberos.principal", why: KEYTAB_WHY, hint: KEYTAB_HINT },
    Unsupported { key: "spark.kerberos.keytab", why: KEYTAB_WHY, hint: KEYTAB_HINT },
];

#[cfg(test)]
mod tests {
    use super::*;
    use drover_plugin_sdk::testing::{self, bare_app};

    fn app(mode: DeployMode, conf: &[(&str, &str)]) -> Application {
        let mut app = bare_app("/a.py", mode);
        app.conf = conf
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        app
    }

    fn settings(extra: &[(&str, &str)]) -> Settings {
        testing::settings(&[&[("api_url", "https://k8s:6443")], extra].concat())
    }

    #[test]
    fn accepts_both_deploy_modes_with_good_settings() {
        for mode in [DeployMode::Client, DeployMode::Cluster] {
            assert_eq!(problems(&settings(&[]), &app(mode, &[])), vec![]);
        }
    }

    #[test]
    fn rejects_the_service_deploy_mode() {
        let p = problems(&settings(&[]), &app(DeployMode::Service, &[]));
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].field.as_str(), p[0].message.as_str()),
            ("deploy_mode", SERVICE_MODE)
        );
    }

    #[test]
    fn rejects_bad_templates_namespace_and_url() {
        let s = Settings::new(vec![
            ("api_url".into(), "k8s:6443".into()),
            ("namespace".into(), "Spark Jobs".into()),
            ("driver_pod_template".into(), "{not json".into()),
            (
                "executor_pod_template".into(),
                r#"{"spec":{"affinity":{}}}"#.into(),
            ),
        ]);
        let p = problems(&s, &app(DeployMode::Cluster, &[]));
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p.iter().all(|p| p.field == "backend"));
        assert!(
            p[2].message.contains("driver_pod_template is not JSON"),
            "{p:?}"
        );
        assert!(p[3].message.contains("spec.affinity"), "{p:?}");
    }

    #[test]
    fn rejects_conf_the_backend_owns_in_cluster_mode() {
        let conf = [
            ("spark.kubernetes.namespace", "other"),
            ("spark.kubernetes.driver.podTemplateFile", "/t.yaml"),
        ];
        let p = problems(&settings(&[]), &app(DeployMode::Cluster, &conf));
        let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "conf.spark.kubernetes.namespace",
                "conf.spark.kubernetes.driver.podTemplateFile"
            ]
        );
        assert_eq!(
            problems(&settings(&[]), &app(DeployMode::Client, &conf)),
            vec![]
        );
    }
}
