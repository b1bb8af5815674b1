//! The Spark standalone stand-in, driven over HTTP like drover's plugin drives it.

#[macro_use]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

fixture_on_stand!();

impl Fixture {
    async fn start() -> Self {
        Self::with_worker(2, 4096).await
    }

    async fn with_worker(cores: u32, memory_mb: u32) -> Self {
        Fixture(common::Stand::with_worker(cores, memory_mb).await)
    }

    fn create_body(&self, resource: &str, props: &[(&str, &str)]) -> Value {
        let mut spark_properties = serde_json::Map::new();
        spark_properties.insert("spark.app.name".into(), "test-app".into());
        spark_properties.insert("spark.master".into(), self.cluster.master_url().into());
        spark_properties.insert("spark.submit.deployMode".into(), "cluster".into());
        for (k, v) in props {
            spark_properties.insert((*k).into(), (*v).into());
        }
        json!({
            "action": "CreateSubmissionRequest",
            "clientSparkVersion": "4.0.0",
            "appResource": resource,
            "mainClass": "",
            "appArgs": ["one", "two words"],
            "sparkProperties": spark_properties,
            "environmentVariables": {"GREETING": "hello from env"},
        })
    }

    async fn create(&self, resource: &Path, props: &[(&str, &str)]) -> String {
        let resource = format!("file:{}", resource.display());
        let reply = self
            .http
            .post(self.url("/v1/submissions/create"))
            .json(&self.create_body(&resource, props))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        let reply: Value = reply.json().await.unwrap();
        assert_eq!(reply["action"], "CreateSubmissionResponse");
        assert_eq!(reply["success"], true);
        let id = reply["submissionId"].as_str().unwrap().to_owned();
        assert_eq!(
            reply["message"],
            format!("Driver successfully submitted as {id}")
        );
        id
    }

    async fn status(&self, id: &str) -> Value {
        let reply = self
            .http
            .get(self.url(&format!("/v1/submissions/status/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        reply.json().await.unwrap()
    }

    /// Poll until the driver is in one of `states`; panic with the last status at the deadline.
    async fn wait_for(&self, id: &str, states: &[&str]) -> Value {
        let start = Instant::now();
        loop {
            let status = self.status(id).await;
            if states.iter().any(|s| status["driverState"] == *s) {
                return status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "driver {id} never reached {states:?}; last status {status}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn log(&self, id: &str, log_type: &str) -> String {
        let reply = self
            .http
            .get(self.url(&format!("/log/?driverId={id}&logType={log_type}")))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        assert!(
            reply.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        reply.text().await.unwrap()
    }

    /// Poll the driver's stdout until it contains `needle`.
    async fn wait_for_log(&self, id: &str, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let log = self.log(id, "stdout").await;
            if log.contains(needle) {
                return log;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "stdout of {id} never showed {needle:?}: {log}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn kill(&self, id: &str) -> (reqwest::StatusCode, Value) {
        let reply = self
            .http
            .post(self.url(&format!("/v1/submissions/kill/{id}")))
            .send()
            .await
            .unwrap();
        (reply.status(), reply.json().await.unwrap())
    }

    async fn master_json(&self) -> Value {
        self.http
            .get(self.url("/json/"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A script that prints its pid (so the test can find the process) then sleeps.
const SLEEPER: &str = "import os, time\nprint('pid', os.getpid(), flush=True)\ntime.sleep(60)\n";

fn pid_from_log(log: &str) -> i32 {
    log.lines()
        .find_map(|l| l.strip_prefix("pid "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid line in {log:?}"))
}


async fn wait_until_gone(pid: i32) {
    let start = Instant::now();
    while common::process_alive(u32::try_from(pid).expect("a pid")) {
        assert!(start.elapsed() < DEADLINE, "process {pid} is still alive");
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn python_driver_finishes_and_its_output_is_served_by_the_worker_log_page() {
    let f = Fixture::start().await;
    let app = f.script(
        "hello.py",
        "import os, sys\nprint('hello', sys.argv[1:], os.environ['GREETING'], os.environ['SPARK_DRIVER_ID'])\n",
    );
    let id = f
        .create(
            &app,
            &[("spark.drover.submissionKey", "run-1/task-a/try-1")],
        )
        .await;
    assert!(id.starts_with("driver-") && id.ends_with("-0000"), "{id}");

    let status = f.wait_for(&id, &["FINISHED", "FAILED", "ERROR"]).await;
    assert_eq!(status["driverState"], "FINISHED", "{status}");
    assert_eq!(status["action"], "SubmissionStatusResponse");
    assert_eq!(status["success"], true);
    assert_eq!(status["workerHostPort"], f.cluster.addr().to_string());
    assert!(status["workerId"].as_str().unwrap().starts_with("worker-"));

    let log = f.log(&id, "stdout").await;
    let expected_text = format!("hello ['one', 'two words'] hello from env {id}\n");
    let stdout_path = f.cluster.work_dir().join(&id).join("stdout");
    let n = expected_text.len();
    assert_eq!(
        log,
        format!(
            "==== Bytes 0-{n} of {n} of {} ====\n{expected_text}",
            stdout_path.display()
        )
    );
    // A range, as Spark's log page pages through a file.
    let reply = f
        .http
        .get(f.url(&format!(
            "/log/?driverId={id}&logType=stdout&offset=0&byteLength=5"
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        reply,
        format!(
            "==== Bytes 0-5 of {n} of {} ====\nhello",
            stdout_path.display()
        )
    );
    // stderr carries the worker's launch header.
    assert!(f.log(&id, "stderr").await.contains("Launch Command: \""));

    let master = f.master_json().await;
    assert_eq!(master["status"], "ALIVE");
    assert_eq!(master["aliveworkers"], 1);
    assert_eq!(master["workers"][0]["state"], "ALIVE");
    assert_eq!(master["workers"][0]["webuiaddress"], f.cluster.rest_url());
    assert_eq!(master["activedrivers"], json!([]));
    assert_eq!(master["completeddrivers"][0]["id"], id.as_str());
    assert_eq!(master["completeddrivers"][0]["state"], "FINISHED");

    let submissions = f.cluster.submissions();
    assert_eq!(submissions.len(), 1);
    assert_eq!(submissions[0].submission_id, id);
    assert_eq!(submissions[0].app_name, "test-app");
    assert_eq!(
        submissions[0].submission_key.as_deref(),
        Some("run-1/task-a/try-1")
    );
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn replies_are_rendered_like_sparks_jackson_mapper() {
    let f = Fixture::start().await;
    let reply = f
        .http
        .get(f.url("/v1/submissions/status/driver-nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()["content-type"],
        "application/json;charset=utf-8"
    );
    assert_eq!(
        reply.text().await.unwrap(),
        "{\n  \"action\" : \"SubmissionStatusResponse\",\n  \"serverSparkVersion\" : \"4.0.0\",\n  \
         \"submissionId\" : \"driver-nope\",\n  \"success\" : false\n}"
    );
    let readyz: Value = f
        .http
        .get(f.url("/v1/submissions/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(readyz["success"], true);
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn failing_script_ends_failed() {
    let f = Fixture::start().await;
    let app = f.script("fail.py", "import sys\nsys.exit(1)\n");
    let id = f.create(&app, &[]).await;
    let status = f.wait_for(&id, &["FINISHED", "FAILED", "ERROR"]).await;
    assert_eq!(status["driverState"], "FAILED", "{status}");
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn missing_resource_ends_in_error_with_the_no_such_file_exception() {
    let f = Fixture::start().await;
    let missing = f.root.join("not-there.py");
    let id = f.create(&missing, &[]).await;
    let status = f.wait_for(&id, &["FINISHED", "FAILED", "ERROR"]).await;
    assert_eq!(status["driverState"], "ERROR", "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "Exception from the cluster:\njava.nio.file.NoSuchFileException: {}",
            missing.display()
        )),
        "{message}"
    );
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn kill_stops_a_running_driver_and_its_process() {
    let f = Fixture::start().await;
    let app = f.script("sleep.py", SLEEPER);
    let id = f.create(&app, &[]).await;
    f.wait_for(&id, &["RUNNING"]).await;
    let pid = pid_from_log(&f.wait_for_log(&id, "pid ").await);
    assert!(common::process_alive(u32::try_from(pid).expect("a pid")));

    let (code, reply) = f.kill(&id).await;
    assert_eq!(code, 200);
    assert_eq!(reply["action"], "KillSubmissionResponse");
    assert_eq!(reply["success"], true);
    assert_eq!(reply["message"], format!("Kill request for {id} submitted"));

    let status = f.wait_for(&id, &["KILLED", "FINISHED", "FAILED"]).await;
    assert_eq!(status["driverState"], "KILLED", "{status}");
    wait_until_gone(pid).await;

    // A finished driver can no longer be killed, like on a real master.
    let (code, reply) = f.kill(&id).await;
    assert_eq!(code, 200);
    assert_eq!(reply["success"], false);
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn kill_of_an_unknown_id_answers_200_with_success_false() {
    let f = Fixture::start().await;
    let (code, reply) = f.kill("driver-20000101000000-9999").await;
    assert_eq!(code, 200);
    assert_eq!(reply["action"], "KillSubmissionResponse");
    assert_eq!(reply["success"], false);
    assert_eq!(
        reply["message"],
        "Driver driver-20000101000000-9999 has already finished or does not exist"
    );
    let status = f.status("driver-20000101000000-9999").await;
    assert_eq!(status["success"], false);
    assert!(status.get("driverState").is_none());
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn driver_larger_than_the_worker_stays_submitted_while_a_smaller_one_runs() {
    let f = Fixture::with_worker(2, 4096).await;
    let done = f.script("done.py", "print('small one ran')\n");
    let big = f.create(&done, &[("spark.driver.cores", "3")]).await;
    let small = f
        .create(
            &done,
            &[("spark.driver.cores", "1"), ("spark.driver.memory", "512m")],
        )
        .await;

    let status = f.wait_for(&small, &["FINISHED", "FAILED", "ERROR"]).await;
    assert_eq!(status["driverState"], "FINISHED", "{status}");
    for _ in 0..2 {
        let status = f.status(&big).await;
        assert_eq!(status["driverState"], "SUBMITTED", "{status}");
        assert!(status.get("workerId").is_none());
    }
    let master = f.master_json().await;
    assert_eq!(master["activedrivers"][0]["id"], big.as_str());
    assert_eq!(master["activedrivers"][0]["worker"], "None");
    assert_eq!(master["activedrivers"][0]["cores"], 3);

    // A waiting driver is killed at once.
    let (_, reply) = f.kill(&big).await;
    assert_eq!(reply["success"], true);
    assert_eq!(f.status(&big).await["driverState"], "KILLED");
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn supervised_failing_driver_is_relaunched_until_killed() {
    let f = Fixture::start().await;
    let app = f.script(
        "flaky.py",
        "import sys\nprint('attempt', flush=True)\nsys.exit(2)\n",
    );
    let id = f.create(&app, &[("spark.driver.supervise", "true")]).await;

    let start = Instant::now();
    let status = loop {
        let status = f.status(&id).await;
        let relaunched = status["message"]
            .as_str()
            .is_some_and(|m| m.contains("relaunches=") && !m.contains("relaunches=0"));
        if relaunched && status["driverState"] != "SUBMITTED" {
            break status;
        }
        assert!(start.elapsed() < DEADLINE, "never relaunched: {status}");
        tokio::time::sleep(POLL).await;
    };
    assert!(
        ["RELAUNCHING", "RUNNING"].contains(&status["driverState"].as_str().unwrap()),
        "{status}"
    );
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("Supervised driver: relaunches=")
    );

    let (_, reply) = f.kill(&id).await;
    assert_eq!(reply["success"], true);
    let status = f.wait_for(&id, &["KILLED", "FAILED", "FINISHED"]).await;
    assert_eq!(status["driverState"], "KILLED", "{status}");
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_400_error_responses() {
    let f = Fixture::start().await;
    let post = |body: String| {
        f.http
            .post(f.url("/v1/submissions/create"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let reply = post("{not json".to_owned()).await.unwrap();
    assert_eq!(reply.status(), 400);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["action"], "ErrorResponse");
    assert_eq!(body["highestProtocolVersion"], "v1");
    assert_eq!(body["serverSparkVersion"], "4.0.0");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Malformed request: ")
    );

    let mut missing_name = f.create_body("file:/x.py", &[]);
    missing_name["sparkProperties"]
        .as_object_mut()
        .unwrap()
        .remove("spark.app.name");
    let reply = post(missing_name.to_string()).await.unwrap();
    assert_eq!(reply.status(), 400);
    let body: Value = reply.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("'spark.app.name' is missing"),
        "{body}"
    );

    let mut no_resource = f.create_body("file:/x.py", &[]);
    no_resource.as_object_mut().unwrap().remove("appResource");
    let reply = post(no_resource.to_string()).await.unwrap();
    assert_eq!(reply.status(), 400);

    let reply = post(json!({"action": "CreateSubmissionRequest", "appArgs": 5}).to_string())
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);

    // A jar without a main class is refused like the real server does.
    let jar = f.create_body("file:/x.jar", &[]);
    let reply = post(jar.to_string()).await.unwrap();
    assert_eq!(reply.status(), 400);
    let body: Value = reply.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Main class is missing."),
        "{body}"
    );

    let reply = f
        .http
        .get(f.url("/v2/submissions/create"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 468);

    assert!(f.cluster.submissions().is_empty());
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn shutdown_kills_running_drivers() {
    let f = Fixture::start().await;
    let app = f.script("sleep.py", SLEEPER);
    let first = f.create(&app, &[]).await;
    let second = f.create(&app, &[]).await;
    let pids = [
        pid_from_log(&f.wait_for_log(&first, "pid ").await),
        pid_from_log(&f.wait_for_log(&second, "pid ").await),
    ];
    assert!(pids.iter().all(|&p| common::process_alive(u32::try_from(p).expect("a pid"))));
    f.0.cluster.shutdown().await;
    for pid in pids {
        assert!(
            !common::process_alive(u32::try_from(pid).expect("a pid")),
            "driver process {pid} outlived shutdown"
        );
    }
}
