//! The livy backend end to end: drover, the livy plugin (WASM), and the
//! embedded Livy batch API stand-in. Livy batches are cluster-mode drivers.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::drover::{cluster, serve_on, Api, Running, repo_dags, script, start, write};

use drover::config::{self, StandIn};

use drover_devcluster::DevCluster;

const DEADLINE: Duration = Duration::from_secs(120);

/// A one-task cluster-mode DAG on the `livy` backend.
fn dag(dir: &Path, id: &str, resource: &str, args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    write(
        dir,
        &format!("{id}.toml"),
        &format!(
            r#"
id = "{id}"
[defaults]
backend = "livy"
retries = 0
[[tasks]]
id = "job"
[tasks.application]
resource = "{resource}"
deploy_mode = "cluster"
args = [{}]
executor = {{ memory = "512m", cores = 1, instances = 2 }}
"#,
            args.join(", ")
        ),
    );
}

/// The driver record of the task's only try.
async fn driver(api: &Api, dag_id: &str, run: &str) -> Value {
    let tries = api.tries(dag_id, run, "job").await.unwrap();
    assert_eq!(tries.len(), 1, "{dag_id}: one try: {tries:#?}");
    tries[0]["driver"].clone()
}

/// The batch as the stand-in Livy server reports it.
async fn livy_batch(cluster: &DevCluster, id: &str) -> reqwest::Response {
    reqwest::get(format!("{}/batches/{id}", cluster.livy_url())).await.unwrap()
}

#[tokio::test]
async fn a_batch_succeeds_and_its_log_is_readable() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "hello.sh", "#!/bin/sh\necho \"hello $1 from livy\"\necho \"a warning\" >&2\n");
    dag(dags.path(), "ok", "hello.sh", &["{{ run_id }}"]);
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let run = api.trigger("ok", json!({})).await.unwrap();
    assert_eq!(api.wait_run("ok", &run, DEADLINE).await.unwrap(), "success");

    let drv = driver(&api, "ok", &run).await;
    assert_eq!((drv["deploy_mode"].as_str(), drv["state"].as_str()), (Some("cluster"), Some("succeeded")));
    assert_eq!(drv["raw_state"], "success");
    let id = drv["cluster_id"].as_str().unwrap();
    assert!(id.parse::<u64>().is_ok(), "a Livy batch id: {id}");

    // Both sections of the batch's log, each under its stream.
    let log = api.log("ok", &run, "job", 1).await.unwrap();
    assert!(log.contains(&format!("hello {run} from livy")), "log: {log}");
    let (out, err) = log.split_once("==== driver stderr ====").expect("both streams");
    assert!(!out.contains("a warning"), "stdout: {out}");
    assert!(err.contains("a warning"), "stderr: {err}");

    // One batch, named by the try's submission key and carrying it in conf.
    let subs = d.cluster.submissions();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!((subs[0].manager, subs[0].submission_id.as_str()), ("livy", id));
    assert_eq!(subs[0].submission_key.as_deref(), drv["submission_key"].as_str());
    let batch: Value = livy_batch(&d.cluster, id).await.json().await.unwrap();
    assert_eq!(batch["name"], drv["submission_key"], "{batch:#}");
    assert_eq!(batch["state"], "success");
    d.shutdown().await;
}

#[tokio::test]
async fn a_failing_batch_fails_the_try_with_the_clusters_message() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "boom.sh", "#!/bin/sh\necho \"boom in the livy batch\" >&2\nexit 3\n");
    dag(dags.path(), "boom", "boom.sh", &[]);
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("boom", json!({})).await.unwrap();
    assert_eq!(api.wait_run("boom", &run, DEADLINE).await.unwrap(), "failed");
    let drv = driver(&api, "boom", &run).await;
    assert_eq!((drv["state"].as_str(), drv["raw_state"].as_str()), (Some("failed"), Some("dead")));
    let message = drv["message"].as_str().unwrap_or_default();
    assert!(message.contains("boom in the livy batch"), "{drv:#}");
    let log = api.log("boom", &run, "job", 1).await.unwrap();
    assert!(log.contains("boom in the livy batch"), "{log}");
    assert_eq!(d.cluster.submissions().len(), 1);
    d.shutdown().await;
}

/// Waits until the task's driver is running and the app wrote its pid.
async fn wait_running(api: &Api, dag_id: &str, run: &str, pid_file: &Path) -> u32 {
    let start = Instant::now();
    loop {
        let tries = api.tries(dag_id, run, "job").await.unwrap();
        let running = tries.first().is_some_and(|t| t["driver"]["state"] == "running");
        if running && let Ok(pid) = std::fs::read_to_string(pid_file) && let Ok(pid) = pid.trim().parse() {
            return pid;
        }
        assert!(start.elapsed() < DEADLINE, "{dag_id} never ran: {tries:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_killed_task_ends_its_batch_killed() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "sleepy.sh", "#!/bin/sh\necho $$ > \"$1\"\nexec sleep 300\n");
    let pid_file = dags.path().join("sleepy.pid");
    dag(dags.path(), "sleepy", "sleepy.sh", &[pid_file.to_str().unwrap()]);
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("sleepy", json!({})).await.unwrap();
    let pid = wait_running(&api, "sleepy", &run, &pid_file).await;
    let kill = api
        .http
        .post(format!("{}{}/taskInstances/job/kill", api.base, Api::run_path("sleepy", &run)))
        .send()
        .await
        .unwrap();
    assert!(kill.status().is_success(), "{}", kill.text().await.unwrap());
    assert_eq!(api.wait_run("sleepy", &run, DEADLINE).await.unwrap(), "failed");
    let drv = driver(&api, "sleepy", &run).await;
    assert_eq!(drv["state"], "killed", "{drv:#}");
    let start = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(start.elapsed() < Duration::from_secs(30), "process {pid} outlived the kill");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // DELETE /batches/{id} kills and removes the batch.
    let gone = livy_batch(&d.cluster, drv["cluster_id"].as_str().unwrap()).await;
    assert_eq!(gone.status(), 404);
    d.shutdown().await;
}

#[tokio::test]
async fn client_mode_is_refused_when_the_dag_loads() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "hello.sh", "#!/bin/sh\necho hello\n");
    write(
        dags.path(),
        "client.toml",
        r#"
id = "client"
[[tasks]]
id = "job"
backend = "livy"
[tasks.application]
resource = "hello.sh"
deploy_mode = "client"
"#,
    );
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let errors = api.get("/api/v2/importErrors").await.unwrap();
    assert_eq!(errors["total_entries"], 1, "{errors:#}");
    let text = errors["import_errors"][0]["stack_trace"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("cluster mode only"), "{errors:#}");
    d.shutdown().await;
}

#[tokio::test]
async fn the_livy_example_dag_succeeds_out_of_the_box() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.unwrap();
    let api = Api::new(&d);
    let errors = api.get("/api/v2/importErrors").await.unwrap();
    assert_eq!(errors["total_entries"], 0, "{errors:#}");
    let run = api.trigger("livy_example", json!({})).await.unwrap();
    assert_eq!(api.wait_run("livy_example", &run, DEADLINE).await.unwrap(), "success");
    let tries = api.tries("livy_example", &run, "stats").await.unwrap();
    assert_eq!(tries.len(), 1);
    assert_eq!(tries[0]["driver"]["backend"], "livy");
    assert_eq!(tries[0]["driver"]["raw_state"], "success");
    let log = api.log("livy_example", &run, "stats", 1).await.unwrap();
    assert!(log.contains(r#""lines": 5"#), "log: {log}");
    d.shutdown().await;
}


/// Rewinds the record of every open try to the instant after its intent was
/// committed and before the cluster's answer was: as if drover had been
/// killed there.
async fn rewind_to_mid_submission(home: &Path) {
    let db = home.join("drover/drover.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    sqlx::query("UPDATE task_tries SET cluster_id = NULL, driver_state = 'pending', raw_state = NULL WHERE state = 'running'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

async fn wait_driver(api: &Api, dag: &str, run: &str, state: &str) -> Value {
    let until = Instant::now() + DEADLINE;
    loop {
        let tis = api.task_instances(dag, run).await.unwrap();
        if tis["job"]["driver"]["state"] == state {
            return tis["job"]["driver"].clone();
        }
        assert!(Instant::now() < until, "job never reached {state}: {:#}", tis["job"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn after_a_restart_mid_submission_the_batch_is_found_by_its_key() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let gate = home.path().join("release");
    script(
        dags.path(),
        "gated.sh",
        &format!("#!/bin/sh\nwhile [ ! -e {} ]; do sleep 0.1; done\necho released\n", gate.display()),
    );
    dag(dags.path(), "gated", "gated.sh", &[]);
    let cluster = cluster(home.path()).await;
    let first = serve_on(&cluster, home.path(), dags.path()).await;
    let api1 = Api::with_token(&first.api_url(), &first.api_token);
    let run = api1.trigger("gated", json!({})).await.unwrap();
    let drv = wait_driver(&api1, "gated", &run, "running").await;
    let batch_id = drv["cluster_id"].as_str().unwrap().to_string();
    first.shutdown().await;

    rewind_to_mid_submission(home.path()).await;

    let second = serve_on(&cluster, home.path(), dags.path()).await;
    let api = Api::with_token(&second.api_url(), &second.api_token);
    // Found by its name in Livy's batch list and followed again: the same batch.
    let drv = wait_driver(&api, "gated", &run, "running").await;
    assert_eq!(drv["cluster_id"], batch_id.as_str(), "{drv:#}");
    std::fs::write(&gate, "").unwrap();
    assert_eq!(api.wait_run("gated", &run, DEADLINE).await.unwrap(), "success");
    let tries = api.tries("gated", &run, "job").await.unwrap();
    assert_eq!(tries.len(), 1, "found, not retried: {tries:#?}");
    let history: Vec<&str> =
        tries[0]["driver"]["history"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap_or("")).collect();
    assert!(history.iter().any(|m| m.contains("found on the cluster by its submission key")), "{history:?}");
    let on_livy = cluster.submissions().into_iter().filter(|s| s.manager == "livy").count();
    assert_eq!(on_livy, 1, "the Livy server saw the batch once");
    second.shutdown().await;
    cluster.shutdown().await;
}

/// The embedded backends of a running drover, built again from the same
/// settings (`backend_configs`) so a test can call the plugin directly.
async fn stand_in_backends(d: &Running) -> drover_plugin_host::BackendSet {
    let stand_in = StandIn {
        rest_url: d.cluster.rest_url(),
        master_url: d.cluster.master_url(),
        spark_submit: "spark-submit".into(),
    };
    let host = config::plugin_host(Some(&support::drover::plugin_cache())).unwrap();
    config::backends(&host, &config::backend_configs(&stand_in, None)).await.unwrap()
}

#[tokio::test]
async fn status_many_reads_the_batch_list_and_unknown_ids_are_not_found() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "ok.sh", "#!/bin/sh\necho ok\n");
    script(dags.path(), "boom.sh", "#!/bin/sh\necho boom >&2\nexit 3\n");
    dag(dags.path(), "many_ok", "ok.sh", &[]);
    dag(dags.path(), "many_boom", "boom.sh", &[]);
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let ok = api.trigger("many_ok", json!({})).await.unwrap();
    let boom = api.trigger("many_boom", json!({})).await.unwrap();
    assert_eq!(api.wait_run("many_ok", &ok, DEADLINE).await.unwrap(), "success");
    assert_eq!(api.wait_run("many_boom", &boom, DEADLINE).await.unwrap(), "failed");
    let ids = vec![
        driver(&api, "many_ok", &ok).await["cluster_id"].as_str().unwrap().to_string(),
        "9999".to_string(),
        driver(&api, "many_boom", &boom).await["cluster_id"].as_str().unwrap().to_string(),
    ];
    let set = stand_in_backends(&d).await;
    let livy = set.get("livy").expect("the embedded livy backend");
    let statuses = livy.status_many(&ids).await.expect("status_many");
    assert_eq!(statuses.len(), 3, "{statuses:#?}");
    assert_eq!(statuses[0].as_ref().expect("listed").raw_state, "success");
    assert!(statuses[1].is_none(), "unknown to Livy: {statuses:#?}");
    assert_eq!(statuses[2].as_ref().expect("listed").raw_state, "dead");
    let err = livy.status("9999").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    d.shutdown().await;
}
