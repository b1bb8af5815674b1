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
