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
                        "drover uploads local files itself, to the S3 of the backend's \
                         [backends.NAME.staging] table (s3 = ..., bucket = ...), and the driver \
                         reads them by s3a://; without staging, use local:// paths in the image \
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
            problems.extend(file_uri_problems(app));
            problems.extend(refuse(app, "Kubernetes in cluster mode", &CLUSTER_UNSUPPORTED));
        }
    }
    problems.extend(refuse(app, "Kubernetes", &[YARN_QUEUE, CORES_MAX]));
    problems
}

/// A `file:` URI names a file on drover's machine, which a driver pod cannot
/// read (spark-submit would ask for `spark.kubernetes.file.upload.path`).
/// With staging configured the host uploads such files first, and the
/// plugin only ever sees their `s3a://` URIs. A plain path stays a path in
/// the image ([`crate::pod::in_image`]).
fn file_uri_problems(app: &Application) -> Vec<Problem> {
    let listed = [("jars", &app.jars), ("files", &app.files), ("py_files", &app.py_files)];
    let others = listed
        .iter()
        .flat_map(|(field, list)| list.iter().enumerate().map(move |(i, v)| (format!("{field}[{i}]"), v)));
    std::iter::once(("resource".to_string(), &app.resource))
        .chain(others)
        .filter(|(_, v)| v.to_ascii_lowercase().starts_with("file:"))
        .map(|(field, v)| {
            Problem::new(
                field,
                format!("{v} is a file on drover's machine, which the driver pod cannot read"),
                "have drover upload it before each submission: add a [backends.NAME.staging] table \
                 with s3 = \"https://s3.REGION.amazonaws.com\" and bucket = \"...\" to drover's config; \
                 or put it in the image and write local:///path",
            )
        })
        .collect()
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
    fn rejects_file_uris_in_cluster_mode_naming_staging_but_takes_staged_and_image_paths() {
        let mut a = app(DeployMode::Cluster, &[]);
        a.resource = "file:///home/me/job.py".into();
        a.py_files = vec!["s3a://b/staging/drover-k/dep.py".into(), "file:/tmp/dep.py".into()];
        a.files = vec!["/opt/in-image.txt".into()];
        let p = problems(&settings(&[]), &a);
        let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["resource", "py_files[1]"]);
        assert!(p[0].hint.contains("[backends.NAME.staging]"), "{p:?}");
        a.resource = "s3a://b/staging/drover-k/job.py".into();
        a.py_files.pop();
        assert_eq!(problems(&settings(&[]), &a), vec![]);
        a.resource = "file:///home/me/job.py".into();
        a.deploy_mode = DeployMode::Client;
        assert_eq!(problems(&settings(&[]), &a), vec![], "client mode reads local files");
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
