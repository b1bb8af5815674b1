//! The livy backend end to end: drover, the livy plugin (WASM), and the
//! embedded Livy batch API stand-in. Livy batches are cluster-mode drivers.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::drover::{Api, cluster, rewind_to_mid_submission, script, serve_on, stand_in_backends, start};
use support::fixtures::{BOOM_SH, OK_SH, example_dag_succeeds, import_errors, job_dag, toml_strings};
use support::wait::proc_gone;

use drover_devcluster::DevCluster;

const DEADLINE: Duration = Duration::from_secs(120);

/// A one-task cluster-mode DAG on the `livy` backend.
fn dag(dir: &Path, id: &str, resource: &str, args: &[&str]) {
    let application = format!(
        "resource = \"{resource}\"\ndeploy_mode = \"cluster\"\nargs = {}\n\
         executor = {{ memory = \"512m\", cores = 1, instances = 2 }}",
        toml_strings(args)
    );
    job_dag(dir, id, "livy", "", &application);
}

/// The driver record of the task's only try.
async fn driver(api: &Api, dag_id: &str, run: &str) -> Value {
    api.only_driver(dag_id, run, "job").await
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
    let pid = api.running_pid("sleepy", &run, "job", &pid_file).await;
    let kill = api.kill("sleepy", &run, "job").await;
    assert!(kill.status().is_success(), "{}", kill.text().await.unwrap());
    assert_eq!(api.wait_run("sleepy", &run, DEADLINE).await.unwrap(), "failed");
    let drv = driver(&api, "sleepy", &run).await;
    assert_eq!(drv["state"], "killed", "{drv:#}");
    proc_gone(pid).await;
    // DELETE /batches/{id} kills and removes the batch.
    let gone = livy_batch(&d.cluster, drv["cluster_id"].as_str().unwrap()).await;
    assert_eq!(gone.status(), 404);
    d.shutdown().await;
}

#[tokio::test]
async fn client_mode_is_refused_when_the_dag_loads() {
    let client = r#"
id = "client"
[[tasks]]
id = "job"
backend = "livy"
[tasks.application]
resource = "hello.sh"
deploy_mode = "client"
"#;
    let errors = import_errors(&[("hello.sh", "#!/bin/sh\necho hello\n")], &[("client.toml", client)]).await;
    assert_eq!(errors["total_entries"], 1, "{errors:#}");
    let text = errors["import_errors"][0]["stack_trace"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("cluster mode only"), "{errors:#}");
}

#[tokio::test]
async fn the_livy_example_dag_succeeds_out_of_the_box() {
    example_dag_succeeds("livy_example", "stats", "livy", "success").await;
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
    let drv = api1.wait_driver("gated", &run, "job", "running").await["driver"].clone();
    let batch_id = drv["cluster_id"].as_str().unwrap().to_string();
    first.shutdown().await;

    rewind_to_mid_submission(home.path()).await;

    let second = serve_on(&cluster, home.path(), dags.path()).await;
    let api = Api::with_token(&second.api_url(), &second.api_token);
    // Found by its name in Livy's batch list and followed again: the same batch.
    let drv = api.wait_driver("gated", &run, "job", "running").await["driver"].clone();
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

#[tokio::test]
async fn status_many_reads_the_batch_list_and_unknown_ids_are_not_found() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "ok.sh", OK_SH);
    script(dags.path(), "boom.sh", BOOM_SH);
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
