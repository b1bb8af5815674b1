//! The guest plugins live in their own cargo workspace (built for
//! wasm32-wasip2 by this crate's build script); their pure logic has unit
//! tests that run on the host. This runs them as part of the root workspace's
//! `cargo test`, so CI covers them.

use std::path::Path;
use std::process::Command;

#[test]
fn plugin_crates_pass_their_own_unit_tests() {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins");
    // A target dir of its own, next to the main one, so the nested cargo
    // never waits on the lock the outer `cargo test` holds.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugins-host-tests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("test")
        .arg("--manifest-path")
        .arg(plugins.join("Cargo.toml"))
        .arg("--locked")
        .arg("--workspace")
        .arg("--target-dir")
        .arg(&target);
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO_") && k != "CARGO_HOME" || k == "RUSTFLAGS" || k == "RUSTC_WORKSPACE_WRAPPER" {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().expect("run cargo test on plugins/");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "plugin unit tests failed:\n{stdout}\n{stderr}");
    let passed: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    assert!(passed > 0, "no plugin unit test ran:\n{stdout}");
    println!("{passed} plugin unit tests passed");
}
