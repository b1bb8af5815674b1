//! What the stand-in tests share: the venv with the real third-party clients,
//! and whether a driver's process is still there.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The venv's python with `module` importable (`bash .ci/run` installs the
/// clients there); panics, never skips, when it is missing.
pub fn python_with(module: &str) -> PathBuf {
    let venv = match std::env::var_os("DROVER_SPARK_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => {
            let cache = match std::env::var_os("DROVER_CI_CACHE") {
                Some(c) if !c.is_empty() => PathBuf::from(c),
                _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/drover-ci"),
            };
            cache.join("venv")
        }
    };
    let python = venv.join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no python with `{module}` at {}: run `bash .ci/run` once (it installs the clients), or set DROVER_SPARK_VENV",
        python.display()
    );
    python
}

/// Whether the process is alive (a zombie waiting to be reaped is not).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}
