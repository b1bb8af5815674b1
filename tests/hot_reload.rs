//! Plugins as files that change: a backend whose plugin is a `.wasm` file
//! takes a new version of the file while a DAG runs on it, refuses a broken
//! file (keeping the version in use, and saying why in the API), and the run
//! finishes either way.
//!
//! The two versions are real: a plugin project from `drover plugins new`,
//! built once as 0.1.0 and once more as 0.2.0.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::drover::{Api, cluster, script, start, write};
use support::scaffold::{cargo_build, new_project, text};

const DEADLINE: Duration = Duration::from_secs(120);

/// The project built with `version` in its Cargo.toml; the component's bytes.
fn build_version(project: &Path, version: &str) -> Vec<u8> {
    let manifest = project.join("Cargo.toml");
    let text_before = std::fs::read_to_string(&manifest).unwrap();
    let mut lines: Vec<String> = text_before.lines().map(str::to_string).collect();
    let at = lines.iter().position(|l| l.starts_with("version = ")).expect("a package version");
    lines[at] = format!("version = \"{version}\"");
    std::fs::write(&manifest, lines.join("\n") + "\n").unwrap();
    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scaffold-target");
    let built = cargo_build(project, &target_dir);
    let (out, err) = text(&built);
    assert!(built.status.success(), "the plugin builds as {version}:\n{out}\n{err}");
    std::fs::read(target_dir.join("wasm32-wasip2/release/hotlivy.wasm")).unwrap()
}

/// Replaces `file` the way a deploy does: a new file renamed over the old.
fn replace(file: &Path, bytes: &[u8]) {
    let tmp = file.with_extension("wasm.part");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

/// `GET path` until `pred` holds on the answer, within the deadline.
async fn wait_for(api: &Api, path: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let v = api.get(path).await.unwrap();
        if pred(&v) {
            return v;
        }
        assert!(started.elapsed() < DEADLINE, "{what}: still {v:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The plugin the `hot` backend runs, as `/api/v2/plugins` lists it.
async fn plugin_of_hot(api: &Api) -> Value {
    let plugins = api.get("/api/v2/plugins").await.unwrap();
    let hot = plugins["plugins"].as_array().unwrap().iter().find(|p| p["backends"] == json!(["hot"]));
    hot.unwrap_or_else(|| panic!("{plugins:#}")).clone()
}

fn backend<'a>(backends: &'a Value, name: &str) -> &'a Value {
    backends["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("no backend {name} in {backends:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_plugin_file_is_taken_while_a_dag_runs_and_a_broken_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("hotlivy");
    new_project("rust", "hotlivy", &project);
    let v1 = build_version(&project, "0.1.0");
    let v2 = build_version(&project, "0.2.0");
    assert_ne!(v1, v2);

    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let c = cluster(home.path()).await;
    let plugins = tmp.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let file = plugins.join("hot.wasm");
    std::fs::write(&file, &v1).unwrap();
    let config = write(
        home.path(),
        "drover.toml",
        &format!(
            "[backends.hot]\nplugin = {:?}\nsettings = {{ url = {:?} }}\nmax_calls_per_second = 0\n",
            file.display().to_string(),
            c.livy_url()
        ),
    );
    // The driver runs until the test lets it finish.
    let release = tmp.path().join("release");
    script(
        dags.path(),
        "wait.sh",
        &format!("#!/bin/sh\nwhile [ ! -e {:?} ]; do sleep 0.1; done\necho released\n", release.display().to_string()),
    );
    write(
        dags.path(),
        "hot.toml",
        r#"
id = "hot"
[defaults]
backend = "hot"
retries = 0
[[tasks]]
id = "job"
[tasks.application]
resource = "wait.sh"
deploy_mode = "cluster"
"#,
    );
    let d = start(home.path(), dags.path(), Some(config)).await.expect("drover starts");
    let api = Api::new(&d);
    let run = api.trigger("hot", json!({})).await.unwrap();
    let started = Instant::now();
    loop {
        let tries = api.tries("hot", &run, "job").await.unwrap();
        if tries.first().is_some_and(|t| t["driver"]["state"] == "running") {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the driver runs: {tries:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = api.get("/api/v2/backends").await.unwrap();
    let hot = backend(&before, "hot");
    assert_eq!(hot["plugin_version"], "0.1.0", "{hot:#}");
    assert_eq!(hot["plugin_file"], file.display().to_string(), "{hot:#}");
    assert!(hot["reload_error"].is_null(), "{hot:#}");

    // A new version: taken without a restart.
    replace(&file, &v2);
    let after = wait_for(&api, "/api/v2/backends", "the new version is taken", |v| {
        backend(v, "hot")["plugin_version"] == "0.2.0"
    })
    .await;
    assert!(backend(&after, "hot")["reload_error"].is_null(), "{after:#}");
    let hot_plugin = plugin_of_hot(&api).await;
    assert_eq!(hot_plugin["version"], "0.2.0");

    // A broken file: refused, the version in use stays, the API says why.
    std::fs::write(&file, b"this is not a component").unwrap();
    let refused = wait_for(&api, "/api/v2/backends", "the broken file is refused", |v| {
        !backend(v, "hot")["reload_error"].is_null()
    })
    .await;
    let hot = backend(&refused, "hot");
    assert_eq!(hot["plugin_version"], "0.2.0", "{hot:#}");
    assert_eq!(hot["reload_error"]["file"], file.display().to_string(), "{hot:#}");
    let message = hot["reload_error"]["message"].as_str().unwrap();
    assert!(!message.is_empty(), "{hot:#}");
    let hot_plugin = plugin_of_hot(&api).await;
    assert_eq!(hot_plugin["version"], "0.2.0");
    assert_eq!(hot_plugin["reload_error"]["message"], message, "{hot_plugin:#}");

    // The driver that ran through all of it is still followed to its end.
    std::fs::write(&release, b"").unwrap();
    assert_eq!(api.wait_run("hot", &run, DEADLINE).await.unwrap(), "success");
    let log = api.log("hot", &run, "job", 1).await.unwrap();
    assert!(log.contains("released"), "log: {log}");
    let tries = api.tries("hot", &run, "job").await.unwrap();
    assert_eq!(tries.len(), 1, "one try, never resubmitted: {tries:#?}");

    // Putting the good file back clears the refusal.
    replace(&file, &v2);
    wait_for(&api, "/api/v2/backends", "the refusal clears", |v| backend(v, "hot")["reload_error"].is_null()).await;
    d.shutdown().await;
    c.shutdown().await;
}
