//! drover's Kubernetes plugin: Spark's native Kubernetes submission.
//!
//! Cluster mode creates the driver pod the way spark-submit does (see [`pod`])
//! with one `POST /api/v1/namespaces/{ns}/pods`, named after the submission
//! key so that a second send of a try adopts the first one's pod
//! ([`submit`]), then follows it by its id, `namespace/name@ms`
//! ([`pod::DriverId`]): status from the pod's phase and driver container
//! ([`status`]), kill by deleting the pod, logs from the pod log endpoint, and
//! `find` by the submission-key label. Client mode hands the host a
//! `spark-submit --master k8s://… --deploy-mode client` command.
//!
//! Everything but the HTTP calls is pure and tested on the host target; this
//! file only wires it to `wasi:http` through the SDK.

pub mod pod;
pub mod status;
pub mod submit;
pub mod ui;
pub mod validate;
#[cfg(test)]
mod submit_flags;

use std::collections::{HashMap, HashSet};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use drover_plugin_sdk::batch;
use drover_plugin_sdk::http::{self, Method, Response};
use drover_plugin_sdk::spark::spark_submit_command;
use drover_plugin_sdk::{
    Application, Backend, ConfigKey, DeployMode, DriverStatus, Info, LogChunk, PluginError,
    Problem, Settings, Submitted,
};
use serde_json::Value;

use crate::pod::{DRIVER_CONTAINER, DriverId, ExecutorTemplate, PodSettings, SUBMISSION_KEY_LABEL};

/// The Spark property that carries drover's submission key in client mode.
pub const SUBMISSION_KEY_PROPERTY: &str = "spark.drover.submissionKey";
/// Pods per page of the driver list `status_many` reads (`limit`), so that a
/// page stays far below the call's memory cap.
const LIST_PAGE: u32 = 250;
/// Pages `status_many` reads at most; ids past them are asked one by one.
const MAX_LIST_PAGES: usize = 40;
/// Kubernetes' own default for `terminationGracePeriodSeconds`.
const DEFAULT_KILL_GRACE_SECONDS: &str = "30";

pub struct Plugin;

impl Backend for Plugin {
    fn describe() -> Info {
        Info {
            name: "kubernetes".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            deploy_modes: vec![DeployMode::Client, DeployMode::Cluster],
            config_keys: vec![
                ConfigKey::new(
                    "api_url",
                    "The Kubernetes API server, https://host:6443.",
                    true,
                ),
                ConfigKey::new(
                    "namespace",
                    "Namespace of the driver pods; default \"default\".",
                    false,
                ),
                ConfigKey::secret("token", "Bearer token (a service account token)."),
                ConfigKey::new(
                    "image",
                    "Spark container image of the driver; default apache/spark:4.0.0 \
                     (spark.kubernetes.container.image in the application's conf wins).",
                    false,
                ),
                ConfigKey::new(
                    "service_account",
                    "Service account of the driver pod.",
                    false,
                ),
                drover_plugin_sdk::spark::spark_submit_key(),
                ConfigKey::new(
                    "driver_pod_template",
                    "JSON pod template merged into driver pods (Spark's settings win; \
                     its other containers are kept as sidecars).",
                    false,
                ),
                ConfigKey::new(
                    "executor_pod_template",
                    "Executor pod template: inline JSON with metadata.labels, \
                     metadata.annotations, spec.nodeSelector (passed as \
                     spark.kubernetes.executor.* properties), or the location of a \
                     template file the driver reads (spark.kubernetes.executor.podTemplateFile).",
                    false,
                ),
                ConfigKey::new(
                    "kill_grace_seconds",
                    "gracePeriodSeconds of the pod deletion that kills a driver; default 30.",
                    false,
                ),
                ConfigKey::new(
                    ui::TEMPLATE_KEY,
                    "Where a driver's Spark UI is reached (it depends on the ingress), \
                     e.g. https://spark.example.com/{namespace}/{pod}: the tracking link of \
                     cluster-mode drivers.",
                    false,
                ),
            ],
        }
    }

    fn validate(settings: &Settings, app: &Application) -> Vec<Problem> {
        let mut problems = validate::problems(settings, app);
        problems.extend(ui::problems(settings));
        problems
    }

    fn submit(
        settings: &Settings,
        key: &str,
        app: &Application,
    ) -> Result<Submitted, PluginError> {
        let ps = PodSettings::from_settings(settings)?;
        match app.deploy_mode {
            DeployMode::Client => Ok(Submitted::Local(client_launch(settings, &ps, key, app))),
            DeployMode::Cluster => submit::create_driver(&ps, key, app, now_ms(), |m, url, body| {
                send(settings, m, url, body)
            })
            .map(Submitted::Cluster),
            DeployMode::Service => Err(PluginError::Invalid(validate::SERVICE_MODE.into())),
        }
    }

    fn find(settings: &Settings, key: &str) -> Result<Option<String>, PluginError> {
        let ps = PodSettings::from_settings(settings)?;
        let selector = http::encode_component(&format!("{SUBMISSION_KEY_LABEL}={key}"));
        let url = http::join(
            &ps.api_url,
            &format!(
                "/api/v1/namespaces/{}/pods?labelSelector={selector}",
                ps.namespace
            ),
        );
        let list: Value = call(settings, Method::Get, &url, None)?.json(&url)?;
        let items = list["items"]
            .as_array()
            .ok_or_else(|| PluginError::Protocol(format!("{url} answered no items list")))?;
        let now = now_ms();
        Ok(items.iter().find_map(|p| {
            let name = p.pointer("/metadata/name").and_then(Value::as_str)?;
            Some(pod::driver_id(&ps.namespace, name, status::seen_at(p, now)))
        }))
    }

    /// Lists the backend namespace's drover driver pods
    /// (`labelSelector=spark-role=driver,drover.dev/submission-key`, in pages
    /// of [`LIST_PAGE`]) and maps each requested id from it; an id of that
    /// namespace the list does not have is what `status` makes of a 404.
    /// Ids of other namespaces are asked one by one through `status`, within a budget.
    fn status_many(
        settings: &Settings,
        ids: &[String],
    ) -> Result<Vec<Option<DriverStatus>>, PluginError> {
        let started = Instant::now();
        let ps = PodSettings::from_settings(settings)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: HashSet<&str> = ids
            .iter()
            .filter_map(|id| DriverId::parse(id, &ps.namespace).ok())
            .filter(|id| id.namespace == ps.namespace)
            .map(|id| id.name)
            .collect();
        let mut listed = HashMap::new();
        let mut complete = wanted.is_empty();
        let mut next: Option<String> = None;
        for page in 0..MAX_LIST_PAGES {
            if complete {
                break;
            }
            let mut url = http::join(
                &ps.api_url,
                &format!(
                    "/api/v1/namespaces/{}/pods?labelSelector={}&limit={LIST_PAGE}",
                    ps.namespace,
                    http::encode_component(&status::drivers_selector())
                ),
            );
            if let Some(token) = &next {
                url.push_str(&format!("&continue={}", http::encode_component(token)));
            }
            let reply = match call(settings, Method::Get, &url, None) {
                Ok(reply) => reply,
                Err(e) if page == 0 => return Err(e),
                // A later page failed (e.g. 410 Gone: the continue token
                // expired): what was listed stands; the rest is asked one by one.
                Err(_) => break,
            };
            let list: Value = reply.json(&url)?;
            let (found, token) = status::list_page(&list, &|name| wanted.contains(name), &url)?;
            listed.extend(found);
            match token {
                Some(t) if listed.len() < wanted.len() => next = Some(t),
                _ => complete = true,
            }
        }
        let statuses = status::listed_statuses(&listed, ids, &ps.namespace, complete, now_ms());
        let resolved = batch::resolve(
            ids,
            statuses,
            batch::MAX_FALLBACKS,
            batch::clock_rotation(),
            batch::window_from(started),
            |id| driver_status(settings, &ps, id),
        );
        Ok(resolved
            .into_iter()
            .zip(ids)
            .map(|(st, id)| st.map(|st| ui::with_link(st, settings, id)))
            .collect())
    }

    fn status(settings: &Settings, id: &str) -> Result<DriverStatus, PluginError> {
        let ps = PodSettings::from_settings(settings)?;
        driver_status(settings, &ps, id).map(|st| ui::with_link(st, settings, id))
    }

    fn kill(settings: &Settings, id: &str) -> Result<(), PluginError> {
        let ps = PodSettings::from_settings(settings)?;
        let id = DriverId::parse(id, &ps.namespace)?;
        let grace = settings.get_or("kill_grace_seconds", DEFAULT_KILL_GRACE_SECONDS);
        let grace: u32 = grace.parse().map_err(|_| {
            PluginError::Invalid(format!(
                "kill_grace_seconds must be a whole number, not {grace:?}"
            ))
        })?;
        let url = format!(
            "{}?gracePeriodSeconds={grace}",
            pod::pod_url(&ps, id.namespace, id.name)
        );
        // Like kubectl: executors owned by the driver pod go with it.
        let body = serde_json::json!({
            "kind": "DeleteOptions", "apiVersion": "v1",
            "gracePeriodSeconds": grace, "propagationPolicy": "Background",
        });
        call(
            settings,
            Method::Delete,
            &url,
            Some(body.to_string().into_bytes()),
        )
        .map(drop)
    }

    fn logs(
        settings: &Settings,
        id: &str,
        stream: &str,
        offset: u64,
        max_bytes: u32,
    ) -> Result<LogChunk, PluginError> {
        let ps = PodSettings::from_settings(settings)?;
        match stream {
            "stdout" => {}
            "stderr" => {
                return Err(PluginError::Unsupported(
                    "Kubernetes keeps one log per container, stdout and stderr together: \
                     it is all under stdout"
                        .into(),
                ));
            }
            other => {
                return Err(PluginError::Invalid(format!(
                    "unknown log stream {other:?}"
                )));
            }
        }
        let id = DriverId::parse(id, &ps.namespace)?;
        let url = format!(
            "{}/log?container={DRIVER_CONTAINER}&limitBytes={}",
            pod::pod_url(&ps, id.namespace, id.name),
            status::log_limit(offset, max_bytes)
        );
        match call(settings, Method::Get, &url, None) {
            Ok(reply) => Ok(status::log_chunk(&reply.body, offset)),
            // "container … is waiting to start": nothing logged yet.
            Err(PluginError::Invalid(m)) if m.contains("waiting to start") => Ok(LogChunk {
                data: Vec::new(),
                next_offset: offset,
                total: None,
            }),
            Err(e) => Err(e),
        }
    }
}

/// The driver pod's status; a 404 is a race right after the submission, else
/// a deleted pod.
fn driver_status(
    settings: &Settings,
    ps: &PodSettings,
    id: &str,
) -> Result<DriverStatus, PluginError> {
    let id = DriverId::parse(id, &ps.namespace)?;
    let url = pod::pod_url(ps, id.namespace, id.name);
    match call(settings, Method::Get, &url, None) {
        Ok(reply) => Ok(status::driver_status(&reply.json::<Value>(&url)?)),
        Err(PluginError::NotFound(_)) => Ok(status::not_found_status(
            &id.pod(),
            id.submitted_ms,
            now_ms(),
        )),
        Err(e) => Err(e),
    }
}

/// One API call with the bearer token; a non-2xx reply becomes the error its
/// `Status` object says.
fn call(
    settings: &Settings,
    method: Method,
    url: &str,
    body: Option<Vec<u8>>,
) -> Result<Response, PluginError> {
    let reply = send(settings, method, url, body)?;
    if reply.is_success() {
        Ok(reply)
    } else {
        Err(status::api_error(&reply, url))
    }
}

/// One API call with the bearer token, its reply whatever the status.
fn send(
    settings: &Settings,
    method: Method,
    url: &str,
    body: Option<Vec<u8>>,
) -> Result<Response, PluginError> {
    let bearer = settings.get("token").map(|t| format!("Bearer {t}"));
    let mut headers = vec![("accept", "application/json")];
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    if let Some(b) = &bearer {
        headers.push(("authorization", b.as_str()));
    }
    http::request(method, url, &headers, body)
}

/// Client mode: spark-submit against the API server, the driver local, with the
/// submission key on the executors as a label.
fn client_launch(
    settings: &Settings,
    ps: &PodSettings,
    key: &str,
    app: &Application,
) -> drover_plugin_sdk::LocalLaunch {
    let mut extra = vec![
        (SUBMISSION_KEY_PROPERTY.to_string(), key.to_string()),
        (
            "spark.kubernetes.namespace".to_string(),
            ps.namespace.clone(),
        ),
        (
            format!("spark.kubernetes.executor.label.{SUBMISSION_KEY_LABEL}"),
            key.to_string(),
        ),
    ];
    if let Some(image) = &ps.image {
        extra.push(("spark.kubernetes.container.image".into(), image.clone()));
    }
    match &ps.executor_template {
        Some(ExecutorTemplate::File(path)) => extra.push((
            "spark.kubernetes.executor.podTemplateFile".into(),
            path.clone(),
        )),
        Some(ExecutorTemplate::Properties(props)) => extra.extend(props.iter().cloned()),
        None => {}
    }
    // The application's own conf wins over the backend's defaults.
    extra.retain(|(k, _)| k == SUBMISSION_KEY_PROPERTY || !app.conf.iter().any(|(c, _)| c == k));
    let spark_submit = drover_plugin_sdk::spark::spark_submit_program(settings);
    spark_submit_command(
        spark_submit,
        &format!("k8s://{}", ps.api_url),
        "client",
        app,
        &extra,
    )
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

drover_plugin_sdk::export!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use drover_plugin_sdk::testing::{bare_app, settings};

    #[test]
    fn client_mode_is_spark_submit_against_the_api_server() {
        let settings = settings(&[
            ("api_url", "https://k8s:6443/"),
            ("namespace", "jobs"),
            ("spark_submit", "/bin/drover spark-submit"),
        ]);
        let ps = PodSettings::from_settings(&settings).unwrap();
        let mut app = bare_app("/a.py", DeployMode::Client);
        app.args = vec!["x".into()];
        let launch = client_launch(&settings, &ps, "drover-k1", &app);
        assert_eq!(launch.program, "/bin/drover");
        let line = launch.args.join(" ");
        assert!(
            line.starts_with("spark-submit --master k8s://https://k8s:6443 --deploy-mode client"),
            "{line}"
        );
        assert!(
            line.contains("--conf spark.kubernetes.namespace=jobs"),
            "{line}"
        );
        assert!(
            line.contains(
                "--conf spark.kubernetes.executor.label.drover.dev/submission-key=drover-k1"
            ),
            "{line}"
        );
        assert!(line.ends_with("/a.py x"), "{line}");
    }
}
