//! The EMR on EKS backend end to end: drover, the emr-containers plugin
//! (WASM, SigV4-signed requests) and the embedded stand-in; the plugin's wire
//! format against moto's emr-containers server; and the stand-in driven by
//! boto3's `emr-containers` client.

mod support;

use std::time::Duration;

use drover_dag::DeployMode;
use drover_devcluster::emr_containers::{ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, VIRTUAL_CLUSTER_ID};
use drover_plugin_host::{DriverPhase, Submitted};
use serde_json::{Value, json};
use support::drover::{Api, Running, repo_dags, script, start};
use support::emr::EKS;
use support::fixtures::import_errors;
use support::moto::{Moto, boto3};

const DEADLINE: Duration = Duration::from_secs(120);

async fn tries(api: &Api, dag_id: &str, run: &str) -> Vec<Value> {
    api.tries(dag_id, run, "job").await.unwrap()
}

fn run_id(driver: &Value) -> String {
    EKS.run_id(driver)
}

fn eks_submissions(d: &Running) -> Vec<drover_devcluster::SubmissionRecord> {
    EKS.submissions(d)
}

#[tokio::test]
async fn the_example_dag_succeeds_out_of_the_box() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let run = api.trigger("emr_eks_example", json!({})).await.unwrap();
    assert_eq!(api.wait_run("emr_eks_example", &run, DEADLINE).await.unwrap(), "success");
    let t = api.tries("emr_eks_example", &run, "stats").await.unwrap();
    assert_eq!(t.len(), 1, "{t:#?}");
    let driver = &t[0]["driver"];
    assert_eq!((driver["deploy_mode"].as_str(), driver["raw_state"].as_str()), (Some("cluster"), Some("COMPLETED")), "{driver}");
    let id = run_id(driver);
    assert!(home.path().join(format!("devcluster/emr-containers/{id}/attempt-1/stdout")).exists());
    let subs = eks_submissions(&d);
    assert_eq!(subs.len(), 1, "{subs:?}");
    // The job run is named by the key, which is also its clientToken.
    assert_eq!(subs[0].submission_key.as_deref(), driver["submission_key"].as_str());
    assert_eq!(Some(subs[0].app_name.as_str()), driver["submission_key"].as_str());
    d.shutdown().await;
}

#[tokio::test]
async fn a_job_run_completes_and_a_failing_one_fails_each_try() {
    let support::emr::OkAndBoom { home, dags: _dags, d, api, ok, boom } = EKS.ok_and_boom().await;

    assert_eq!(api.wait_run("ok", &ok, DEADLINE).await.unwrap(), "success");
    let t = tries(&api, "ok", &ok).await;
    assert_eq!(t.len(), 1);
    let driver = &t[0]["driver"];
    assert_eq!((driver["state"].as_str(), driver["raw_state"].as_str()), (Some("succeeded"), Some("COMPLETED")), "{driver}");
    let stdout = std::fs::read_to_string(home.path().join(format!("devcluster/emr-containers/{}/attempt-1/stdout", run_id(driver)))).unwrap();
    assert_eq!(stdout.trim(), "ok on try 1");

    assert_eq!(api.wait_run("boom", &boom, DEADLINE).await.unwrap(), "failed");
    let t = tries(&api, "boom", &boom).await;
    assert_eq!(t.len(), 2, "retries = 1: two drover tries");
    for (i, t) in t.iter().enumerate() {
        let driver = &t["driver"];
        assert_eq!((driver["state"].as_str(), driver["raw_state"].as_str()), (Some("failed"), Some("FAILED")), "try {}: {driver}", i + 1);
        let message = driver["message"].as_str().unwrap_or_default();
        assert!(message.contains("USER_ERROR") && message.contains("code 3"), "{driver}");
    }
    // Two tries, two job runs, each under its own key.
    let keys: Vec<String> = t.iter().map(|t| t["driver"]["submission_key"].as_str().unwrap().to_string()).collect();
    let subs: Vec<String> = eks_submissions(&d)
        .into_iter()
        .filter_map(|s| s.submission_key)
        .filter(|k| keys.contains(k))
        .collect();
    assert_eq!(subs, keys);
    d.shutdown().await;
}

#[tokio::test]
async fn kill_cancels_the_job_run_and_its_driver_is_gone() {
    EKS.kill_cancels_the_job_run().await;
}

#[tokio::test]
async fn the_retry_policy_shows_as_cluster_attempts_in_one_try() {
    // The embedded backend sets no retry policy: one of our own does.
    let retried = EKS
        .retried_by_the_service("eks_retry", |port| {
            format!(
                r#"
[backends.eks_retry]
plugin = "emr-containers"
settings = {{ endpoint = "http://127.0.0.1:{port}", region = "{REGION}", virtual_cluster_id = "{VIRTUAL_CLUSTER_ID}", execution_role_arn = "arn:aws:iam::123456789012:role/drover-test", release_label = "emr-7.1.0-latest", access_key_id = "{ACCESS_KEY_ID}", max_attempts = 2, driver_pod_template = "s3://bucket/driver-on-demand.yaml", executor_pod_template = "s3://bucket/executor-spot.yaml" }}
secret_env = {{ secret_access_key = "DROVER_STANDIN_SECRET_ACCESS_KEY" }}
"#
            )
        })
        .await;
    let (d, id) = (&retried.d, &retried.id);

    // The pod templates reached the job run as EMR on EKS users set them.
    let described = boto3(
        &format!("{BOTO3_CLIENT}\nimport json\nprint(json.dumps(c.describe_job_run(virtualClusterId=sys.argv[2], id=sys.argv[3])['jobRun'], default=str))"),
        &[&d.cluster.rest_url(), VIRTUAL_CLUSTER_ID, id],
    ).await;
    let described: Value = serde_json::from_str(&described).unwrap();
    let props = &described["configurationOverrides"]["applicationConfiguration"][0];
    assert_eq!(props["classification"], "spark-defaults");
    assert_eq!(props["properties"]["spark.kubernetes.driver.podTemplateFile"], "s3://bucket/driver-on-demand.yaml");
    assert_eq!(props["properties"]["spark.kubernetes.executor.podTemplateFile"], "s3://bucket/executor-spot.yaml");
    assert_eq!(described["retryPolicyExecution"]["currentAttemptCount"], 2);
    retried.d.shutdown().await;
}

#[tokio::test]
async fn a_dag_asking_for_client_mode_on_eks_is_refused_at_load() {
    let client_mode = r#"
id = "client_mode"
[[tasks]]
id = "job"
backend = "eks"
application = { resource = "ok.sh", deploy_mode = "client" }
"#;
    let errors = import_errors(&[("ok.sh", "#!/bin/sh\n")], &[("client_mode.toml", client_mode)]).await;
    assert_eq!(errors["total_entries"], 1, "{errors:#}");
    let text = errors["import_errors"][0]["stack_trace"].as_str().unwrap();
    assert!(text.contains("deploy mode \"client\"") && text.contains("cluster"), "{text}");
}

// ---- boto3 against the stand-in ------------------------------------------------

/// A boto3 `emr-containers` client on sys.argv[1] with the stand-in's credentials.
const BOTO3_CLIENT: &str = "import boto3, sys, time
c = boto3.client('emr-containers', endpoint_url=sys.argv[1], region_name='us-east-1',
    aws_access_key_id='DROVERSTANDINKEY', aws_secret_access_key='drover-stand-in-secret-access-key')";

#[tokio::test]
async fn boto3_starts_lists_and_cancels_job_runs_on_the_stand_in() {
    assert_eq!((ACCESS_KEY_ID, SECRET_ACCESS_KEY), ("DROVERSTANDINKEY", "drover-stand-in-secret-access-key"));
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let ok = script(dags.path(), "ok.sh", "#!/bin/sh\necho \"hello $1\"\n");
    let sleepy = script(dags.path(), "sleepy.sh", "#!/bin/sh\nexec sleep 300\n");
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let url = d.cluster.rest_url();
    let script = format!(
        "{BOTO3_CLIENT}
vc, ok, sleepy = sys.argv[2], sys.argv[3], sys.argv[4]
def start(name, token, entry):
    return c.start_job_run(name=name, virtualClusterId=vc, clientToken=token,
        executionRoleArn='arn:aws:iam::123456789012:role/test', releaseLabel='emr-6.15.0-latest',
        jobDriver={{'sparkSubmitJobDriver': {{'entryPoint': entry, 'entryPointArguments': ['world'],
            'sparkSubmitParameters': '--conf spark.executor.cores=1'}}}},
        retryPolicyConfiguration={{'maxAttempts': 1}})
def wait(id, states):
    deadline = time.time() + 60
    while True:
        run = c.describe_job_run(virtualClusterId=vc, id=id)['jobRun']
        if run['state'] in states: return run
        assert time.time() < deadline, run
        time.sleep(0.05)
a = start('boto-ok', 'token-ok', ok)
assert start('boto-ok', 'token-ok', ok)['id'] == a['id'], 'the clientToken is the idempotency key'
run = wait(a['id'], ['COMPLETED', 'FAILED'])
assert run['state'] == 'COMPLETED', run
assert run['retryPolicyExecution']['currentAttemptCount'] == 1, run
b = start('boto-sleepy', 'token-sleepy', sleepy)
wait(b['id'], ['RUNNING'])
running = c.list_job_runs(virtualClusterId=vc, states=['RUNNING', 'PENDING'])['jobRuns']
assert [r['id'] for r in running] == [b['id']], running
named = c.list_job_runs(virtualClusterId=vc, name='boto-ok')['jobRuns']
assert [r['id'] for r in named] == [a['id']], named
page = c.list_job_runs(virtualClusterId=vc, maxResults=1)
assert len(page['jobRuns']) == 1 and page['jobRuns'][0]['id'] == b['id'] and page['nextToken'], page
rest = c.list_job_runs(virtualClusterId=vc, maxResults=1, nextToken=page['nextToken'])
assert [r['id'] for r in rest['jobRuns']] == [a['id']] and 'nextToken' not in rest, rest
assert c.cancel_job_run(virtualClusterId=vc, id=b['id'])['id'] == b['id']
run = wait(b['id'], ['CANCELLED'])
try:
    c.cancel_job_run(virtualClusterId=vc, id=a['id'])
    raise SystemExit('cancelling a finished run must fail')
except c.exceptions.ValidationException as e:
    pass
try:
    c.describe_job_run(virtualClusterId=vc, id='nosuchjobrun0000000')
    raise SystemExit('an unknown run must not be found')
except c.exceptions.ResourceNotFoundException:
    pass
print(a['id'])
"
    );
    let first = boto3(&script, &[&url, VIRTUAL_CLUSTER_ID, ok.to_str().unwrap(), sleepy.to_str().unwrap()]).await;
    let out = std::fs::read_to_string(home.path().join(format!("devcluster/emr-containers/{}/attempt-1/stdout", first.trim()))).unwrap();
    assert_eq!(out.trim(), "hello world");
    // A wrong secret is refused by the signature check.
    let refused = boto3(
        "import boto3, sys
c = boto3.client('emr-containers', endpoint_url=sys.argv[1], region_name='us-east-1',
    aws_access_key_id='DROVERSTANDINKEY', aws_secret_access_key='wrong')
try:
    c.list_job_runs(virtualClusterId=sys.argv[2])
except Exception as e:
    print(type(e).__name__, e)",
        &[&url, VIRTUAL_CLUSTER_ID],
    ).await;
    assert!(refused.contains("InvalidSignatureException"), "{refused}");
    d.shutdown().await;
}

// ---- moto -------------------------------------------------------------------

#[tokio::test]
async fn the_plugin_starts_describes_finds_and_cancels_job_runs_on_moto() {
    let moto = Moto::start().await;
    let vc = boto3(
        "import boto3, sys
c = boto3.client('emr-containers', endpoint_url=sys.argv[1], region_name='us-east-1',
    aws_access_key_id='testing', aws_secret_access_key='testing')
print(c.create_virtual_cluster(name='drover', containerProvider={'id': 'eks', 'type': 'EKS',
    'info': {'eksInfo': {'namespace': 'drover'}}})['id'])",
        &[&moto.url],
    ).await;
    let vc = vc.trim();
    let settings = [
        ("region", "us-east-1"),
        ("virtual_cluster_id", vc),
        ("execution_role_arn", "arn:aws:iam::123456789012:role/drover"),
        ("release_label", "emr-7.1.0-latest"),
        ("max_attempts", "2"),
        ("driver_pod_template", "s3://bucket/driver.yaml"),
        ("log_uri", "s3://bucket/logs/"),
    ];
    let backend = support::moto::backend(&moto, "emr-containers", &settings).await;

    let id = match backend.submit("drover-moto-key-1", &support::moto::app("s3://bucket/job.jar", DeployMode::Cluster)).await {
        Ok(Submitted::Cluster(id)) => id,
        other => panic!("StartJobRun through the plugin: {other:?}"),
    };
    assert!(id.starts_with(&format!("{vc}/")), "{id}");

    // moto runs nothing: a job run stays RUNNING.
    let status = backend.status(&id).await.expect("DescribeJobRun through the plugin");
    assert_eq!((status.phase, status.raw_state.as_str()), (DriverPhase::Running, "RUNNING"), "{status:?}");

    // What moto stored is what the plugin sent.
    let (_, run) = id.split_once('/').unwrap();
    let stored = boto3(
        "import boto3, sys, json
c = boto3.client('emr-containers', endpoint_url=sys.argv[1], region_name='us-east-1',
    aws_access_key_id='testing', aws_secret_access_key='testing')
print(json.dumps(c.describe_job_run(virtualClusterId=sys.argv[2], id=sys.argv[3])['jobRun'], default=str))",
        &[&moto.url, vc, run],
    ).await;
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["name"], "drover-moto-key-1");
    assert_eq!(stored["releaseLabel"], "emr-7.1.0-latest");
    let driver = &stored["jobDriver"]["sparkSubmitJobDriver"];
    assert_eq!(driver["entryPoint"], "s3://bucket/job.jar");
    assert!(driver["sparkSubmitParameters"].as_str().unwrap().starts_with("--class com.example.Main"), "{driver}");
    let overrides = &stored["configurationOverrides"];
    assert_eq!(overrides["applicationConfiguration"][0]["properties"]["spark.kubernetes.driver.podTemplateFile"], "s3://bucket/driver.yaml");
    assert_eq!(overrides["monitoringConfiguration"]["s3MonitoringConfiguration"]["logUri"], "s3://bucket/logs/");

    // find: ListJobRuns by the name, which is the key.
    assert_eq!(backend.find("drover-moto-key-1").await.expect("find"), Some(id.clone()));
    assert_eq!(backend.find("drover-some-other-key").await.expect("find"), None);
    let many = backend.status_many(&[id.clone()]).await.expect("status_many");
    assert_eq!(many[0].as_ref().map(|s| s.phase), Some(DriverPhase::Running));

    backend.kill(&id).await.expect("CancelJobRun through the plugin");
    let status = backend.status(&id).await.unwrap();
    assert_eq!((status.phase, status.raw_state.as_str()), (DriverPhase::Killed, "CANCELLED"), "{status:?}");
    // A second kill of an ended run is not an error.
    backend.kill(&id).await.expect("kill is idempotent");

    // moto's errors map like AWS's.
    let err = backend.status(&format!("{vc}/0000000000000000000")).await.expect_err("unknown job run");
    assert!(err.is_not_found(), "{err:?}");
    drop(moto);
}
