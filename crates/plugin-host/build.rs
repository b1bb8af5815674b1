//! Builds the guest plugins in `plugins/` (their own workspace, target
//! wasm32-wasip2) so that `cargo build` and `cargo test` of drover need no
//! extra step, and tells the crate where they are (`DROVER_PLUGIN_DIR`).
//!
//! The nested build uses `<target>/wasm-plugins`, one place shared by debug,
//! release and test builds of the host, so it stays incremental. Set
//! `DROVER_PREBUILT_PLUGIN_DIR` to a directory holding the `.wasm` files to
//! skip the nested build (packaging, offline builds).

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The components the crate embeds; checked after the build.
const ARTIFACTS: &[&str] = &["spark_standalone.wasm", "livy.wasm", "emr_containers.wasm", "misbehave.wasm", "old_contract.wasm"];
const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let plugins = manifest_dir.join("../../plugins");
    let plugins = plugins.canonicalize().unwrap_or(plugins);

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../plugins/wit");
    // A path dependency of the plugins outside plugins/.
    println!("cargo:rerun-if-changed=../spark-units");
    println!("cargo:rerun-if-env-changed=DROVER_PREBUILT_PLUGIN_DIR");
    emit_python_livy_digest(&manifest_dir);
    if let Some(dir) = env::var_os("DROVER_PREBUILT_PLUGIN_DIR") {
        let dir = PathBuf::from(dir);
        check_artifacts(&dir);
        emit_plugin_dir(&dir);
        return;
    }
    watch_sources(&plugins);

    ensure_wasm_target(&plugins);
    let target_dir = main_target_dir().join("wasm-plugins");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg(WASM_TARGET)
        .arg("--manifest-path")
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // plugins/ lies under the repository's rust-toolchain.toml.
        .current_dir(&plugins);
    scrub_env(&mut cmd);

    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build plugins/: {e} (command: {cmd:?})"));
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stdout));
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        panic!(
            "building plugins/ for {WASM_TARGET} failed (output above); is the target installed? \
             rustup target add {WASM_TARGET}"
        );
    }

    let dir = target_dir.join(WASM_TARGET).join("release");
    check_artifacts(&dir);
    emit_plugin_dir(&dir);
}

/// rustup installs a toolchain file's targets only together with the
/// toolchain: on a machine whose toolchain was already installed the
/// wasm32-wasip2 target is missing, and the README's first command would
/// stop here. Add it (once; rustup answers at once when it is there).
/// Without rustup the nested build's own error says what to install.
fn ensure_wasm_target(plugins: &Path) {
    let rustup = |args: &[&str]| Command::new("rustup").args(args).current_dir(plugins).output();
    let Ok(listed) = rustup(&["target", "list", "--installed"]) else {
        return;
    };
    let installed = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET);
    if !listed.status.success() || installed {
        return;
    }
    println!(
        "cargo:warning=adding the {WASM_TARGET} target to the Rust toolchain (rustup target add {WASM_TARGET}); drover's plugins are built for it"
    );
    match rustup(&["target", "add", WASM_TARGET]) {
        Ok(out) if out.status.success() => {}
        Ok(out) => println!(
            "cargo:warning=rustup target add {WASM_TARGET} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => println!("cargo:warning=cannot run rustup: {e}"),
    }
}

/// The main workspace's target directory: OUT_DIR is
/// `<target>[/<triple>]/<profile>/build/<pkg>-<hash>/out`.
fn main_target_dir() -> PathBuf {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let mut dir = out_dir
        .ancestors()
        .nth(4)
        .unwrap_or_else(|| {
            panic!(
                "OUT_DIR {} is not inside a target directory",
                out_dir.display()
            )
        })
        .to_path_buf();
    // With an explicit --target the profile directory sits under the triple.
    if let (Some(name), Ok(triple)) = (dir.file_name(), env::var("TARGET"))
        && name == triple.as_str()
        && let Some(parent) = dir.parent()
    {
        dir = parent.to_path_buf();
    }
    dir
}

/// Removes what the outer build sets for its own crate and target, so the
/// nested build is the same as `cd plugins && cargo build --release --target
/// wasm32-wasip2` (and host RUSTFLAGS such as `-C target-cpu=native` do not
/// reach wasm code).
fn scrub_env(cmd: &mut Command) {
    const EXACT: &[&str] = &[
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_CRATE_NAME",
        "CARGO_TARGET_TMPDIR",
        "OUT_DIR",
        "TARGET",
        "HOST",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_PROFILE_",
        "CARGO_TARGET_",
        "CARGO_MANIFEST_",
        "CARGO_PKG_",
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "DEP_",
    ];
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let build_setting = key.starts_with("CARGO_BUILD_") && key != "CARGO_BUILD_JOBS";
        if build_setting || EXACT.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key);
        }
    }
}

/// `rerun-if-changed` for every source of the plugins workspace, skipping
/// build output. Files only: a new module is always named by a changed file.
fn watch_sources(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                watch_sources(&path);
            }
        } else if name.ends_with(".rs")
            || name.ends_with(".wit")
            || name == "Cargo.toml"
            || name == "Cargo.lock"
        {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

fn check_artifacts(dir: &Path) {
    for name in ARTIFACTS {
        let path = dir.join(name);
        assert!(
            path.is_file(),
            "plugin component {} is missing",
            path.display()
        );
    }
}

/// The bundled Python livy component is 18 MB: its digest (the compile
/// cache's key) is computed here once, so a drover that finds it compiled in
/// its cache never reads those bytes (they would count in its memory).
fn emit_python_livy_digest(manifest_dir: &Path) {
    use sha2::{Digest, Sha256};
    let wasm = manifest_dir.join("../../plugins/livy-py/livy.wasm");
    println!("cargo:rerun-if-changed={}", wasm.display());
    let bytes = std::fs::read(&wasm).unwrap_or_else(|e| panic!("cannot read {}: {e}", wasm.display()));
    println!("cargo:rustc-env=DROVER_LIVY_PY_SHA256={}", hex::encode(Sha256::digest(&bytes)));
}

fn emit_plugin_dir(dir: &Path) {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    println!("cargo:rustc-env=DROVER_PLUGIN_DIR={}", dir.display());
}
