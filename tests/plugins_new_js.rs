//! `drover plugins new --lang js`: the generated JavaScript project builds
//! with the command it prints (npm ci, then componentize-js, as pinned in its
//! package-lock.json), its unit tests pass on Node, and the component passes
//! `plugins check --against` the stand-in's Livy batch API and runs a DAG on
//! it under drover, with the sandbox memory the printed snippet gives it.
//!
//! Needs Node.js and npm, and the npm registry (or a warm npm cache) for
//! `npm ci`; .ci/run warms the cache.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::drover::cluster;
use support::scaffold::{check_passes, livy_dag_succeeds, new_project, text};

/// The build command `plugins new --lang js` prints.
const BUILD: &str = "npm ci && npm run build";
/// The memory cap the printed config snippet gives the backend, in MiB.
const MEMORY_MB: u32 = 128;

/// `command` in `dir` through the shell, as a user would type it.
fn shell(dir: &Path, command: &str) -> Output {
    let out = Command::new("sh")
        .args(["-c", command])
        .current_dir(dir)
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_audit", "false")
        .output()
        .expect("sh runs");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "`{command}` in {}:\nstdout: {stdout}\nstderr: {stderr}", dir.display());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_js_plugin_builds_with_the_printed_command_passes_the_check_and_runs_a_livy_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("myjslivy");
    let stdout = new_project("js", "myjslivy", &project);
    assert!(stdout.contains(BUILD), "the build command is printed: {stdout}");
    assert!(stdout.contains("[backends.myjslivy]"), "{stdout}");
    assert!(stdout.contains(&format!("memory_mb = {MEMORY_MB}")), "{stdout}");
    for file in ["package.json", "package-lock.json", "src/plugin.js", "src/http.js", "wit/plugin.wit", "wit/deps/http.wit", "README.md", ".gitignore"] {
        assert!(project.join(file).is_file(), "{file} is written");
    }

    shell(&project, BUILD);
    let wasm = project.join("myjslivy.wasm");
    assert!(wasm.is_file(), "{} is built", wasm.display());
    shell(&project, "npm test");

    let home = tempfile::tempdir().unwrap();
    let c = cluster(home.path()).await;
    let checked = check_passes(&wasm, &c, Some(MEMORY_MB)).await;
    assert!(checked.contains("(myjslivy 0.1.0, deploy modes: cluster)"), "{checked}");
    livy_dag_succeeds(&wasm, "myjslivy", &format!("memory_mb = {MEMORY_MB}"), &c).await;
    c.shutdown().await;
}

#[test]
fn a_name_npm_would_refuse_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let out = support::scaffold::drover_cli(&["plugins", "new", "MyLivy", "--lang", "js", "--dir", dir.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("lower case") && stderr.contains("mylivy"), "{stderr}");
    assert!(!dir.exists(), "nothing written");
}
