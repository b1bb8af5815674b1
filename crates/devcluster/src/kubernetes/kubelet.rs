//! The kubelet of the one node: schedule a pod, run each container as a
//! local process (Spark's `driver` verb read as spark-submit's arguments,
//! anything else exec'd after `$(VAR)` expansion), restart it as the pod's
//! restartPolicy says, and keep the container statuses the API shows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::selector::field;
use super::state::{Api, timestamp, uid};
use super::{NODE_NAME, POD_IP};
use crate::process::{self, App, AppKind, LaunchPlan};
use crate::submit::SubmitArgs;

const RESTART_DELAY: Duration = Duration::from_secs(1);

impl Api {
    /// The kubelet: schedule, start every container, follow them to the end.
    pub(super) async fn run_pod(
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
            spark_driver_plan(&args[1..], dir, self.s3.as_ref())
                .await
                .map_err(|e| (1, "Error".to_string(), e))?
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
}

/// What the `driver` verb of Spark's entrypoint runs: spark-submit in client
/// mode inside the pod, i.e. the application itself. Its S3 resources are
/// downloaded into the container's directory `dir` first (with `s3`), as
/// spark-submit in the pod downloads remote files into its working
/// directory (SPARK-33782).
async fn spark_driver_plan(
    args: &[String],
    dir: &Path,
    s3: Option<&crate::s3::S3Source>,
) -> Result<LaunchPlan, String> {
    let parsed = SubmitArgs::parse(args.iter().cloned()).map_err(|e| format!("Error: {e}"))?;
    let mut conf = parsed
        .spark_properties()
        .map_err(|e| format!("Error: {e}"))?;
    let resource = match s3 {
        Some(s3) => s3
            .localize(dir, &parsed.primary_resource, &mut conf)
            .await
            .map_err(|e| format!("Exception in thread \"main\" {e}"))?,
        None => parsed.primary_resource.clone(),
    };
    let mut plan = LaunchPlan::resolve(&App {
        resource: &resource,
        main_class: parsed.main_class.as_deref(),
        args: &parsed.app_args,
        conf: &conf,
    })
    .map_err(|e| format!("Exception in thread \"main\" {}", e.java_exception()))?;
    plan.env.extend(parsed.user_env());
    Ok(plan)
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


#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::AppKind;

    #[test]
    fn expansion_follows_the_kubelet() {
        let vars = HashMap::from([("IP", "10.0.0.1")]);
        assert_eq!(expand("host=$(IP)", &vars), "host=10.0.0.1");
        assert_eq!(expand("$(NOPE) $$(IP) $", &vars), "$(NOPE) $(IP) $");
    }

    #[tokio::test]
    async fn spark_driver_args_run_the_application() {
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
        let plan = spark_driver_plan(&args, dir.path(), None).await.unwrap();
        assert_eq!(plan.kind, AppKind::Python);
        assert_eq!(plan.args.last().unwrap(), "1");
        assert!(
            spark_driver_plan(&["/no/such.py".to_string()], dir.path(), None)
                .await
                .unwrap_err()
                .contains("NoSuchFileException")
        );
    }
}

