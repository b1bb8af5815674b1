//! Driver logs that outlive the cluster (issue 14, part 3): when a
//! cluster-mode try ends, drover copies its driver's log into its own log
//! folder, and serves that copy (saying so) once the cluster has thrown the
//! log away: the stand-in Kubernetes API server's pod deleted, the stand-in
//! standalone master's completed drivers cleared. The copy keeps the end of a
//! log longer than the cap; a drover killed while copying finishes the copy
//! when it starts again. And each backend's try shows its tracking link.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::child::{kill9, start_drover};
use support::drover::{Api, cluster, script, serve_args, write};
use support::proxy::Proxy;

const DEADLINE: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(50);
const UI_TEMPLATE: &str = "https://spark.example.com/{namespace}/{pod}/";

/// One DAG with one task `t` on `backend` running `resource` in `mode`.
fn dag(dir: &Path, id: &str, backend: &str, mode: &str, resource: &Path, args: &[&str]) {
    // Standalone's REST server and YARN want a main class, as for a jar.
    let main_class = if matches!(backend, "local" | "yarn") { "main_class = \"drover.Test\"\n" } else { "" };
    write(
        dir,
        &format!("{id}.toml"),
        &format!(
            "id = \"{id}\"\n[[tasks]]\nid = \"t\"\nbackend = \"{backend}\"\nretries = 0\n\
             [tasks.application]\nresource = \"{}\"\n{main_class}deploy_mode = \"{mode}\"\nargs = {}\n",
            resource.display(),
            json!(args)
        ),
    );
}

/// drover in this process on the stand-in `cluster`, with its embedded
/// backends and a `k8s` backend whose driver pods have a Spark UI link;
/// `max_bytes` caps each archived log.
async fn serve(
    cluster: &drover_devcluster::DevCluster,
    home: &Path,
    dags: &Path,
    max_bytes: u64,
) -> (drover::serve::Server, Api) {
    let spark_submit = env!("CARGO_BIN_EXE_drover-spark-submit");
    let config = write(
        home,
        "drover.toml",
        &format!(
            "[backends.k8s]\nplugin = \"kubernetes\"\n[backends.k8s.settings]\napi_url = \"{}\"\n\
             namespace = \"default\"\nspark_submit = \"{spark_submit}\"\nspark_ui_url_template = \"{UI_TEMPLATE}\"\n",
            cluster.rest_url()
        ),
    );
    let file = drover::config::load(&config).unwrap();
    let stand_in = drover::config::StandIn {
        rest_url: cluster.rest_url(),
        master_url: cluster.master_url(),
        spark_submit: spark_submit.to_string(),
        s3: cluster.own_s3_url(),
    };
    let backends = drover::config::backend_configs(&stand_in, Some(&file));
    let args = drover::serve::ServeArgs { log_archive_max_bytes: max_bytes, ..serve_args(&home.join("drover"), dags) };
    let server = drover::serve::start(&args, drover::serve::prepare_home(&args).unwrap(), &backends)
        .await
        .expect("drover starts");
    let api = Api::with_token(&server.api_url(), &server.api_token);
    (server, api)
}

/// Triggers `dag_id` and waits for the run's end; returns the run id.
async fn run_to_end(api: &Api, dag_id: &str, expect: &str) -> String {
    let run = api.trigger(dag_id, json!({})).await.unwrap();
    assert_eq!(api.wait_run(dag_id, &run, DEADLINE).await.unwrap(), expect, "{dag_id}");
    run
}

/// The driver of the task's first try once its log copy is done.
async fn archived(api: &Api, dag_id: &str, run: &str) -> Value {
    let until = Instant::now() + DEADLINE;
    loop {
        let tries = api.tries(dag_id, run, "t").await.unwrap();
        let driver = &tries[0]["driver"];
        if driver["log_archive"]["state"] == "done" {
            return driver.clone();
        }
        assert!(Instant::now() < until, "{dag_id}: the log was never archived: {driver:#}");
        tokio::time::sleep(POLL).await;
    }
}

/// The log answer of the first try (one stream from `offset`, or the whole log).
async fn log(api: &Api, dag_id: &str, run: &str, query: &str) -> reqwest::Response {
    let url = format!("{}{}/taskInstances/t/logs/1{query}", api.base, Api::run_path(dag_id, run));
    api.http.get(url).send().await.unwrap()
}

async fn log_json(api: &Api, dag_id: &str, run: &str, query: &str) -> Value {
    let r = log(api, dag_id, run, query).await;
    assert!(r.status().is_success(), "{dag_id}{query}: {}", r.status());
    r.json().await.unwrap()
}

fn text(body: &Value) -> String {
    body["content"].as_array().unwrap().iter().filter_map(Value::as_str).collect()
}

#[tokio::test]
async fn a_deleted_driver_pod_s_log_is_served_from_drovers_copy() {
    let root = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let app = script(dags.path(), "app.sh", "#!/bin/sh\necho \"hello from the driver pod, $1\"\n");
    dag(dags.path(), "pod_log", "k8s", "cluster", &app, &["arg-1"]);
    let cluster = cluster(root.path()).await;
    let (server, api) = serve(&cluster, root.path(), dags.path(), drover_scheduler::DEFAULT_LOG_ARCHIVE_MAX_BYTES).await;
    let run = run_to_end(&api, "pod_log", "success").await;
    let driver = archived(&api, "pod_log", &run).await;
    let id = driver["cluster_id"].as_str().unwrap();
    // `namespace/name@ms`: the pod, and when it was submitted.
    let (ns, pod) = id.split('@').next().unwrap().split_once('/').unwrap();

    // The Spark UI link the backend's template makes.
    assert_eq!(driver["tracking_url"], format!("https://spark.example.com/{ns}/{pod}/"));
    // Kubernetes keeps one log per container: stdout holds it all.
    let streams = &driver["log_archive"]["streams"];
    assert_eq!(streams["stdout"]["archived"], true, "{driver:#}");
    assert_eq!(streams["stdout"]["cut"], false);
    assert_eq!(streams["stderr"]["archived"], false);
    assert!(streams["stderr"]["error"].as_str().unwrap().starts_with("unsupported: "), "{driver:#}");
    let copy = root.path().join(format!("drover/logs/pod_log/{}/t/try-1.stdout.log", sanitize(&run)));
    assert!(std::fs::read_to_string(&copy).unwrap().contains("hello from the driver pod, arg-1"), "{}", copy.display());

    // The pod goes, and its log with it.
    let pod_url = format!("{}/api/v1/namespaces/{ns}/pods/{pod}", cluster.rest_url());
    let http = reqwest::Client::new();
    assert!(http.delete(format!("{pod_url}?gracePeriodSeconds=0")).send().await.unwrap().status().is_success());
    let until = Instant::now() + DEADLINE;
    while http.get(&pod_url).send().await.unwrap().status() != 404 {
        assert!(Instant::now() < until, "the pod was never deleted");
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(http.get(format!("{pod_url}/log")).send().await.unwrap().status(), 404);

    // drover still serves it, and says from where.
    let whole = log_json(&api, "pod_log", &run, "").await;
    assert_eq!(whole["source"], "archive", "{whole:#}");
    assert!(text(&whole).contains("hello from the driver pod, arg-1"), "{whole:#}");
    let piece = log_json(&api, "pod_log", &run, "?stream=stdout&offset=0").await;
    assert_eq!(piece["source"], "archive");
    let got = text(&piece);
    assert_eq!(got, std::fs::read_to_string(&copy).unwrap());
    assert_eq!(piece["continuation_token"], got.len().to_string());
    let rest = log_json(&api, "pod_log", &run, &format!("?stream=stdout&offset={}", got.len())).await;
    assert_eq!((text(&rest), &rest["source"]), (String::new(), &json!("archive")), "nothing after the end");
    // The stream Kubernetes never had is still not available, with the reason.
    let r = log(&api, "pod_log", &run, "?stream=stderr&offset=0").await;
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("unsupported"), "{body}");
    server.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_forgotten_standalone_driver_s_log_is_served_from_drovers_copy() {
    let root = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let app = script(dags.path(), "app.sh", "#!/bin/sh\necho \"out of $1\"\necho \"err of $1\" >&2\n");
    dag(dags.path(), "forgotten", "local", "cluster", &app, &["the driver"]);
    let cluster = cluster(root.path()).await;
    let (server, api) = serve(&cluster, root.path(), dags.path(), drover_scheduler::DEFAULT_LOG_ARCHIVE_MAX_BYTES).await;
    let run = run_to_end(&api, "forgotten", "success").await;
    let driver = archived(&api, "forgotten", &run).await;
    let id = driver["cluster_id"].as_str().unwrap().to_string();
    let streams = &driver["log_archive"]["streams"];
    assert_eq!((&streams["stdout"]["archived"], &streams["stderr"]["archived"]), (&json!(true), &json!(true)), "{driver:#}");

    // The link is the driver's page on its worker, which shows its log.
    let link = driver["tracking_url"].as_str().unwrap();
    assert_eq!(link, format!("{}/logPage/?driverId={id}&logType=stderr", cluster.rest_url()));
    let page = reqwest::get(link).await.unwrap();
    assert!(page.status().is_success());
    assert!(page.text().await.unwrap().contains("err of the driver"));

    // The master forgets its completed drivers (Spark's /v1/submissions/clear).
    let http = reqwest::Client::new();
    let cleared = http.post(format!("{}/v1/submissions/clear", cluster.rest_url())).send().await.unwrap();
    assert!(cleared.status().is_success());
    let status = support::drover::standalone_status(&cluster, &id).await;
    assert_eq!(status["success"], false, "the master no longer knows {id}: {status}");

    let whole = log_json(&api, "forgotten", &run, "").await;
    assert_eq!(whole["source"], "archive", "{whole:#}");
    let whole = text(&whole);
    assert!(whole.contains("==== driver stdout ====\nout of the driver\n"), "{whole}");
    // The worker's stderr starts with its launch command, as Spark's does.
    let (_, stderr) = whole.split_once("==== driver stderr ====\nLaunch Command: ").expect(&whole);
    assert!(stderr.ends_with("err of the driver\n"), "{whole}");
    let stderr = log_json(&api, "forgotten", &run, "?stream=stderr&offset=0").await;
    assert_eq!(stderr["source"], "archive");
    assert!(text(&stderr).ends_with("\nerr of the driver\n"), "{stderr:#}");
    server.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn the_copy_of_a_long_log_keeps_its_end_and_says_what_was_cut() {
    const CAP: u64 = 4096;
    let root = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let app = script(dags.path(), "chatty.sh", "#!/bin/sh\ni=0\nwhile [ $i -lt 20000 ]; do echo \"line $i\"; i=$((i+1)); done\n");
    // The standalone worker says how long a log is (of a log longer than a
    // page the part to cut is skipped); the Kubernetes pod log does not.
    dag(dags.path(), "chatty_standalone", "local", "cluster", &app, &[]);
    dag(dags.path(), "chatty_k8s", "k8s", "cluster", &app, &[]);
    let cluster = cluster(root.path()).await;
    let (server, api) = serve(&cluster, root.path(), dags.path(), CAP).await;
    for dag_id in ["chatty_standalone", "chatty_k8s"] {
        let run = run_to_end(&api, dag_id, "success").await;
        let driver = archived(&api, dag_id, &run).await;
        let stdout = &driver["log_archive"]["streams"]["stdout"];
        let total = (0..20000).map(|i| format!("line {i}\n").len()).sum::<usize>() as u64;
        assert_eq!(stdout["total_bytes"], total, "{dag_id}: {driver:#}");
        assert_eq!(stdout["cut"], true, "{dag_id}");
        let kept = stdout["kept_bytes"].as_u64().unwrap();
        assert!(kept <= CAP && kept > CAP - 4, "{dag_id}: {kept}");

        let body = log_json(&api, dag_id, &run, "?stream=stdout&offset=0").await;
        assert_eq!(body["source"], "archive");
        let got = text(&body);
        let (note, rest) = got.split_once('\n').unwrap();
        assert_eq!(
            note,
            format!(
                "[drover: the driver's stdout was {total} bytes; this copy keeps its last {kept} (the first {} are \
                 cut: the archive keeps at most {CAP} bytes of each log)]",
                total - kept
            ),
            "{dag_id}"
        );
        assert_eq!(rest.len() as u64, kept, "{dag_id}");
        assert!(rest.ends_with("line 19998\nline 19999\n"), "{dag_id}: the end is kept: {rest}");
        assert!(!rest.contains("line 1\n") && !rest.contains("line 100\n"), "{dag_id}: the start is cut");
    }
    server.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_drover_killed_while_copying_a_log_finishes_the_copy_after_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let dags = root.path().join("dags");
    std::fs::create_dir_all(&dags).unwrap();
    let home = root.path().join("drover");
    let app = script(&dags, "app.sh", "#!/bin/sh\necho \"worth keeping: $1\"\n");
    dag(&dags, "cut_off", "k8s", "cluster", &app, &["every line"]);
    let cluster = cluster(root.path()).await;
    let proxy = Proxy::start(cluster.addr()).await;
    // The pod log's answer is held back: the copy is under way when drover dies.
    proxy.hold("GET", "*/log");
    let (mut first, api) = start_drover(&home, &dags, &proxy.url(), &[]).await.unwrap();
    let run = run_to_end(&api, "cut_off", "success").await;
    proxy.wait_held(1, DEADLINE).await.unwrap();
    let driver = &api.tries("cut_off", &run, "t").await.unwrap()[0]["driver"];
    assert_eq!(driver["log_archive"]["state"], "pending", "{driver:#}");
    kill9(&mut first).await.unwrap();
    let copy = home.join(format!("logs/cut_off/{}/t/try-1.stdout.log", sanitize(&run)));
    assert!(!copy.exists(), "no copy was made before the kill");

    proxy.release();
    let (mut second, api) = start_drover(&home, &dags, &proxy.url(), &[]).await.unwrap();
    let driver = archived(&api, "cut_off", &run).await;
    assert_eq!(driver["log_archive"]["streams"]["stdout"]["archived"], true, "{driver:#}");
    assert!(std::fs::read_to_string(&copy).unwrap().contains("worth keeping: every line"));
    let body = log_json(&api, "cut_off", &run, "?stream=stdout&offset=0").await;
    assert_eq!(body["source"], "archive");
    assert!(text(&body).contains("worth keeping: every line"));
    kill9(&mut second).await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn each_backend_s_driver_has_its_tracking_link() {
    let root = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let app = script(dags.path(), "app.sh", "#!/bin/sh\necho tracked\n");
    dag(dags.path(), "on_standalone", "local", "cluster", &app, &[]);
    dag(dags.path(), "on_yarn", "yarn", "cluster", &app, &[]);
    dag(dags.path(), "on_k8s", "k8s", "cluster", &app, &[]);
    dag(dags.path(), "on_serverless", "serverless", "service", &app, &[]);
    let cluster = cluster(root.path()).await;
    let (server, api) = serve(&cluster, root.path(), dags.path(), drover_scheduler::DEFAULT_LOG_ARCHIVE_MAX_BYTES).await;
    let mut links = Vec::new();
    for dag_id in ["on_standalone", "on_yarn", "on_k8s", "on_serverless"] {
        let run = run_to_end(&api, dag_id, "success").await;
        let driver = api.tries(dag_id, &run, "t").await.unwrap()[0]["driver"].clone();
        let link = driver["tracking_url"].as_str().unwrap_or_else(|| panic!("{dag_id}: no link: {driver:#}")).to_string();
        links.push((dag_id, driver["cluster_id"].as_str().unwrap().to_string(), link));
    }
    let base = cluster.rest_url();
    for (dag_id, id, link) in &links {
        match *dag_id {
            "on_standalone" => assert_eq!(*link, format!("{base}/logPage/?driverId={id}&logType=stderr")),
            "on_yarn" => assert!(link.contains(id.as_str()), "{link}"),
            "on_k8s" => {
                let (ns, pod) = id.split('@').next().unwrap().split_once('/').unwrap();
                assert_eq!(*link, format!("https://spark.example.com/{ns}/{pod}/"));
            }
            _ => {
                // GetDashboardForJobRun's link, to the stand-in's page for the run.
                let (app_id, run_id) = id.split_once('/').unwrap();
                let prefix = format!("{base}/emr-serverless/dashboard/{app_id}/{run_id}?authToken=");
                assert!(link.starts_with(&prefix), "{link} is not under {prefix}");
                let page = reqwest::get(link).await.unwrap();
                assert!(page.status().is_success(), "{link}: {}", page.status());
                assert!(page.text().await.unwrap().contains("state SUCCESS"));
            }
        }
    }
    server.shutdown().await;
    cluster.shutdown().await;
}

/// drover's path-safe form of a run id (as the scheduler names log folders).
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect()
}
