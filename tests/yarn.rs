//! The yarn backend end to end: drover, the yarn plugin (WASM), and the
//! embedded ResourceManager stand-in, in both deploy modes.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::drover::{Api, Running, script, stand_in_backends, start};
use support::fixtures::{BOOM_SH, OK_SH, SLEEPY_SH, example_dag_succeeds, job_dag, toml_strings};
use support::wait::proc_gone;

const DEADLINE: Duration = Duration::from_secs(120);

/// A one-task DAG on the `yarn` backend.
fn dag(dir: &Path, id: &str, mode: &str, resource: &str, args: &[&str], extra: &str) {
    let application = format!(
        "resource = \"{resource}\"\nmain_class = \"drover.Test\"\ndeploy_mode = \"{mode}\"\nargs = {}\n\
         executor = {{ memory = \"512m\", cores = 1, instances = 2 }}",
        toml_strings(args)
    );
    job_dag(dir, id, "yarn", extra, &application);
}

/// The driver record of the task's only try.
async fn driver(api: &Api, dag_id: &str, run: &str) -> Value {
    api.only_driver(dag_id, run, "job").await
}

/// The application as the stand-in ResourceManager reports it.
async fn rm_app(d: &Running, id: &str) -> Value {
    let url = format!("{}/ws/v1/cluster/apps/{id}", d.cluster.rest_url());
    let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    body["app"].clone()
}

async fn rm_attempts(d: &Running, id: &str) -> usize {
    let url = format!("{}/ws/v1/cluster/apps/{id}/appattempts", d.cluster.rest_url());
    let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    body["appAttempts"]["appAttempt"].as_array().unwrap().len()
}

#[tokio::test]
async fn an_app_succeeds_in_both_deploy_modes() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "hello.sh", "#!/bin/sh\necho \"hello $1 from ${CONTAINER_ID:-a local driver}\"\n");
    for mode in ["client", "cluster"] {
        dag(dags.path(), &format!("ok_{mode}"), mode, "hello.sh", &["{{ run_id }}"], "");
    }
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let runs = [
        ("ok_client", api.trigger("ok_client", json!({})).await.unwrap()),
        ("ok_cluster", api.trigger("ok_cluster", json!({})).await.unwrap()),
    ];
    for (dag_id, run) in &runs {
        assert_eq!(api.wait_run(dag_id, run, DEADLINE).await.unwrap(), "success", "{dag_id}");
        let log = api.log(dag_id, run, "job", 1).await.unwrap();
        assert!(log.contains(&format!("hello {run} from")), "{dag_id} log: {log}");
    }

    let client = driver(&api, "ok_client", &runs[0].1).await;
    assert_eq!((client["deploy_mode"].as_str(), client["state"].as_str()), (Some("client"), Some("succeeded")));
    let log = api.log("ok_client", &runs[0].1, "job", 1).await.unwrap();
    assert!(log.contains("a local driver"), "client mode runs locally: {log}");

    let cluster = driver(&api, "ok_cluster", &runs[1].1).await;
    assert_eq!(cluster["state"], "succeeded");
    assert_eq!(cluster["raw_state"], "FINISHED/SUCCEEDED");
    assert_eq!(cluster["cluster_attempt"], 1);
    let id = cluster["cluster_id"].as_str().unwrap();
    assert!(id.starts_with("application_"), "{id}");
    assert!(cluster["location"].as_str().is_some_and(|l| !l.is_empty()), "{cluster}");
    assert!(cluster["tracking_url"].as_str().unwrap().contains(id), "{cluster}");
    let states: Vec<&str> = cluster["history"].as_array().unwrap().iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert_eq!(states.first(), Some(&"pending"), "{states:?}");
    assert!(states.contains(&"submitted"), "{states:?}");
    let log = api.log("ok_cluster", &runs[1].1, "job", 1).await.unwrap();
    assert!(log.contains("from container_"), "cluster mode runs in the AM container: {log}");

    // One YARN application, tagged with the try's submission key; client mode submits nothing here.
    let subs = d.cluster.submissions();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!((subs[0].manager, subs[0].submission_id.as_str()), ("yarn", id));
    assert_eq!(subs[0].submission_key.as_deref(), cluster["submission_key"].as_str());
    let app = rm_app(&d, id).await;
    assert_eq!(app["applicationType"], "SPARK");
    assert_eq!(app["queue"], "default");
    d.shutdown().await;
}

#[tokio::test]
async fn a_failing_app_fails_the_try_in_both_deploy_modes() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "boom.sh", "#!/bin/sh\necho \"boom in ${CONTAINER_ID:-client}\" >&2\nexit 3\n");
    for mode in ["client", "cluster"] {
        dag(dags.path(), &format!("boom_{mode}"), mode, "boom.sh", &[], "");
    }
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let client_run = api.trigger("boom_client", json!({})).await.unwrap();
    let cluster_run = api.trigger("boom_cluster", json!({})).await.unwrap();
    assert_eq!(api.wait_run("boom_client", &client_run, DEADLINE).await.unwrap(), "failed");
    assert_eq!(api.wait_run("boom_cluster", &cluster_run, DEADLINE).await.unwrap(), "failed");

    let client = driver(&api, "boom_client", &client_run).await;
    assert_eq!((client["state"].as_str(), client["raw_state"].as_str()), (Some("failed"), Some("PROCESS_FAILED")));

    // YARN retried the AM (default max_app_attempts 2); drover saw one try.
    let cluster = driver(&api, "boom_cluster", &cluster_run).await;
    assert_eq!(cluster["state"], "failed");
    assert_eq!(cluster["raw_state"], "FINISHED/FAILED");
    assert_eq!(cluster["cluster_attempt"], 2);
    assert!(cluster["message"].as_str().unwrap_or_default().contains("exited with status 3"), "{cluster}");
    let id = cluster["cluster_id"].as_str().unwrap();
    assert_eq!(rm_attempts(&d, id).await, 2);
    let log = api.log("boom_cluster", &cluster_run, "job", 1).await.unwrap();
    assert!(log.contains("boom in container_"), "{log}");
    assert_eq!(d.cluster.submissions().len(), 1);
    d.shutdown().await;
}

#[tokio::test]
async fn a_killed_task_ends_its_driver_killed_in_both_deploy_modes() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "sleepy.sh", "#!/bin/sh\necho $$ > \"$1\"\nexec sleep 300\n");
    for mode in ["client", "cluster"] {
        let pid_file = dags.path().join(format!("{mode}.pid"));
        dag(dags.path(), &format!("sleepy_{mode}"), mode, "sleepy.sh", &[pid_file.to_str().unwrap()], "");
    }
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    for mode in ["client", "cluster"] {
        let dag_id = format!("sleepy_{mode}");
        let run = api.trigger(&dag_id, json!({})).await.unwrap();
        let pid = api.running_pid(&dag_id, &run, "job", &dags.path().join(format!("{mode}.pid"))).await;
        let kill = api.kill(&dag_id, &run, "job").await;
        assert!(kill.status().is_success(), "{mode}: {}", kill.text().await.unwrap());
        assert_eq!(api.wait_run(&dag_id, &run, DEADLINE).await.unwrap(), "failed", "{mode}");
        let drv = driver(&api, &dag_id, &run).await;
        assert_eq!(drv["state"], "killed", "{mode}: {drv}");
        proc_gone(pid).await;
        if mode == "cluster" {
            assert_eq!(drv["raw_state"], "KILLED/KILLED", "{drv}");
            let app = rm_app(&d, drv["cluster_id"].as_str().unwrap()).await;
            assert_eq!((app["state"].as_str(), app["finalStatus"].as_str()), (Some("KILLED"), Some("KILLED")));
        }
    }
    d.shutdown().await;
}

#[tokio::test]
async fn an_am_failing_on_attempt_1_is_one_try_succeeding_on_cluster_attempt_2() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(
        dags.path(),
        "flaky.sh",
        "#!/bin/sh\ncase \"$CONTAINER_ID\" in *_01_000001) echo 'attempt 1 fails' >&2; exit 1;; esac\necho recovered\n",
    );
    dag(dags.path(), "flaky_cluster", "cluster", "flaky.sh", &[], "retries = 2");
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("flaky_cluster", json!({})).await.unwrap();
    assert_eq!(api.wait_run("flaky_cluster", &run, DEADLINE).await.unwrap(), "success");
    let drv = driver(&api, "flaky_cluster", &run).await;
    assert_eq!(drv["state"], "succeeded");
    assert_eq!(drv["raw_state"], "FINISHED/SUCCEEDED");
    assert_eq!(drv["cluster_attempt"], 2, "{drv}");
    let attempts: Vec<i64> = drv["history"].as_array().unwrap().iter().filter_map(|e| e["attempt"].as_i64()).collect();
    assert_eq!(attempts.last(), Some(&2), "the record ends on AM attempt 2: {drv}");
    let subs = d.cluster.submissions();
    assert_eq!(subs.len(), 1, "one submission for one try: {subs:?}");
    assert_eq!(rm_attempts(&d, drv["cluster_id"].as_str().unwrap()).await, 2);
    let tis = api.task_instances("flaky_cluster", &run).await.unwrap();
    assert_eq!(tis["job"]["try_number"], 1);
    d.shutdown().await;
}

#[tokio::test]
async fn the_yarn_example_dag_succeeds_out_of_the_box() {
    example_dag_succeeds("yarn_example", "stats", "yarn", "FINISHED/SUCCEEDED").await;
}

/// The cluster id of the task's latest try, once it has one and its driver is `state`.
async fn cluster_id_when(api: &Api, dag_id: &str, run: &str, state: &str) -> String {
    let until = Instant::now() + DEADLINE;
    loop {
        let tries = api.tries(dag_id, run, "job").await.unwrap();
        if let Some(t) = tries.last()
            && t["driver"]["state"] == state
            && let Some(id) = t["driver"]["cluster_id"].as_str()
        {
            return id.to_string();
        }
        assert!(Instant::now() < until, "{dag_id}: driver never {state}: {tries:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn status_many_reads_every_drover_app_from_one_tag_list() {
    use drover_plugin_host::DriverPhase;
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "ok.sh", OK_SH);
    script(dags.path(), "boom.sh", BOOM_SH);
    script(dags.path(), "sleepy.sh", SLEEPY_SH);
    dag(dags.path(), "many_ok", "cluster", "ok.sh", &[], "");
    dag(dags.path(), "many_boom", "cluster", "boom.sh", &[], "");
    dag(dags.path(), "many_sleepy", "cluster", "sleepy.sh", &[], "");
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let ok = api.trigger("many_ok", json!({})).await.unwrap();
    let boom = api.trigger("many_boom", json!({})).await.unwrap();
    let sleepy = api.trigger("many_sleepy", json!({})).await.unwrap();
    assert_eq!(api.wait_run("many_ok", &ok, DEADLINE).await.unwrap(), "success");
    assert_eq!(api.wait_run("many_boom", &boom, DEADLINE).await.unwrap(), "failed");
    let ids = vec![
        driver(&api, "many_ok", &ok).await["cluster_id"].as_str().unwrap().to_string(),
        "application_1_9999".to_string(),
        driver(&api, "many_boom", &boom).await["cluster_id"].as_str().unwrap().to_string(),
        cluster_id_when(&api, "many_sleepy", &sleepy, "running").await,
    ];
    // Every submission carries the common tag the list is read by.
    for id in [&ids[0], &ids[2], &ids[3]] {
        let tags = rm_app(&d, id).await["applicationTags"].as_str().unwrap().to_string();
        assert!(tags.split(',').any(|t| t == "drover"), "{id}: {tags}");
        assert!(tags.split(',').any(|t| t.starts_with("drover-key:")), "{id}: {tags}");
    }

    let set = stand_in_backends(&d).await;
    let yarn = set.get("yarn").expect("the embedded yarn backend");
    let statuses = yarn.status_many(&ids).await.expect("status_many");
    assert_eq!(statuses.len(), ids.len(), "{statuses:#?}");
    let ok_st = statuses[0].as_ref().expect("listed");
    assert_eq!((ok_st.phase, ok_st.raw_state.as_str()), (DriverPhase::Succeeded, "FINISHED/SUCCEEDED"));
    // The list has no attempts: the attempt comes from the AM container's id.
    assert_eq!(ok_st.attempt, Some(1), "{ok_st:#?}");
    assert!(statuses[1].is_none(), "unknown to the RM: {statuses:#?}");
    let boom_st = statuses[2].as_ref().expect("listed");
    assert_eq!(boom_st.phase, DriverPhase::Failed, "{boom_st:#?}");
    assert_eq!(statuses[3].as_ref().expect("listed").phase, DriverPhase::Running);
    // The same phase and state as the per-id status.
    for (id, st) in ids.iter().zip(&statuses) {
        if let Some(st) = st {
            let one = yarn.status(id).await.unwrap();
            assert_eq!((one.phase, &one.raw_state, one.attempt), (st.phase, &st.raw_state, st.attempt), "{id}");
        }
    }
    yarn.kill(&ids[3]).await.unwrap();
    d.shutdown().await;
}

#[tokio::test]
async fn a_proxy_user_runs_the_app_as_that_user_in_both_deploy_modes() {
    // spark-submit's --proxy-user (contract 0.2.0): client mode passes the
    // flag to spark-submit, cluster mode submits with Hadoop's doAs, and the
    // ResourceManager files the application under that user.
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "whoami.sh", "#!/bin/sh\necho \"spark user: ${SPARK_USER:-none}\"\n");
    for mode in ["client", "cluster"] {
        let application = format!(
            "resource = \"whoami.sh\"\nmain_class = \"drover.Test\"\ndeploy_mode = \"{mode}\"\nproxy_user = \"analyst\""
        );
        job_dag(dags.path(), &format!("as_{mode}"), "yarn", "", &application);
    }
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let api = Api::new(&d);
    for mode in ["client", "cluster"] {
        let dag_id = format!("as_{mode}");
        let run = api.trigger(&dag_id, json!({})).await.unwrap();
        assert_eq!(api.wait_run(&dag_id, &run, DEADLINE).await.unwrap(), "success", "{mode}");
        let log = api.log(&dag_id, &run, "job", 1).await.unwrap();
        assert!(log.contains("spark user: analyst"), "{mode}: {log}");
        if mode == "cluster" {
            let id = driver(&api, &dag_id, &run).await["cluster_id"].as_str().unwrap().to_string();
            assert_eq!(rm_app(&d, &id).await["user"], "analyst", "the application is the proxy user's");
        }
    }
    d.shutdown().await;
}
