//! `drover plugins new`: the generated Rust project builds with the command
//! it prints, outside the repository, and the component it makes runs a DAG
//! against the stand-in's Livy batch API under drover.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::json;
use support::drover::{Api, script, start, write};

use drover_devcluster::{DevCluster, DevClusterConfig};

const DEADLINE: Duration = Duration::from_secs(120);
const BUILD: &str = "cargo build --release --target wasm32-wasip2";

fn drover_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drover-cli-under-test"))
        .args(args)
        .output()
        .expect("the CLI runs")
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The printed build command, run in `dir` as a user would, with the build
/// output under this test target's own folder (shared by repeated runs, so
/// they are incremental). Cargo's variables for this test are dropped: the
/// nested build is a separate project.
fn build(dir: &Path, target_dir: &Path) -> Output {
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

#[tokio::test]
async fn a_new_rust_plugin_builds_with_the_printed_command_and_runs_a_livy_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("mylivy");
    let out = drover_cli(&["plugins", "new", "mylivy", "--lang", "rust", "--dir", project.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains(BUILD), "the build command is printed: {stdout}");
    assert!(stdout.contains("[backends.mylivy]"), "{stdout}");
    for file in ["Cargo.toml", "src/lib.rs", "src/sdk/http.rs", "src/sdk/settings.rs", "wit/plugin.wit", "wit/deps/http.wit", "README.md", ".gitignore"] {
        assert!(project.join(file).is_file(), "{file} is written");
    }

    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scaffold-target");
    let built = build(&project, &target_dir);
    let (bout, berr) = text(&built);
    assert!(built.status.success(), "the generated project builds:\nstdout: {bout}\nstderr: {berr}");
    let wasm = target_dir.join("wasm32-wasip2/release/mylivy.wasm");
    assert!(wasm.is_file(), "{} is built", wasm.display());

    // A stand-in Livy server, and drover with a backend on the new component.
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(DevClusterConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        work_dir: home.path().join("livy-cluster"),
        ..DevClusterConfig::default()
    })
    .await
    .expect("stand-in starts");
    let config = write(
        home.path(),
        "drover.toml",
        &format!(
            "[backends.mylivy]\nplugin = {:?}\nsettings = {{ url = {:?} }}\nmax_calls_per_second = 0\n",
            wasm.display().to_string(),
            cluster.livy_url()
        ),
    );
    script(dags.path(), "hello.sh", "#!/bin/sh\necho \"hello $1 from mylivy\"\n");
    write(
        dags.path(),
        "mine.toml",
        r#"
id = "mine"
[defaults]
backend = "mylivy"
retries = 0
[[tasks]]
id = "job"
[tasks.application]
resource = "hello.sh"
deploy_mode = "cluster"
args = ["{{ run_id }}"]
"#,
    );
    let d = start(home.path(), dags.path(), Some(config)).await.expect("drover starts");
    let api = Api::new(&d);
    let errors = api.get("/api/v2/importErrors").await.unwrap();
    assert_eq!(errors["total_entries"], 0, "{errors:#}");
    let run = api.trigger("mine", json!({})).await.unwrap();
    assert_eq!(api.wait_run("mine", &run, DEADLINE).await.unwrap(), "success");
    let tries = api.tries("mine", &run, "job").await.unwrap();
    assert_eq!(tries[0]["driver"]["backend"], "mylivy", "{tries:#?}");
    assert_eq!(tries[0]["driver"]["raw_state"], "success", "{tries:#?}");
    let log = api.log("mine", &run, "job", 1).await.unwrap();
    assert!(log.contains(&format!("hello {run} from mylivy")), "log: {log}");
    // The batch ran on this stand-in, not on drover's own.
    let subs = cluster.submissions();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0].manager, "livy");
    assert!(d.cluster.submissions().is_empty());
    d.shutdown().await;
    cluster.shutdown().await;
}

#[test]
fn a_non_empty_folder_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let out = drover_cli(&["plugins", "new", "mylivy", "--lang", "rust", "--dir", tmp.path().to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not empty"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "nothing written");
}

#[test]
fn a_name_that_is_not_a_crate_name_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    for (name, why) in [("my livy", "not allowed in a crate name"), ("9lives", "must start with a letter"), ("crate", "keyword")] {
        let out = drover_cli(&["plugins", "new", name, "--dir", dir.to_str().unwrap()]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("invalid plugin name") && stderr.contains(why), "{name}: {stderr}");
        assert!(!dir.exists(), "{name}: nothing written");
    }
}

#[test]
fn python_and_js_say_they_are_not_there_yet() {
    let tmp = tempfile::tempdir().unwrap();
    for lang in ["python", "js"] {
        let dir = tmp.path().join(lang);
        let out = drover_cli(&["plugins", "new", "p", "--lang", lang, "--dir", dir.to_str().unwrap()]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("use --lang rust"), "{stderr}");
        assert!(!dir.exists());
    }
}
