//! The serverless backend end to end: drover, the emr-serverless plugin
//! (WASM, SigV4-signed requests), and the embedded EMR Serverless stand-in;
//! and the plugin's wire format against moto's server, an implementation of
//! the API nobody here wrote.

mod support;

use std::path::Path;
use std::time::Duration;

use drover_dag::{Application, DeployMode, Resources};
use drover_plugin_host::{Backend, DriverPhase, Submitted};
use serde_json::{Value, json};
use support::drover::{Api, repo_dags, script, stand_in_backends, start};
use support::emr::{SERVERLESS, dag};
use support::fixtures::{BOOM_SH, OK_SH, SLEEPY_SH, import_errors};
use support::moto::{Moto, boto3};
use support::wait::eventually;

const DEADLINE: Duration = Duration::from_secs(120);
const STAND_IN_APP: &str = drover_devcluster::serverless::APPLICATION_ID;

async fn tries(api: &Api, dag_id: &str, run: &str) -> Vec<Value> {
    api.tries(dag_id, run, "job").await.unwrap()
}

#[tokio::test]
async fn the_example_dag_succeeds_out_of_the_box() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let run = api.trigger("wordcount_serverless", json!({"top": 2})).await.unwrap();
    assert_eq!(api.wait_run("wordcount_serverless", &run, DEADLINE).await.unwrap(), "success");
    let t = api.tries("wordcount_serverless", &run, "count").await.unwrap();
    assert_eq!(t.len(), 1, "{t:#?}");
    let driver = &t[0]["driver"];
    assert_eq!(driver["deploy_mode"], "service");
    assert_eq!(driver["raw_state"], "SUCCESS");
    let id = SERVERLESS.run_id(driver);
    let stdout = std::fs::read_to_string(
        home.path().join(format!("devcluster/emr-serverless/{id}/attempt-1/stdout")),
    )
    .unwrap();
    assert!(stdout.contains(r#""top": [["the", "#), "stdout: {stdout}");
    let subs = d.cluster.submissions();
    let ours: Vec<_> = subs.iter().filter(|s| s.manager == "emr-serverless").collect();
    assert_eq!(ours.len(), 1, "{subs:?}");
    assert_eq!(ours[0].submission_key.as_deref(), driver["submission_key"].as_str());
    d.shutdown().await;
}

#[tokio::test]
async fn a_job_run_succeeds_and_a_failing_one_fails_each_try() {
    let support::emr::OkAndBoom { home: _home, dags: _dags, d, api, ok, boom } = SERVERLESS.ok_and_boom().await;

    assert_eq!(api.wait_run("ok", &ok, DEADLINE).await.unwrap(), "success");
    let t = tries(&api, "ok", &ok).await;
    assert_eq!(t.len(), 1);
    let driver = &t[0]["driver"];
    assert_eq!((driver["state"].as_str(), driver["raw_state"].as_str()), (Some("succeeded"), Some("SUCCESS")), "{driver}");
    assert_eq!(driver["cluster_attempt"], 1);
    let states: Vec<&str> = driver["history"].as_array().unwrap().iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert!(states.contains(&"submitted"), "{states:?}");

    assert_eq!(api.wait_run("boom", &boom, DEADLINE).await.unwrap(), "failed");
    let t = tries(&api, "boom", &boom).await;
    assert_eq!(t.len(), 2, "retries = 1: two drover tries");
    for (i, t) in t.iter().enumerate() {
        let driver = &t["driver"];
        assert_eq!(driver["raw_state"], "FAILED", "try {}: {driver}", i + 1);
        assert!(driver["message"].as_str().unwrap_or_default().contains("ExitCode: 3"), "{driver}");
    }
    // Two tries, two job runs, each carrying its own key as the clientToken.
    let keys: Vec<_> = t.iter().map(|t| t["driver"]["submission_key"].as_str().unwrap().to_string()).collect();
    let subs: Vec<_> = d.cluster.submissions().into_iter().filter(|s| s.app_name.starts_with("boom")).collect();
    assert_eq!(subs.iter().map(|s| s.submission_key.clone().unwrap()).collect::<Vec<_>>(), keys);
    d.shutdown().await;
}

#[tokio::test]
async fn kill_cancels_the_job_run_and_its_process_is_gone() {
    SERVERLESS.kill_cancels_the_job_run().await;
}

#[tokio::test]
async fn the_services_retry_policy_shows_as_cluster_attempts_in_one_try() {
    // The embedded backend sets no retryPolicy: one of our own does.
    let retried = SERVERLESS
        .retried_by_the_service("serverless_retry", |port| {
            format!(
                r#"
[backends.serverless_retry]
plugin = "emr-serverless"
settings = {{ endpoint = "http://127.0.0.1:{port}", region = "{region}", application_id = "{STAND_IN_APP}", execution_role_arn = "arn:aws:iam::123456789012:role/drover-test", access_key_id = "{key}", max_attempts = 2 }}
secret_env = {{ secret_access_key = "DROVER_STANDIN_SECRET_ACCESS_KEY" }}
"#,
                region = drover_devcluster::serverless::REGION,
                key = drover_devcluster::serverless::ACCESS_KEY_ID,
            )
        })
        .await;
    retried.d.shutdown().await;
}

#[tokio::test]
async fn a_dag_asking_for_cluster_mode_on_serverless_is_refused_at_load() {
    let cluster_mode = r#"
id = "cluster_mode"
[[tasks]]
id = "job"
backend = "serverless"
application = { resource = "ok.sh", deploy_mode = "cluster" }
"#;
    let errors = import_errors(&[("ok.sh", "#!/bin/sh\n")], &[("cluster_mode.toml", cluster_mode)]).await;
    assert_eq!(errors["total_entries"], 1, "{errors:#}");
    let text = errors["import_errors"][0]["stack_trace"].as_str().unwrap();
    assert!(text.contains("deploy mode \"cluster\"") && text.contains("service"), "{text}");
    // The plugin's own reason reaches the user, not just the list of modes.
    assert!(text.contains("decides where the driver runs"), "{text}");
}

// ---- moto -------------------------------------------------------------------

/// Creates an EMR Serverless application on moto through boto3; returns its id.
async fn create_application(moto: &Moto) -> String {
    let id = boto3(
        "import boto3, sys
c = boto3.client('emr-serverless', endpoint_url=sys.argv[1], region_name='us-east-1',
    aws_access_key_id='testing', aws_secret_access_key='testing')
print(c.create_application(name='drover', releaseLabel='emr-7.1.0', type='SPARK')['applicationId'])",
        &[&moto.url],
    )
    .await;
    id.trim().to_string()
}

async fn moto_backend(moto: &Moto, application_id: &str) -> Backend {
    let settings = [
        ("region", "us-east-1"),
        ("application_id", application_id),
        // moto refuses a role of another account than its own.
        ("execution_role_arn", "arn:aws:iam::123456789012:role/drover"),
        ("max_attempts", "2"),
    ];
    support::moto::backend(moto, "emr-serverless", &settings).await
}

#[tokio::test]
async fn the_plugin_starts_gets_finds_and_cancels_job_runs_on_moto() {
    let moto = Moto::start().await;
    let application_id = create_application(&moto).await;
    let backend = moto_backend(&moto, &application_id).await;

    let id = match backend.submit("drover-moto-key-1", &support::moto::app("s3://bucket/job.jar", DeployMode::Service)).await {
        Ok(Submitted::Cluster(id)) => id,
        other => panic!("StartJobRun through the plugin: {other:?}"),
    };
    assert!(id.starts_with(&format!("{application_id}/")), "{id}");

    // moto runs nothing: a job run is SUCCESS at once.
    let status = backend.status(&id).await.expect("GetJobRun through the plugin");
    assert_eq!((status.phase, status.raw_state.as_str()), (DriverPhase::Succeeded, "SUCCESS"), "{status:?}");

    // find reads the tag back (ListJobRuns, then GetJobRun).
    assert_eq!(backend.find("drover-moto-key-1").await.expect("find"), Some(id.clone()));
    assert_eq!(backend.find("drover-some-other-key").await.expect("find"), None);

    backend.kill(&id).await.expect("CancelJobRun through the plugin");
    let status = backend.status(&id).await.unwrap();
    assert_eq!((status.phase, status.raw_state.as_str()), (DriverPhase::Killed, "CANCELLED"), "{status:?}");

    // moto's errors (HTTP 400, __type in the body) map like AWS's.
    let missing = format!("{application_id}/00fnosuchjobrun0");
    let err = backend.status(&missing).await.expect_err("unknown job run");
    assert!(err.is_not_found(), "{err:?}");
    drop(moto);
}

#[tokio::test]
async fn status_many_pages_through_list_job_runs() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let ok_sh = script(dags.path(), "ok.sh", OK_SH);
    script(dags.path(), "boom.sh", BOOM_SH);
    script(dags.path(), "sleepy.sh", SLEEPY_SH);
    dag(dags.path(), "many_ok", "serverless", "ok.sh", "");
    dag(dags.path(), "many_boom", "serverless", "boom.sh", "");
    dag(dags.path(), "many_sleepy", "serverless", "sleepy.sh", "");
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let ok = api.trigger("many_ok", json!({})).await.unwrap();
    assert_eq!(api.wait_run("many_ok", &ok, DEADLINE).await.unwrap(), "success");
    let boom = api.trigger("many_boom", json!({})).await.unwrap();
    let sleepy = api.trigger("many_sleepy", json!({})).await.unwrap();
    assert_eq!(api.wait_run("many_boom", &boom, DEADLINE).await.unwrap(), "failed");
    let sleepy_id = eventually("the sleepy job run to be running", DEADLINE, || async {
        let t = tries(&api, "many_sleepy", &sleepy).await;
        t.last()
            .filter(|t| t["driver"]["raw_state"] == "RUNNING")
            .and_then(|t| t["driver"]["cluster_id"].as_str().map(str::to_string))
    })
    .await;
    let first = |t: Vec<Value>| t[0]["driver"]["cluster_id"].as_str().unwrap().to_string();
    let ok_id = first(tries(&api, "many_ok", &ok).await);
    let boom_id = first(tries(&api, "many_boom", &boom).await);

    let set = stand_in_backends(&d).await;
    let emr = set.get("serverless").expect("the embedded serverless backend");
    // More job runs than one ListJobRuns page (50) after the first one, so
    // that finding it takes a second page.
    let app = service_app("filler", &ok_sh);
    for i in 0..51 {
        match emr.submit(&format!("drover-filler-{i}"), &app).await.expect("submit") {
            Submitted::Cluster(_) => {}
            other => panic!("{other:?}"),
        }
    }

    let ids = vec![ok_id, format!("{STAND_IN_APP}/00nosuchjobrun0"), boom_id, sleepy_id];
    let statuses = emr.status_many(&ids).await.expect("status_many");
    assert_eq!(statuses.len(), ids.len(), "{statuses:#?}");
    let ok_st = statuses[0].as_ref().expect("found on the second page");
    assert_eq!((ok_st.phase, ok_st.raw_state.as_str(), ok_st.attempt), (DriverPhase::Succeeded, "SUCCESS", Some(1)));
    assert!(statuses[1].is_none(), "unknown to the service: {statuses:#?}");
    let boom_st = statuses[2].as_ref().unwrap();
    assert_eq!((boom_st.phase, boom_st.raw_state.as_str()), (DriverPhase::Failed, "FAILED"));
    assert_eq!(statuses[3].as_ref().unwrap().phase, DriverPhase::Running);
    for (id, st) in ids.iter().zip(&statuses) {
        if let Some(st) = st {
            let one = emr.status(id).await.unwrap();
            assert_eq!(
                (one.phase, &one.raw_state, one.attempt, &one.message),
                (st.phase, &st.raw_state, st.attempt, &st.message),
                "{id}: the same as GetJobRun"
            );
        }
    }
    emr.kill(&ids[3]).await.unwrap();
    d.shutdown().await;
}

/// A bare service-mode application running `resource`.
fn service_app(name: &str, resource: &Path) -> Application {
    Application {
        name: name.into(),
        resource: resource.display().to_string(),
        main_class: None,
        args: vec![],
        conf: Default::default(),
        deploy_mode: DeployMode::Service,
        driver: Resources { memory_mb: None, cores: None, instances: None },
        executor: Resources { memory_mb: None, cores: None, instances: None },
        jars: vec![],
        files: vec![],
        py_files: vec![],
        env: Default::default(),
        proxy_user: None,
    }
}
