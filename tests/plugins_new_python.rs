//! `drover plugins new --lang python`: the generated project builds with the
//! command it prints (componentize-py, pinned, from the CI venv: `.ci/run`
//! installs it), outside the repository, and the component passes `plugins
//! check --against` the stand-in's Livy batch API and runs a DAG on it under
//! drover, with the memory cap the printed config snippet gives it.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::drover::cluster;
use support::scaffold::{check_passes, livy_dag_succeeds, new_project, text};
use support::spark::{SPARK_VENV_ENV, default_venv};

/// The memory cap (MiB) the printed config snippet gives a Python component.
const MEMORY_MB: u32 = 128;

/// The venv's bin folder with componentize-py: `$DROVER_SPARK_VENV`, else
/// where `.ci/run` makes it. Missing is a failure with the fix, not a skip.
fn componentize_py_bin() -> PathBuf {
    let venv = std::env::var_os(SPARK_VENV_ENV).filter(|v| !v.is_empty()).map_or_else(default_venv, PathBuf::from);
    let bin = venv.join("bin");
    assert!(
        bin.join("componentize-py").is_file(),
        "no componentize-py in {}: run `bash .ci/run` once (it installs the version plugins/livy-py/build.sh pins \
         into that venv), or `{}/pip install componentize-py==<that version>`",
        bin.display(),
        bin.display()
    );
    bin
}

/// The printed build command, run in `dir` by a shell as a user would, with
/// the venv's bin folder first on PATH.
fn build(dir: &Path, command: &str) -> Output {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![componentize_py_bin()];
    paths.extend(std::env::split_paths(&path));
    Command::new("sh")
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", std::env::join_paths(paths).unwrap())
        .env_remove("VIRTUAL_ENV")
        .output()
        .expect("sh runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_python_plugin_builds_with_the_printed_command_passes_the_check_and_runs_a_livy_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("mypylivy");
    let stdout = new_project("python", "mypylivy", &project);
    let command = "componentize-py -d wit -w plugin-http componentize app -o mypylivy.wasm";
    assert!(stdout.contains(command), "the build command is printed: {stdout}");
    assert!(stdout.contains("pip install componentize-py=="), "how to install the tool: {stdout}");
    assert!(stdout.contains("[backends.mypylivy]") && stdout.contains(&format!("memory_mb = {MEMORY_MB}")), "{stdout}");
    for file in [
        "app.py",
        "api.py",
        "sdk.py",
        "transport.py",
        "validate.py",
        "test_plugin.py",
        "wit/plugin.wit",
        "wit/deps/http.wit",
        "README.md",
        ".gitignore",
    ] {
        assert!(project.join(file).is_file(), "{file} is written");
    }

    let started = std::time::Instant::now();
    let built = tokio::task::spawn_blocking({
        let project = project.clone();
        move || build(&project, command)
    })
    .await
    .unwrap();
    let (bout, berr) = text(&built);
    assert!(built.status.success(), "the generated project builds:\nstdout: {bout}\nstderr: {berr}");
    let wasm = project.join("mypylivy.wasm");
    let size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
    assert!(size > 0, "{} is built", wasm.display());
    println!("built {} ({size} bytes) in {:.1?}", wasm.display(), started.elapsed());

    // The project's own unit tests pass with the machine's Python.
    let unit = Command::new(componentize_py_bin().join("python"))
        .args(["-B", "-m", "unittest"])
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(unit.status.success(), "python -m unittest in the project:\n{}", text(&unit).1);

    let home = tempfile::tempdir().unwrap();
    let c = cluster(home.path()).await;
    let report = check_passes(&wasm, &c, Some(MEMORY_MB)).await;
    assert!(report.contains("loads and describes itself (mypylivy "), "the plugin names itself: {report}");
    livy_dag_succeeds(&wasm, "mypylivy", &format!("memory_mb = {MEMORY_MB}"), &c).await;
    c.shutdown().await;
}
