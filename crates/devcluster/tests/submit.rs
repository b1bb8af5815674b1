//! The local spark-submit shim runs client-mode applications in the foreground.

use drover_devcluster::spark_submit;

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A script that exits 0 only if it got exactly the expected arguments, else `code`.
fn script(dir: &std::path::Path, code: i32) -> String {
    let path = dir.join(format!("exit{code}.py"));
    std::fs::write(
        &path,
        format!(
            "import sys\nok = sys.argv[1:] == ['--in', 'a b', '-x']\n\
             sys.exit({code} if ok else 99)\n"
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn runs_a_python_script_in_client_mode_and_returns_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    for code in [0, 3] {
        let app = script(dir.path(), code);
        let exit = spark_submit(args(&[
            "--master",
            "spark://127.0.0.1:7077",
            "--deploy-mode",
            "client",
            "--name=shim-test",
            "--conf",
            "spark.driver.host=127.0.0.1",
            "--conf=spark.executor.cores=1",
            &app,
            "--in",
            "a b",
            "-x",
        ]))
        .await
        .unwrap();
        assert_eq!(exit, code);
    }
}

#[tokio::test]
async fn refuses_cluster_mode() {
    let dir = tempfile::tempdir().unwrap();
    let app = script(dir.path(), 0);
    for argv in [
        args(&["--deploy-mode", "cluster", &app]),
        args(&["--conf", "spark.submit.deployMode=cluster", &app]),
    ] {
        let err = spark_submit(argv).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("the local spark-submit shim only runs client mode"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn refuses_unknown_options_and_missing_resources() {
    let err = spark_submit(args(&["--frobnicate", "x", "app.py"]))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("unrecognized option '--frobnicate'"),
        "{err}"
    );

    let err = spark_submit(args(&["/definitely/not/here.py"]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn a_signal_ends_with_128_plus_the_signal() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("selfkill.py");
    std::fs::write(
        &app,
        "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n",
    )
    .unwrap();
    let exit = spark_submit(args(&[app.to_str().unwrap()])).await.unwrap();
    assert_eq!(exit, 128 + 15);
}
