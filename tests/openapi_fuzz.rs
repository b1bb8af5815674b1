//! schemathesis (PyPI) generates requests from drover's own OpenAPI
//! document, valid and malformed, and checks every answer: never a 5xx, only
//! documented status codes and content types, and bodies that match the
//! documented schemas. A fixed seed keeps runs repeatable.

mod support;

use support::drover::{repo_dags, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_get_documented_answers_and_never_a_server_error() {
    let python = support::peers::python_with("schemathesis").unwrap();
    let schemathesis = python.with_file_name("schemathesis");
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.unwrap();
    let report = home.path().join("schemathesis-report");
    let out = tokio::process::Command::new(&schemathesis)
        .arg("run")
        .arg(format!("{}/api/v2/openapi.json", d.api_url()))
        .args(["--header", &format!("Authorization: Bearer {}", d.api_token())])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
        // The event stream never ends by design.
        .args(["--exclude-path", "/api/v2/events"])
        .args(["--phases", "coverage,fuzzing", "--max-examples", "30", "--seed", "7", "--workers", "1"])
        .args(["--request-timeout", "30"])
        .arg("--report-dir")
        .arg(&report)
        .current_dir(home.path())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    d.shutdown().await;
    assert!(out.status.success(), "schemathesis found problems:\n{stdout}\n{stderr}");
    // "Selected: 25/26" (all but the stream) and as many "Tested".
    let number_after = |label: &str| {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|rest| rest.trim().split('/').next())
            .and_then(|n| n.parse::<u32>().ok())
    };
    let selected = number_after("Selected:").unwrap_or_else(|| panic!("no selected count:\n{stdout}"));
    assert!(selected >= 24, "the document lists every operation:\n{stdout}");
    assert_eq!(number_after("Tested:"), Some(selected), "every operation but the stream is exercised:\n{stdout}");
}
