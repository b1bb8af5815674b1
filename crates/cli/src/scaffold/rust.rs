//! The Rust project: drover's own Livy plugin, made at compile time from the
//! real sources, embedded here with `include_str!` (plugins/livy, the pieces
//! of plugins/sdk it uses, the contract folder with its vendored WASI
//! packages, and the pins of plugins/Cargo.toml and plugins/Cargo.lock). So
//! the template cannot drift from the plugin the repository builds and tests:
//! a change there is a change here at the next build. The project cannot
//! reach the SDK (it lives elsewhere and is not published), so the SDK's files
//! become the project's own `sdk` module: `drover_plugin_sdk::` paths are
//! rewritten to `crate::sdk::`, and the few places that name the SDK as a
//! separate crate are rewritten one by one ([`rewrite`] refuses a rewrite
//! whose text is gone, and a test generates every project, so a changed
//! source fails the tests rather than a user's build).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::{CONTRACT, rewrite, write_files};

/// The target every Rust plugin is built for.
const WASM_TARGET: &str = "wasm32-wasip2";

/// The SDK's modules besides its `lib.rs`, as `src/sdk/*.rs`.
const SDK_MODULES: &[(&str, &str)] = &[
    ("backend.rs", include_str!("../../../../plugins/sdk/src/backend.rs")),
    ("batch.rs", include_str!("../../../../plugins/sdk/src/batch.rs")),
    ("http.rs", include_str!("../../../../plugins/sdk/src/http.rs")),
    ("settings.rs", include_str!("../../../../plugins/sdk/src/settings.rs")),
    ("spark.rs", include_str!("../../../../plugins/sdk/src/spark.rs")),
    ("testing.rs", include_str!("../../../../plugins/sdk/src/testing.rs")),
];
const SDK_LIB: &str = include_str!("../../../../plugins/sdk/src/lib.rs");

/// The Livy plugin's modules besides its `lib.rs`, as `src/*.rs`.
const LIVY_MODULES: &[(&str, &str)] = &[
    ("api.rs", include_str!("../../../../plugins/livy/src/api.rs")),
    ("validate.rs", include_str!("../../../../plugins/livy/src/validate.rs")),
];
const LIVY_LIB: &str = include_str!("../../../../plugins/livy/src/lib.rs");

/// The plugins workspace's manifest (dependency features, release profile)
/// and lock file (the exact versions the bundled plugins are built with).
const PLUGINS_MANIFEST: &str = include_str!("../../../../plugins/Cargo.toml");
const PLUGINS_LOCK: &str = include_str!("../../../../plugins/Cargo.lock");
/// Writes the project into `dir` and prints how to build and use it.
pub(super) fn write(name: &str, dir: &Path) -> anyhow::Result<ExitCode> {
    let files = rust_project(name)?;
    write_files(dir, &files)?;

    let shown = dir.display();
    let wasm = dir
        .join("target")
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    println!("Created the Rust plugin `{name}` in {shown}: an Apache Livy batch plugin to adapt.");
    println!();
    println!("Build it (rustup adds the {WASM_TARGET} target from rust-toolchain.toml):");
    println!("  cd {shown} && cargo build --release --target {WASM_TARGET}");
    println!();
    println!("The component: {}", wasm.display());
    println!("Use it in drover's config file:");
    println!("  [backends.{name}]");
    println!(
        "  plugin = {:?}",
        std::path::absolute(&wasm).unwrap_or(wasm).display().to_string()
    );
    println!("  settings = {{ url = \"http://livy-server:8998\" }}");
    Ok(ExitCode::SUCCESS)
}

/// Every file of the Rust project, as (relative path, contents).
fn rust_project(name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = vec![
        ("Cargo.toml".to_string(), cargo_toml(name)?),
        ("Cargo.lock".to_string(), PLUGINS_LOCK.to_string()),
        (
            "rust-toolchain.toml".to_string(),
            format!("[toolchain]\nchannel = \"stable\"\ntargets = [\"{WASM_TARGET}\"]\n"),
        ),
        (".gitignore".to_string(), "/target\n".to_string()),
        ("README.md".to_string(), readme(name)),
        ("src/lib.rs".to_string(), plugin_lib()?),
        ("src/sdk/mod.rs".to_string(), sdk_mod()?),
    ];
    for (file, text) in LIVY_MODULES {
        files.push((format!("src/{file}"), to_own_sdk(text)));
    }
    for (file, text) in SDK_MODULES {
        files.push((format!("src/sdk/{file}"), text.replace("crate::", "crate::sdk::")));
    }
    for (file, text) in CONTRACT {
        files.push((format!("wit/{file}"), (*text).to_string()));
    }
    Ok(files)
}

fn to_own_sdk(text: &str) -> String {
    text.replace("drover_plugin_sdk::", "crate::sdk::")
}

/// The Livy plugin's `lib.rs`, on the project's own `sdk` module, named after
/// the package.
fn plugin_lib() -> anyhow::Result<String> {
    let file = "plugins/livy/src/lib.rs";
    let text = rewrite(
        LIVY_LIB,
        "pub mod validate;\n",
        "pub mod sdk;\npub mod validate;\n",
        file,
    )?;
    let text = rewrite(
        &text,
        "name: \"livy\".into()",
        "name: env!(\"CARGO_PKG_NAME\").into()",
        file,
    )?;
    // The SDK's `export!` is `#[macro_export]`: at the crate's root.
    let text = rewrite(&text, "drover_plugin_sdk::export!(", "crate::export!(", file)?;
    let header = "//! Made by `drover plugins new` from drover's own Livy plugin: a complete\n\
                  //! plugin to adapt to another cluster manager. The contract is in `wit/`,\n\
                  //! the helpers every plugin needs (HTTP over wasi:http, settings) in `sdk`.\n\
                  //!\n";
    Ok(format!("{header}{}", to_own_sdk(&text)))
}

/// The SDK's `lib.rs` as the `sdk` module: bindings generated from `wit/`,
/// its paths inside this crate.
fn sdk_mod() -> anyhow::Result<String> {
    let file = "plugins/sdk/src/lib.rs";
    let text = rewrite(SDK_LIB, "path: \"../wit/drover-plugin@0.2.0\"", "path: \"wit\"", file)?;
    // Exported only inside this crate: a `#[macro_export]` made by a macro
    // cannot be named by path in its own crate.
    let text = rewrite(&text, "pub_export_macro: true", "pub_export_macro: false", file)?;
    let text = rewrite(
        &text,
        "\"drover_plugin_sdk::bindings::generated\"",
        "\"crate::sdk::bindings::generated\"",
        file,
    )?;
    let text = rewrite(&text, "$crate::bindings::", "$crate::sdk::bindings::", file)?;
    // The AWS helpers are behind a feature the project does not have.
    let text = rewrite(&text, "#[cfg(feature = \"aws\")]\npub mod aws;\n", "", file)?;
    // The test fixtures are behind a feature of the SDK crate; here they
    // serve the project's own tests only.
    let text = rewrite(
        &text,
        "#[cfg(any(test, feature = \"testing\"))]\npub mod testing;\n",
        "#[cfg(test)]\npub mod testing;\n",
        file,
    )?;
    Ok(to_own_sdk(&text))
}

/// The package: the SDK's dependencies with the plugins workspace's features,
/// wit-bindgen and wasip2 pinned to the versions its lock file holds, and its
/// release profile (small components).
fn cargo_toml(name: &str) -> anyhow::Result<String> {
    let manifest: toml::Table = toml::from_str(PLUGINS_MANIFEST).context("plugins/Cargo.toml")?;
    let lock: toml::Table = toml::from_str(PLUGINS_LOCK).context("plugins/Cargo.lock")?;
    let workspace = manifest.get("workspace").and_then(toml::Value::as_table);
    let package = workspace.and_then(|w| w.get("package")).and_then(toml::Value::as_table);
    let deps = workspace
        .and_then(|w| w.get("dependencies"))
        .and_then(toml::Value::as_table)
        .context("plugins/Cargo.toml has no [workspace.dependencies]")?;
    let field = |key: &str| {
        package
            .and_then(|p| p.get(key))
            .and_then(toml::Value::as_str)
            .with_context(|| format!("plugins/Cargo.toml has no workspace.package.{key}"))
    };

    let mut out = String::new();
    writeln!(out, "[package]\nname = \"{name}\"\nversion = \"0.1.0\"")?;
    writeln!(
        out,
        "edition = \"{}\"\nrust-version = \"{}\"\npublish = false\n",
        field("edition")?,
        field("rust-version")?
    )?;
    writeln!(
        out,
        "[lib]\n# A WebAssembly component: drover loads target/{WASM_TARGET}/release/*.wasm."
    )?;
    writeln!(out, "crate-type = [\"cdylib\", \"rlib\"]\n")?;
    writeln!(out, "[dependencies]")?;
    for dep in ["wit-bindgen", "wasip2", "serde", "serde_json"] {
        let spec = deps
            .get(dep)
            .with_context(|| format!("plugins/Cargo.toml has no {dep} dependency"))?;
        let pinned = matches!(dep, "wit-bindgen" | "wasip2")
            .then(|| locked_version(&lock, dep))
            .transpose()?;
        writeln!(out, "{dep} = {}", dependency(spec, pinned.as_deref()))?;
    }
    writeln!(out, "\n[lints.rust]\nunused_must_use = \"deny\"\n")?;
    writeln!(out, "[profile.release]")?;
    let profile = manifest
        .get("profile")
        .and_then(|p| p.get("release"))
        .and_then(toml::Value::as_table)
        .context("plugins/Cargo.toml has no [profile.release]")?;
    for (k, v) in profile {
        writeln!(out, "{k} = {v}")?;
    }
    Ok(out)
}

/// The version of `dep` the SDK is locked to (build metadata dropped, which
/// a requirement cannot carry).
fn locked_version(lock: &toml::Table, dep: &str) -> anyhow::Result<String> {
    let packages = lock
        .get("package")
        .and_then(toml::Value::as_array)
        .context("plugins/Cargo.lock has no packages")?;
    fn named<'a>(packages: &'a [toml::Value], n: &'a str) -> impl Iterator<Item = &'a toml::Value> {
        packages
            .iter()
            .filter(move |p| p.get("name").and_then(toml::Value::as_str) == Some(n))
    }
    let sdk = named(packages, "drover-plugin-sdk")
        .next()
        .context("plugins/Cargo.lock has no drover-plugin-sdk")?;
    let listed = sdk
        .get("dependencies")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_str)
        .find(|d| d.split(' ').next() == Some(dep))
        .with_context(|| format!("drover-plugin-sdk does not depend on {dep} in plugins/Cargo.lock"))?;
    let version = match listed.split_once(' ') {
        // "name version" when the lock holds several versions of it.
        Some((_, v)) => v.to_string(),
        None => named(packages, dep)
            .next()
            .and_then(|p| p.get("version"))
            .and_then(toml::Value::as_str)
            .with_context(|| format!("plugins/Cargo.lock has no {dep} package"))?
            .to_string(),
    };
    Ok(version.split('+').next().unwrap_or(&version).to_string())
}

/// A dependency line's right-hand side: the workspace's spec, its version
/// replaced by `=pinned` when given.
fn dependency(spec: &toml::Value, pinned: Option<&str>) -> String {
    let version = |v: &str| match pinned {
        Some(p) => format!("\"={p}\""),
        None => format!("{v:?}"),
    };
    match spec {
        toml::Value::String(v) => version(v),
        toml::Value::Table(t) => {
            let fields: Vec<String> = t
                .iter()
                .map(|(k, v)| match (k.as_str(), v.as_str()) {
                    ("version", Some(s)) => format!("{k} = {}", version(s)),
                    _ => format!("{k} = {v}"),
                })
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        other => other.to_string(),
    }
}

fn readme(name: &str) -> String {
    let wasm = format!("target/{WASM_TARGET}/release/{}.wasm", name.replace('-', "_"));
    format!(
        r#"# {name}

A backend plugin for drover, the workflow orchestrator: a WebAssembly component that runs drover's applications as batches of an
Apache Livy server, through its REST API (`POST /batches`, `GET /batches/{{id}}`,
`GET /batches?from&size`, `DELETE /batches/{{id}}`, `GET /batches/{{id}}/log`).
It is drover's own Livy plugin, made into a project of its own by
`drover plugins new`: adapt it to another cluster manager, or use it as it is.

## Build

You need Rust (https://rustup.rs). `rust-toolchain.toml` asks rustup for the
`{WASM_TARGET}` target; without rustup's toolchain file support, add it once:

    rustup target add {WASM_TARGET}

Then:

    cargo build --release --target {WASM_TARGET}

The component is `{wasm}`. `cargo test` runs the unit tests on your machine.

## Use it in drover

In drover's config file (`drover serve --config drover.toml`, or
`drover standalone --config drover.toml`):

```toml
[backends.{name}]
plugin = "/path/to/{name}/{wasm}"
settings = {{ url = "http://livy-server:8998" }}
```

Settings: `url` (the Livy server's base URL, required), `proxy_user` and
`queue` (optional). A DAG's task runs on it with `backend = "{name}"` and
`deploy_mode = "cluster"` (Livy batches are cluster-mode drivers).

## Layout

- `src/lib.rs`: the contract's calls (describe, validate, submit, find,
  status, status-many, kill, logs) over HTTP.
- `src/api.rs`: Livy's wire format and its states mapped onto drover's.
- `src/validate.rs`: what drover reports at DAG load time, without a network call.
- `src/sdk/`: HTTP over `wasi:http`, settings, and the bindings generated from `wit/`.
- `wit/`: the contract (`drover:plugin@0.2.0`) with the WASI packages it imports.
  A plugin must export its `backend` interface; do not edit these files.
"#
    )
}
#[cfg(test)]
mod tests {
    use super::*;

    /// Files in `dir` (relative to the repository root), sorted.
    fn listing(dir: &str) -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(dir);
        let mut out = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(&root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    fn names(files: &[(&str, &str)], extra: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = files
            .iter()
            .map(|(f, _)| f.to_string())
            .chain(extra.iter().map(|s| s.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn the_template_embeds_every_file_of_its_sources() {
        assert_eq!(names(CONTRACT, &[]), listing("plugins/wit/drover-plugin@0.2.0"));
        // aws.rs (SigV4 for the AWS plugins) is left out: the Livy plugin does not use it.
        assert_eq!(names(SDK_MODULES, &["lib.rs", "aws.rs"]), listing("plugins/sdk/src"));
        assert_eq!(names(LIVY_MODULES, &["lib.rs"]), listing("plugins/livy/src"));
    }

    #[test]
    fn the_rust_project_names_no_sdk_crate_and_pins_the_locked_versions() {
        let files = rust_project("my-livy").expect("the template matches its sources");
        for (path, text) in &files {
            assert!(!text.contains("drover_plugin_sdk"), "{path} still names the SDK crate");
        }
        let manifest = &files.iter().find(|(p, _)| p == "Cargo.toml").unwrap().1;
        let parsed: toml::Table = toml::from_str(manifest).expect("Cargo.toml parses");
        assert_eq!(parsed["package"]["name"].as_str(), Some("my-livy"));
        let deps = &parsed["dependencies"];
        let wit = deps["wit-bindgen"]["version"].as_str().unwrap();
        assert!(wit.starts_with("=0."), "{wit}");
        let wasip2 = deps["wasip2"].as_str().unwrap();
        assert!(wasip2.starts_with('=') && !wasip2.contains('+'), "{wasip2}");
        assert!(parsed["profile"]["release"]["lto"].as_bool().unwrap());
    }
}
