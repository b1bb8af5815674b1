//! Golden tests: each `tests/ui/valid/*.toml` loads and matches its `.out` (the `Dag` as
//! JSON); each `tests/ui/invalid/*.toml` fails and matches its `.err` (the rendered
//! diagnostics). `BLESS=1 cargo test -p drover-dag --test ui` rewrites the expected files.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::FakeBackends;

fn cases(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no cases in {dir}");
    files
}

/// Compares `actual` with the expected file, or writes it under BLESS=1. Returns a failure
/// description.
fn compare(expected_path: &Path, actual: &str) -> Option<String> {
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(expected_path, actual).unwrap();
        return None;
    }
    match std::fs::read_to_string(expected_path) {
        Err(_) => Some(format!(
            "{} is missing; run with BLESS=1 to create it\n--- actual ---\n{actual}",
            expected_path.display()
        )),
        Ok(expected) if expected != actual => Some(format!(
            "{} differs; run with BLESS=1 to accept\n--- expected ---\n{expected}\n--- actual ---\n{actual}",
            expected_path.display()
        )),
        Ok(_) => None,
    }
}

fn check_all(dir: &str, ext: &str, render: impl Fn(&Path) -> Result<String, String>) {
    let mut failures = String::new();
    for case in cases(dir) {
        let outcome = render(&case)
            .and_then(|actual| compare(&case.with_extension(ext), &actual).map_or(Ok(()), Err));
        if let Err(failure) = outcome {
            writeln!(failures, "{failure}\n").unwrap();
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

#[test]
fn valid_dags_load_and_match_their_summaries() {
    // Resolved paths are absolute; keep the expected files machine-independent.
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    check_all(
        "tests/ui/valid",
        "out",
        |case| match drover_dag::load_file(case, &FakeBackends) {
            Ok(dag) => Ok(serde_json::to_string_pretty(&dag)
                .unwrap()
                .replace(crate_dir, "<crate>")
                + "\n"),
            Err(e) => Err(format!("{} should load but failed:\n{e}", case.display())),
        },
    );
}

#[test]
fn invalid_dags_report_every_problem() {
    check_all(
        "tests/ui/invalid",
        "err",
        |case| match drover_dag::load_file(case, &FakeBackends) {
            Ok(_) => Err(format!("{} should fail to load but loaded", case.display())),
            Err(e) => Ok(format!("{e}\n")),
        },
    );
}
