//! The Kubernetes stand-in over HTTP: driven with reqwest the way drover's
//! plugin drives it, and with real clients nobody here wrote (kubectl and the
//! PyPI `kubernetes` package).

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use drover_devcluster::kubernetes::ApiServer;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

fixture_on_stand!();

impl Fixture {
    async fn start() -> Self {
        Fixture(common::Stand::start().await)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    async fn create(&self, pod: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url("/api/v1/namespaces/default/pods"))
            .json(pod)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn text(&self, path: &str) -> (u16, String) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Polls the pod until `done` holds (the watch test covers events).
    async fn wait_pod(&self, name: &str, done: impl Fn(&Value) -> bool) -> Value {
        let until = Instant::now() + DEADLINE;
        loop {
            let (code, pod) = self
                .get(&format!("/api/v1/namespaces/default/pods/{name}"))
                .await;
            if code == 200 && done(&pod) {
                return pod;
            }
            assert!(
                Instant::now() < until,
                "pod {name} never got there; last: {pod:#}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn wait_gone(&self, name: &str) {
        let until = Instant::now() + DEADLINE;
        while self
            .get(&format!("/api/v1/namespaces/default/pods/{name}"))
            .await
            .0
            != 404
        {
            assert!(Instant::now() < until, "pod {name} was never removed");
            tokio::time::sleep(POLL).await;
        }
    }
}

fn shell_pod(name: &str, script: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"restartPolicy": "Never", "containers": [
            {"name": "main", "image": "busybox", "command": ["sh", "-c", script],
             "env": [{"name": "GREETING", "value": "hello"},
                     {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]}
        ]},
    })
}

fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or_default()
}


async fn read_pid(path: &Path) -> u32 {
    let until = Instant::now() + DEADLINE;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(Instant::now() < until, "{} never written", path.display());
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn pods_run_their_command_and_report_phase_exit_code_and_log() {
    let f = Fixture::start().await;
    let (code, created) = f
        .create(&shell_pod(
            "fails",
            "echo \"$GREETING from $POD_IP\"; echo oops >&2; exit 3",
            json!({"app": "a"}),
        ))
        .await;
    assert_eq!(code, 201, "{created:#}");
    for field in ["uid", "resourceVersion", "creationTimestamp"] {
        assert!(
            created["metadata"][field].is_string(),
            "{field}: {created:#}"
        );
    }
    assert_eq!(created["metadata"]["namespace"], "default");
    assert_eq!(phase(&created), "Pending");

    let pod = f.wait_pod("fails", |p| phase(p) == "Failed").await;
    let state = &pod["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(state["exitCode"], 3, "{pod:#}");
    assert_eq!(state["reason"], "Error");
    assert_eq!(pod["spec"]["nodeName"], "devcluster");

    let (code, log) = f
        .text("/api/v1/namespaces/default/pods/fails/log?container=main")
        .await;
    assert_eq!(code, 200);
    assert_eq!(log, "hello from 127.0.0.1\noops\n");
    assert_eq!(
        f.text("/api/v1/namespaces/default/pods/fails/log?limitBytes=5")
            .await
            .1,
        "hello"
    );
    assert_eq!(
        f.text("/api/v1/namespaces/default/pods/fails/log?tailLines=1")
            .await
            .1,
        "oops\n"
    );

    f.create(&shell_pod("works", "exit 0", json!({"app": "b"})))
        .await;
    let pod = f.wait_pod("works", |p| phase(p) == "Succeeded").await;
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
        0
    );

    let (_, list) = f
        .get("/api/v1/namespaces/default/pods?labelSelector=app%3Da")
        .await;
    assert_eq!(list["kind"], "PodList");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fails"]);
    let (_, list) = f
        .get("/api/v1/namespaces/default/pods?labelSelector=app%20in%20(a%2Cb)")
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn spark_driver_pods_run_the_application_like_the_entrypoint() {
    let f = Fixture::start().await;
    let app = f.path("job.py");
    std::fs::write(&app, "import os, sys\nprint('args', sys.argv[1:], os.environ['SPARK_DRIVER_BIND_ADDRESS'])\nsys.exit(int(sys.argv[1]))\n").unwrap();
    let pod = json!({
        "metadata": {"name": "job-driver", "labels": {"spark-role": "driver", "drover.dev/submission-key": "drover-k1"},
                     "annotations": {"spark-app-name": "job"}},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "spark-kubernetes-driver", "image": "apache/spark:4.0.0",
            "args": ["driver", "--master", "k8s://https://kubernetes.default.svc", "--deploy-mode", "client",
                     "--conf", "spark.driver.host=$(SPARK_DRIVER_BIND_ADDRESS)",
                     format!("local://{}", app.display()), "0", "x"],
            "env": [{"name": "SPARK_DRIVER_BIND_ADDRESS", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}],
        }]},
    });
    assert_eq!(f.create(&pod).await.0, 201);
    f.wait_pod("job-driver", |p| phase(p) == "Succeeded").await;
    let log = f
        .text("/api/v1/namespaces/default/pods/job-driver/log?container=spark-kubernetes-driver")
        .await
        .1;
    assert_eq!(log, "args ['0', 'x'] 127.0.0.1\n");
    let subs = f.cluster.submissions();
    assert_eq!(subs.len(), 1);
    assert_eq!(
        (
            subs[0].manager,
            subs[0].submission_id.as_str(),
            subs[0].app_name.as_str()
        ),
        ("kubernetes", "default/job-driver", "job")
    );
    assert_eq!(subs[0].submission_key.as_deref(), Some("drover-k1"));

    // A missing application fails the driver the way spark-submit would.
    let mut missing = pod.clone();
    missing["metadata"]["name"] = json!("missing-driver");
    missing["spec"]["containers"][0]["args"] = json!(["driver", "local:///no/such/app.py"]);
    f.create(&missing).await;
    let p = f.wait_pod("missing-driver", |p| phase(p) == "Failed").await;
    assert_eq!(
        p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
        1
    );
    let log = f
        .text("/api/v1/namespaces/default/pods/missing-driver/log")
        .await
        .1;
    assert!(
        log.contains("NoSuchFileException: /no/such/app.py"),
        "{log}"
    );
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn watch_streams_added_modified_and_deleted_events() {
    let f = Fixture::start().await;
    f.create(&shell_pod("other", "exit 0", json!({"w": "no"})))
        .await;
    let mut watch = f
        .http
        .get(f.url("/api/v1/namespaces/default/pods?watch=true&labelSelector=w%3Dyes"))
        .send()
        .await
        .unwrap();
    assert_eq!(watch.status(), 200);
    f.create(&shell_pod("watched", "exit 0", json!({"w": "yes"})))
        .await;
    let mut buf = Vec::new();
    let mut events: Vec<(String, String)> = Vec::new();
    let until = Instant::now() + DEADLINE;
    loop {
        let chunk = tokio::time::timeout_at(until.into(), watch.chunk())
            .await
            .expect("watch events in time")
            .unwrap()
            .expect("stream open");
        buf.extend_from_slice(&chunk);
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let e: Value = serde_json::from_slice(&line).unwrap();
            assert_eq!(e["object"]["metadata"]["name"], "watched", "{e}");
            events.push((
                e["type"].as_str().unwrap().into(),
                phase(&e["object"]).into(),
            ));
            if events.last().unwrap().1 == "Succeeded" && events.iter().all(|(t, _)| t != "DELETED")
            {
                let r = f
                    .http
                    .delete(f.url("/api/v1/namespaces/default/pods/watched"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        }
        if events.last().is_some_and(|(t, _)| t == "DELETED") {
            break;
        }
    }
    assert_eq!(events.first().unwrap().0, "ADDED");
    assert!(
        events
            .iter()
            .any(|(t, p)| t == "MODIFIED" && p == "Running"),
        "{events:?}"
    );
    assert!(events.iter().any(|(_, p)| p == "Succeeded"), "{events:?}");

    // Resuming from a resourceVersion replays what happened after it.
    let (_, list) = f.get("/api/v1/namespaces/default/pods").await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let r = f
        .http
        .get(f.url("/api/v1/namespaces/default/pods?watch=1&resourceVersion=1&timeoutSeconds=1"))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.lines().count() >= 5, "{text}");
    assert!(
        text.contains(&format!("\"resourceVersion\":\"{rv}\"")),
        "the last event is the list's version {rv}: {text}"
    );
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn delete_stops_the_process_then_removes_the_pod() {
    let f = Fixture::start().await;
    let pidfile = f.path("pid");
    // `$$$$`: the kubelet turns `$$` into `$` before the shell sees it.
    let script = format!("echo $$$$ > {}; exec sleep 600", pidfile.display());
    f.create(&shell_pod("sleeper", &script, json!({}))).await;
    f.wait_pod("sleeper", |p| phase(p) == "Running").await;
    let pid = read_pid(&pidfile).await;
    assert!(common::process_alive(pid));

    let r = f
        .http
        .delete(f.url("/api/v1/namespaces/default/pods/sleeper?gracePeriodSeconds=5"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pod: Value = r.json().await.unwrap();
    assert!(pod["metadata"]["deletionTimestamp"].is_string(), "{pod:#}");
    assert_eq!(pod["metadata"]["deletionGracePeriodSeconds"], 5);
    f.wait_gone("sleeper").await;
    assert!(
        !common::process_alive(pid),
        "the container's process is gone with its pod"
    );
    let r = f
        .http
        .delete(f.url("/api/v1/namespaces/default/pods/sleeper"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn errors_are_status_objects_with_the_real_reasons() {
    let f = Fixture::start().await;
    let (code, status) = f.get("/api/v1/namespaces/default/pods/nope").await;
    assert_eq!(code, 404);
    assert_eq!(
        (
            status["kind"].as_str(),
            status["reason"].as_str(),
            status["code"].as_u64()
        ),
        (Some("Status"), Some("NotFound"), Some(404))
    );
    assert_eq!(status["message"], "pods \"nope\" not found");
    let (code, status) = f
        .create(&json!({"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c"}]}}))
        .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (422, Some("Invalid")),
        "{status:#}"
    );
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("spec.containers[0].image: Required value")
    );
    f.create(&shell_pod("twice", "exit 0", json!({}))).await;
    let (code, status) = f.create(&shell_pod("twice", "exit 0", json!({}))).await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );
    let (code, status) = f.get("/api/v1/namespaces/default/services").await;
    assert_eq!((code, status["kind"].as_str()), (404, Some("Status")));
    let (_, v) = f.get("/api/v1").await;
    assert_eq!(v["kind"], "APIResourceList");
    assert!(
        v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "pods/log")
    );
    assert_eq!(f.get("/api").await.1["kind"], "APIVersions");
    assert_eq!(f.get("/apis").await.1["kind"], "APIGroupList");
    assert_eq!(f.get("/version").await.1["major"], "1");
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn a_configured_token_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let server = ApiServer::start(
        "127.0.0.1:0".parse().unwrap(),
        dir.path(),
        Some("s3cret".into()),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/namespaces/default/pods", server.url());
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let status: Value = r.json().await.unwrap();
    assert_eq!(status["reason"], "Unauthorized");
    assert_eq!(
        http.get(&url)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(&url)
            .bearer_auth("s3cret")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.shutdown().await;
}

/// A kubeconfig for the stand-in, and kubectl with its caches in the temp dir.
fn kubectl(f: &Fixture, args: &[&str]) -> std::process::Output {
    let config = f.path("kubeconfig");
    if !config.exists() {
        std::fs::write(
            &config,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster:\n    server: {}\n\
                 contexts:\n- name: stand-in\n  context:\n    cluster: stand-in\n    namespace: default\n    user: me\n\
                 current-context: stand-in\nusers:\n- name: me\n  user: {{}}\n",
                f.cluster.rest_url()
            ),
        )
        .unwrap();
    }
    Command::new("kubectl")
        .args(args)
        .arg("--kubeconfig")
        .arg(&config)
        .arg("--cache-dir")
        .arg(f.path("kube-cache"))
        .arg("--request-timeout=30s")
        .env("HOME", &f.root)
        .output()
        .expect("kubectl is installed on these machines")
}

fn stdout_of(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_gets_pods_reads_logs_and_deletes_a_pod() {
    let f = Fixture::start().await;
    f.create(&shell_pod(
        "done",
        "echo finished work",
        json!({"tier": "batch"}),
    ))
    .await;
    let pidfile = f.path("pid");
    f.create(&shell_pod(
        "busy",
        &format!(
            "echo $$$$ > {}; echo working; exec sleep 600",
            pidfile.display()
        ),
        json!({}),
    ))
    .await;
    f.wait_pod("done", |p| phase(p) == "Succeeded").await;
    f.wait_pod("busy", |p| phase(p) == "Running").await;
    let pid = read_pid(&pidfile).await;

    let fx = &f;
    let get = tokio::task::block_in_place(|| stdout_of(&kubectl(fx, &["get", "pods"])));
    let lines: Vec<&str> = get.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STATUS"),
        "{get}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("done ") && l.contains("Completed")),
        "{get}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("busy ") && l.contains("Running") && l.contains("1/1")),
        "{get}"
    );
    let selected = tokio::task::block_in_place(|| {
        stdout_of(&kubectl(
            fx,
            &["get", "pods", "-l", "tier=batch", "-o", "name"],
        ))
    });
    assert_eq!(selected.trim(), "pod/done");
    let json_out = tokio::task::block_in_place(|| {
        stdout_of(&kubectl(fx, &["get", "pod", "done", "-o", "json"]))
    });
    let pod: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
        0
    );

    let logs = tokio::task::block_in_place(|| stdout_of(&kubectl(fx, &["logs", "done"])));
    assert_eq!(logs, "finished work\n");
    let logs =
        tokio::task::block_in_place(|| stdout_of(&kubectl(fx, &["logs", "busy", "-c", "main"])));
    assert_eq!(logs, "working\n");

    let deleted = tokio::task::block_in_place(|| {
        stdout_of(&kubectl(fx, &["delete", "pod", "busy", "--grace-period=3"]))
    });
    assert_eq!(deleted.trim(), "pod \"busy\" deleted");
    // kubectl waits until the pod is gone; its process went with it.
    assert_eq!(f.get("/api/v1/namespaces/default/pods/busy").await.0, 404);
    assert!(!common::process_alive(pid));
    let missing = tokio::task::block_in_place(|| kubectl(fx, &["get", "pod", "busy"]));
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("pods \"busy\" not found"),
        "{missing:?}"
    );
    f.0.cluster.shutdown().await;
}


const PYTHON_CLIENT: &str = r#"
import sys
from kubernetes import client, config, watch

config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
ns = "default"
pod = client.V1Pod(
    metadata=client.V1ObjectMeta(name="py-pod", labels={"made-by": "python"}),
    spec=client.V1PodSpec(restart_policy="Never", containers=[
        client.V1Container(name="main", image="busybox", command=["sh", "-c", "echo from python; exec sleep 600"])
    ]),
)
created = v1.create_namespaced_pod(ns, pod)
assert created.metadata.uid, created
print("created", created.metadata.name, created.status.phase)

w = watch.Watch()
for event in w.stream(v1.list_namespaced_pod, ns, label_selector="made-by=python", timeout_seconds=30):
    obj = event["object"]
    print("event", event["type"], obj.status.phase)
    if obj.status.phase == "Running":
        w.stop()

read = v1.read_namespaced_pod("py-pod", ns)
assert read.status.container_statuses[0].state.running is not None, read.status
pods = v1.list_namespaced_pod(ns, label_selector="made-by=python")
print("listed", [p.metadata.name for p in pods.items])
none = v1.list_namespaced_pod(ns, label_selector="made-by=nobody")
assert none.items == [], none

log = ""
for _ in range(600):
    log = v1.read_namespaced_pod_log("py-pod", ns, container="main")
    if log:
        break
    import time; time.sleep(0.05)
print("log", repr(log))

# List, then watch from the list's resourceVersion: nothing in between is missed.
before = v1.list_namespaced_pod(ns, field_selector="metadata.name=py-pod")
v1.delete_namespaced_pod("py-pod", ns, grace_period_seconds=2)
w = watch.Watch()
for event in w.stream(v1.list_namespaced_pod, ns, field_selector="metadata.name=py-pod",
                      resource_version=before.metadata.resource_version, timeout_seconds=30):
    if event["type"] == "DELETED":
        print("deleted")
        w.stop()
try:
    v1.read_namespaced_pod("py-pod", ns)
    print("still there")
except client.exceptions.ApiException as e:
    print("read after delete", e.status)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_kubernetes_client_creates_reads_lists_watches_and_deletes() {
    let f = Fixture::start().await;
    let python = common::python_with("kubernetes");
    kubectl(&f, &["version", "--client"]); // writes the kubeconfig
    let script = f.path("client.py");
    std::fs::write(&script, PYTHON_CLIENT).unwrap();
    let config = f.path("kubeconfig");
    let out = tokio::task::block_in_place(|| {
        Command::new(&python)
            .arg(&script)
            .arg(&config)
            .output()
            .unwrap()
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "created py-pod Pending");
    assert!(
        lines.iter().any(|l| l.starts_with("event ADDED ")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("event ") && l.ends_with(" Running")),
        "{stdout}"
    );
    assert!(lines.contains(&"listed ['py-pod']"), "{stdout}");
    assert!(lines.contains(&"log 'from python\\n'"), "{stdout}");
    assert!(lines.contains(&"deleted"), "{stdout}");
    assert_eq!(lines.last(), Some(&"read after delete 404"), "{stdout}");
    f.0.cluster.shutdown().await;
}
