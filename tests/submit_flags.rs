//! spark-submit's flags as DAG fields, checked through the real plugins by
//! `drover dags validate`: a flag a backend cannot honour fails the DAG at
//! load with its file, its line and the plugin's reason (docs/submit-flags.md).

use std::path::Path;
use std::process::Command;

fn drover_cli(args: &[&str], dags: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drover-cli-under-test"))
        .args(args)
        .env("DROVER_DAGS", dags)
        .env("DROVER_HOME", dags.join(".drover"))
        .output()
        .expect("run drover")
}

const GOOD: &str = r#"id = "flags_ok"

[[tasks]]
id = "yarn_client"
backend = "yarn"
[tasks.application]
resource = "/jobs/etl.jar"
main_class = "com.example.Etl"
deploy_mode = "client"
packages = ["org.apache.spark:spark-avro_2.13:4.0.1"]
principal = "etl@EXAMPLE.COM"
keytab = "/etc/security/etl.keytab"
queue = "etl"
driver_java_options = "-Xss4m"
dynamic_allocation = { min_executors = 1, max_executors = 4 }

[[tasks]]
id = "standalone_cores"
backend = "local"
[tasks.application]
resource = "/jobs/etl.jar"
main_class = "com.example.Etl"
deploy_mode = "cluster"
total_executor_cores = 4
archives = ["hdfs://nn/env.tar.gz#env"]
"#;

// Line numbers matter: the errors must point at these lines.
const BAD: &str = r#"id = "flags_bad"

[[tasks]]
id = "standalone_queue"
backend = "local"
[tasks.application]
resource = "/jobs/etl.jar"
main_class = "com.example.Etl"
queue = "etl"

[[tasks]]
id = "yarn_cluster_packages"
backend = "yarn"
[tasks.application]
resource = "/jobs/etl.jar"
main_class = "com.example.Etl"
deploy_mode = "cluster"
packages = ["org.apache.spark:spark-avro_2.13:4.0.1"]
total_executor_cores = 4
"#;

#[test]
fn flags_a_backend_cannot_honour_fail_the_dag_at_their_own_line() {
    let dags = tempfile::tempdir().unwrap();
    std::fs::write(dags.path().join("good.toml"), GOOD).unwrap();
    std::fs::write(dags.path().join("bad.toml"), BAD).unwrap();
    let out = drover_cli(&["dags", "validate"], dags.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("ok    flags_ok"), "{stdout}\n{stderr}");
    for (line, needle) in [
        (9, "spark.yarn.queue is not supported on Spark standalone"),
        (18, "spark.jars.packages is not supported on YARN in cluster mode"),
        (19, "spark.cores.max is not supported on YARN"),
    ] {
        let found = stderr
            .lines()
            .any(|l| l.contains(&format!("bad.toml:{line}:")) && l.contains(needle));
        assert!(found, "expected bad.toml:{line}: … {needle:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("good.toml"), "the good DAG loads on its backends:\n{stderr}");
}

// Line numbers matter: the errors must point at the proxy_user lines.
const PROXY: &str = r#"id = "proxy_bad"

[[tasks]]
id = "standalone_cluster"
backend = "local"
[tasks.application]
resource = "/jobs/etl.jar"
main_class = "com.example.Etl"
deploy_mode = "cluster"
proxy_user = "analyst"

[[tasks]]
id = "serverless"
backend = "serverless"
[tasks.application]
resource = "s3://bucket/jobs/etl.py"
proxy_user = "analyst"

[[tasks]]
id = "old_plugin"
backend = "old"
[tasks.application]
resource = "/jobs/etl.jar"
proxy_user = "analyst"
"#;

const PROXY_OK: &str = r#"id = "proxy_ok"

[[tasks]]
id = "standalone_client"
backend = "local"
[tasks.application]
resource = "/jobs/etl.jar"
main_class = "com.example.Etl"
deploy_mode = "client"
proxy_user = "analyst"

[[tasks]]
id = "yarn_cluster"
backend = "yarn"
[tasks.application]
resource = "hdfs:///jobs/etl.jar"
main_class = "com.example.Etl"
deploy_mode = "cluster"
proxy_user = "analyst"

[[tasks]]
id = "old_plugin_without"
backend = "old"
[tasks.application]
resource = "/jobs/etl.jar"
"#;

#[test]
fn a_proxy_user_fails_the_dag_where_the_backend_cannot_impersonate_or_its_plugin_predates_it() {
    let dags = tempfile::tempdir().unwrap();
    let etc = tempfile::tempdir().unwrap();
    // A backend whose plugin was built for contract 0.1.0, which has no proxy user.
    let old = etc.path().join("old.wasm");
    std::fs::write(&old, drover_plugin_host::bundled::OLD_CONTRACT).unwrap();
    let config = etc.path().join("drover.toml");
    std::fs::write(&config, format!("[backends.old]\nplugin = {:?}\n", old.display().to_string())).unwrap();
    std::fs::write(dags.path().join("bad.toml"), PROXY).unwrap();
    std::fs::write(dags.path().join("good.toml"), PROXY_OK).unwrap();
    let out = drover_cli(&["dags", "validate", "--config", config.to_str().unwrap()], dags.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("ok    proxy_ok"), "{stdout}\n{stderr}");
    for (line, needle) in [
        (10, "proxy_user \"analyst\" is not supported on Spark standalone in cluster mode"),
        (17, "proxy_user \"analyst\" is not supported on EMR"),
        (24, "built for drover plugin contract 0.1.0, which has no proxy user"),
    ] {
        let found = stderr
            .lines()
            .any(|l| l.contains(&format!("bad.toml:{line}:")) && l.contains(needle));
        assert!(found, "expected bad.toml:{line}: … {needle:?} in:\n{stderr}");
    }
    assert!(stderr.contains("plugins/wit/drover-plugin@0.2.0"), "the fix is named:\n{stderr}");
    assert!(!stderr.contains("good.toml"), "{stderr}");
}
