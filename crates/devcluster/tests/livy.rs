//! The Apache Livy stand-in, driven over HTTP the way drover's livy plugin and
//! the PyPI `livy` client drive a real Livy server.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

fixture_on_stand!();

impl Fixture {
    async fn start() -> Self {
        Fixture(common::Stand::with_worker(2, 4096).await)
    }

    fn livy(&self, path: &str) -> String {
        format!("{}{path}", self.cluster.livy_url())
    }

    async fn livy_get(&self, path: &str) -> (u16, Value) {
        let reply = self.http.get(self.livy(path)).send().await.unwrap();
        (reply.status().as_u16(), reply.json().await.unwrap())
    }

    async fn create(&self, body: Value) -> (u16, Value) {
        let reply = self
            .http
            .post(self.livy("/batches"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        let location = reply
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let body: Value = reply.json().await.unwrap();
        if status == 201 {
            assert_eq!(location, Some(format!("/livy/batches/{}", body["id"])));
        }
        (status, body)
    }

    async fn delete(&self, id: &str) -> (u16, Value) {
        let reply = self
            .http
            .delete(self.livy(&format!("/batches/{id}")))
            .send()
            .await
            .unwrap();
        (reply.status().as_u16(), reply.json().await.unwrap())
    }

    /// Polls `/state` until the batch is in `state`.
    async fn wait_for(&self, id: u64, state: &str) {
        let start = Instant::now();
        loop {
            let (status, body) = self.livy_get(&format!("/batches/{id}/state")).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["id"], id);
            if body["state"] == state {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "batch {id} never reached {state}; last {body}"
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

#[tokio::test]
async fn a_batch_runs_its_file_and_its_log_pages_by_lines() {
    let f = Fixture::start().await;
    let script = f.script(
        "lines.sh",
        "#!/bin/sh\nfor i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo \"line $i of $1\"; done\necho oops >&2\n",
    );
    let (status, batch) = f
        .create(json!({
            "file": script.display().to_string(),
            "args": ["twelve"],
            "name": "lines",
            "conf": {"spark.drover.submissionKey": "drover-k1"},
        }))
        .await;
    assert_eq!(status, 201, "{batch}");
    assert_eq!(batch["id"], 0);
    assert_eq!(batch["name"], "lines");
    assert!(
        ["starting", "running", "success"].contains(&batch["state"].as_str().unwrap()),
        "{batch}"
    );
    f.wait_for(0, "success").await;

    let (status, batch) = f.livy_get("/batches/0").await;
    assert_eq!(status, 200);
    assert!(
        batch["appId"].as_str().unwrap().starts_with("application_"),
        "{batch}"
    );
    // The batch object carries the last 10 lines; stderr ends the log.
    let recent = batch["log"].as_array().unwrap();
    assert_eq!(recent.len(), 10, "{batch}");
    assert_eq!(recent.last().unwrap(), "oops");
    // By name too, as Livy looks a non-numeric id up.
    assert_eq!(f.livy_get("/batches/lines").await.1["id"], 0);

    let (status, all) = f.livy_get("/batches/0/log?from=0&size=-1").await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = all["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(lines[0], "stdout: ");
    assert_eq!(lines[1], "line 1 of twelve");
    assert_eq!(lines[12], "line 12 of twelve");
    assert_eq!(lines[13], "\nstderr: ");
    assert_eq!(all["total"], lines.len());

    let (_, page) = f.livy_get("/batches/0/log?from=2&size=3").await;
    assert_eq!(
        page,
        json!({"id": 0, "from": 2, "total": lines.len(),
               "log": ["line 2 of twelve", "line 3 of twelve", "line 4 of twelve"]})
    );
    // Without `from`, the last `size` lines.
    let (_, tail) = f.livy_get("/batches/0/log?size=2").await;
    assert_eq!(tail["from"], lines.len() - 2);
    assert_eq!(tail["log"], json!(lines[lines.len() - 2..]));
    // Past the end: an empty page, not an error.
    let (_, past) = f.livy_get("/batches/0/log?from=500&size=10").await;
    assert_eq!(past["log"], json!([]));

    let subs = f.cluster.submissions();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].manager, "livy");
    assert_eq!(subs[0].submission_key.as_deref(), Some("drover-k1"));
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn a_failing_or_unstartable_driver_ends_dead_with_the_reason_in_its_log() {
    let f = Fixture::start().await;
    let script = f.script("boom.sh", "#!/bin/sh\necho boom >&2\nexit 3\n");
    let (_, failing) = f
        .create(json!({"file": format!("file://{}", script.display())}))
        .await;
    let (_, missing) = f
        .create(json!({"file": f.root.join("missing.py").display().to_string()}))
        .await;
    let (_, jar) = f
        .create(json!({"file": f.script("app.jar", "").display().to_string()}))
        .await;
    for batch in [&failing, &missing, &jar] {
        f.wait_for(batch["id"].as_u64().unwrap(), "dead").await;
    }
    let log = |v: &Value| v["log"].as_array().unwrap().clone();
    let (_, failing) = f.livy_get(&format!("/batches/{}", failing["id"])).await;
    assert!(log(&failing).contains(&json!("boom")), "{failing}");
    let (_, missing) = f.livy_get(&format!("/batches/{}", missing["id"])).await;
    assert!(
        log(&missing)
            .iter()
            .any(|l| l.as_str().unwrap().contains("NoSuchFileException")),
        "{missing}"
    );
    assert_eq!(missing["appId"], Value::Null);
    let (_, jar) = f.livy_get(&format!("/batches/{}", jar["id"])).await;
    assert!(
        log(&jar)
            .iter()
            .any(|l| l.as_str().unwrap().contains("No main class")),
        "{jar}"
    );
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn unknown_batches_answer_404_and_bad_requests_400_with_a_msg() {
    let f = Fixture::start().await;
    for path in [
        "/batches/7",
        "/batches/7/state",
        "/batches/7/log",
        "/batches/nobody",
    ] {
        let (status, body) = f.livy_get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            body["msg"].as_str().unwrap().contains("not found"),
            "{body}"
        );
    }
    assert_eq!(
        f.livy_get("/batches/7").await.1,
        json!({"msg": "Session '7' not found."})
    );
    assert_eq!(f.delete("7").await.0, 404);

    let (status, body) = f.create(json!({"args": ["x"]})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"msg": "Rejected, Reason: requirement failed: File is required."})
    );
    let (status, body) = f
        .create(json!({"file": "/bin/true", "klass": "Main"}))
        .await;
    assert_eq!(status, 400);
    assert!(body["msg"].as_str().unwrap().contains("klass"), "{body}");
    let (status, _) = f.livy_get("/batches?from=x").await;
    assert_eq!(status, 500);
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn a_name_in_use_is_refused_until_its_batch_is_deleted() {
    let f = Fixture::start().await;
    let sleepy = f.script("sleepy.sh", "#!/bin/sh\nexec sleep 300\n");
    let file = sleepy.display().to_string();
    let (status, first) = f.create(json!({"file": file, "name": "drover-abc"})).await;
    assert_eq!(status, 201);
    let (status, body) = f.create(json!({"file": file, "name": "drover-abc"})).await;
    assert_eq!(status, 400);
    // Livy took an id for the refused request too.
    assert_eq!(
        body,
        json!({"msg": "Rejected, Reason: Duplicate session name: Some(drover-abc) for session 1"})
    );
    assert_eq!(
        f.delete("drover-abc").await,
        (200, json!({"msg": "deleted"}))
    );
    let (status, second) = f.create(json!({"file": file, "name": "drover-abc"})).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(
        (first["id"].clone(), second["id"].clone()),
        (json!(0), json!(2))
    );
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn batches_list_pages_by_from_and_size() {
    let f = Fixture::start().await;
    let quick = f.script("quick.sh", "#!/bin/sh\nexit 0\n");
    for _ in 0..5 {
        let (status, _) = f.create(json!({"file": quick.display().to_string()})).await;
        assert_eq!(status, 201);
    }
    let ids = |v: &Value| -> Vec<u64> {
        v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_u64().unwrap())
            .collect()
    };
    let (status, all) = f.livy_get("/batches").await;
    assert_eq!(status, 200);
    assert_eq!(
        (all["from"].clone(), all["total"].clone()),
        (json!(0), json!(5))
    );
    assert_eq!(ids(&all), [0, 1, 2, 3, 4]);
    let (_, page) = f.livy_get("/batches?from=1&size=2").await;
    assert_eq!(
        (page["from"].clone(), page["total"].clone()),
        (json!(1), json!(5))
    );
    assert_eq!(ids(&page), [1, 2]);
    let (_, rest) = f.livy_get("/batches?from=4&size=10").await;
    assert_eq!(ids(&rest), [4]);
    let one = &all["sessions"][0];
    for field in [
        "id",
        "name",
        "owner",
        "proxyUser",
        "state",
        "appId",
        "appInfo",
        "log",
    ] {
        assert!(one.get(field).is_some(), "no {field} in {one}");
    }
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn delete_kills_the_driver_and_forgets_the_batch() {
    let f = Fixture::start().await;
    let pid_file = f.root.join("pid");
    let script = f.script(
        "sleepy.sh",
        &format!(
            "#!/bin/sh\necho $$ > '{}'\nexec sleep 300\n",
            pid_file.display()
        ),
    );
    let (_, batch) = f
        .create(json!({"file": script.display().to_string()}))
        .await;
    let id = batch["id"].as_u64().unwrap();
    f.wait_for(id, "running").await;
    let start = Instant::now();
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(start.elapsed() < DEADLINE, "the driver never wrote its pid");
        tokio::time::sleep(POLL).await;
    };
    assert!(common::process_alive(pid));
    // DELETE answers once the driver is stopped, as Livy awaits the session's stop.
    assert_eq!(
        f.delete(&id.to_string()).await,
        (200, json!({"msg": "deleted"}))
    );
    assert!(
        !common::process_alive(pid),
        "driver {pid} survived the delete"
    );
    assert_eq!(f.livy_get(&format!("/batches/{id}")).await.0, 404);
    assert_eq!(f.livy_get("/batches").await.1["total"], 0);
    f.0.cluster.shutdown().await;
}

const LIVY_CLIENT_SCRIPT: &str = r#"
import sys, time
from livy import LivyBatch, SessionState
from livy.client import LivyClient

import os
url, lines_script, sleepy_script, pid_file = sys.argv[1:5]

batch = LivyBatch.create(url, file=lines_script, args=["from", "livy"], name="pypi-livy",
                         spark_conf={"spark.drover.submissionKey": "pypi-key"})
assert batch.wait() == SessionState.SUCCESS, batch.state
log = batch.log(from_=0, size=-1)
assert log[0] == "stdout: " and "hello from livy" in log and "line 2" in log, log
assert batch.log(from_=1, size=1) == ["hello from livy"], batch.log(from_=1, size=1)

client = LivyClient(url)
found = client.get_batch(batch.batch_id)
assert found.app_id.startswith("application_"), found
assert found.state == SessionState.SUCCESS, found
listed = client.list_batches()
assert [b.batch_id for b in listed] == [batch.batch_id], listed

long = LivyBatch.create(url, file=sleepy_script)
deadline = time.time() + 30
while long.state != SessionState.RUNNING or not os.path.exists(pid_file):
    assert time.time() < deadline, long.state
    time.sleep(0.05)
long.kill()
assert client.get_batch(long.batch_id) is None
try:
    long.state
    raise AssertionError("a deleted batch still answers")
except ValueError:
    pass
assert [b.batch_id for b in client.list_batches()] == [batch.batch_id]
client.close()
print("livy client OK", batch.batch_id, long.batch_id)
"#;

#[tokio::test]
async fn the_pypi_livy_client_creates_reads_logs_and_deletes_batches() {
    let python = common::python_with("livy");
    let f = Fixture::start().await;
    let lines = f.script(
        "lines.sh",
        "#!/bin/sh\necho \"hello $1 $2\"\necho 'line 2'\n",
    );
    let pid_file = f.root.join("pid");
    let sleepy = f.script(
        "sleepy.sh",
        &format!(
            "#!/bin/sh\necho $$ > '{}'\nexec sleep 300\n",
            pid_file.display()
        ),
    );
    let client = f.root.join("client.py");
    std::fs::write(&client, LIVY_CLIENT_SCRIPT).unwrap();
    let out = tokio::process::Command::new(python)
        .arg(&client)
        .arg(f.cluster.livy_url())
        .arg(&lines)
        .arg(&sleepy)
        .arg(&pid_file)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the livy client failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("livy client OK 0 1"), "{stdout}");
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !common::process_alive(pid),
        "the deleted batch's driver {pid} survived"
    );
    let subs = f.cluster.submissions();
    assert_eq!(subs.len(), 2, "{subs:?}");
    assert_eq!(subs[0].submission_key.as_deref(), Some("pypi-key"));
    f.0.cluster.shutdown().await;
}
