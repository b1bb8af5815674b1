//! The driver pod of a cluster-mode application, built the way Spark's
//! `KubernetesClientApplication` builds it (`BasicDriverFeatureStep`,
//! `DriverServiceFeatureStep`'s conf, `PodTemplateConfigMapStep`), with no I/O.
//!
//! Two deliberate differences from spark-submit, both so that one POST is the
//! whole submission (no ConfigMap or Service to create and clean up):
//! - Spark properties travel as `--conf k=v` arguments after `driver` instead of
//!   a `--properties-file` mounted from a ConfigMap. Spark's image entrypoint
//!   hands everything after `driver` to spark-submit, so both work the same.
//! - The driver advertises its pod IP (`spark.driver.host=$(SPARK_DRIVER_BIND_ADDRESS)`,
//!   expanded by the kubelet) instead of a headless Service name.

use drover_plugin_sdk::http;
use drover_plugin_sdk::spark::{extension, set, spark_properties};
use drover_plugin_sdk::{Application, PluginError, Settings};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The label that carries drover's submission key on the driver pod.
pub const SUBMISSION_KEY_LABEL: &str = "drover.dev/submission-key";
/// Spark's own labels and names (`Constants.scala`).
pub const APP_SELECTOR_LABEL: &str = "spark-app-selector";
pub const ROLE_LABEL: &str = "spark-role";
pub const APP_NAME_ANNOTATION: &str = "spark-app-name";
pub const DRIVER_CONTAINER: &str = "spark-kubernetes-driver";
/// The image when neither the backend nor the application names one.
pub const DEFAULT_IMAGE: &str = "apache/spark:4.0.0";
pub const DEFAULT_NAMESPACE: &str = "default";

/// Spark's `MEMORY_OVERHEAD_MIN_MIB` and overhead factors.
const MIN_OVERHEAD_MIB: u64 = 384;
const JVM_OVERHEAD_FACTOR: f64 = 0.10;
const NON_JVM_OVERHEAD_FACTOR: f64 = 0.40;
const DEFAULT_DRIVER_MEMORY_MIB: u64 = 1024;
/// A pod name (and the hostname derived from it) must fit a DNS label.
const MAX_NAME: usize = 63;
/// Spark's limit on `spark.kubernetes.executor.podNamePrefix`: `-exec-` and
/// an executor number (up to 10 digits) must still fit a DNS label.
const MAX_EXECUTOR_PREFIX: usize = MAX_NAME - 16;
/// Characters of the key's digest in a pod name (5 bits each).
const DIGEST_CHARS: usize = 16;

/// A label value: at most 63 characters of `[A-Za-z0-9._-]`, starting and
/// ending alphanumeric (or empty).
pub fn is_label_value(v: &str) -> bool {
    v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && v.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && v.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
}

/// A DNS-1123 label: a namespace, or a pod name as drover makes them.
pub fn is_dns_label(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_NAME
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !v.starts_with('-')
        && !v.ends_with('-')
}

/// Spark's app id (`spark-` and 32 hex digits), derived from drover's key so the
/// same try always gets the same id.
pub fn app_id(key: &str) -> String {
    let hex: String = key.chars().filter(char::is_ascii_hexdigit).collect();
    let hex = if hex.len() >= 32 {
        hex[hex.len() - 32..].to_ascii_lowercase()
    } else {
        format!("{:0>32}", hex.to_ascii_lowercase())
    };
    format!("spark-{hex}")
}

/// `<app name>-<digest of the key>-driver`: the same submission key always
/// names the same pod, so sending a try again is refused by the API server
/// (409 AlreadyExists) instead of starting a second driver. No clock in it.
///
/// The name minus `-driver` is Spark's executor pod name prefix, which Spark
/// wants at most [`MAX_EXECUTOR_PREFIX`] long; the app name is cut to fit.
pub fn pod_name(app_name: &str, key: &str) -> String {
    let tail = format!("-{}", key_digest(key));
    let mut prefix = String::new();
    for c in app_name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            prefix.push(c);
        } else if !prefix.ends_with('-') {
            prefix.push('-');
        }
    }
    prefix.truncate(MAX_EXECUTOR_PREFIX - tail.len());
    let prefix = prefix.trim_matches('-');
    let prefix = if prefix.is_empty() { "spark" } else { prefix };
    format!("{prefix}{tail}-driver")
}

/// The first 80 bits of the key's SHA-256 in RFC 4648 base32, lower case:
/// 16 characters a DNS label takes, and enough that two tries' keys do not
/// meet in one namespace (a clash would be refused, not adopted: see
/// [`crate::submit`]).
fn key_digest(key: &str) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let digest = Sha256::digest(key.as_bytes());
    let mut bits: u128 = 0;
    for b in &digest[..10] {
        bits = (bits << 8) | u128::from(*b);
    }
    (0..DIGEST_CHARS)
        .rev()
        .map(|i| char::from(ALPHABET[((bits >> (5 * i)) & 31) as usize]))
        .collect()
}

/// The creation time older versions of this plugin put in their pod names
/// (`<app>-<ms, hex>-<key suffix>-driver`), for ids stored before the
/// submission time moved into the id.
fn legacy_created_ms(pod_name: &str) -> Option<u64> {
    let rest = pod_name.strip_suffix("-driver")?;
    let (rest, _suffix) = rest.rsplit_once('-')?;
    let (_, millis) = rest.rsplit_once('-')?;
    u64::from_str_radix(millis, 16).ok()
}

/// A driver's id as drover keeps it: `namespace/name@ms`, the pod and when
/// it was submitted (milliseconds since the epoch).
///
/// The time is in the id because `status` gets nothing else: a 404 within
/// [`crate::status::NOT_FOUND_GRACE_MS`] of the submission is the API server
/// not showing the pod yet, later it is a deleted pod, and a deleted pod has
/// no creationTimestamp left to read. The pod name cannot carry it any more
/// (it must be the same for every send of a try). A pod name never holds an
/// `@`, so the suffix cannot be mistaken for part of it.
///
/// Older ids have no suffix: `namespace/name` (or a bare name in the
/// backend's namespace), their time read from the name as those versions
/// wrote it, or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverId<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub submitted_ms: Option<u64>,
}

impl<'a> DriverId<'a> {
    pub fn parse(id: &'a str, default_ns: &'a str) -> Result<Self, PluginError> {
        let bad =
            || PluginError::Invalid(format!("{id:?} is not a driver pod id (namespace/name@ms)"));
        let (pod, submitted_ms) = match id.split_once('@') {
            Some((pod, ms)) => (pod, Some(ms.parse::<u64>().map_err(|_| bad())?)),
            None => (id, None),
        };
        let (namespace, name) = pod.split_once('/').unwrap_or((default_ns, pod));
        if !is_dns_label(namespace) || name.is_empty() || name.contains('/') {
            return Err(bad());
        }
        Ok(DriverId {
            namespace,
            name,
            submitted_ms: submitted_ms.or_else(|| legacy_created_ms(name)),
        })
    }

    /// The pod, `namespace/name`, as messages name it.
    pub fn pod(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The id of the pod `namespace/name` submitted at `submitted_ms`.
pub fn driver_id(namespace: &str, name: &str, submitted_ms: u64) -> String {
    format!("{namespace}/{name}@{submitted_ms}")
}

/// The URL of the pod `namespace/name`.
pub fn pod_url(ps: &PodSettings, namespace: &str, name: &str) -> String {
    http::join(
        &ps.api_url,
        &format!(
            "/api/v1/namespaces/{namespace}/pods/{}",
            http::encode_component(name)
        ),
    )
}

/// What the backend settings say about every driver pod.
#[derive(Debug, Clone)]
pub struct PodSettings {
    pub api_url: String,
    pub namespace: String,
    pub image: Option<String>,
    pub service_account: Option<String>,
    pub driver_template: Option<Value>,
    pub executor_template: Option<ExecutorTemplate>,
}

impl PodSettings {
    pub fn from_settings(s: &Settings) -> Result<Self, PluginError> {
        Ok(PodSettings {
            api_url: s.require("api_url")?.trim_end_matches('/').to_string(),
            namespace: s.get_or("namespace", DEFAULT_NAMESPACE).to_string(),
            image: s.get("image").map(str::to_string),
            service_account: s.get("service_account").map(str::to_string),
            driver_template: s
                .get("driver_pod_template")
                .map(driver_template)
                .transpose()
                .map_err(PluginError::Invalid)?,
            executor_template: s
                .get("executor_pod_template")
                .map(executor_template)
                .transpose()
                .map_err(PluginError::Invalid)?,
        })
    }
}

/// Parses the driver pod template: a JSON Pod (or just its fields).
pub fn driver_template(text: &str) -> Result<Value, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("driver_pod_template is not JSON: {e}"))?;
    check_pod_shape(&v, "driver_pod_template")?;
    Ok(v)
}

fn check_pod_shape(v: &Value, what: &str) -> Result<(), String> {
    let Some(obj) = v.as_object() else {
        return Err(format!("{what} must be a JSON object (a Pod)"));
    };
    if let Some(kind) = obj.get("kind")
        && kind != "Pod"
    {
        return Err(format!("{what} has kind {kind}, expected \"Pod\""));
    }
    for (field, want_object) in [("metadata", true), ("spec", true)] {
        if let Some(f) = obj.get(field)
            && want_object
            && !f.is_object()
        {
            return Err(format!("{what}.{field} must be an object"));
        }
    }
    if let Some(c) = v.pointer("/spec/containers")
        && !c.as_array().is_some_and(|a| a.iter().all(Value::is_object))
    {
        return Err(format!(
            "{what}.spec.containers must be an array of objects"
        ));
    }
    Ok(())
}

/// The executor pod template as the driver gets it.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutorTemplate {
    /// A file the driver reads itself (in the image, or s3a://, hdfs://…):
    /// `spark.kubernetes.executor.podTemplateFile`.
    File(String),
    /// Inline JSON, translated into the equivalent Spark properties.
    Properties(Vec<(String, String)>),
}

/// Parses the executor pod template setting: inline JSON whose labels,
/// annotations and node selector become `spark.kubernetes.executor.*`
/// properties, or else the location of a template file the driver can read.
pub fn executor_template(text: &str) -> Result<ExecutorTemplate, String> {
    let text = text.trim();
    if !text.starts_with('{') {
        return Ok(ExecutorTemplate::File(text.to_string()));
    }
    let v: Value = serde_json::from_str(text)
        .map_err(|e| format!("executor_pod_template is not JSON: {e}"))?;
    check_pod_shape(&v, "executor_pod_template")?;
    let mut props = Vec::new();
    let mut unsupported = Vec::new();
    for (field, value) in v.as_object().into_iter().flatten() {
        match field.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                for (k, v) in value.as_object().into_iter().flatten() {
                    let prefix = match k.as_str() {
                        "labels" => "spark.kubernetes.executor.label.",
                        "annotations" => "spark.kubernetes.executor.annotation.",
                        other => {
                            unsupported.push(format!("metadata.{other}"));
                            continue;
                        }
                    };
                    string_map(v, &format!("metadata.{k}"), prefix, &mut props)?;
                }
            }
            "spec" => {
                for (k, v) in value.as_object().into_iter().flatten() {
                    match k.as_str() {
                        "nodeSelector" => string_map(
                            v,
                            "spec.nodeSelector",
                            "spark.kubernetes.executor.node.selector.",
                            &mut props,
                        )?,
                        "serviceAccountName" => props.push((
                            "spark.kubernetes.authenticate.executor.serviceAccountName".into(),
                            v.as_str().unwrap_or_default().to_string(),
                        )),
                        other => unsupported.push(format!("spec.{other}")),
                    }
                }
            }
            other => unsupported.push(other.to_string()),
        }
    }
    if !unsupported.is_empty() {
        return Err(format!(
            "executor_pod_template: {} cannot be passed to the driver inline (only \
             metadata.labels, metadata.annotations, spec.nodeSelector and \
             spec.serviceAccountName can); give the location of a template file the \
             driver can read instead (local:///opt/spark/conf/executor.json, s3a://…)",
            unsupported.join(", ")
        ));
    }
    Ok(ExecutorTemplate::Properties(props))
}

fn string_map(
    v: &Value,
    what: &str,
    prefix: &str,
    props: &mut Vec<(String, String)>,
) -> Result<(), String> {
    let map = v
        .as_object()
        .ok_or_else(|| format!("executor_pod_template.{what} must be an object"))?;
    for (k, v) in map {
        let v = v
            .as_str()
            .ok_or_else(|| format!("executor_pod_template.{what}.{k} must be a string"))?;
        props.push((format!("{prefix}{k}"), v.to_string()));
    }
    Ok(())
}

/// The properties under `prefix` in `props`, with the prefix cut.
fn with_prefix<'a>(
    props: &'a [(String, String)],
    prefix: &'a str,
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    props
        .iter()
        .filter_map(move |(k, v)| Some((k.strip_prefix(prefix)?, v.as_str())))
        .filter(|(k, _)| !k.is_empty())
}

fn get<'a>(props: &'a [(String, String)], key: &str) -> Option<&'a str> {
    props
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Spark's `Utils.memoryStringToMb`, for a MiB count: `512m`, `2g`, `1024` (MiB).
/// No `p` unit: a size this plugin does not read falls back to the default.
pub fn memory_mib(s: &str) -> Option<u64> {
    use drover_spark_units::{Memory, Unit};
    Memory::parse(s).filter(|m| m.unit != Unit::Pib)?.mib()
}

/// The driver container's memory, `BasicDriverFeatureStep` style: the heap plus
/// `max(factor × heap, 384 MiB)` (factor 0.1, or 0.4 for Python and R), or
/// `spark.driver.memoryOverhead` when set.
pub fn driver_memory_mib(props: &[(String, String)], resource: &str) -> u64 {
    let heap = get(props, "spark.driver.memory")
        .and_then(memory_mib)
        .unwrap_or(DEFAULT_DRIVER_MEMORY_MIB);
    let factor = get(props, "spark.driver.memoryOverheadFactor")
        .or_else(|| get(props, "spark.kubernetes.memoryOverheadFactor"))
        .and_then(|f| f.parse::<f64>().ok())
        .unwrap_or(match extension(resource).as_deref() {
            Some("py" | "r") => NON_JVM_OVERHEAD_FACTOR,
            _ => JVM_OVERHEAD_FACTOR,
        });
    let overhead = get(props, "spark.driver.memoryOverhead")
        .and_then(memory_mib)
        .unwrap_or_else(|| ((factor * heap as f64) as u64).max(MIN_OVERHEAD_MIB));
    heap + overhead
}

/// A plain local path names a file in the image, as `local://` does for Spark.
pub fn in_image(path: &str) -> String {
    if path.starts_with('/') {
        format!("local://{path}")
    } else {
        path.to_string()
    }
}

/// The driver pod for `app`: `POST /api/v1/namespaces/{ns}/pods` with this body.
pub fn driver_pod(ps: &PodSettings, key: &str, app: &Application) -> Result<Value, PluginError> {
    if !is_label_value(key) {
        return Err(PluginError::Invalid(format!(
            "submission key {key:?} cannot be a Kubernetes label value"
        )));
    }
    let name = pod_name(&app.name, key);
    let app_id = app_id(key);
    let mut props = spark_properties(app);
    let image = get(&props, "spark.kubernetes.driver.container.image")
        .or_else(|| get(&props, "spark.kubernetes.container.image"))
        .or(ps.image.as_deref())
        .unwrap_or(DEFAULT_IMAGE)
        .to_string();
    let service_account = get(
        &props,
        "spark.kubernetes.authenticate.driver.serviceAccountName",
    )
    .map(str::to_string)
    .or_else(|| ps.service_account.clone());
    let memory = driver_memory_mib(&props, &app.resource);
    let request_cores = get(&props, "spark.kubernetes.driver.request.cores")
        .or_else(|| get(&props, "spark.driver.cores"))
        .unwrap_or("1")
        .to_string();
    let limit_cores = get(&props, "spark.kubernetes.driver.limit.cores").map(str::to_string);

    // What the driver needs to know about where it runs (Spark sets the same).
    for (k, v) in [
        ("spark.app.name", app.name.as_str()),
        ("spark.app.id", app_id.as_str()),
        ("spark.kubernetes.namespace", ps.namespace.as_str()),
        ("spark.kubernetes.driver.pod.name", name.as_str()),
        ("spark.kubernetes.container.image", image.as_str()),
        ("spark.kubernetes.submitInDriver", "true"),
        (
            "spark.kubernetes.executor.podNamePrefix",
            name.trim_end_matches("-driver"),
        ),
        ("spark.driver.host", "$(SPARK_DRIVER_BIND_ADDRESS)"),
    ] {
        set(&mut props, k, v);
    }
    if let Some(sa) = &service_account {
        set(
            &mut props,
            "spark.kubernetes.authenticate.driver.serviceAccountName",
            sa,
        );
    }
    match &ps.executor_template {
        Some(ExecutorTemplate::File(path)) => set(
            &mut props,
            "spark.kubernetes.executor.podTemplateFile",
            path,
        ),
        Some(ExecutorTemplate::Properties(extra)) => {
            for (k, v) in extra {
                // The application's own conf wins over the backend's template.
                if get(&props, k).is_none() {
                    set(&mut props, k, v);
                }
            }
        }
        None => {}
    }

    // spark-submit's arguments, after the entrypoint's `driver` verb.
    let mut args = vec!["driver".to_string()];
    let mut push = |flag: &str, value: String| {
        args.push(flag.to_string());
        args.push(value);
    };
    push("--master", format!("k8s://{}", ps.api_url));
    push("--deploy-mode", "client".into());
    // Spark 3.3+ (SPARK-25355): the driver's spark-submit impersonates.
    if let Some(user) = &app.proxy_user {
        push("--proxy-user", user.clone());
    }
    for (k, v) in &props {
        push("--conf", format!("{k}={v}"));
    }
    for (flag, list) in [
        ("--jars", &app.jars),
        ("--files", &app.files),
        ("--py-files", &app.py_files),
    ] {
        if !list.is_empty() {
            push(
                flag,
                list.iter()
                    .map(|p| in_image(p))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
    }
    if let Some(class) = app.main_class.as_deref().filter(|c| !c.trim().is_empty()) {
        push("--class", class.to_string());
    }
    args.push(in_image(&app.resource));
    args.extend(app.args.iter().cloned());

    let mut env = vec![
        // Spark sets the submitting user here; under --proxy-user, the proxy.
        json!({"name": "SPARK_USER", "value": app.proxy_user.as_deref().unwrap_or("drover")}),
        json!({"name": "SPARK_APPLICATION_ID", "value": app_id}),
        json!({"name": "SPARK_DRIVER_BIND_ADDRESS",
               "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}),
    ];
    for (k, v) in app
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(with_prefix(&props, "spark.kubernetes.driverEnv."))
    {
        env.retain(|e| e["name"] != k);
        env.push(json!({"name": k, "value": v}));
    }

    let mut limits = json!({"memory": format!("{memory}Mi")});
    if let Some(c) = limit_cores {
        limits["cpu"] = json!(c);
    }
    let container = json!({
        "name": DRIVER_CONTAINER,
        "image": image,
        "imagePullPolicy": get(&props, "spark.kubernetes.container.image.pullPolicy").unwrap_or("IfNotPresent"),
        "args": args,
        "env": env,
        "ports": [
            {"name": "driver-rpc-port", "containerPort": 7078, "protocol": "TCP"},
            {"name": "blockmanager", "containerPort": 7079, "protocol": "TCP"},
            {"name": "spark-ui", "containerPort": 4040, "protocol": "TCP"},
        ],
        "resources": {
            "requests": {"cpu": request_cores, "memory": format!("{memory}Mi")},
            "limits": limits,
        },
    });

    let mut labels = Map::new();
    for (k, v) in with_prefix(&props, "spark.kubernetes.driver.label.") {
        labels.insert(k.into(), json!(v));
    }
    labels.insert(APP_SELECTOR_LABEL.into(), json!(app_id));
    labels.insert(ROLE_LABEL.into(), json!("driver"));
    labels.insert(SUBMISSION_KEY_LABEL.into(), json!(key));
    let mut annotations = Map::new();
    for (k, v) in with_prefix(&props, "spark.kubernetes.driver.annotation.") {
        annotations.insert(k.into(), json!(v));
    }
    annotations.insert(APP_NAME_ANNOTATION.into(), json!(app.name));
    let mut node_selector = Map::new();
    for prefix in [
        "spark.kubernetes.node.selector.",
        "spark.kubernetes.driver.node.selector.",
    ] {
        for (k, v) in with_prefix(&props, prefix) {
            node_selector.insert(k.into(), json!(v));
        }
    }

    let mut spec = json!({"restartPolicy": "Never", "containers": [container]});
    if let Some(sa) = service_account {
        spec["serviceAccountName"] = json!(sa);
    }
    if !node_selector.is_empty() {
        spec["nodeSelector"] = Value::Object(node_selector);
    }
    let ours = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ps.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
    });
    Ok(match &ps.driver_template {
        Some(template) => merge_template(template.clone(), ours),
        None => ours,
    })
}

/// Spark's template handling: the template is the base; Spark's own settings
/// win field by field; the driver container is the template's container named
/// `spark-kubernetes-driver` (or its first), and its other containers
/// (sidecars) are kept.
pub fn merge_template(mut template: Value, ours: Value) -> Value {
    let mut template_containers = template
        .pointer_mut("/spec/containers")
        .map(Value::take)
        .and_then(|c| match c {
            Value::Array(a) => Some(a),
            _ => None,
        })
        .unwrap_or_default();
    let driver_at = template_containers
        .iter()
        .position(|c| c["name"] == DRIVER_CONTAINER)
        .unwrap_or(0);
    let mut ours = ours;
    let our_container = ours
        .pointer_mut("/spec/containers/0")
        .map(Value::take)
        .unwrap_or(Value::Null);
    let driver = if template_containers.is_empty() {
        our_container
    } else {
        let mut base = template_containers.remove(driver_at);
        // Environment variables add up (ours win by name), like Spark's.
        let mut env: Vec<Value> = base["env"].as_array().cloned().unwrap_or_default();
        for e in our_container["env"].as_array().into_iter().flatten() {
            env.retain(|x| x["name"] != e["name"]);
            env.push(e.clone());
        }
        deep_merge(&mut base, our_container);
        base["env"] = Value::Array(env);
        base
    };
    let mut containers = vec![driver];
    containers.extend(template_containers);
    deep_merge(&mut template, ours);
    template["spec"]["containers"] = Value::Array(containers);
    template
}

/// `over` onto `base`: objects merge key by key, anything else replaces.
fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                deep_merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_plugin_sdk::{DeployMode, Resources};

    pub fn app() -> Application {
        Application {
            name: "Nightly ETL".into(),
            resource: "/jobs/etl.py".into(),
            main_class: None,
            args: vec!["--day".into(), "2026-01-01".into()],
            conf: vec![("spark.sql.shuffle.partitions".into(), "8".into())],
            deploy_mode: DeployMode::Cluster,
            driver: Resources {
                memory_mb: Some(2048),
                cores: Some(2),
                instances: None,
            },
            executor: Resources {
                memory_mb: None,
                cores: None,
                instances: Some(3),
            },
            jars: vec![],
            files: vec![],
            py_files: vec!["/jobs/deps.zip".into()],
            env: vec![("TZ".into(), "UTC".into())],
            proxy_user: None,
        }
    }

    const KEY: &str = "drover-0123456789abcdef0123456789abcdef";

    fn settings() -> PodSettings {
        PodSettings {
            api_url: "https://k8s.example:6443".into(),
            namespace: "spark".into(),
            image: Some("registry/spark:4".into()),
            service_account: Some("spark-driver".into()),
            driver_template: None,
            executor_template: None,
        }
    }

    #[test]
    fn driver_pod_has_sparks_labels_container_and_resources() {
        let pod = driver_pod(&settings(), KEY, &app()).unwrap();
        let name = pod["metadata"]["name"].as_str().unwrap();
        assert_eq!(name, "nightly-etl-x3bxbq5cebboqvh7-driver");
        assert_eq!(pod["metadata"]["namespace"], "spark");
        let labels = &pod["metadata"]["labels"];
        assert_eq!(
            labels[APP_SELECTOR_LABEL],
            "spark-0123456789abcdef0123456789abcdef"
        );
        assert_eq!(labels[ROLE_LABEL], "driver");
        assert_eq!(labels[SUBMISSION_KEY_LABEL], KEY);
        assert_eq!(
            pod["metadata"]["annotations"][APP_NAME_ANNOTATION],
            "Nightly ETL"
        );
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        assert_eq!(pod["spec"]["serviceAccountName"], "spark-driver");
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["name"], DRIVER_CONTAINER);
        assert_eq!(c["image"], "registry/spark:4");
        // 2048 MiB heap + max(0.4 × 2048, 384) for Python.
        assert_eq!(c["resources"]["requests"]["memory"], "2867Mi");
        assert_eq!(c["resources"]["limits"]["memory"], "2867Mi");
        assert_eq!(c["resources"]["requests"]["cpu"], "2");
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(
            &args[..5],
            [
                "driver",
                "--master",
                "k8s://https://k8s.example:6443",
                "--deploy-mode",
                "client"
            ]
        );
        assert!(
            args.contains(
                &"spark.kubernetes.driver.pod.name=nightly-etl-x3bxbq5cebboqvh7-driver"
            )
        );
        assert!(args.contains(&"spark.driver.host=$(SPARK_DRIVER_BIND_ADDRESS)"));
        assert!(args.contains(&"spark.executor.instances=3"));
        assert_eq!(
            &args[args.len() - 5..],
            [
                "--py-files",
                "local:///jobs/deps.zip",
                "local:///jobs/etl.py",
                "--day",
                "2026-01-01"
            ]
        );
        let env = c["env"].as_array().unwrap();
        assert!(env.iter().any(|e| e["name"] == "SPARK_DRIVER_BIND_ADDRESS"
            && e["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"));
        assert!(env.iter().any(|e| e["name"] == "TZ" && e["value"] == "UTC"));
    }

    #[test]
    fn jvm_drivers_get_the_small_overhead_and_the_default_image() {
        let mut a = app();
        a.resource = "local:///opt/app.jar".into();
        a.main_class = Some("com.example.Main".into());
        a.driver.memory_mb = None;
        let mut s = settings();
        s.image = None;
        let pod = driver_pod(&s, KEY, &a).unwrap();
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["resources"]["limits"]["memory"], "1408Mi");
        assert_eq!(c["image"], DEFAULT_IMAGE);
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let class = args.iter().position(|a| *a == "--class").unwrap();
        assert_eq!(
            &args[class..class + 3],
            ["--class", "com.example.Main", "local:///opt/app.jar"]
        );
    }

    #[test]
    fn driver_template_is_the_base_and_sparks_settings_win() {
        let mut s = settings();
        s.driver_template = Some(
            driver_template(
                r#"{"metadata":{"labels":{"team":"data","spark-role":"x"}},
                    "spec":{"nodeSelector":{"eks.amazonaws.com/capacityType":"ON_DEMAND"},
                            "tolerations":[{"key":"spark","operator":"Exists"}],
                            "restartPolicy":"Always",
                            "containers":[{"name":"sidecar","image":"fluent-bit"},
                                          {"name":"spark-kubernetes-driver","env":[{"name":"A","value":"1"}],
                                           "volumeMounts":[{"name":"v","mountPath":"/v"}]}]}}"#,
            )
            .unwrap(),
        );
        let pod = driver_pod(&s, KEY, &app()).unwrap();
        assert_eq!(pod["metadata"]["labels"]["team"], "data");
        assert_eq!(pod["metadata"]["labels"]["spark-role"], "driver");
        assert_eq!(
            pod["spec"]["nodeSelector"]["eks.amazonaws.com/capacityType"],
            "ON_DEMAND"
        );
        assert_eq!(pod["spec"]["tolerations"][0]["key"], "spark");
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        let containers = pod["spec"]["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 2);
        assert_eq!(containers[0]["name"], DRIVER_CONTAINER);
        assert_eq!(containers[0]["volumeMounts"][0]["mountPath"], "/v");
        assert!(
            containers[0]["env"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["name"] == "A")
        );
        assert!(
            containers[0]["env"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["name"] == "TZ")
        );
        assert_eq!(containers[1]["name"], "sidecar");
    }

    #[test]
    fn executor_template_becomes_properties_or_a_template_file() {
        let mut s = settings();
        s.executor_template = Some(
            executor_template(
                r#"{"spec":{"nodeSelector":{"eks.amazonaws.com/capacityType":"SPOT"}}}"#,
            )
            .unwrap(),
        );
        let pod = driver_pod(&s, KEY, &app()).unwrap();
        let args = pod["spec"]["containers"][0]["args"].to_string();
        assert!(
            args.contains(
                "spark.kubernetes.executor.node.selector.eks.amazonaws.com/capacityType=SPOT"
            ),
            "{args}"
        );
        assert_eq!(
            executor_template("s3a://bucket/executor.yaml").unwrap(),
            ExecutorTemplate::File("s3a://bucket/executor.yaml".into())
        );
        let err = executor_template(r#"{"spec":{"tolerations":[]}}"#).unwrap_err();
        assert!(err.contains("spec.tolerations"), "{err}");
        assert!(driver_template("[1]").is_err());
        assert!(driver_template(r#"{"kind":"Service"}"#).is_err());
        assert!(driver_template("{nope").is_err());
    }

    #[test]
    fn the_same_key_names_the_same_pod_and_no_clock_is_in_it() {
        // SHA-256 of KEY, its first 80 bits in lower-case base32 (RFC 4648).
        assert_eq!(pod_name("Nightly ETL", KEY), "nightly-etl-x3bxbq5cebboqvh7-driver");
        assert_eq!(pod_name("Nightly ETL", KEY), pod_name("Nightly ETL", KEY));
        let a = driver_pod(&settings(), KEY, &app()).unwrap();
        let b = driver_pod(&settings(), KEY, &app()).unwrap();
        assert_eq!(a, b, "sending a try again sends the same pod");
        // Keys that differ anywhere, not only at the end, name other pods.
        let keys = [
            "drover-0123456789abcdef0123456789abcdef",
            "drover-1123456789abcdef0123456789abcdef",
            "drover-0123456789abcdef0123456789abcdee",
            "drover-0123456789abcdef1123456789abcdef",
            "drover-k1",
        ];
        let names: std::collections::HashSet<String> =
            keys.iter().map(|k| pod_name("etl", k)).collect();
        assert_eq!(names.len(), keys.len(), "{names:?}");
    }

    #[test]
    fn names_fit_a_dns_label_and_sparks_executor_prefix() {
        for app_name in [
            "x".repeat(100),
            "--".to_string(),
            "Ünïcode ✓ app".to_string(),
            "a_b.c".to_string(),
            "9lives".to_string(),
            String::new(),
        ] {
            let name = pod_name(&app_name, KEY);
            assert!(is_dns_label(&name), "{app_name:?}: {name}");
            let prefix = name.strip_suffix("-driver").unwrap();
            assert!(prefix.len() <= 47, "Spark refuses a longer executor prefix: {prefix}");
            assert!(prefix.ends_with("-x3bxbq5cebboqvh7"), "{name}");
        }
        assert_eq!(pod_name("--", KEY), "spark-x3bxbq5cebboqvh7-driver");
        assert_eq!(pod_name("a_b.c", KEY), "a-b-c-x3bxbq5cebboqvh7-driver");
        assert_eq!(pod_name(&"x".repeat(100), KEY).len(), 54);
        assert!(is_label_value(KEY));
        assert!(!is_label_value("-x"));
        assert!(!is_label_value(&"a".repeat(64)));
    }

    #[test]
    fn ids_carry_the_submission_time_and_older_ids_still_parse() {
        let id = driver_id("ns", "etl-x3bxbq5cebboqvh7-driver", 1_767_225_600_000);
        assert_eq!(id, "ns/etl-x3bxbq5cebboqvh7-driver@1767225600000");
        let parsed = DriverId::parse(&id, "d").unwrap();
        assert_eq!(
            (parsed.namespace, parsed.name, parsed.submitted_ms),
            ("ns", "etl-x3bxbq5cebboqvh7-driver", Some(1_767_225_600_000))
        );
        assert_eq!(parsed.pod(), "ns/etl-x3bxbq5cebboqvh7-driver");
        let bare = DriverId::parse("p@5", "d").unwrap();
        assert_eq!((bare.namespace, bare.name, bare.submitted_ms), ("d", "p", Some(5)));
        // Ids stored by older versions: no suffix; the time was in the name.
        let old = DriverId::parse("spark/nightly-etl-19b76daa800-89abcdef-driver", "d").unwrap();
        assert_eq!(old.name, "nightly-etl-19b76daa800-89abcdef-driver");
        assert_eq!(old.submitted_ms, Some(1_767_225_600_000));
        let other = DriverId::parse("ns/p", "d").unwrap();
        assert_eq!((other.namespace, other.name, other.submitted_ms), ("ns", "p", None));
        assert_eq!(DriverId::parse("someone-elses-pod", "d").unwrap().submitted_ms, None);
        assert!(DriverId::parse("Bad NS/p", "d").is_err());
        assert!(DriverId::parse("ns/p@soon", "d").is_err());
        assert!(DriverId::parse("ns/@5", "d").is_err());
        assert!(DriverId::parse("ns/a/b", "d").is_err());
    }
}
