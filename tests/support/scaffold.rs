//! What the `drover plugins new` tests share, for every language: running
//! the CLI, `plugins check --against` the stand-in's Livy API, and a DAG on a
//! backend whose plugin is the freshly built component.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::json;

use super::drover::{Api, plugin_cache, script, start, write};
use drover_devcluster::DevCluster;

const DEADLINE: Duration = Duration::from_secs(120);

/// The build command `plugins new --lang rust` prints.
pub const BUILD: &str = "cargo build --release --target wasm32-wasip2";

/// Runs the drover CLI under test.
pub fn drover_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drover-cli-under-test"))
        .args(args)
        .output()
        .expect("the CLI runs")
}

/// stdout and stderr, as text.
pub fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The printed build command, run in `dir` as a user would, with the build
/// output under this test target's own folder (shared by repeated runs, so
/// they are incremental). Cargo's variables for this test are dropped: the
/// nested build is a separate project.
pub fn cargo_build(dir: &Path, target_dir: &Path) -> Output {
    let mut cmd = Command::new("cargo");
    cmd.args(BUILD.split(' ').skip(1)).current_dir(dir);
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy().into_owned();
        let cargo_own = var.starts_with("CARGO_") && var != "CARGO_HOME";
        if cargo_own || var.starts_with("RUST") && var != "RUSTUP_HOME" && var != "RUSTUP_TOOLCHAIN" {
            cmd.env_remove(&var);
        }
    }
    cmd.env("CARGO_TARGET_DIR", target_dir);
    cmd.output().expect("cargo runs")
}

/// `drover plugins new NAME --lang LANG --dir DIR`, which must succeed; its stdout.
pub fn new_project(lang: &str, name: &str, dir: &Path) -> String {
    let out = drover_cli(&["plugins", "new", name, "--lang", lang, "--dir", dir.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "plugins new --lang {lang}:\nstdout: {stdout}\nstderr: {stderr}");
    stdout
}

/// `drover plugins check WASM --against` the cluster's Livy API passes, with
/// `memory_mb` as the sandbox's memory cap (None: the default); its stdout.
pub async fn check_passes(wasm: &Path, cluster: &DevCluster, memory_mb: Option<u32>) -> String {
    let url = cluster.livy_url();
    let mut args: Vec<String> = ["plugins", "check", wasm.to_str().unwrap(), "--against", &url, "--settings"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(format!("url={url}"));
    args.extend(["--plugin-cache".into(), plugin_cache().display().to_string()]);
    if let Some(mb) = memory_mb {
        args.extend(["--memory-mb".into(), mb.to_string()]);
    }
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_drover-cli-under-test"))
            .args(&args)
            .output()
            .expect("drover runs")
    })
    .await
    .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "plugins check {}:\n{stdout}\n{stderr}", wasm.display());
    assert!(!stdout.contains("FAIL"), "{stdout}");
    for line in [
        "ok   loads and describes itself",
        "ok   a short application ends succeeded",
        "ok   a failing application ends failed",
        "ok   a long application, killed, ends killed",
    ] {
        assert!(stdout.contains(line), "no {line:?} in\n{stdout}");
    }
    stdout
}

/// A DAG on backend `name`, whose plugin is `wasm` (with `extra` lines in its
/// config table, e.g. `memory_mb = 128`), succeeds under drover on the
/// cluster's Livy API, and its driver log is drover's to read.
pub async fn livy_dag_succeeds(wasm: &Path, name: &str, extra: &str, cluster: &DevCluster) {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let config = write(
        home.path(),
        "drover.toml",
        &format!(
            "[backends.{name}]\nplugin = {:?}\nsettings = {{ url = {:?} }}\nmax_calls_per_second = 0\n{extra}\n",
            wasm.display().to_string(),
            cluster.livy_url()
        ),
    );
    script(dags.path(), "hello.sh", &format!("#!/bin/sh\necho \"hello $1 from {name}\"\n"));
    write(
        dags.path(),
        "mine.toml",
        &format!(
            r#"
id = "mine"
[defaults]
backend = "{name}"
retries = 0
[[tasks]]
id = "job"
[tasks.application]
resource = "hello.sh"
deploy_mode = "cluster"
args = ["{{{{ run_id }}}}"]
"#
        ),
    );
    let before = cluster.submissions().len();
    let d = start(home.path(), dags.path(), Some(config)).await.expect("drover starts");
    let api = Api::new(&d);
    let errors = api.get("/api/v2/importErrors").await.unwrap();
    assert_eq!(errors["total_entries"], 0, "{errors:#}");
    let run = api.trigger("mine", json!({})).await.unwrap();
    assert_eq!(api.wait_run("mine", &run, DEADLINE).await.unwrap(), "success");
    let tries = api.tries("mine", &run, "job").await.unwrap();
    assert_eq!(tries[0]["driver"]["backend"], name, "{tries:#?}");
    assert_eq!(tries[0]["driver"]["raw_state"], "success", "{tries:#?}");
    let log = api.log("mine", &run, "job", 1).await.unwrap();
    assert!(log.contains(&format!("hello {run} from {name}")), "log: {log}");
    // The batch ran on this stand-in, not on drover's own.
    let subs = cluster.submissions();
    assert_eq!(subs.len(), before + 1, "{subs:?}");
    assert_eq!(subs[before].manager, "livy");
    assert!(d.cluster.submissions().is_empty());
    d.shutdown().await;
}
