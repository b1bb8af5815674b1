//! The JavaScript project: drover's Livy plugin in JavaScript
//! (plugins/livy-js), embedded here with `include_str!` and named after the
//! project through [`rewrite`], so the template is the plugin the repository
//! builds and tests: a change there is a change here at the next build, and
//! a rewrite whose text is gone fails the tests rather than a user's build.
//! The project builds with componentize-js, pinned in its package-lock.json,
//! against the contract in `wit/`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;

use super::{CONTRACT, rewrite, write_files};

/// The one command that builds the project, printed at the end.
pub(crate) const BUILD: &str = "npm ci && npm run build";

/// The source folder's files, copied as they are.
const VERBATIM: &[(&str, &str)] = &[
    (".gitignore", include_str!("../../../../plugins/livy-js/.gitignore")),
    (".npmrc", include_str!("../../../../plugins/livy-js/.npmrc")),
    ("src/api.js", include_str!("../../../../plugins/livy-js/src/api.js")),
    ("src/batch.js", include_str!("../../../../plugins/livy-js/src/batch.js")),
    ("src/errors.js", include_str!("../../../../plugins/livy-js/src/errors.js")),
    ("src/http.js", include_str!("../../../../plugins/livy-js/src/http.js")),
    ("src/settings.js", include_str!("../../../../plugins/livy-js/src/settings.js")),
    ("src/url.js", include_str!("../../../../plugins/livy-js/src/url.js")),
    ("src/validate.js", include_str!("../../../../plugins/livy-js/src/validate.js")),
    ("test/api.test.js", include_str!("../../../../plugins/livy-js/test/api.test.js")),
];
const PACKAGE: &str = include_str!("../../../../plugins/livy-js/package.json");
const LOCK: &str = include_str!("../../../../plugins/livy-js/package-lock.json");
const PLUGIN: &str = include_str!("../../../../plugins/livy-js/src/plugin.js");

/// The plugin's name in the source folder, replaced by the project's.
const SOURCE_NAME: &str = "livy-js";

/// The sandbox memory the config snippet gives the backend: a call of this
/// plugin needs about 12 MiB (the JS engine and its heap); the rest is room
/// for large logs and lists.
const MEMORY_MB: u32 = 128;

/// Writes the project into `dir` and prints how to build and use it.
pub(super) fn write(name: &str, dir: &Path) -> anyhow::Result<ExitCode> {
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        bail!("invalid plugin name `{name}`: npm package names are lower case; use e.g. `{}`", name.to_ascii_lowercase());
    }
    let files = js_project(name)?;
    write_files(dir, &files)?;

    let shown = dir.display();
    let wasm = dir.join(format!("{name}.wasm"));
    println!("Created the JavaScript plugin `{name}` in {shown}: an Apache Livy batch plugin to adapt.");
    println!();
    println!("Build it (Node.js 18 or newer; npm installs componentize-js, pinned in package-lock.json):");
    println!("  cd {shown} && {BUILD}");
    println!();
    println!("The component: {}", wasm.display());
    println!("Use it in drover's config file:");
    print!("{}", snippet(name, &std::path::absolute(&wasm).unwrap_or(wasm).display().to_string()));
    Ok(ExitCode::SUCCESS)
}

fn snippet(name: &str, wasm: &str) -> String {
    format!(
        "  [backends.{name}]\n  plugin = {wasm:?}\n  settings = {{ url = \"http://livy-server:8998\" }}\n  memory_mb = {MEMORY_MB}\n"
    )
}

/// Every file of the JavaScript project, as (relative path, contents).
fn js_project(name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let package = "plugins/livy-js/package.json";
    let quoted = format!("\"name\": \"{SOURCE_NAME}\"");
    let text = rewrite(PACKAGE, &quoted, &format!("\"name\": \"{name}\""), package)?;
    let text = rewrite(&text, "--wit ../wit/drover-plugin@0.2.0", "--wit wit", package)?;
    let text = rewrite(&text, &format!("--out {SOURCE_NAME}.wasm"), &format!("--out {name}.wasm"), package)?;
    let lock = rewrite(LOCK, &quoted, &format!("\"name\": \"{name}\""), "plugins/livy-js/package-lock.json")?;
    let plugin = rewrite(
        PLUGIN,
        &format!("const NAME = '{SOURCE_NAME}';"),
        &format!("const NAME = '{name}';"),
        "plugins/livy-js/src/plugin.js",
    )?;
    let mut files = vec![
        ("package.json".to_string(), text),
        ("package-lock.json".to_string(), lock),
        ("src/plugin.js".to_string(), plugin),
        ("README.md".to_string(), readme(name)),
    ];
    for (file, text) in VERBATIM {
        files.push((file.to_string(), (*text).to_string()));
    }
    for (file, text) in CONTRACT {
        files.push((format!("wit/{file}"), (*text).to_string()));
    }
    Ok(files)
}

fn readme(name: &str) -> String {
    let snippet = snippet(name, &format!("/path/to/{name}/{name}.wasm"));
    let snippet: String = snippet.lines().map(|l| format!("{}\n", l.trim_start())).collect();
    format!(
        r#"# {name}

A backend plugin for drover, the workflow orchestrator: a WebAssembly component, written
in JavaScript, that runs drover's applications as batches of an Apache Livy
server through its REST API (`POST /batches`, `GET /batches/{{id}}`,
`GET /batches?from&size`, `DELETE /batches/{{id}}`, `GET /batches/{{id}}/log`).
It is drover's own JavaScript Livy plugin, made into a project of its own by
`drover plugins new --lang js`: adapt it to another cluster manager, or use it
as it is.

## Build

You need Node.js 18 or newer with npm. Then:

    {BUILD}

`npm ci` installs the exact versions in `package-lock.json` (componentize-js,
which embeds the SpiderMonkey engine, and jco); `npm run build` makes
`{name}.wasm` (about 13 MB; it takes a minute). `npm test` runs the unit tests
of the pure parts on Node.

## Use it in drover

In drover's config file (`drover serve --config drover.toml`, or
`drover standalone --config drover.toml`):

```toml
{snippet}```

Settings: `url` (the Livy server's base URL, required), `proxy_user` and
`queue` (optional). A DAG's task runs on it with `backend = "{name}"` and
`deploy_mode = "cluster"` (Livy batches are cluster-mode drivers).

`memory_mb` is the sandbox's memory cap per call: a call needs about 12 MiB
(the JavaScript engine and its heap), more to read a long log. Check the
plugin against a Livy server, or drover's stand-in (`drover devcluster`
serves one under `/livy`), with the same cap:

    drover plugins check {name}.wasm --against http://127.0.0.1:6066/livy --memory-mb {MEMORY_MB}

## Layout

- `src/plugin.js`: the contract's calls (describe, validate, submit, find,
  status, status-many, kill, logs), exported as `backend`.
- `src/api.js`: Livy's wire format and its states mapped onto drover's.
- `src/validate.js`: what drover reports at DAG load time, without a network call.
- `src/http.js`: HTTP over `wasi:http`, imported directly and blocking: a
  component's exports are synchronous. Failures become drover's error kinds.
- `src/errors.js`: `PluginError`; a call fails by throwing one (its `payload`
  is the WIT `plugin-error`). Any other exception traps the call.
- `wit/`: the contract (`drover:plugin@0.2.0`) with the WASI packages it imports.
  A plugin must export its `backend` interface; do not edit these files.
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files of plugins/livy-js that git keeps: not the installed packages
    /// nor the built component, which its .gitignore leaves out.
    fn source_files() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/livy-js");
        let mut out = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                let file = p.file_name().unwrap().to_string_lossy().into_owned();
                if p.is_dir() {
                    if file != "node_modules" {
                        stack.push(p);
                    }
                } else if !file.ends_with(".wasm") {
                    out.push(p.strip_prefix(&root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_template_embeds_every_file_of_its_source_folder() {
        let mut embedded: Vec<String> = VERBATIM
            .iter()
            .map(|(f, _)| f.to_string())
            .chain(["package.json", "package-lock.json", "src/plugin.js"].map(String::from))
            .collect();
        embedded.sort();
        assert_eq!(embedded, source_files());
    }

    #[test]
    fn the_js_project_is_named_after_the_plugin_and_builds_from_its_own_wit() {
        let files = js_project("my-livy").expect("the template matches its sources");
        let file = |name: &str| &files.iter().find(|(p, _)| p == name).unwrap().1;
        let package: serde_json::Value = serde_json::from_str(file("package.json")).unwrap();
        assert_eq!(package["name"], "my-livy");
        let build = package["scripts"]["build"].as_str().unwrap();
        assert!(build.contains("--wit wit ") && build.ends_with("--out my-livy.wasm"), "{build}");
        for dep in package["devDependencies"].as_object().unwrap().values() {
            assert!(dep.as_str().unwrap().chars().all(|c| c.is_ascii_digit() || c == '.'), "pinned exactly: {dep}");
        }
        let lock: serde_json::Value = serde_json::from_str(file("package-lock.json")).unwrap();
        assert_eq!(lock["name"], "my-livy");
        assert_eq!(lock["packages"][""]["name"], "my-livy");
        assert!(file("src/plugin.js").contains("const NAME = 'my-livy';"));
        assert!(files.iter().any(|(p, _)| p == "wit/deps/http.wit"));
        assert!(!files.iter().any(|(_, t)| t.contains("livy-js")), "no trace of the source's name");
    }
}
