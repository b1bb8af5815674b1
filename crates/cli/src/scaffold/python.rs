//! The Python project: drover's own Python Livy plugin (plugins/livy-py, the
//! one bundled as `livy`), made at compile time from the real sources,
//! embedded here with `include_str!`, plus the contract folder as `wit/`. So
//! the template cannot drift from the plugin the repository builds, bundles
//! and tests: the few places where the plugin names itself are rewritten with
//! [`rewrite`], which refuses a rewrite whose text is gone, and a unit test
//! generates the project, so a changed source fails the tests rather than a
//! user's build. The componentize-py version is the one `build.sh` pins for
//! the bundled component.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::{CONTRACT, rewrite, write_files};

/// The plugin's modules, copied as they are unless [`python_project`] says otherwise.
const MODULES: &[(&str, &str)] = &[
    ("api.py", include_str!("../../../../plugins/livy-py/api.py")),
    ("app.py", include_str!("../../../../plugins/livy-py/app.py")),
    ("sdk.py", include_str!("../../../../plugins/livy-py/sdk.py")),
    ("test_plugin.py", include_str!("../../../../plugins/livy-py/test_plugin.py")),
    ("transport.py", include_str!("../../../../plugins/livy-py/transport.py")),
    ("validate.py", include_str!("../../../../plugins/livy-py/validate.py")),
];

/// The script that builds the bundled component; it holds the pinned
/// componentize-py version.
const BUILD_SCRIPT: &str = include_str!("../../../../plugins/livy-py/build.sh");

/// The world of the contract a Python plugin is built against (it spells out
/// the wasi:http imports componentize-py generates bindings for).
const WORLD: &str = "plugin-http";

/// The sandbox memory cap the config snippet gives the backend, in MiB.
const MEMORY_MB: u32 = 128;

/// The componentize-py version the bundled plugin is built with.
pub(crate) fn componentize_py_version() -> anyhow::Result<&'static str> {
    BUILD_SCRIPT
        .lines()
        .find_map(|l| l.strip_prefix("COMPONENTIZE_PY_VERSION="))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .context("scaffold template out of date: plugins/livy-py/build.sh pins no COMPONENTIZE_PY_VERSION (a bug in drover)")
}

/// The one command that builds the project's component, run in its folder.
pub(crate) fn build_command(name: &str) -> String {
    format!("componentize-py -d wit -w {WORLD} componentize app -o {name}.wasm")
}

/// Writes the project into `dir` and prints how to build and use it.
pub(super) fn write(name: &str, dir: &Path) -> anyhow::Result<ExitCode> {
    let files = python_project(name)?;
    let version = componentize_py_version()?;
    write_files(dir, &files)?;

    let shown = dir.display();
    let wasm = dir.join(format!("{name}.wasm"));
    println!("Created the Python plugin `{name}` in {shown}: an Apache Livy batch plugin to adapt.");
    println!();
    println!("Install componentize-py {version} once, e.g. in a virtual environment:");
    println!("  python3 -m venv ~/.venvs/componentize && ~/.venvs/componentize/bin/pip install componentize-py=={version}");
    println!("  export PATH=~/.venvs/componentize/bin:$PATH");
    println!();
    println!("Build it:");
    println!("  cd {shown} && {}", build_command(name));
    println!();
    println!("The component: {}", wasm.display());
    println!("Use it in drover's config file (a Python component needs more memory than the default 64 MiB):");
    println!("  [backends.{name}]");
    println!(
        "  plugin = {:?}",
        std::path::absolute(&wasm).unwrap_or(wasm).display().to_string()
    );
    println!("  settings = {{ url = \"http://livy-server:8998\" }}");
    println!("  memory_mb = {MEMORY_MB}");
    Ok(ExitCode::SUCCESS)
}

/// Every file of the Python project, as (relative path, contents).
fn python_project(name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let version = componentize_py_version()?;
    let mut files = vec![
        ("README.md".to_string(), readme(name, version)),
        (".gitignore".to_string(), format!("__pycache__/\n/.venv/\n/{name}.wasm\n")),
    ];
    for (file, text) in MODULES {
        let text = match *file {
            "app.py" => app_py(name)?,
            "test_plugin.py" => rewrite(text, "livy.wasm", &format!("{name}.wasm"), "plugins/livy-py/test_plugin.py")?,
            _ => (*text).to_string(),
        };
        files.push(((*file).to_string(), text));
    }
    for (file, text) in CONTRACT {
        files.push((format!("wit/{file}"), (*text).to_string()));
    }
    Ok(files)
}

/// app.py, naming itself after the project.
fn app_py(name: &str) -> anyhow::Result<String> {
    let file = "plugins/livy-py/app.py";
    let text = MODULES.iter().find(|(f, _)| *f == "app.py").map(|(_, t)| *t).unwrap_or_default();
    let text = rewrite(text, "NAME = \"livy\"\n", &format!("NAME = {name:?}\n"), file)?;
    let text = rewrite(
        &text,
        "\"\"\"drover's Apache Livy plugin, in Python:",
        &format!("\"\"\"{name}: made by `drover plugins new` from drover's Apache Livy plugin, in Python:"),
        file,
    )?;
    rewrite(&text, "(see build.sh)", "(see README.md)", file)
}

fn readme(name: &str, version: &str) -> String {
    let build = build_command(name);
    format!(
        r#"# {name}

A backend plugin for drover, the workflow orchestrator, in Python: a
WebAssembly component that runs drover's applications as batches of an
Apache Livy server, through its REST API (`POST /batches`, `GET /batches/{{id}}`,
`GET /batches?from&size`, `DELETE /batches/{{id}}`, `GET /batches/{{id}}/log`).
It is drover's own Livy plugin (the one drover bundles as `livy`), made into
a project of its own by `drover plugins new`: adapt it to another cluster
manager, or use it as it is.

## Build

You need Python 3 and componentize-py {version} (from PyPI; it brings its
own CPython for WebAssembly, whatever your Python is). Install it once, in a
virtual environment:

    python3 -m venv .venv
    .venv/bin/pip install componentize-py=={version}
    source .venv/bin/activate        # puts componentize-py on PATH

Then, in this folder:

    {build}

The component is `{name}.wasm` (about 18 MB: the CPython runtime and the
parts of its standard library the plugin imports, initialised at build time).
Build it with the pinned version: another componentize-py may generate other
bindings. `python3 -m unittest` runs the unit tests of the pure modules on
your machine.

## Use it in drover

In drover's config file (`drover serve --config drover.toml`, or
`drover standalone --config drover.toml`):

```toml
[backends.{name}]
plugin = "/path/to/{name}/{name}.wasm"
settings = {{ url = "http://livy-server:8998" }}
memory_mb = {MEMORY_MB}
```

`memory_mb` raises the sandbox's memory cap per call from the default 64 MiB:
a Python component starts with a CPython heap of its own. Check it against a
Livy API before use (`drover devcluster` serves one under `/livy`):

    drover plugins check {name}.wasm --memory-mb {MEMORY_MB} --against http://127.0.0.1:6066/livy

Settings: `url` (the Livy server's base URL, required), `proxy_user` and
`queue` (optional). A DAG's task runs on it with `backend = "{name}"` and
`deploy_mode = "cluster"` (Livy batches are cluster-mode drivers). The first
time drover loads the component it compiles it (tens of seconds for a Python
component); drover keeps the result in its plugin cache.

## Layout

- `app.py`: the contract's calls (describe, validate, submit, find, status,
  status-many, kill, logs); the class `Backend` is the exported interface.
  The contract's types (`wit_world`, generated by componentize-py at build
  time) are met only here.
- `api.py`: Livy's wire format and its states mapped onto drover's.
- `validate.py`: what drover reports at DAG load time, without a network call.
- `sdk.py`: settings, errors, URL handling, in plain Python.
- `transport.py`: HTTP over `wasi:http` (the only way out of the sandbox),
  its failures mapped onto the contract's error kinds.
- `test_plugin.py`: unit tests of the pure modules.
- `wit/`: the contract (`drover:plugin@0.2.0`) with the WASI packages it
  imports; the component is built against its world `{WORLD}`. Do not edit
  these files.

The sandbox has no files, environment, sockets or threads: only what a call
receives, and outgoing HTTP to the backend's allowed hosts. Modules that need
more (`socket`, `ssl`, `urllib.request`, `requests`) do not work inside it;
`json`, `dataclasses`, `re` and the like do.
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files of plugins/livy-py that belong to the bundled build, not to a project.
    const NOT_IN_PROJECT: &[&str] = &["build.sh", "livy.wasm", "livy.wasm.inputs"];

    /// Files in plugins/livy-py, sorted, without caches.
    fn listing() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/livy-py");
        let mut out: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name() != "__pycache__")
            .map(|e| {
                assert!(e.path().is_file(), "{} is a folder: embed it in the template", e.path().display());
                e.file_name().to_string_lossy().into_owned()
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn the_template_embeds_every_file_of_its_source_folder() {
        let mut embedded: Vec<String> = MODULES
            .iter()
            .map(|(f, _)| f.to_string())
            .chain(NOT_IN_PROJECT.iter().map(|s| s.to_string()))
            .collect();
        embedded.sort();
        assert_eq!(embedded, listing());
    }

    #[test]
    fn the_python_project_names_itself_and_pins_componentize_py() {
        let files = python_project("my-livy").expect("the template matches its sources");
        let file = |name: &str| &files.iter().find(|(p, _)| p == name).unwrap_or_else(|| panic!("no {name}")).1;
        assert!(file("app.py").contains("NAME = \"my-livy\"\n"));
        assert!(!file("app.py").contains("build.sh"));
        let version = componentize_py_version().unwrap();
        assert!(version.split('.').all(|n| n.parse::<u32>().is_ok()), "{version}");
        let readme = file("README.md");
        assert!(readme.contains(&format!("componentize-py=={version}")), "{readme}");
        assert!(readme.contains(&build_command("my-livy")), "{readme}");
        assert!(readme.contains("memory_mb = 128"), "{readme}");
        assert!(files.iter().any(|(p, _)| p == "wit/deps/http.wit"));
    }
}
