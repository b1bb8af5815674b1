//! `drover plugins check` run as a user would: every bundled plugin passes it
//! against a stand-in cluster started here, with the stand-in settings drover
//! itself uses (`config::backend_configs`); the misbehaving test plugin fails
//! it with readable reasons.

mod support;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use drover::config::{self, StandIn};
use drover::plugins::{self, CheckArgs, Outcome};
use drover_devcluster::DevCluster;
use support::drover::plugin_cache;
use support::fixtures::dev_cluster;


/// `drover plugins check PLUGIN --against URL` with the settings (and secret
/// env) of drover's embedded backend `backend` on `cluster`.
fn check_args(cluster: &DevCluster, backend: &str, plugin: &str) -> Vec<String> {
    let stand_in = StandIn {
        rest_url: cluster.rest_url(),
        master_url: cluster.master_url(),
        spark_submit: env!("CARGO_BIN_EXE_drover-spark-submit").to_string(),
        s3: cluster.own_s3_url(),
    };
    let configs = config::backend_configs(&stand_in, None);
    let cfg = &configs[backend];
    let mut args: Vec<String> = vec!["plugins".into(), "check".into(), plugin.into()];
    args.extend(["--against".into(), cluster.rest_url()]);
    args.extend(["--plugin-cache".into(), plugin_cache().display().to_string()]);
    for (k, v) in &cfg.settings {
        args.extend(["--settings".into(), format!("{k}={v}")]);
    }
    for (k, var) in &cfg.secret_env {
        args.extend(["--secret-env".into(), format!("{k}={var}")]);
    }
    if let Some(mb) = cfg.memory_mb {
        args.extend(["--memory-mb".into(), mb.to_string()]);
    }
    args
}

/// Runs the drover binary (off the runtime, which serves the stand-in).
async fn drover(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_drover-cli-under-test"))
            .args(&args)
            .output()
            .expect("drover runs")
    })
    .await
    .unwrap()
}

async fn passes(backend: &str, plugin: &str) {
    let work = tempfile::tempdir().unwrap();
    let c = dev_cluster(work.path()).await;
    let out = drover(check_args(&c, backend, plugin)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{plugin}:\n{stdout}\n{stderr}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    for line in [
        "ok   loads and describes itself",
        "ok   its contract version is supported",
        "ok   a short application ends succeeded",
        "ok   a failing application ends failed",
        "ok   a long application, killed, ends killed",
    ] {
        assert!(stdout.contains(line), "{plugin}: no {line:?} in\n{stdout}");
    }
    assert!(stdout.contains(" an unknown key finds nothing"), "{stdout}");
    // Skipped only where the plugin answers `unsupported`.
    for line in stdout.lines().filter(|l| l.starts_with("skip")) {
        assert!(line.contains("does not support"), "{line}");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_standalone_passes() {
    passes("local", "spark-standalone").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yarn_passes() {
    passes("yarn", "yarn").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_passes() {
    passes("k8s", "kubernetes").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emr_serverless_passes() {
    passes("serverless", "emr-serverless").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emr_containers_passes() {
    passes("eks", "emr-containers").await;
}

/// The file case: a third party's component is a .wasm file (the bundled
/// livy plugin, which is Python, with its backend's memory cap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livy_passes_as_a_wasm_file() {
    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join("livy.wasm");
    std::fs::write(&file, drover_plugin_host::bundled::LIVY).unwrap();
    passes("livy", file.to_str().unwrap()).await;
}

/// The Rust Livy plugin, which the Rust scaffold is made from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livy_rust_passes() {
    passes("livy", "livy-rust").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_misbehaving_plugin_fails_with_reasons() {
    let work = tempfile::tempdir().unwrap();
    let c = dev_cluster(work.path()).await;
    let url = c.rest_url();

    let out = drover(vec![
        "plugins".into(),
        "check".into(),
        "misbehave".into(),
        "--against".into(),
        url.clone(),
        "--plugin-cache".into(),
        plugin_cache().display().to_string(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("ok   loads and describes itself (misbehave "), "{stdout}");
    assert!(
        stdout.contains("FAIL validate refuses service mode, which the plugin does not claim: validate found no problem"),
        "{stdout}"
    );

    // The same run as data.
    let checks = plugins::check(&CheckArgs {
        plugin: "misbehave".into(),
        settings: vec![],
        secret_env: vec![],
        against: Some(url),
        timeout: Duration::from_secs(60),
        plugin_cache: Some(plugin_cache()),
        memory_mb: None,
        call_timeout: Duration::from_secs(30),
    })
    .await
    .unwrap();
    let reason = |name: &str| match &checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("{name}: {checks:#?}")).outcome {
        Outcome::Fail(why) => why.clone(),
        other => panic!("{name} did not fail: {other:?}"),
    };
    assert!(reason("find returns the submission's id by its key").contains("find returned nothing"));
    assert!(reason("a failing application ends failed").contains("expected Failed"));
    assert!(reason("a long application, killed, ends killed").contains("before it could be killed"));
    assert!(reason("the short application's log is readable").contains("does not hold what it printed"));
    c.shutdown().await;
}

/// A setting the plugin does not have is a failed check, not a crash.
#[tokio::test]
async fn an_unknown_setting_fails_the_check() {
    let checks = plugins::check(&CheckArgs {
        plugin: "livy".into(),
        settings: vec![("no_such_key".into(), "x".into())],
        secret_env: vec![],
        against: None,
        timeout: Duration::from_secs(10),
        plugin_cache: Some(plugin_cache()),
        memory_mb: None,
        call_timeout: Duration::from_secs(30),
    })
    .await
    .unwrap();
    let failed: Vec<_> = checks.iter().filter(|c| c.failed()).collect();
    assert_eq!(failed.len(), 1, "{checks:#?}");
    assert!(matches!(&failed[0].outcome, Outcome::Fail(why) if why.contains("no setting `no_such_key`")));
}
