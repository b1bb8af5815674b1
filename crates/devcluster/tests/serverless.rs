//! The EMR Serverless stand-in, driven over signed HTTP like drover's plugin
//! drives it, and by boto3, a client nobody here wrote.

#[macro_use]
mod common;

use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use drover_devcluster::serverless::{ACCESS_KEY_ID, APPLICATION_ID, REGION, SECRET_ACCESS_KEY};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

fixture_on_stand!();

impl Fixture {
    async fn start() -> Self {
        Fixture(common::Stand::start().await)
    }

    /// An executable shell script in the fixture's folder, by path.
    fn script(&self, name: &str, body: &str) -> String {
        self.0.script(name, body).display().to_string()
    }

    /// One request signed for service emr-serverless with `secret`.
    async fn call_as(
        &self,
        secret: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Option<String>, Value) {
        let url = format!("{}{path}", self.cluster.rest_url());
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        let identity = Credentials::new(ACCESS_KEY_ID, secret, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("emr-serverless")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            method,
            url.as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&bytes),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        headers.extend(
            instructions
                .headers()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let mut req = self.http.request(method.parse().unwrap(), &url).body(bytes);
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        let reply = req.send().await.unwrap();
        let status = reply.status().as_u16();
        let kind = reply
            .headers()
            .get("x-amzn-errortype")
            .map(|v| v.to_str().unwrap().to_string());
        let text = reply.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text:?}"));
        (status, kind, json)
    }

    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, kind, json) = self.call_as(SECRET_ACCESS_KEY, method, path, body).await;
        assert_eq!(status, 200, "{method} {path}: {kind:?} {json}");
        json
    }

    async fn start_run(&self, app: &str, token: &str, entry_point: &str, extra: Value) -> String {
        let mut body = json!({
            "clientToken": token,
            "name": format!("test {token}"),
            "executionRoleArn": "arn:aws:iam::123456789012:role/test",
            "jobDriver": {"sparkSubmit": {"entryPoint": entry_point, "entryPointArguments": ["one", "two words"]}},
            "tags": {"drover-submission-key": token},
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let reply = self
            .call("POST", &format!("/applications/{app}/jobruns"), Some(&body))
            .await;
        assert_eq!(reply["applicationId"], app);
        assert!(
            reply["arn"]
                .as_str()
                .unwrap()
                .ends_with(reply["jobRunId"].as_str().unwrap()),
            "{reply}"
        );
        reply["jobRunId"].as_str().unwrap().to_string()
    }

    async fn job_run(&self, app: &str, id: &str) -> Value {
        self.call("GET", &format!("/applications/{app}/jobruns/{id}"), None)
            .await["jobRun"]
            .clone()
    }

    async fn wait_for(&self, app: &str, id: &str, states: &[&str]) -> Value {
        let start = Instant::now();
        loop {
            let run = self.job_run(app, id).await;
            if states.iter().any(|s| run["state"] == *s) {
                return run;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "job run {id} never reached {states:?}; last {run}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn wait_for_file(&self, path: &std::path::Path) -> String {
        let start = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(path)
                && !text.is_empty()
            {
                return text;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{} never appeared",
                path.display()
            );
            tokio::time::sleep(POLL).await;
        }
    }
}


#[tokio::test]
async fn a_job_run_starts_runs_and_is_cancelled_with_its_process_gone() {
    let f = Fixture::start().await;
    let pid_file = f.root.join("pid");
    let app = f.script(
        "sleepy",
        &format!(
            "#!/bin/sh\necho \"args: $1|$2\"\necho $$ > {}\nexec sleep 300\n",
            pid_file.display()
        ),
    );
    let id = f
        .start_run(APPLICATION_ID, "token-cancel", &app, json!({}))
        .await;
    let running = f.wait_for(APPLICATION_ID, &id, &["RUNNING"]).await;
    assert_eq!(running["attempt"], 1);
    assert_eq!(running["name"], "test token-cancel");
    assert_eq!(running["tags"]["drover-submission-key"], "token-cancel");
    assert!(running["startedAt"].is_number(), "{running}");
    let pid = f.wait_for_file(&pid_file).await;
    assert!(common::process_alive(pid.trim().parse().expect("a pid")));

    let attempts = f
        .call(
            "GET",
            &format!("/applications/{APPLICATION_ID}/jobruns/{id}/attempts"),
            None,
        )
        .await;
    assert_eq!(
        attempts["jobRunAttempts"].as_array().unwrap().len(),
        1,
        "{attempts}"
    );
    assert_eq!(attempts["jobRunAttempts"][0]["state"], "RUNNING");

    let cancelled = f
        .call(
            "DELETE",
            &format!("/applications/{APPLICATION_ID}/jobruns/{id}"),
            None,
        )
        .await;
    assert_eq!(
        cancelled,
        json!({"applicationId": APPLICATION_ID, "jobRunId": id})
    );
    let state = f.job_run(APPLICATION_ID, &id).await["state"].clone();
    assert!(state == "CANCELLING" || state == "CANCELLED", "{state}");
    let done = f.wait_for(APPLICATION_ID, &id, &["CANCELLED"]).await;
    assert!(done["endedAt"].is_number(), "{done}");
    assert!(
        !common::process_alive(pid.trim().parse().expect("a pid")),
        "the cancelled job run's process {pid} is still alive"
    );

    // Arguments arrived one per entryPointArguments item.
    let stdout = std::fs::read_to_string(
        f.root
            .join(format!("work/emr-serverless/{id}/attempt-1/stdout")),
    )
    .unwrap();
    assert!(stdout.contains("args: one|two words"), "{stdout}");

    // A second cancel of an ended run is refused, AWS-style.
    let (status, kind, body) = f
        .call_as(
            SECRET_ACCESS_KEY,
            "DELETE",
            &format!("/applications/{APPLICATION_ID}/jobruns/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (status, kind.as_deref()),
        (400, Some("ValidationException")),
        "{body}"
    );
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn a_repeated_client_token_returns_the_same_job_run() {
    let f = Fixture::start().await;
    let app = f.script("ok", "#!/bin/sh\nexit 0\n");
    let first = f
        .start_run(APPLICATION_ID, "same-token", &app, json!({}))
        .await;
    let again = f
        .start_run(APPLICATION_ID, "same-token", &app, json!({}))
        .await;
    assert_eq!(first, again);
    let other = f
        .start_run(APPLICATION_ID, "other-token", &app, json!({}))
        .await;
    assert_ne!(first, other);
    let success = f
        .wait_for(APPLICATION_ID, &first, &["SUCCESS", "FAILED"])
        .await;
    assert_eq!(success["state"], "SUCCESS", "{success}");

    let subs = f.cluster.submissions();
    let keys: Vec<_> = subs
        .iter()
        .map(|s| s.submission_key.as_deref().unwrap())
        .collect();
    assert_eq!(keys, ["same-token", "other-token"], "{subs:?}");
    assert!(subs.iter().all(|s| s.manager == "emr-serverless"));

    // ListJobRuns shows both, newest first.
    let list = f
        .call(
            "GET",
            &format!("/applications/{APPLICATION_ID}/jobruns"),
            None,
        )
        .await;
    let ids: Vec<_> = list["jobRuns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [other.as_str(), first.as_str()]);
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn retry_policy_starts_a_new_attempt_after_a_failed_one() {
    let f = Fixture::start().await;
    let app = f.script(
        "flaky",
        "#!/bin/sh\necho \"attempt $EMR_SERVERLESS_ATTEMPT\"\n[ \"$EMR_SERVERLESS_ATTEMPT\" = 2 ] || exit 3\n",
    );
    let id = f
        .start_run(
            APPLICATION_ID,
            "flaky",
            &app,
            json!({"retryPolicy": {"maxAttempts": 2}}),
        )
        .await;
    let done = f
        .wait_for(APPLICATION_ID, &id, &["SUCCESS", "FAILED", "CANCELLED"])
        .await;
    assert_eq!(
        (done["state"].as_str(), done["attempt"].as_u64()),
        (Some("SUCCESS"), Some(2)),
        "{done}"
    );
    assert_eq!(done["retryPolicy"], json!({"maxAttempts": 2}));

    let attempts = f
        .call(
            "GET",
            &format!("/applications/{APPLICATION_ID}/jobruns/{id}/attempts"),
            None,
        )
        .await;
    let states: Vec<_> = attempts["jobRunAttempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap(),
                a["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [(1, "FAILED".to_string()), (2, "SUCCESS".to_string())]
    );
    let first = f
        .call(
            "GET",
            &format!("/applications/{APPLICATION_ID}/jobruns/{id}?attempt=1"),
            None,
        )
        .await;
    assert_eq!(first["jobRun"]["state"], "FAILED");
    assert_eq!(first["jobRun"]["attempt"], 1);
    assert!(
        first["jobRun"]["stateDetails"]
            .as_str()
            .unwrap()
            .contains("ExitCode: 3"),
        "{first}"
    );

    // Without retries left, the failure is the job run's.
    let id = f.start_run(APPLICATION_ID, "once", &app, json!({})).await;
    let done = f
        .wait_for(APPLICATION_ID, &id, &["SUCCESS", "FAILED"])
        .await;
    assert_eq!(
        (done["state"].as_str(), done["attempt"].as_u64()),
        (Some("FAILED"), Some(1)),
        "{done}"
    );
    // One submission per job run, whatever its attempts.
    assert_eq!(f.cluster.submissions().len(), 2);
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn runs_beyond_max_concurrent_runs_wait_queued() {
    let f = Fixture::start().await;
    let created = f
        .call(
            "POST",
            "/applications",
            Some(
                &json!({"name": "one-at-a-time", "releaseLabel": "emr-7.1.0", "type": "SPARK",
                "clientToken": "app-1", "schedulerConfiguration": {"maxConcurrentRuns": 1}}),
            ),
        )
        .await;
    let app_id = created["applicationId"].as_str().unwrap().to_string();
    let app = f
        .call("GET", &format!("/applications/{app_id}"), None)
        .await;
    assert_eq!(
        app["application"]["schedulerConfiguration"]["maxConcurrentRuns"],
        1
    );

    let sleepy = f.script("sleepy", "#!/bin/sh\nexec sleep 300\n");
    let first = f.start_run(&app_id, "first", &sleepy, json!({})).await;
    f.wait_for(&app_id, &first, &["RUNNING"]).await;
    let second = f.start_run(&app_id, "second", &sleepy, json!({})).await;
    let third = f.start_run(&app_id, "third", &sleepy, json!({})).await;
    assert_eq!(f.job_run(&app_id, &second).await["state"], "QUEUED");
    assert_eq!(f.job_run(&app_id, &third).await["state"], "QUEUED");

    // A queued run cancels at once; the running one's end admits the next.
    f.call(
        "DELETE",
        &format!("/applications/{app_id}/jobruns/{third}"),
        None,
    )
    .await;
    assert_eq!(f.job_run(&app_id, &third).await["state"], "CANCELLED");
    f.call(
        "DELETE",
        &format!("/applications/{app_id}/jobruns/{first}"),
        None,
    )
    .await;
    f.wait_for(&app_id, &second, &["RUNNING"]).await;
    f.0.cluster.shutdown().await;
}

#[tokio::test]
async fn requests_without_a_valid_signature_get_403() {
    let f = Fixture::start().await;
    let path = format!("/applications/{APPLICATION_ID}/jobruns");
    let (status, kind, body) = f.call_as("not-the-secret", "GET", &path, None).await;
    assert_eq!(
        (status, kind.as_deref()),
        (403, Some("InvalidSignatureException")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("signature we calculated does not match"),
        "{body}"
    );

    let unsigned = f
        .http
        .get(format!("{}{path}", f.cluster.rest_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    assert_eq!(
        unsigned.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );

    let (status, kind, _) = f
        .call_as(
            SECRET_ACCESS_KEY,
            "GET",
            "/applications/nope/jobruns/x",
            None,
        )
        .await;
    assert_eq!(
        (status, kind.as_deref()),
        (404, Some("ResourceNotFoundException"))
    );
    assert!(f.cluster.submissions().is_empty());
    f.0.cluster.shutdown().await;
}


const BOTO3_SCRIPT: &str = r#"
import json, sys, time
import boto3
endpoint, region, key, secret, app_id, entry = sys.argv[1:7]
c = boto3.client("emr-serverless", endpoint_url=endpoint, region_name=region,
                 aws_access_key_id=key, aws_secret_access_key=secret)
out = {"application": c.get_application(applicationId=app_id)["application"]["state"]}
started = c.start_job_run(applicationId=app_id, executionRoleArn="arn:aws:iam::123456789012:role/boto3",
    name="from boto3", jobDriver={"sparkSubmit": {"entryPoint": entry, "entryPointArguments": ["x"],
    "sparkSubmitParameters": "--conf spark.executor.cores=1"}}, retryPolicy={"maxAttempts": 1})
run_id = started["jobRunId"]
deadline = time.time() + 30
while True:
    run = c.get_job_run(applicationId=app_id, jobRunId=run_id)["jobRun"]
    if run["state"] == "RUNNING" or time.time() > deadline:
        break
    time.sleep(0.05)
out["running"] = run["state"]
out["createdAt_is_datetime"] = hasattr(run["createdAt"], "isoformat")
c.cancel_job_run(applicationId=app_id, jobRunId=run_id)
while True:
    run = c.get_job_run(applicationId=app_id, jobRunId=run_id)["jobRun"]
    if run["state"] == "CANCELLED" or time.time() > deadline:
        break
    time.sleep(0.05)
out["final"] = run["state"]
out["attempts"] = len(c.list_job_run_attempts(applicationId=app_id, jobRunId=run_id)["jobRunAttempts"])
out["listed"] = [r["id"] for r in c.list_job_runs(applicationId=app_id)["jobRuns"]] == [run_id]
try:
    c.get_job_run(applicationId=app_id, jobRunId="00fnosuchrun0000")
except c.exceptions.ResourceNotFoundException:
    out["not_found"] = True
bad = boto3.client("emr-serverless", endpoint_url=endpoint, region_name=region,
                   aws_access_key_id=key, aws_secret_access_key="wrong")
try:
    bad.get_application(applicationId=app_id)
except Exception as e:
    out["wrong_secret"] = e.response["Error"]["Code"]
print(json.dumps(out))
"#;

#[tokio::test]
async fn boto3_starts_gets_and_cancels_job_runs_on_the_stand_in() {
    let f = Fixture::start().await;
    let python = common::python_with("boto3");
    let entry = f.script("sleepy", "#!/bin/sh\nexec sleep 300\n");
    let endpoint = f.cluster.rest_url();
    let output = tokio::process::Command::new(&python)
        .args([
            "-c",
            BOTO3_SCRIPT,
            &endpoint,
            REGION,
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            APPLICATION_ID,
            &entry,
        ])
        // boto3 must not pick up a developer's own credentials or config.
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "boto3 script failed:\n{stderr}");
    let out: Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(
        out,
        json!({"application": "STARTED", "running": "RUNNING", "createdAt_is_datetime": true,
            "final": "CANCELLED", "attempts": 1, "listed": true, "not_found": true,
            "wrong_secret": "InvalidSignatureException"})
    );
    // boto3 made up the clientToken itself; the stand-in kept it as the key.
    let subs = f.cluster.submissions();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].app_name, "from boto3");
    assert!(
        subs[0]
            .submission_key
            .as_ref()
            .is_some_and(|k| !k.is_empty())
    );
    f.0.cluster.shutdown().await;
}
