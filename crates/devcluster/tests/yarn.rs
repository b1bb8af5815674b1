//! The YARN ResourceManager stand-in, driven over HTTP the way drover's plugin
//! and the PyPI yarn-api-client drive a real one.

#[macro_use]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

fixture_on_stand!();

impl Fixture {
    async fn start() -> Self {
        Fixture(common::Stand::with_worker(2, 4096).await)
    }

    async fn new_application(&self) -> String {
        let reply = self
            .http
            .post(self.url("/ws/v1/cluster/apps/new-application"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        let body: Value = reply.json().await.unwrap();
        assert!(
            body["maximum-resource-capability"]["memory"]
                .as_u64()
                .unwrap()
                > 0,
            "{body}"
        );
        body["application-id"].as_str().unwrap().to_owned()
    }

    /// Submits `script` as a Spark cluster-mode app (the AM command Spark builds).
    async fn submit(&self, script: &Path, args: &[&str], max_attempts: u32, tag: &str) -> String {
        let id = self.new_application().await;
        let body = submission(&id, script, args, max_attempts, tag);
        let reply = self
            .http
            .post(self.url("/ws/v1/cluster/apps"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 202);
        assert_eq!(
            reply.headers()["location"].to_str().unwrap(),
            self.url(&format!("/ws/v1/cluster/apps/{id}"))
        );
        id
    }

    async fn app(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/ws/v1/cluster/apps/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body["app"].clone()
    }

    async fn attempts(&self, id: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/ws/v1/cluster/apps/{id}/appattempts"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["appAttempts"]["appAttempt"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Polls until the app is in `state`; returns every "STATE/FINAL" pair seen on the way.
    async fn wait_for(&self, id: &str, state: &str) -> (Value, Vec<String>) {
        let start = Instant::now();
        let mut seen: Vec<String> = Vec::new();
        loop {
            let app = self.app(id).await;
            let pair = format!(
                "{}/{}",
                app["state"].as_str().unwrap(),
                app["finalStatus"].as_str().unwrap()
            );
            if seen.last() != Some(&pair) {
                seen.push(pair);
            }
            if app["state"] == state {
                return (app, seen);
            }
            assert!(
                start.elapsed() < DEADLINE,
                "app {id} never reached {state}; saw {seen:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn kill(&self, id: &str) -> (u16, Value) {
        let reply = self
            .http
            .put(self.url(&format!("/ws/v1/cluster/apps/{id}/state")))
            .json(&json!({"state": "KILLED"}))
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap())
    }

    /// A container log through the NodeManager's REST API, from `amContainerLogs`.
    async fn log(&self, app: &Value, file: &str) -> String {
        let page = app["amContainerLogs"].as_str().unwrap();
        let container = page
            .split('/')
            .find(|p| p.starts_with("container_"))
            .unwrap();
        let reply = self
            .http
            .get(self.url(&format!("/ws/v1/node/containerlogs/{container}/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        reply.text().await.unwrap()
    }
}

fn submission(id: &str, script: &Path, args: &[&str], max_attempts: u32, tag: &str) -> Value {
    let args: String = args.iter().map(|a| format!(" --arg '{a}'")).collect();
    json!({
        "application-id": id,
        "application-name": "yarn stand-in test",
        "queue": "default",
        "priority": 0,
        "am-container-spec": {
            "local-resources": {"entry": []},
            "environment": {"entry": [{"key": "GREETING", "value": "hello from env"}]},
            "commands": {"command": format!(
                "{{{{JAVA_HOME}}}}/bin/java -server -Xmx512m '-Dspark.app.name=yarn stand-in test' \
                 -Dspark.yarn.app.container.log.dir=<LOG_DIR> org.apache.spark.deploy.yarn.ApplicationMaster \
                 --class 'drover.Test' --jar '{}'{args} 1><LOG_DIR>/stdout 2><LOG_DIR>/stderr",
                script.display()
            )},
        },
        "unmanaged-AM": false,
        "max-app-attempts": max_attempts,
        "resource": {"memory": 896, "vCores": 1},
        "application-type": "SPARK",
        "keep-containers-across-application-attempts": false,
        "application-tags": {"tag": [tag]},
    })
}

#[tokio::test]
async fn an_app_moves_from_accepted_through_running_to_finished_succeeded() {
    let f = Fixture::start().await;
    let release = f.root.join("release");
    let script = f.script(
        "ok.sh",
        &format!(
            "#!/bin/sh\necho \"args: $1 $2\"\necho \"env: $GREETING in $CONTAINER_ID\"\necho oops >&2\n\
             while [ ! -e '{}' ]; do sleep 0.05; done\n",
            release.display()
        ),
    );
    let id = f
        .submit(&script, &["one", "two words"], 2, "drover-key:drover-ok")
        .await;
    let (app, seen) = f.wait_for(&id, "RUNNING").await;
    assert!(
        seen.iter().all(|s| [
            "NEW/UNDEFINED",
            "NEW_SAVING/UNDEFINED",
            "SUBMITTED/UNDEFINED",
            "ACCEPTED/UNDEFINED",
            "RUNNING/UNDEFINED"
        ]
        .contains(&s.as_str())),
        "{seen:?}"
    );
    assert_eq!(app["applicationType"], "SPARK");
    assert_eq!(app["applicationTags"], "drover-key:drover-ok");
    assert_eq!(app["trackingUI"], "ApplicationMaster");
    let (status, state) = f.get(&format!("/ws/v1/cluster/apps/{id}/state")).await;
    assert_eq!((status, state), (200, json!({"state": "RUNNING"})));
    let attempts = f.attempts(&id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["id"], 1);
    assert!(
        attempts[0]["containerId"]
            .as_str()
            .unwrap()
            .ends_with("_01_000001")
    );

    std::fs::write(&release, "").unwrap();
    let (app, _) = f.wait_for(&id, "FINISHED").await;
    assert_eq!(app["finalStatus"], "SUCCEEDED");
    assert!(app["finishedTime"].as_i64().unwrap() >= app["startedTime"].as_i64().unwrap());
    let stdout = f.log(&app, "stdout").await;
    assert!(stdout.contains("LogType:stdout\n"), "{stdout}");
    assert!(stdout.contains("args: one two words\n"), "{stdout}");
    assert!(
        stdout.contains("env: hello from env in container_"),
        "{stdout}"
    );
    let stderr = f.log(&app, "stderr").await;
    assert!(stderr.contains("oops"), "{stderr}");
    assert_eq!(f.cluster.submissions().len(), 1);
    assert_eq!(
        f.cluster.submissions()[0].submission_key.as_deref(),
        Some("drover-ok")
    );
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn a_failing_am_is_retried_as_attempt_2_then_the_app_fails() {
    let f = Fixture::start().await;
    let script = f.script(
        "boom.sh",
        "#!/bin/sh\necho \"attempt in $CONTAINER_ID failing\" >&2\nexit 3\n",
    );
    let id = f.submit(&script, &[], 2, "t").await;
    let (app, _) = f.wait_for(&id, "FINISHED").await;
    assert_eq!(app["finalStatus"], "FAILED");
    assert!(
        app["diagnostics"]
            .as_str()
            .unwrap()
            .contains("exited with status 3"),
        "{app}"
    );
    let attempts = f.attempts(&id).await;
    let ids: Vec<&Value> = attempts.iter().map(|a| &a["id"]).collect();
    assert_eq!(ids, [&json!(1), &json!(2)]);
    assert!(
        attempts.iter().all(|a| a["appAttemptState"] == "FAILED"),
        "{attempts:?}"
    );
    // The latest attempt's container is the one amContainerLogs points at.
    assert!(
        app["amContainerLogs"]
            .as_str()
            .unwrap()
            .contains("_02_000001"),
        "{app}"
    );
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn an_am_failing_on_attempt_1_succeeds_on_attempt_2() {
    let f = Fixture::start().await;
    let script = f.script(
        "flaky.sh",
        "#!/bin/sh\ncase \"$CONTAINER_ID\" in *_01_000001) echo first >&2; exit 1;; esac\necho second\n",
    );
    let id = f.submit(&script, &[], 3, "t").await;
    let (app, _) = f.wait_for(&id, "FINISHED").await;
    assert_eq!(app["finalStatus"], "SUCCEEDED", "{app}");
    assert_eq!(f.attempts(&id).await.len(), 2);
    assert!(f.log(&app, "stdout").await.contains("second"));
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn an_am_that_cannot_start_fails_every_attempt_with_the_rm_diagnostic() {
    let f = Fixture::start().await;
    let id = f.submit(&f.root.join("missing.jar"), &[], 2, "t").await;
    let (app, _) = f.wait_for(&id, "FAILED").await;
    assert_eq!(app["finalStatus"], "FAILED");
    let diagnostics = app["diagnostics"].as_str().unwrap();
    assert!(diagnostics.contains("failed 2 times"), "{diagnostics}");
    assert!(diagnostics.contains("NoSuchFileException"), "{diagnostics}");
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn kill_stops_the_am_process_and_the_app_ends_killed() {
    let f = Fixture::start().await;
    let pid_file = f.root.join("pid");
    let script = f.script(
        "sleepy.sh",
        &format!(
            "#!/bin/sh\necho $$ > '{}'\nexec sleep 300\n",
            pid_file.display()
        ),
    );
    let id = f.submit(&script, &[], 2, "t").await;
    f.wait_for(&id, "RUNNING").await;
    let (status, body) = f.kill(&id).await;
    assert_eq!(status, 202, "{body}");
    let (app, _) = f.wait_for(&id, "KILLED").await;
    assert_eq!(app["finalStatus"], "KILLED");
    assert_eq!(app["diagnostics"], "Application killed by user.");
    // The process is gone, and no new attempt was started for a kill.
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_owned();
    let start = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            start.elapsed() < DEADLINE,
            "AM process {pid} still alive after the kill"
        );
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(f.attempts(&id).await.len(), 1);
    // Killing an ended app is done at once.
    assert_eq!(f.kill(&id).await, (200, json!({"state": "KILLED"})));
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn apps_are_found_by_their_lowercased_tags() {
    let f = Fixture::start().await;
    let script = f.script("quick.sh", "#!/bin/sh\nexit 0\n");
    let id = f.submit(&script, &[], 1, "Drover-Key:Drover-ABC").await;
    let (status, body) = f
        .get("/ws/v1/cluster/apps?applicationTags=drover-key:drover-abc")
        .await;
    assert_eq!(status, 200);
    let apps = body["apps"]["app"].as_array().unwrap();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0]["id"], id.as_str());
    assert_eq!(apps[0]["applicationTags"], "drover-key:drover-abc");
    let (_, none) = f
        .get("/ws/v1/cluster/apps?applicationTags=drover-key:nobody")
        .await;
    assert_eq!(none, json!({"apps": null}));
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn unknown_apps_and_bad_requests_answer_remote_exceptions() {
    let f = Fixture::start().await;
    let (status, body) = f.get("/ws/v1/cluster/apps/application_1_0042").await;
    assert_eq!(status, 404);
    assert_eq!(body["RemoteException"]["exception"], "NotFoundException");
    assert!(
        body["RemoteException"]["message"]
            .as_str()
            .unwrap()
            .contains("application_1_0042")
    );
    let reply = f
        .http
        .put(f.url("/ws/v1/cluster/apps/application_1_0042/state"))
        .json(&json!({"state": "RUNNING"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    let reply = f
        .http
        .post(f.url("/ws/v1/cluster/apps"))
        .json(&json!({"application-name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(
        body["RemoteException"]["javaClassName"],
        "org.apache.hadoop.yarn.webapp.BadRequestException"
    );
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn submitting_the_same_application_id_twice_keeps_one_application() {
    let f = Fixture::start().await;
    let script = f.script("quick.sh", "#!/bin/sh\nexit 0\n");
    let id = f.submit(&script, &[], 1, "t").await;
    let again = f
        .http
        .post(f.url("/ws/v1/cluster/apps"))
        .json(&submission(&id, &script, &[], 1, "t"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(f.cluster.submissions().len(), 1);
    f.0.cluster.shutdown().await;
}


const YARN_API_CLIENT_SCRIPT: &str = r#"
import sys, time
from yarn_api_client.resource_manager import ResourceManager

url, script = sys.argv[1], sys.argv[2]
rm = ResourceManager(service_endpoints=[url], timeout=10)  # probes GET {url}/cluster
assert rm.get_active_endpoint() == url, rm.get_active_endpoint()
info = rm.cluster_information().data["clusterInfo"]
assert info["haState"] == "ACTIVE" and info["state"] == "STARTED", info

new = rm.cluster_new_application().data
app_id = new["application-id"]
assert app_id.startswith("application_"), new
rm.cluster_submit_application({
    "application-id": app_id,
    "application-name": "from yarn-api-client",
    "queue": "default",
    "am-container-spec": {
        "commands": {"command": "{{JAVA_HOME}}/bin/java org.apache.spark.deploy.yarn.ApplicationMaster "
                                "--class Main --jar '%s' 1><LOG_DIR>/stdout 2><LOG_DIR>/stderr" % script},
        "environment": {"entry": []},
        "local-resources": {"entry": []},
    },
    "max-app-attempts": 1,
    "resource": {"memory": 512, "vCores": 1},
    "application-type": "SPARK",
    "application-tags": {"tag": ["drover-key:py-client"]},
})

def wait(state):
    deadline = time.time() + 30
    while True:
        app = rm.cluster_application(app_id).data["app"]
        if app["state"] == state:
            return app
        assert time.time() < deadline, app
        time.sleep(0.05)

app = wait("RUNNING")
assert app["name"] == "from yarn-api-client" and app["finalStatus"] == "UNDEFINED", app
assert rm.cluster_application_state(app_id).data == {"state": "RUNNING"}
attempts = rm.cluster_application_attempts(app_id).data["appAttempts"]["appAttempt"]
assert [a["id"] for a in attempts] == [1], attempts
found = rm.cluster_applications(application_tags=["drover-key:py-client"]).data["apps"]["app"]
assert [a["id"] for a in found] == [app_id], found
rm.cluster_application_kill(app_id)
app = wait("KILLED")
assert app["finalStatus"] == "KILLED", app
print("yarn-api-client OK", app_id)
"#;

#[tokio::test]
async fn the_pypi_yarn_api_client_drives_the_stand_in() {
    let python = common::python_with("yarn_api_client");
    let f = Fixture::start().await;
    let script = f.script("sleepy.sh", "#!/bin/sh\nexec sleep 300\n");
    let client = f.root.join("client.py");
    std::fs::write(&client, YARN_API_CLIENT_SCRIPT).unwrap();
    let url = f.cluster.rest_url();
    let out = tokio::process::Command::new(python)
        .arg(&client)
        .arg(&url)
        .arg(&script)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "yarn-api-client failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("yarn-api-client OK application_"),
        "{stdout}"
    );
    let subs = f.cluster.submissions();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0].submission_key.as_deref(), Some("py-client"));
    f.0.cluster.shutdown().await;
}
