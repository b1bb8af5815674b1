//! `drover plugins new`: the generated Rust project builds with the command
//! it prints, outside the repository, and the component it makes passes
//! `plugins check --against` the stand-in's Livy batch API and runs a DAG on
//! it under drover.

mod support;

use std::path::PathBuf;

use support::drover::cluster;
use support::scaffold::{BUILD, cargo_build, check_passes, drover_cli, livy_dag_succeeds, new_project, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_rust_plugin_builds_with_the_printed_command_passes_the_check_and_runs_a_livy_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("mylivy");
    let stdout = new_project("rust", "mylivy", &project);
    assert!(stdout.contains(BUILD), "the build command is printed: {stdout}");
    assert!(stdout.contains("[backends.mylivy]"), "{stdout}");
    for file in ["Cargo.toml", "src/lib.rs", "src/sdk/http.rs", "src/sdk/settings.rs", "wit/plugin.wit", "wit/deps/http.wit", "README.md", ".gitignore"] {
        assert!(project.join(file).is_file(), "{file} is written");
    }

    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scaffold-target");
    let built = cargo_build(&project, &target_dir);
    let (bout, berr) = text(&built);
    assert!(built.status.success(), "the generated project builds:\nstdout: {bout}\nstderr: {berr}");
    let wasm = target_dir.join("wasm32-wasip2/release/mylivy.wasm");
    assert!(wasm.is_file(), "{} is built", wasm.display());

    let home = tempfile::tempdir().unwrap();
    let c = cluster(home.path()).await;
    check_passes(&wasm, &c, None).await;
    livy_dag_succeeds(&wasm, "mylivy", "", &c).await;
    c.shutdown().await;
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
