//! A Kubernetes API server with one node, as far as pods go.
//!
//! It serves what Spark's submission client, drover's kubernetes plugin,
//! `kubectl get|logs|delete pod` and the PyPI `kubernetes` client use:
//!
//! - discovery: `/version`, `/api` (APIVersions), `/api/v1` (APIResourceList),
//!   `/apis` (APIGroupList, empty);
//! - core/v1 pods: create, get, list and watch (`labelSelector`,
//!   `fieldSelector`, `resourceVersion`, `timeoutSeconds`), delete
//!   (`gracePeriodSeconds`, graceful: `deletionTimestamp` first, gone once the
//!   containers stopped), and the `log` subresource (`container`,
//!   `limitBytes`, `tailLines`);
//! - `Status` objects for every error, with the real reasons and codes, and
//!   server-side `Table`s when a client asks for them (kubectl does).
//!
//! Each container runs as a local process through [`crate::process`]: Spark's
//! `driver …` arguments (the image entrypoint's verb) are read as spark-submit's
//! and run like the local shim runs them; any other `command`/`args` is exec'd
//! as is, after the kubelet's `$(VAR)` expansion. stdout and stderr go to one
//! log per container, as the kubelet keeps them.
//!
//! Deliberate differences: one node that fits everything (node selectors,
//! affinities, tolerations and resource requests are kept but never stop a pod
//! from being scheduled); images are not pulled; `restartPolicy` Always and
//! OnFailure restart after 1 s instead of the kubelet's back-off; `follow`,
//! `sinceTime`/`sinceSeconds`, `timestamps` and `previous` on the log endpoint
//! are ignored; no admission, no ServiceAccount tokens, no ConfigMap/Secret
//! volumes; a bearer token, when configured, is the only credential.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher as _, Hasher as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::process::{self, App, AppKind, LaunchPlan, Spawner};
use crate::submit::SubmitArgs;
use crate::SubmissionRecord;
use crate::stand_in::{Context, Drivers, StandIn};

/// The label drover's plugin puts its submission key in.
pub const SUBMISSION_KEY_LABEL: &str = "drover.dev/submission-key";
/// The one node every pod runs on.
pub const NODE_NAME: &str = "devcluster";
/// The address pods and the node have.
const POD_IP: &str = "127.0.0.1";
/// The Kubernetes version the server claims.
const MINOR: &str = "32";
/// Watch events kept for resuming a watch from a resourceVersion.
const HISTORY: usize = 4096;
const DEFAULT_GRACE_SECONDS: u64 = 30;
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// A standalone API server for tests: the stand-in alone, optionally
/// requiring a bearer token.
pub struct ApiServer {
    addr: SocketAddr,
    api: Arc<Api>,
    spawner: Arc<Spawner>,
    cancel: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

impl ApiServer {
    /// Serve on `bind` with pods' work dirs under `work_dir`; every request must
    /// carry `Authorization: Bearer <token>` when `token` is set.
    pub async fn start(
        bind: SocketAddr,
        work_dir: &Path,
        token: Option<String>,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let spawner = Arc::new(Spawner::start(tokio::runtime::Handle::current())?);
        let cancel = CancellationToken::new();
        let ctx = Context {
            addr,
            work_dir: work_dir.to_path_buf(),
            spawner: spawner.clone(),
            cancel: cancel.child_token(),
        };
        let api = Arc::new(Api::new(&ctx, token));
        let app = router(api.clone());
        let stop = cancel.clone();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(err) = serve.await {
                warn!(error = %err, "kubernetes stand-in stopped with an error");
            }
        });
        Ok(Self {
            addr,
            api,
            spawner,
            cancel,
            server,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn submissions(&self) -> Vec<SubmissionRecord> {
        self.api.lock().submissions.clone()
    }

    /// Kill every pod's processes, wait until reaped, stop serving.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.api.drivers.shutdown().await;
        self.spawner.stop();
        self.server.abort();
    }
}

pub(crate) fn start(ctx: &Context) -> anyhow::Result<(Arc<dyn StandIn>, Router)> {
    let api = Arc::new(Api::new(ctx, None));
    Ok((api.clone(), router(api)))
}

/// One watch event as it goes out: `{"type": …, "object": pod}`.
#[derive(Debug, Clone)]
struct Event {
    rv: u64,
    kind: &'static str,
    pod: Value,
}

/// A pod and what runs it.
struct PodEntry {
    /// The object as the API shows it (metadata, spec, status).
    pod: Value,
    /// Process group of each running container, by container name.
    pids: BTreeMap<String, u32>,
    /// Cancelled by a delete: the containers stop within `grace`.
    stop: CancellationToken,
    grace: Duration,
    /// The containers' processes are all gone (or never started).
    done: bool,
    dir: PathBuf,
}

#[derive(Default)]
struct ApiState {
    rv: u64,
    pods: BTreeMap<(String, String), PodEntry>,
    history: VecDeque<Event>,
    submissions: Vec<SubmissionRecord>,
}

struct Api {
    addr: SocketAddr,
    work_dir: PathBuf,
    token: Option<String>,
    spawner: Arc<Spawner>,
    drivers: Drivers,
    state: Mutex<ApiState>,
    events: broadcast::Sender<Event>,
}

impl Api {
    fn new(ctx: &Context, token: Option<String>) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            addr: ctx.addr,
            work_dir: ctx.work_dir.clone(),
            token,
            spawner: ctx.spawner.clone(),
            drivers: Drivers::new(ctx.cancel.clone()),
            state: Mutex::default(),
            events,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ApiState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bumps the resourceVersion, stamps it on the pod, records and sends the event.
    fn publish(
        st: &mut ApiState,
        events: &broadcast::Sender<Event>,
        kind: &'static str,
        pod: &mut Value,
    ) {
        st.rv += 1;
        pod["metadata"]["resourceVersion"] = json!(st.rv.to_string());
        let event = Event {
            rv: st.rv,
            kind,
            pod: pod.clone(),
        };
        st.history.push_back(event.clone());
        if st.history.len() > HISTORY {
            st.history.pop_front();
        }
        let _ = events.send(event);
    }

    /// Changes a pod's status and tells the watchers.
    fn update(&self, key: &(String, String), change: impl FnOnce(&mut PodEntry)) {
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(entry) = st.pods.get_mut(key) else {
            return;
        };
        change(entry);
        set_phase(&mut entry.pod);
        let mut pod = entry.pod.clone();
        Self::publish(st, &self.events, "MODIFIED", &mut pod);
        if let Some(entry) = st.pods.get_mut(key) {
            entry.pod["metadata"]["resourceVersion"] = pod["metadata"]["resourceVersion"].clone();
        }
    }

    /// Removes a pod for good (the end of a graceful delete).
    fn remove(&self, key: &(String, String)) {
        let mut guard = self.lock();
        let st = &mut *guard;
        if let Some(mut entry) = st.pods.remove(key) {
            Self::publish(st, &self.events, "DELETED", &mut entry.pod);
            info!(pod = %format!("{}/{}", key.0, key.1), "pod deleted");
        }
    }

    fn create(self: &Arc<Self>, ns: &str, body: &[u8]) -> Result<Value, ApiError> {
        let mut pod: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request was in an unknown format: {e}"
            ))
        })?;
        if !pod.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a Pod object",
            ));
        }
        if let Some(kind) = pod.get("kind").and_then(Value::as_str)
            && kind != "Pod"
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data (v1) does not match the expected kind Pod: got {kind}"
            )));
        }
        if !pod["metadata"].is_object() {
            pod["metadata"] = json!({});
        }
        if let Some(body_ns) = pod["metadata"]["namespace"].as_str()
            && body_ns != ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let name = match (
            pod["metadata"]["name"].as_str(),
            pod["metadata"]["generateName"].as_str(),
        ) {
            (Some(n), _) if !n.is_empty() => n.to_string(),
            (_, Some(g)) if !g.is_empty() => format!("{g}{}", random_suffix()),
            _ => {
                return Err(ApiError::invalid(
                    "",
                    "metadata.name",
                    "Required value: name or generateName is required",
                ));
            }
        };
        if !is_dns_subdomain(&name) {
            return Err(ApiError::invalid(
                &name,
                "metadata.name",
                &format!(
                    "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case \
                 alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                ),
            ));
        }
        let containers = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if containers.is_empty() {
            return Err(ApiError::invalid(
                &name,
                "spec.containers",
                "Required value",
            ));
        }
        for (i, c) in containers.iter().enumerate() {
            if c["name"].as_str().is_none_or(str::is_empty) {
                return Err(ApiError::invalid(
                    &name,
                    &format!("spec.containers[{i}].name"),
                    "Required value",
                ));
            }
            if c["image"].as_str().is_none_or(str::is_empty) {
                return Err(ApiError::invalid(
                    &name,
                    &format!("spec.containers[{i}].image"),
                    "Required value",
                ));
            }
        }
        let now = Utc::now();
        let meta = &mut pod["metadata"];
        meta["name"] = json!(name);
        meta["namespace"] = json!(ns);
        meta["uid"] = json!(uid());
        meta["creationTimestamp"] = json!(timestamp(now));
        let spec = &mut pod["spec"];
        for (k, v) in [
            ("restartPolicy", json!("Always")),
            (
                "terminationGracePeriodSeconds",
                json!(DEFAULT_GRACE_SECONDS),
            ),
            ("dnsPolicy", json!("ClusterFirst")),
            ("schedulerName", json!("default-scheduler")),
            ("serviceAccountName", json!("default")),
        ] {
            if spec.get(k).is_none_or(Value::is_null) {
                spec[k] = v;
            }
        }
        pod["status"] = json!({"phase": "Pending", "qosClass": qos_class(&containers)});
        if let Some(o) = pod.as_object_mut() {
            o.insert("apiVersion".into(), json!("v1"));
            o.insert("kind".into(), json!("Pod"));
        }

        let key = (ns.to_string(), name.clone());
        let dir = self.work_dir.join(ns).join(&name);
        let stop = self.drivers.cancel.child_token();
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            if st.pods.contains_key(&key) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "AlreadyExists",
                    format!("pods {name:?} already exists"),
                    Some(&name),
                ));
            }
            Self::publish(st, &self.events, "ADDED", &mut pod);
            st.submissions.push(SubmissionRecord {
                manager: "kubernetes",
                submission_id: format!("{ns}/{name}"),
                app_name: pod
                    .pointer("/metadata/annotations/spark-app-name")
                    .and_then(Value::as_str)
                    .unwrap_or(&name)
                    .to_string(),
                submission_key: pod
                    .pointer("/metadata/labels")
                    .and_then(|l| l.get(SUBMISSION_KEY_LABEL))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                received_at: now,
            });
            st.pods.insert(
                key.clone(),
                PodEntry {
                    pod: pod.clone(),
                    pids: BTreeMap::new(),
                    stop: stop.clone(),
                    grace: Duration::from_secs(DEFAULT_GRACE_SECONDS),
                    done: false,
                    dir: dir.clone(),
                },
            );
        }
        info!(pod = %format!("{ns}/{name}"), "pod created");
        let api = self.clone();
        self.drivers
            .spawn(async move { api.run_pod(key, dir, stop).await });
        Ok(pod)
    }

    /// The kubelet: schedule, start every container, follow them to the end.
    async fn run_pod(
        self: Arc<Self>,
        key: (String, String),
        dir: PathBuf,
        stop: CancellationToken,
    ) {
        let now = timestamp(Utc::now());
        let mut containers = Vec::new();
        self.update(&key, |e| {
            let pod = &mut e.pod;
            pod["spec"]["nodeName"] = json!(NODE_NAME);
            pod["status"]["hostIP"] = json!(POD_IP);
            pod["status"]["hostIPs"] = json!([{"ip": POD_IP}]);
            pod["status"]["podIP"] = json!(POD_IP);
            pod["status"]["podIPs"] = json!([{"ip": POD_IP}]);
            pod["status"]["startTime"] = json!(now);
            containers = pod["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            pod["status"]["containerStatuses"] = Value::Array(
                containers
                    .iter()
                    .map(|c| {
                        container_status(c, json!({"waiting": {"reason": "ContainerCreating"}}), 0)
                    })
                    .collect(),
            );
        });
        let runs = containers
            .iter()
            .map(|c| self.run_container(&key, &dir, c, &stop));
        futures::future::join_all(runs).await;
        let deleting = {
            let mut st = self.lock();
            st.pods.get_mut(&key).map(|e| {
                e.done = true;
                e.pod.pointer("/metadata/deletionTimestamp").is_some()
            })
        };
        if deleting == Some(true) {
            self.remove(&key);
        }
    }

    /// One container, restarted as its pod's restartPolicy says, until it is
    /// done or the pod is deleted.
    async fn run_container(
        &self,
        key: &(String, String),
        pod_dir: &Path,
        spec: &Value,
        stop: &CancellationToken,
    ) {
        let name = spec["name"].as_str().unwrap_or_default().to_string();
        let dir = pod_dir.join(&name);
        let (policy, env) = {
            let st = self.lock();
            let Some(e) = st.pods.get(key) else { return };
            (
                e.pod["spec"]["restartPolicy"]
                    .as_str()
                    .unwrap_or("Always")
                    .to_string(),
                container_env(&e.pod, spec),
            )
        };
        let mut restarts = 0u32;
        loop {
            if stop.is_cancelled() {
                return;
            }
            let started = timestamp(Utc::now());
            let (code, reason, message) = match self.launch(&dir, spec, &env).await {
                Err((code, reason, message)) => {
                    // What the container printed before dying is its log.
                    let logged = std::fs::create_dir_all(&dir).and_then(|()| {
                        use std::io::Write as _;
                        let mut log = std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(dir.join("log"))?;
                        writeln!(log, "{message}")
                    });
                    if let Err(err) = logged {
                        warn!(container = %name, error = %err, "cannot write the container log");
                    }
                    (code, reason, Some(message))
                }
                Ok(mut child) => {
                    let pid = child.id();
                    self.update(key, |e| {
                        if let Some(pid) = pid {
                            e.pids.insert(name.clone(), pid);
                        }
                        set_container_state(
                            &mut e.pod,
                            &name,
                            json!({"running": {"startedAt": started}}),
                            restarts,
                            true,
                        );
                    });
                    info!(pod = %format!("{}/{}", key.0, key.1), container = %name, pid, "container running");
                    let status = tokio::select! {
                        status = child.wait() => status,
                        () = stop.cancelled() => {
                            let grace = self.lock().pods.get(key).map_or(Duration::ZERO, |e| e.grace);
                            process::terminate_group(&mut child, grace).await
                        }
                    };
                    match status {
                        Ok(status) => {
                            let code = process::exit_code(status);
                            (
                                code,
                                if code == 0 { "Completed" } else { "Error" }.to_string(),
                                None,
                            )
                        }
                        Err(err) => (128, "Error".to_string(), Some(err.to_string())),
                    }
                }
            };
            let finished = timestamp(Utc::now());
            let mut terminated = json!({"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": finished});
            if let Some(m) = message {
                terminated["message"] = json!(m);
            }
            let again = !stop.is_cancelled()
                && (policy == "Always" || (policy == "OnFailure" && code != 0));
            self.update(key, |e| {
                e.pids.remove(&name);
                if again {
                    set_last_state(&mut e.pod, &name, json!({"terminated": terminated}));
                    set_container_state(
                        &mut e.pod,
                        &name,
                        json!({"waiting": {"reason": "CrashLoopBackOff"}}),
                        restarts + 1,
                        false,
                    );
                } else {
                    set_container_state(
                        &mut e.pod,
                        &name,
                        json!({"terminated": terminated}),
                        restarts,
                        false,
                    );
                }
            });
            if !again {
                return;
            }
            restarts += 1;
            tokio::select! {
                () = tokio::time::sleep(RESTART_DELAY) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// Starts a container's process; the terminated state (exit code, reason,
    /// message) when it cannot start.
    async fn launch(
        &self,
        dir: &Path,
        spec: &Value,
        env: &[(String, String)],
    ) -> Result<tokio::process::Child, (i32, String, String)> {
        let vars: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let words = |field: &str| -> Vec<String> {
            spec[field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|s| expand(s, &vars))
                .collect()
        };
        let (command, args) = (words("command"), words("args"));
        let plan = if command.is_empty() && args.first().is_some_and(|a| a == "driver") {
            // Spark's image entrypoint: `driver` + spark-submit's arguments.
            spark_driver_plan(&args[1..]).map_err(|e| (1, "Error".to_string(), e))?
        } else {
            let mut line = command;
            line.extend(args);
            let Some((program, rest)) = line.split_first() else {
                return Err((
                    128,
                    "StartError".into(),
                    "the stand-in runs no image entrypoint: give the container a command or args"
                        .into(),
                ));
            };
            LaunchPlan {
                kind: AppKind::Executable,
                resource: PathBuf::from(program),
                program: program.into(),
                args: rest.iter().map(Into::into).collect(),
                env: Vec::new(),
            }
        };
        let start_error = |e: std::io::Error| {
            (
                128,
                "StartError".to_string(),
                format!("failed to start container: {e}"),
            )
        };
        let mut cmd = process::driver_command(&plan, dir, env).map_err(start_error)?;
        // The kubelet keeps one log per container, stdout and stderr interleaved.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("log"))
            .map_err(start_error)?;
        let log2 = log.try_clone().map_err(start_error)?;
        cmd.stdout(log).stderr(log2);
        if let Some(wd) = spec["workingDir"].as_str()
            && Path::new(wd).is_dir()
        {
            cmd.current_dir(wd);
        }
        self.spawner.spawn(cmd).await.map_err(|e| {
            (
                128,
                "StartError".to_string(),
                format!("exec: {:?}: {e}", plan.program.to_string_lossy()),
            )
        })
    }

    /// DELETE: graceful when containers run (deletionTimestamp now, object gone
    /// once they stopped), immediate otherwise.
    fn delete(&self, ns: &str, name: &str, grace: Option<u64>) -> Result<Value, ApiError> {
        let key = (ns.to_string(), name.to_string());
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(entry) = st.pods.get_mut(&key) else {
            return Err(ApiError::not_found(name));
        };
        if entry.done {
            let mut entry = st.pods.remove(&key).expect("present");
            Self::publish(st, &self.events, "DELETED", &mut entry.pod);
            return Ok(entry.pod);
        }
        let grace = grace
            .or_else(|| entry.pod["spec"]["terminationGracePeriodSeconds"].as_u64())
            .unwrap_or(DEFAULT_GRACE_SECONDS);
        if entry.pod.pointer("/metadata/deletionTimestamp").is_none() {
            let when = Utc::now() + chrono::Duration::seconds(i64::try_from(grace).unwrap_or(0));
            entry.pod["metadata"]["deletionTimestamp"] = json!(timestamp(when));
            entry.pod["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            entry.grace = Duration::from_secs(grace);
            entry.stop.cancel();
            let mut pod = entry.pod.clone();
            Self::publish(st, &self.events, "MODIFIED", &mut pod);
            if let Some(entry) = st.pods.get_mut(&key) {
                entry.pod = pod.clone();
            }
            info!(pod = %format!("{ns}/{name}"), grace, "pod terminating");
            return Ok(pod);
        }
        Ok(entry.pod.clone())
    }

    fn get(&self, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.lock()
            .pods
            .get(&(ns.to_string(), name.to_string()))
            .map(|e| e.pod.clone())
            .ok_or_else(|| ApiError::not_found(name))
    }

    fn list(&self, ns: Option<&str>, sel: &Selectors) -> (u64, Vec<Value>) {
        let st = self.lock();
        let items = st
            .pods
            .iter()
            .filter(|((pod_ns, _), _)| ns.is_none_or(|n| n == pod_ns))
            .filter(|(_, e)| sel.matches(&e.pod))
            .map(|(_, e)| e.pod.clone())
            .collect();
        (st.rv, items)
    }

}

impl StandIn for Api {
    fn submissions(&self) -> Vec<SubmissionRecord> {
        self.lock().submissions.clone()
    }
    fn drivers(&self) -> &Drivers {
        &self.drivers
    }
    fn running_pids(&self) -> Vec<u32> {
        self.lock().pods.values().flat_map(|e| e.pids.values().copied()).collect()
    }
}

/// What the `driver` verb of Spark's entrypoint runs: spark-submit in client
/// mode inside the pod, i.e. the application itself.
fn spark_driver_plan(args: &[String]) -> Result<LaunchPlan, String> {
    let parsed = SubmitArgs::parse(args.iter().cloned()).map_err(|e| format!("Error: {e}"))?;
    let conf = parsed
        .spark_properties()
        .map_err(|e| format!("Error: {e}"))?;
    LaunchPlan::resolve(&App {
        resource: &parsed.primary_resource,
        main_class: parsed.main_class.as_deref(),
        args: &parsed.app_args,
        conf: &conf,
    })
    .map_err(|e| format!("Exception in thread \"main\" {}", e.java_exception()))
}

/// A container's environment: literal values and the downward API fields the
/// stand-in knows, each expanded against the ones before it.
fn container_env(pod: &Value, spec: &Value) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for e in spec["env"].as_array().into_iter().flatten() {
        let Some(name) = e["name"].as_str() else {
            continue;
        };
        let value = if let Some(v) = e["value"].as_str() {
            let vars: HashMap<&str, &str> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            expand(v, &vars)
        } else if let Some(path) = e
            .pointer("/valueFrom/fieldRef/fieldPath")
            .and_then(Value::as_str)
        {
            match path {
                "status.podIP" | "status.hostIP" => POD_IP.to_string(),
                "spec.nodeName" => NODE_NAME.to_string(),
                p => field(pod, p).unwrap_or_default(),
            }
        } else {
            continue;
        };
        env.retain(|(k, _)| k != name);
        env.push((name.to_string(), value));
    }
    env
}

/// The kubelet's `$(VAR)` expansion: defined variables are replaced, `$$` is a
/// literal `$`, anything else stays as written.
fn expand(s: &str, vars: &HashMap<&str, &str>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
            && let Some(v) = vars.get(&inner[..end])
        {
            out.push_str(v);
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn container_status(spec: &Value, state: Value, restarts: u32) -> Value {
    json!({
        "name": spec["name"],
        "image": spec["image"],
        "imageID": "",
        "ready": false,
        "started": false,
        "restartCount": restarts,
        "state": state,
        "lastState": {},
    })
}

fn set_container_state(pod: &mut Value, name: &str, state: Value, restarts: u32, running: bool) {
    for c in pod["status"]["containerStatuses"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if c["name"] == name {
            c["state"] = state.clone();
            c["restartCount"] = json!(restarts);
            c["ready"] = json!(running);
            c["started"] = json!(running);
            if running {
                c["containerID"] = json!(format!("devcluster://{}", uid()));
            }
        }
    }
}

fn set_last_state(pod: &mut Value, name: &str, state: Value) {
    for c in pod["status"]["containerStatuses"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if c["name"] == name {
            c["lastState"] = state.clone();
        }
    }
}

/// The pod phase and conditions from its containers, as the kubelet computes them.
fn set_phase(pod: &mut Value) {
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if statuses.is_empty() {
        return;
    }
    let terminated: Vec<i64> = statuses
        .iter()
        .filter_map(|c| c.pointer("/state/terminated/exitCode")?.as_i64())
        .collect();
    let running = statuses
        .iter()
        .filter(|c| c.pointer("/state/running").is_some())
        .count();
    let restarting = statuses
        .iter()
        .any(|c| c["restartCount"].as_u64().unwrap_or(0) > 0);
    let phase = if terminated.len() == statuses.len() {
        if terminated.iter().all(|c| *c == 0) {
            "Succeeded"
        } else {
            "Failed"
        }
    } else if running > 0 || !terminated.is_empty() || restarting {
        "Running"
    } else {
        "Pending"
    };
    let ready = running == statuses.len();
    let now = timestamp(Utc::now());
    let condition = |kind: &str, ok: bool, reason: Option<&str>| {
        let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now});
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        c
    };
    let done_reason = (phase == "Succeeded" || phase == "Failed").then_some("PodCompleted");
    pod["status"]["phase"] = json!(phase);
    pod["status"]["conditions"] = json!([
        condition("PodScheduled", true, None),
        condition("Initialized", true, None),
        condition(
            "ContainersReady",
            ready,
            if ready {
                None
            } else {
                done_reason.or(Some("ContainersNotReady"))
            }
        ),
        condition(
            "Ready",
            ready,
            if ready {
                None
            } else {
                done_reason.or(Some("ContainersNotReady"))
            }
        ),
    ]);
}

fn qos_class(containers: &[Value]) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let (req, lim) = (&c["resources"]["requests"], &c["resources"]["limits"]);
        any |= req.as_object().is_some_and(|o| !o.is_empty())
            || lim.as_object().is_some_and(|o| !o.is_empty());
        for r in ["cpu", "memory"] {
            let limit = &lim[r];
            if limit.is_null() || (!req[r].is_null() && req[r] != *limit) {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// A field of the pod by its selector path (`metadata.name`, `status.phase`,
/// `metadata.labels['k']`).
fn field(pod: &Value, path: &str) -> Option<String> {
    if let Some(rest) = path
        .strip_prefix("metadata.labels['")
        .or_else(|| path.strip_prefix("metadata.annotations['"))
    {
        let map = if path.starts_with("metadata.labels") {
            "labels"
        } else {
            "annotations"
        };
        let key = rest.strip_suffix("']")?;
        return pod["metadata"][map][key].as_str().map(str::to_string);
    }
    let mut v = pod;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Utc::now().timestamp_nanos_opt().unwrap_or_default() as u128);
    h.finish()
}

fn uid() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// What `generateName` appends: five characters of the apiserver's alphabet.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = random_u64();
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

// ---- selectors ----

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Requirement {
    fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        match self {
            Self::Eq(k, v) => get(k).as_deref() == Some(v.as_str()),
            Self::Ne(k, v) => get(k).as_deref() != Some(v.as_str()),
            Self::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Self::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
            Self::Exists(k) => get(k).is_some(),
            Self::NotExists(k) => get(k).is_none(),
        }
    }
}

/// A label selector (`a=b,c!=d,e in (f,g),!h`) or a field selector (`=`, `==`, `!=`).
fn parse_selector(s: &str) -> Result<Vec<Requirement>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    let set = |v: &str| -> Result<Vec<String>, String> {
        let v = v.trim();
        let inner = v
            .strip_prefix('(')
            .and_then(|v| v.strip_suffix(')'))
            .ok_or_else(|| format!("expected (values) in {s:?}"))?;
        Ok(inner.split(',').map(|x| x.trim().to_string()).collect())
    };
    let mut out = Vec::new();
    for p in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        let r = if let Some((k, v)) = p.split_once("!=") {
            Requirement::Ne(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
            Requirement::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once(" notin ") {
            Requirement::NotIn(k.trim().into(), set(v)?)
        } else if let Some((k, v)) = p.split_once(" in ") {
            Requirement::In(k.trim().into(), set(v)?)
        } else if let Some(k) = p.strip_prefix('!') {
            Requirement::NotExists(k.trim().into())
        } else if p.contains(char::is_whitespace) {
            return Err(format!("unable to parse requirement: {p:?}"));
        } else {
            Requirement::Exists(p.into())
        };
        out.push(r);
    }
    Ok(out)
}

#[derive(Debug, Default)]
struct Selectors {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
}

impl Selectors {
    fn from_query(q: &HashMap<String, String>) -> Result<Self, ApiError> {
        let parse = |k: &str| {
            parse_selector(q.get(k).map_or("", String::as_str)).map_err(ApiError::bad_request)
        };
        let s = Selectors {
            labels: parse("labelSelector")?,
            fields: parse("fieldSelector")?,
        };
        for r in &s.fields {
            let (Requirement::Eq(k, _) | Requirement::Ne(k, _)) = r else {
                return Err(ApiError::bad_request(
                    "field selectors support only =, == and !=",
                ));
            };
            if !matches!(
                k.as_str(),
                "metadata.name"
                    | "metadata.namespace"
                    | "spec.nodeName"
                    | "spec.restartPolicy"
                    | "spec.serviceAccountName"
                    | "status.phase"
                    | "status.podIP"
            ) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {k}"
                )));
            }
        }
        Ok(s)
    }

    fn matches(&self, pod: &Value) -> bool {
        let label = |k: &str| pod["metadata"]["labels"][k].as_str().map(str::to_string);
        let fieldv = |k: &str| field(pod, k);
        self.labels.iter().all(|r| r.matches(&label))
            && self.fields.iter().all(|r| r.matches(&fieldv))
    }
}

// ---- HTTP ----

/// A Kubernetes `Status` error.
#[derive(Debug)]
struct ApiError {
    code: StatusCode,
    reason: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    fn new(code: StatusCode, reason: &'static str, message: String, name: Option<&str>) -> Self {
        let details = name.map(|n| json!({"name": n, "kind": "pods"}));
        Self {
            code,
            reason,
            message,
            details,
        }
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message.into(), None)
    }
    fn not_found(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("pods {name:?} not found"),
            Some(name),
        )
    }
    fn invalid(name: &str, field: &str, what: &str) -> Self {
        Self {
            code: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "Invalid",
            message: format!("Pod {name:?} is invalid: {field}: {what}"),
            details: Some(json!({"name": name, "kind": "Pod", "causes": [
                {"reason": "FieldValueRequired", "message": what, "field": field}
            ]})),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some(d) = self.details {
            body["details"] = d;
        }
        json_response(self.code, &body)
    }
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/api", get(api_versions))
        .route("/api/", get(api_versions))
        .route("/apis", get(api_groups))
        .route("/apis/", get(api_groups))
        .route("/api/v1", get(api_resources))
        .route("/api/v1/", get(api_resources))
        .route("/api/v1/pods", get(list_all))
        .route(
            "/api/v1/namespaces/{ns}/pods",
            get(list_pods).post(create_pod),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}",
            get(get_pod).delete(delete_pod),
        )
        .route("/api/v1/namespaces/{ns}/pods/{name}/status", get(get_pod))
        .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(pod_log))
        .route(
            "/api/{*rest}",
            get(not_served)
                .post(not_served)
                .delete(not_served)
                .put(not_served)
                .patch(not_served),
        )
        .route(
            "/apis/{*rest}",
            get(not_served)
                .post(not_served)
                .delete(not_served)
                .put(not_served)
                .patch(not_served),
        )
        .route_layer(middleware::from_fn_with_state(api.clone(), authenticate))
        .with_state(api)
}

async fn authenticate(State(api): State<Arc<Api>>, req: Request, next: Next) -> Response {
    if let Some(token) = &api.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given.and_then(|v| v.strip_prefix("Bearer ")) != Some(token.as_str()) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Unauthorized".into(),
                None,
            )
            .into_response();
        }
    }
    next.run(req).await
}

async fn not_served(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!(
            "the server could not find the requested resource ({})",
            req.uri().path()
        ),
        None,
    )
}

async fn version() -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "major": "1", "minor": MINOR, "gitVersion": format!("v1.{MINOR}.0-drover"),
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
            "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
        }),
    )
}

async fn api_versions(State(api): State<Arc<Api>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": api.addr.to_string()}],
        }),
    )
}

async fn api_groups() -> Response {
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
    )
}

async fn api_resources() -> Response {
    let verbs = ["create", "delete", "get", "list", "watch"];
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIResourceList", "groupVersion": "v1",
            "resources": [
                {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                 "verbs": verbs, "shortNames": ["po"], "categories": ["all"]},
                {"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]},
                {"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]},
            ],
        }),
    )
}

async fn create_pod(
    State(api): State<Arc<Api>>,
    UrlPath(ns): UrlPath<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let pod = api.create(&ns, &body)?;
    Ok(json_response(StatusCode::CREATED, &pod))
}

async fn get_pod(
    State(api): State<Arc<Api>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pod = api.get(&ns, &name)?;
    Ok(if wants_table(&headers) {
        json_response(StatusCode::OK, &table(0, &[pod]))
    } else {
        json_response(StatusCode::OK, &pod)
    })
}

async fn delete_pod(
    State(api): State<Arc<Api>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let options: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("DeleteOptions: {e}")))?
    };
    let grace = match q.get("gracePeriodSeconds") {
        Some(g) => Some(g.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("gracePeriodSeconds: invalid value {g:?}"))
        })?),
        None => options["gracePeriodSeconds"].as_u64(),
    };
    Ok(json_response(
        StatusCode::OK,
        &api.delete(&ns, &name, grace)?,
    ))
}

async fn list_all(
    State(api): State<Arc<Api>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    list_or_watch(api, None, q, headers)
}

async fn list_pods(
    State(api): State<Arc<Api>>,
    UrlPath(ns): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    list_or_watch(api, Some(ns), q, headers)
}

fn list_or_watch(
    api: Arc<Api>,
    ns: Option<String>,
    q: HashMap<String, String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let sel = Selectors::from_query(&q)?;
    if q.get("watch")
        .is_some_and(|w| matches!(w.to_ascii_lowercase().as_str(), "true" | "1"))
    {
        return Ok(watch(api, ns, sel, &q));
    }
    let (rv, items) = api.list(ns.as_deref(), &sel);
    if wants_table(&headers) {
        return Ok(json_response(StatusCode::OK, &table(rv, &items)));
    }
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut p| {
            if let Some(o) = p.as_object_mut() {
                o.remove("kind");
                o.remove("apiVersion");
            }
            p
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": rv.to_string()}, "items": items,
        }),
    ))
}

/// A watch: one JSON event per line, as pods change. Without a resourceVersion
/// (or "0") it starts with an ADDED event per matching pod; with one, it
/// replays what happened after it.
fn watch(
    api: Arc<Api>,
    ns: Option<String>,
    sel: Selectors,
    q: &HashMap<String, String>,
) -> Response {
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let since: Option<u64> = q
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let mut live = api.events.subscribe();
    let (start_rv, first): (u64, Vec<Value>) = {
        let st = api.lock();
        match since {
            None => (
                st.rv,
                st.pods
                    .iter()
                    .filter(|((pod_ns, _), e)| {
                        ns.as_deref().is_none_or(|n| n == pod_ns) && sel.matches(&e.pod)
                    })
                    .map(|(_, e)| json!({"type": "ADDED", "object": e.pod}))
                    .collect(),
            ),
            Some(rv) if st.history.front().is_some_and(|e| e.rv > rv + 1) => (
                st.rv,
                vec![json!({
                    "type": "ERROR",
                    "object": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": format!("too old resource version: {rv} ({})", st.history.front().map_or(0, |e| e.rv)),
                               "reason": "Expired", "code": 410},
                })],
            ),
            Some(rv) => (
                st.rv,
                st.history
                    .iter()
                    .filter(|e| e.rv > rv && event_matches(e, ns.as_deref(), &sel))
                    .map(|e| json!({"type": e.kind, "object": e.pod}))
                    .collect(),
            ),
        }
    };
    let cancel = api.drivers.cancel.clone();
    tokio::spawn(async move {
        let line = |v: &Value| Ok(Bytes::from(format!("{v}\n")));
        for e in &first {
            if tx.send(line(e)).await.is_err() {
                return;
            }
        }
        let deadline = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        loop {
            let event = tokio::select! {
                e = live.recv() => e,
                () = &mut deadline => return,
                () = cancel.cancelled() => return,
                () = tx.closed() => return,
            };
            match event {
                Ok(e) if e.rv > start_rv && event_matches(&e, ns.as_deref(), &sel) => {
                    if tx
                        .send(line(&json!({"type": e.kind, "object": e.pod})))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(_) => {}
                // A watcher too slow to keep up is cut off; clients re-watch.
                Err(_) => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn event_matches(e: &Event, ns: Option<&str>, sel: &Selectors) -> bool {
    ns.is_none_or(|n| e.pod["metadata"]["namespace"] == n) && sel.matches(&e.pod)
}

async fn pod_log(
    State(api): State<Arc<Api>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (pod, dir) = {
        let st = api.lock();
        let e = st
            .pods
            .get(&(ns.clone(), name.clone()))
            .ok_or_else(|| ApiError::not_found(&name))?;
        (e.pod.clone(), e.dir.clone())
    };
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) if names.contains(&c.as_str()) => c.clone(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if names.len() == 1 => names[0].to_string(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let state = statuses
        .iter()
        .find(|c| c["name"] == container.as_str())
        .map(|c| c["state"].clone())
        .unwrap_or(Value::Null);
    let path = dir.join(&container).join("log");
    let mut bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(_) => {
            let reason = state
                .pointer("/waiting/reason")
                .and_then(Value::as_str)
                .unwrap_or("ContainerCreating");
            return Err(ApiError::bad_request(format!(
                "container {container:?} in pod {name:?} is waiting to start: {reason}"
            )));
        }
    };
    if let Some(n) = q.get("tailLines").and_then(|n| n.parse::<usize>().ok()) {
        let text_end = if bytes.ends_with(b"\n") {
            bytes.len() - 1
        } else {
            bytes.len()
        };
        let start = bytes[..text_end]
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, b)| **b == b'\n')
            .nth(n.saturating_sub(1))
            .map_or(0, |(i, _)| i + 1);
        bytes.drain(..if n == 0 { bytes.len() } else { start });
    }
    if let Some(limit) = q.get("limitBytes").and_then(|n| n.parse::<usize>().ok()) {
        bytes.truncate(limit);
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        bytes,
    )
        .into_response())
}

// ---- server-side printing (kubectl asks for a Table) ----

fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

fn age(created: Option<&str>) -> String {
    let Some(t) = created.and_then(|c| DateTime::parse_from_rfc3339(c).ok()) else {
        return "<unknown>".into();
    };
    let s = (Utc::now() - t.with_timezone(&Utc)).num_seconds().max(0);
    match s {
        0..120 => format!("{s}s"),
        120..3600 => format!("{}m", s / 60),
        3600..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn table(rv: u64, pods: &[Value]) -> Value {
    let column = |name: &str, kind: &str, priority: u32, description: &str| json!({"name": name, "type": kind, "format": if name == "Name" { "name" } else { "" }, "description": description, "priority": priority});
    let rows: Vec<Value> = pods
        .iter()
        .map(|p| {
            let statuses = p["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
            let total = p["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = statuses.iter().filter(|c| c["ready"] == true).count();
            let restarts: u64 = statuses.iter().filter_map(|c| c["restartCount"].as_u64()).sum();
            let reason = statuses.iter().find_map(|c| {
                c.pointer("/state/waiting/reason").or_else(|| c.pointer("/state/terminated/reason")).and_then(Value::as_str)
            });
            let phase = p["status"]["phase"].as_str().unwrap_or("Unknown");
            let status = if p.pointer("/metadata/deletionTimestamp").is_some() {
                "Terminating"
            } else {
                match (phase, reason) {
                    ("Running", _) if ready == total => "Running",
                    (_, Some(r)) => r,
                    (p, None) => p,
                }
            };
            let mut meta = Map::new();
            for k in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels", "annotations", "deletionTimestamp"] {
                if let Some(v) = p["metadata"].get(k) {
                    meta.insert(k.into(), v.clone());
                }
            }
            json!({
                "cells": [
                    p["metadata"]["name"], format!("{ready}/{total}"), status, restarts,
                    age(p["metadata"]["creationTimestamp"].as_str()),
                    p["status"]["podIP"].as_str().unwrap_or("<none>"),
                    p["spec"]["nodeName"].as_str().unwrap_or("<none>"), "<none>", "<none>",
                ],
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta},
            })
        })
        .collect();
    json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": [
            column("Name", "string", 0, "Name must be unique within a namespace."),
            column("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
            column("Status", "string", 0, "The aggregate status of the containers in this pod."),
            column("Restarts", "string", 0, "The number of times the containers in this pod have been restarted."),
            column("Age", "string", 0, "CreationTimestamp of the pod."),
            column("IP", "string", 1, "IP address allocated to the pod."),
            column("Node", "string", 1, "Name of the node the pod is assigned to."),
            column("Nominated Node", "string", 1, "Name of the node where the pod is nominated."),
            column("Readiness Gates", "string", 1, "The readiness gates of the pod."),
        ],
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selectors_parse_like_the_apiserver() {
        let r = parse_selector("a=b,c!=d, e in (f, g),!h,i,j notin (k)").unwrap();
        assert_eq!(
            r,
            vec![
                Requirement::Eq("a".into(), "b".into()),
                Requirement::Ne("c".into(), "d".into()),
                Requirement::In("e".into(), vec!["f".into(), "g".into()]),
                Requirement::NotExists("h".into()),
                Requirement::Exists("i".into()),
                Requirement::NotIn("j".into(), vec!["k".into()]),
            ]
        );
        let pod = json!({"metadata": {"labels": {"a": "b", "e": "g", "i": "x"}}});
        let sel = Selectors {
            labels: r,
            fields: vec![],
        };
        assert!(sel.matches(&pod));
        assert!(parse_selector("a b").is_err());
    }

    #[test]
    fn expansion_follows_the_kubelet() {
        let vars = HashMap::from([("IP", "10.0.0.1")]);
        assert_eq!(expand("host=$(IP)", &vars), "host=10.0.0.1");
        assert_eq!(expand("$(NOPE) $$(IP) $", &vars), "$(NOPE) $(IP) $");
    }

    #[test]
    fn spark_driver_args_run_the_application() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("job.py");
        std::fs::write(&app, "").unwrap();
        let args: Vec<String> = [
            "--master",
            "k8s://x",
            "--conf",
            "spark.app.name=a",
            &format!("local://{}", app.display()),
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let plan = spark_driver_plan(&args).unwrap();
        assert_eq!(plan.kind, AppKind::Python);
        assert_eq!(plan.args.last().unwrap(), "1");
        assert!(
            spark_driver_plan(&["/no/such.py".to_string()])
                .unwrap_err()
                .contains("NoSuchFileException")
        );
    }
}
