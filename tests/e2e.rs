//! End to end: the example DAGs through the WASM standalone plugin and the
//! stand-in cluster, the CLI, and the API's answers to bad requests.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::drover::{Api, repo_dags, script, stand_in_backends, start, write};
use support::fixtures::{BOOM_SH, OK_SH, SLEEPY_SH};

const DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test]
async fn example_dags_succeed_in_both_deploy_modes() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.expect("drover starts");
    let api = Api::new(&d);

    let run = api.trigger("wordcount_client", json!({"top": 2})).await.unwrap();
    assert_eq!(api.wait_run("wordcount_client", &run, DEADLINE).await.unwrap(), "success");
    let tries = api.tries("wordcount_client", &run, "count").await.unwrap();
    let driver = &tries[0]["driver"];
    assert_eq!(driver["deploy_mode"], "client");
    assert_eq!(driver["state"], "succeeded");
    // The client-mode driver's output is captured to the task's log.
    let log = api.log("wordcount_client", &run, "count", 1).await.unwrap();
    assert!(log.contains(r#""top": [["the", "#), "log: {log}");
    assert!(log.contains(&run), "the run id reached the app through a template: {log}");

    let run = api.trigger("line_stats_cluster", json!({})).await.unwrap();
    assert_eq!(api.wait_run("line_stats_cluster", &run, DEADLINE).await.unwrap(), "success");
    for task in ["stats", "check"] {
        let tries = api.tries("line_stats_cluster", &run, task).await.unwrap();
        assert_eq!(tries.len(), 1, "{task} ran once");
        let driver = &tries[0]["driver"];
        assert_eq!(driver["deploy_mode"], "cluster");
        assert_eq!(driver["raw_state"], "FINISHED");
        let id = driver["cluster_id"].as_str().expect("cluster id");
        assert!(id.starts_with("driver-"), "{id}");
        let states: Vec<&str> = driver["history"].as_array().unwrap().iter().map(|e| e["state"].as_str().unwrap()).collect();
        assert_eq!(states.first(), Some(&"pending"));
        assert_eq!(states.last(), Some(&"succeeded"));
        assert!(states.contains(&"submitted"), "{states:?}");
    }
    // Cluster-mode driver logs come through the plugin from the cluster.
    let log = api.log("line_stats_cluster", &run, "stats", 1).await.unwrap();
    assert!(log.contains(r#""lines": 5"#), "log: {log}");
    // Exactly one submission per cluster-mode task on the cluster.
    let subs = d.cluster.submissions();
    assert_eq!(subs.iter().filter(|s| s.app_name.starts_with("line_stats_cluster")).count(), 2, "{subs:?}");
    d.shutdown().await;
}

/// dags/cleanup_example.toml: a cleanup task with all_done and an alert
/// with one_failed, as Airflow runs them.
#[tokio::test]
async fn trigger_rules_run_the_cleanup_always_and_the_alert_only_on_failure() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let state = |run: String| {
        let api = &api;
        async move {
            let mut out = Vec::new();
            for task in ["count", "cleanup", "alert"] {
                let ti = api.get(&format!("/api/v2/dags/cleanup_example/dagRuns/{}/taskInstances/{task}", support::drover::encode(&run))).await.unwrap();
                out.push(ti["state"].as_str().unwrap_or("none").to_string());
            }
            out
        }
    };

    let run = api.trigger("cleanup_example", json!({})).await.unwrap();
    assert_eq!(api.wait_run("cleanup_example", &run, DEADLINE).await.unwrap(), "success", "a skipped alert does not fail the run");
    assert_eq!(state(run.clone()).await, ["success", "success", "skipped"]);

    let run = api.trigger("cleanup_example", json!({"input": "missing.txt"})).await.unwrap();
    assert_eq!(api.wait_run("cleanup_example", &run, DEADLINE).await.unwrap(), "failed");
    assert_eq!(state(run.clone()).await, ["failed", "success", "success"], "cleanup and alert ran after the failure");
    let log = api.log("cleanup_example", &run, "alert", 1).await.unwrap();
    assert!(log.contains("ALERT: a task of"), "{log}");
    d.shutdown().await;
}

#[tokio::test]
async fn the_dag_mixing_all_five_backends_succeeds() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let run = api.trigger("all_backends", json!({})).await.unwrap();
    assert_eq!(api.wait_run("all_backends", &run, DEADLINE).await.unwrap(), "success");
    let tis = api.task_instances("all_backends", &run).await.unwrap();
    let backend = |t: &str| tis[t]["driver"]["backend"].as_str().unwrap().to_string();
    assert_eq!(backend("count_standalone"), "local");
    assert_eq!(backend("stats_yarn"), "yarn");
    assert_eq!(backend("stats_k8s"), "k8s");
    assert_eq!(backend("stats_eks"), "eks");
    assert_eq!(backend("summary_serverless"), "serverless");
    let managers: std::collections::BTreeSet<&str> = d.cluster.submissions().iter().map(|s| s.manager).collect();
    assert_eq!(
        managers,
        ["emr-containers", "emr-serverless", "kubernetes", "yarn"].into_iter().collect(),
        "client mode submits nothing to the cluster"
    );
    d.shutdown().await;
}

#[tokio::test]
async fn a_failing_application_is_retried_then_fails_the_run() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "boom", "#!/bin/sh\necho \"try $1 failing\" >&2\nexit 3\n");
    write(
        dags.path(),
        "flaky.toml",
        r#"
id = "flaky"
[defaults]
backend = "local"
[[tasks]]
id = "boom"
retries = 2
retry_delay = "100ms"
[tasks.application]
resource = "boom"
main_class = "Boom"
deploy_mode = "cluster"
args = ["{{ try_number }}"]
[[tasks]]
id = "after"
depends_on = ["boom"]
[tasks.application]
resource = "boom"
deploy_mode = "client"
"#,
    );
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("flaky", json!({})).await.unwrap();
    assert_eq!(api.wait_run("flaky", &run, DEADLINE).await.unwrap(), "failed");

    let tis = api.task_instances("flaky", &run).await.unwrap();
    assert_eq!(tis["boom"]["state"], "failed");
    assert_eq!(tis["boom"]["try_number"], 3);
    assert_eq!(tis["after"]["state"], "upstream_failed");
    let tries = api.tries("flaky", &run, "boom").await.unwrap();
    assert_eq!(tries.len(), 3);
    for (i, t) in tries.iter().enumerate() {
        assert_eq!(t["state"], "failed");
        assert_eq!(t["driver"]["raw_state"], "FAILED");
        let log = api.log("flaky", &run, "boom", i as i64 + 1).await.unwrap();
        assert!(log.contains(&format!("try {} failing", i + 1)), "try {} log: {log}", i + 1);
    }
    // Three tries, three distinct submissions, each with its own key.
    let keys: std::collections::BTreeSet<String> =
        tries.iter().map(|t| t["driver"]["submission_key"].as_str().unwrap().to_string()).collect();
    assert_eq!(keys.len(), 3);
    let subs = d.cluster.submissions();
    assert_eq!(subs.len(), 3, "{subs:?}");
    assert!(subs.iter().all(|s| s.submission_key.as_ref().is_some_and(|k| keys.contains(k))), "{subs:?}");
    d.shutdown().await;
}

#[tokio::test]
async fn every_file_in_dags_validates_through_the_real_plugin() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.unwrap();
    let api = Api::new(&d);
    let errors = api.get("/api/v2/importErrors").await.unwrap();
    assert_eq!(errors["total_entries"], 0, "{errors:#}");
    let files: Vec<_> = std::fs::read_dir(repo_dags())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .collect();
    let dags = api.get("/api/v2/dags").await.unwrap();
    assert_eq!(dags["total_entries"], files.len(), "one DAG per file: {dags:#}");
    d.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_a_4xx_that_says_what_is_wrong() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.unwrap();
    let http = Api::new(&d).http;
    let base = d.api_url();
    let post = |path: &str, body: &'static str| {
        http.post(format!("{base}{path}")).header("content-type", "application/json").body(body).send()
    };
    let cases = [
        (post("/api/v2/dags/wordcount_client/dagRuns", "{\"conf\":").await.unwrap(), 400, "invalid JSON"),
        (post("/api/v2/dags/wordcount_client/dagRuns", r#"{"conf":{"top":"many"}}"#).await.unwrap(), 400, r#""field":"top""#),
        (post("/api/v2/dags/wordcount_client/dagRuns", r#"{"conf":{},"colour":1}"#).await.unwrap(), 400, "colour"),
        (post("/api/v2/dags/no_such_dag/dagRuns", "{}").await.unwrap(), 404, "no_such_dag"),
        (http.get(format!("{base}/api/v2/dags/wordcount_client/dagRuns/nope")).send().await.unwrap(), 404, "nope"),
        (http.get(format!("{base}/api/v2/nowhere")).send().await.unwrap(), 404, "/api/v2"),
        (
            http.post(format!("{base}/api/v2/dags/wordcount_client/dagRuns"))
                .header("content-type", "application/json")
                .body(vec![b' '; 2 << 20])
                .send()
                .await
                .unwrap(),
            413,
            "",
        ),
    ];
    for (resp, status, needle) in cases {
        let code = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(code, status, "{text}");
        assert!(text.contains(needle), "expected {needle:?} in {text}");
    }
    d.shutdown().await;
}

/// Runs the CLI on `dags`, with its home (and plugin cache) inside that
/// folder: not a DAG file, and gone with the test's temp folder.
fn drover_cli(args: &[&str], dags: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drover-cli-under-test"))
        .args(args)
        .env("DROVER_DAGS", dags)
        .env("DROVER_HOME", dags.join(".drover"))
        .output()
        .expect("run drover")
}

/// Issue 10: `dags validate` recompiled every plugin on every run.
#[test]
fn cli_validate_keeps_compiled_plugins_in_the_homes_cache() {
    let dags = tempfile::tempdir().unwrap();
    write(dags.path(), "good.toml", "id = \"good\"\n[[tasks]]\nid = \"a\"\nbackend = \"local\"\n[tasks.application]\nresource = \"/bin/true\"\n");
    let cache = dags.path().join(".drover/plugin-cache");
    // Each artifact with its modification time: a recompile rewrites it.
    let cached = || {
        let mut files: Vec<_> = std::fs::read_dir(&cache)
            .map(|d| d.flatten().map(|e| (e.file_name(), e.metadata().and_then(|m| m.modified()).ok())).collect())
            .unwrap_or_default();
        files.sort();
        files
    };
    let out = drover_cli(&["dags", "validate"], dags.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let first = cached();
    assert!(!first.is_empty(), "the first run leaves compiled plugins in {}", cache.display());
    let out = drover_cli(&["dags", "validate"], dags.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(cached(), first, "the second run reuses them, compiling nothing new");
}

#[test]
fn cli_validate_reports_every_error_with_file_line_and_hint_and_exits_1() {
    let dags = tempfile::tempdir().unwrap();
    write(dags.path(), "good.toml", "id = \"good\"\n[[tasks]]\nid = \"a\"\nbackend = \"local\"\n[tasks.application]\nresource = \"/bin/true\"\n");
    write(
        dags.path(),
        "bad.toml",
        "id = \"bad\"\n[[tasks]]\nid = \"a\"\nbackend = \"nowhere\"\ndepends_on = [\"b\"]\n[tasks.application]\nresource = \"x.py\"\n",
    );
    let out = drover_cli(&["dags", "validate"], dags.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("ok    good"), "{stdout}");
    assert!(stderr.contains("bad.toml:4:"), "unknown backend with its line: {stderr}");
    assert!(stderr.contains("nowhere"), "{stderr}");
    assert!(stderr.contains("bad.toml:5:"), "unknown dependency with its line: {stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");

    std::fs::remove_file(dags.path().join("bad.toml")).unwrap();
    let out = drover_cli(&["dags", "validate"], dags.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Regression: a folder holding only a symlink loop validated with no output
/// and exit 0.
#[test]
fn cli_validate_reports_skipped_entries_and_a_folder_without_dag_files() {
    let dags = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(dags.path().join("loop.toml"), dags.path().join("loop.toml")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dags.path().join("zero.toml")).unwrap();
    let out = drover_cli(&["dags", "validate"], dags.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("loop.toml:1:1") && stderr.contains("symlink"), "{stderr}");
    assert!(stderr.contains("zero.toml:1:1") && stderr.contains("character device"), "{stderr}");

    // Nothing that even looks like a DAG file: said so, and a failure.
    for name in ["loop.toml", "zero.toml"] {
        std::fs::remove_file(dags.path().join(name)).unwrap();
    }
    std::os::unix::fs::symlink(dags.path().join("loop"), dags.path().join("loop")).unwrap();
    let out = drover_cli(&["dags", "validate"], dags.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("no DAG files in {}", dags.path().display())), "{stderr}");
}

/// Regression: on a port in use, drover opened (or created) the database and
/// ran its restart recovery, marking another instance's live tries lost,
/// before it failed to bind.
#[test]
fn a_port_in_use_fails_before_drover_touches_its_home() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let dags = dir.path().join("dags");
    std::fs::create_dir(&dags).unwrap();
    let config = write(dir.path(), "drover.toml", "");
    let home = dir.path().join("home");
    let home_arg = home.display().to_string();
    let config_arg = config.display().to_string();
    for args in [
        vec!["standalone", "--home", home_arg.as_str(), "--port", port.as_str()],
        vec!["serve", "--home", home_arg.as_str(), "--port", port.as_str(), "--config", config_arg.as_str()],
    ] {
        let out = drover_cli(&args, &dags);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{args:?}: {stderr}");
        assert!(!home.exists(), "{args:?} created its home before binding: {:?}", std::fs::read_dir(&home).map(|d| d.count()));
    }
    drop(busy);
}

/// Answers every HTTP request with 200 and a body that is not JSON.
async fn garbage_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = sock.read(&mut buf).await;
                let body = "<html>not a Spark master</html>";
                let resp = format!("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_cluster_answering_garbage_fails_the_try_with_a_clear_message_and_nothing_else() {
    let (addr, server) = garbage_server().await;
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let config = write(
        home.path(),
        "drover.toml",
        &format!(
            "[backends.garbage]\nplugin = \"spark-standalone\"\nsettings = {{ master = \"spark://{addr}\", rest_url = \"http://{addr}\" }}\n"
        ),
    );
    script(dags.path(), "ok", "#!/bin/sh\nexit 0\n");
    write(
        dags.path(),
        "two.toml",
        r#"
id = "two"
[[tasks]]
id = "bad"
backend = "garbage"
[tasks.application]
resource = "ok"
main_class = "Ok"
deploy_mode = "cluster"
[[tasks]]
id = "good"
backend = "local"
[tasks.application]
resource = "ok"
main_class = "Ok"
deploy_mode = "cluster"
"#,
    );
    let d = start(home.path(), dags.path(), Some(config)).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("two", json!({})).await.unwrap();
    assert_eq!(api.wait_run("two", &run, DEADLINE).await.unwrap(), "failed");
    let tis = api.task_instances("two", &run).await.unwrap();
    assert_eq!(tis["good"]["state"], "success", "the healthy backend is unaffected");
    assert_eq!(tis["bad"]["state"], "failed");
    let tries = api.tries("two", &run, "bad").await.unwrap();
    let driver = &tries[0]["driver"];
    assert_eq!(driver["state"], "submit_failed", "{driver:#}");
    let message = driver["message"].as_str().unwrap();
    assert!(message.contains("unexpected"), "{message}");
    assert!(message.contains(&addr.to_string()), "names the cluster: {message}");
    d.shutdown().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_follows_a_running_drivers_log_until_it_ends() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let gate = home.path().join("go");
    script(
        dags.path(),
        "talk",
        &format!(
            "#!/bin/sh\necho first line\nwhile [ ! -e {} ]; do sleep 0.1; done\necho last line\n",
            gate.display()
        ),
    );
    write(
        dags.path(),
        "talk.toml",
        "id = \"talk\"\n[[tasks]]\nid = \"t\"\nbackend = \"local\"\n[tasks.application]\nresource = \"talk\"\nmain_class = \"Talk\"\ndeploy_mode = \"cluster\"\n",
    );
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("talk", json!({})).await.unwrap();
    // The driver has written its first line and waits.
    let until = tokio::time::Instant::now() + DEADLINE;
    while !api.log("talk", &run, "t", 1).await.map(|l| l.contains("first line")).unwrap_or(false) {
        assert!(tokio::time::Instant::now() < until, "the driver never wrote");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut follower = tokio::process::Command::new(env!("CARGO_BIN_EXE_drover-cli-under-test"))
        .args(["tasks", "logs", "talk", &run, "t", "--follow", "--server", &d.api_url()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(follower.stdout.take().unwrap());
    let mut stdout = String::new();
    // Once the follower has printed the first line, let the driver go on.
    while !stdout.contains("first line") {
        let mut line = String::new();
        let n = tokio::io::AsyncBufReadExt::read_line(&mut lines, &mut line).await.unwrap();
        assert!(n > 0, "the follower ended early: {stdout}");
        stdout.push_str(&line);
    }
    std::fs::write(&gate, "").unwrap();
    tokio::io::AsyncReadExt::read_to_string(&mut lines, &mut stdout).await.unwrap();
    let status = tokio::time::timeout(DEADLINE, follower.wait()).await.unwrap().unwrap();
    assert!(status.success());
    let first = stdout.find("first line").expect("the line written before following");
    let last = stdout.find("last line").expect("the line written while following");
    assert!(first < last, "{stdout}");
    assert_eq!(stdout.matches("first line").count(), 1, "nothing printed twice: {stdout}");
    d.shutdown().await;
}

#[tokio::test]
async fn status_many_reads_the_masters_json_view_once() {
    use drover_plugin_host::DriverPhase;
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "ok", OK_SH);
    script(dags.path(), "boom", BOOM_SH);
    script(dags.path(), "sleepy", SLEEPY_SH);
    for name in ["ok", "boom", "sleepy"] {
        write(
            dags.path(),
            &format!("many_{name}.toml"),
            &format!(
                "id = \"many_{name}\"\n[defaults]\nbackend = \"local\"\n[[tasks]]\nid = \"t\"\nretries = 0\n\
                 [tasks.application]\nresource = \"{name}\"\nmain_class = \"M\"\ndeploy_mode = \"cluster\"\n"
            ),
        );
    }
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let ok = api.trigger("many_ok", json!({})).await.unwrap();
    let boom = api.trigger("many_boom", json!({})).await.unwrap();
    let sleepy = api.trigger("many_sleepy", json!({})).await.unwrap();
    assert_eq!(api.wait_run("many_ok", &ok, DEADLINE).await.unwrap(), "success");
    assert_eq!(api.wait_run("many_boom", &boom, DEADLINE).await.unwrap(), "failed");
    let until = std::time::Instant::now() + DEADLINE;
    let sleepy_id = loop {
        let tries = api.tries("many_sleepy", &sleepy, "t").await.unwrap();
        if let Some(t) = tries.last()
            && t["driver"]["raw_state"] == "RUNNING"
        {
            break t["driver"]["cluster_id"].as_str().unwrap().to_string();
        }
        assert!(std::time::Instant::now() < until, "never running: {tries:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let id = |t: &serde_json::Value| t["driver"]["cluster_id"].as_str().unwrap().to_string();
    let ids = vec![
        id(&api.tries("many_ok", &ok, "t").await.unwrap()[0]),
        id(&api.tries("many_boom", &boom, "t").await.unwrap()[0]),
        "driver-20000101000000-9999".to_string(),
        sleepy_id,
    ];

    let set = stand_in_backends(&d).await;
    let local = set.get("local").expect("the embedded standalone backend");
    let statuses = local.status_many(&ids).await.expect("status_many");
    assert_eq!(statuses.len(), ids.len(), "{statuses:#?}");
    let st = |i: usize| statuses[i].as_ref().unwrap_or_else(|| panic!("{}: {statuses:#?}", ids[i]));
    assert_eq!((st(0).phase, st(0).raw_state.as_str()), (DriverPhase::Succeeded, "FINISHED"));
    assert_eq!((st(1).phase, st(1).raw_state.as_str()), (DriverPhase::Failed, "FAILED"));
    assert!(statuses[2].is_none(), "unknown to the master: {statuses:#?}");
    assert_eq!((st(3).phase, st(3).raw_state.as_str()), (DriverPhase::Running, "RUNNING"));
    // Read from the JSON view, the same as the REST status, location included.
    for (i, id) in ids.iter().enumerate() {
        if let Some(s) = &statuses[i] {
            let one = local.status(id).await.unwrap();
            assert_eq!((one.phase, &one.raw_state, &one.location, &one.message), (s.phase, &s.raw_state, &s.location, &s.message), "{id}");
        }
    }
    local.kill(&ids[3]).await.unwrap();
    d.shutdown().await;
}
