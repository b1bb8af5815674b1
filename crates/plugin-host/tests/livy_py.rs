//! The bundled `livy` plugin is Python (plugins/livy-py), built by its
//! build.sh with the pinned componentize-py and committed (a cargo build needs
//! no Python toolchain). Here: the committed component is the build of the
//! current sources; the sources' own unit tests pass; and the component maps
//! a cluster's failures onto the contract's error kinds as the Rust SDK does.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use drover_dag::Application;
use drover_plugin_host::bundled::LIVY;
use drover_plugin_host::{Backend, CallError, ErrorKind, Limits, Plugin, PluginHost};
use sha2::{Digest, Sha256};

fn plugin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/livy-py")
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The componentize-py version build.sh pins.
fn pinned_version() -> String {
    let script = std::fs::read_to_string(plugin_dir().join("build.sh")).unwrap();
    script
        .lines()
        .find_map(|l| l.strip_prefix("COMPONENTIZE_PY_VERSION="))
        .expect("build.sh pins COMPONENTIZE_PY_VERSION")
        .trim()
        .to_string()
}

/// What the component is built from, as build.sh lists it: every module but
/// the unit tests, and the contract folder's WIT files, relative to plugins/livy-py.
fn inputs() -> Vec<String> {
    let dir = plugin_dir();
    let mut py: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".py") && !n.starts_with("test_"))
        .collect();
    py.sort();
    let wit = "../wit/drover-plugin@0.2.0";
    let mut deps: Vec<String> = std::fs::read_dir(dir.join(wit).join("deps"))
        .unwrap()
        .map(|e| format!("{wit}/deps/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|n| n.ends_with(".wit"))
        .collect();
    deps.sort();
    py.into_iter().chain([format!("{wit}/plugin.wit")]).chain(deps).collect()
}

/// Not byte-for-byte reproducible (componentize-py snapshots a CPython heap),
/// so build.sh records its inputs' digests beside the output's, and this
/// compares them with the sources as they are now.
#[test]
fn the_bundled_python_component_is_built_from_the_current_sources() {
    let dir = plugin_dir();
    let record = std::fs::read_to_string(dir.join("livy.wasm.inputs")).expect("plugins/livy-py/livy.wasm.inputs");
    let rebuild = format!(
        "rebuild it: pip install componentize-py=={} && plugins/livy-py/build.sh",
        pinned_version()
    );
    let mut problems = Vec::new();
    let mut recorded = Vec::new();
    let mut output = None;
    let mut tool = None;
    for line in record.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        if let Some(t) = line.strip_prefix("tool ") {
            tool = Some(t.to_string());
        } else if line.starts_with("command ") {
        } else if let Some(o) = line.strip_prefix("output ") {
            output = o.split_whitespace().next().map(str::to_string);
        } else {
            let (digest, path) = line.split_once("  ").unwrap_or_else(|| panic!("bad line {line:?}"));
            recorded.push(path.to_string());
            match std::fs::read(dir.join(path)) {
                Ok(bytes) if sha256(&bytes) == digest => {}
                Ok(_) => problems.push(format!("{path} changed since livy.wasm was built")),
                Err(e) => problems.push(format!("{path}: {e}")),
            }
        }
    }
    let now = inputs();
    for p in now.iter().filter(|p| !recorded.contains(p)) {
        problems.push(format!("{p} is new since livy.wasm was built"));
    }
    for p in recorded.iter().filter(|p| !now.contains(p)) {
        problems.push(format!("{p} is gone since livy.wasm was built"));
    }
    let pinned = format!("componentize-py {}", pinned_version());
    if tool.as_deref() != Some(pinned.as_str()) {
        problems.push(format!("built with {tool:?}, build.sh pins {pinned}"));
    }
    let file = std::fs::read(dir.join("livy.wasm")).unwrap();
    if output.as_deref() != Some(sha256(&file).as_str()) {
        problems.push("livy.wasm is not the file build.sh made (its digest differs from the record)".into());
    }
    assert!(file == LIVY, "drover embeds plugins/livy-py/livy.wasm");
    assert!(problems.is_empty(), "plugins/livy-py/livy.wasm is stale: {}; {rebuild}", problems.join("; "));
}

/// The Python sources' unit tests (api.py, validate.py, sdk.py), with the
/// CI venv's Python where there is one.
#[test]
fn the_python_plugin_passes_its_unit_tests() {
    let python = std::env::var_os("DROVER_SPARK_VENV")
        .map(|v| PathBuf::from(v).join("bin/python"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"));
    let out = Command::new(&python)
        .args(["-B", "-m", "unittest", "-v"])
        .current_dir(plugin_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python -m unittest in plugins/livy-py:\n{stderr}");
    assert!(stderr.contains("\nOK"), "{stderr}");
    let ran = stderr.lines().find(|l| l.starts_with("Ran ")).unwrap_or_default();
    println!("{ran}");
}

fn app() -> Application {
    common::app("py", None)
}

/// The Python plugin, compiled once for this test binary (a CPython
/// component takes a while to compile), kept in the target's temp folder
/// across runs.
async fn python_livy() -> (PluginHost, Arc<Plugin>) {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("livy-py-cache");
    let host = PluginHost::new(Limits { memory_bytes: 128 << 20, ..Limits::default() }, Some(cache)).unwrap();
    let plugin = host.load("livy", LIVY).await.expect("the Python livy plugin loads");
    assert_eq!(plugin.info().name, "livy");
    (host, plugin)
}

fn backend(host: &PluginHost, plugin: Arc<Plugin>, url: &str) -> Backend {
    host.backend("livy", plugin, vec![("url".into(), url.into())], &["127.0.0.1"]).expect("backend")
}

/// A server that answers each request with `reply` (raw HTTP), or resets
/// the connection after reading it when `reply` is empty.
async fn server(reply: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 64 * 1024];
            let _ = sock.read(&mut buf).await;
            if reply.is_empty() {
                sock.set_zero_linger().unwrap();
            } else {
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        }
    });
    (url, task)
}

fn kind(err: &CallError) -> Option<ErrorKind> {
    match err {
        CallError::Plugin { kind, .. } => Some(*kind),
        _ => None,
    }
}

fn reply(status: &str, content_type: &str, body: &str) -> &'static str {
    Box::leak(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    )
}

/// The same kinds as plugins/sdk/src/http.rs: nothing sent is unavailable; an
/// answer lost after a POST or DELETE is in doubt, after a GET unavailable;
/// 5xx unavailable, 404 not-found, other 4xx rejected; garbage protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_plugin_maps_failures_onto_the_contracts_error_kinds() {
    let (host, plugin) = python_livy().await;

    // Nobody listens: refused, nothing was sent.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let b = backend(&host, plugin.clone(), &format!("http://127.0.0.1:{port}"));
    let err = b.submit("k", &app()).await.expect_err("nobody listens");
    assert_eq!(kind(&err), Some(ErrorKind::Unavailable), "{err:?}");
    assert!(err.to_string().contains("connection refused by 127.0.0.1"), "{err}");
    assert!(err.is_retryable());

    // Reset after the request was read: a POST or a DELETE may have been applied.
    let (url, reset) = server("").await;
    let b = backend(&host, plugin.clone(), &url);
    let err = b.submit("k", &app()).await.expect_err("reset");
    assert_eq!(kind(&err), Some(ErrorKind::InDoubt), "{err:?}");
    assert!(err.to_string().contains("may have been applied"), "{err}");
    let err = b.kill("7").await.expect_err("reset");
    assert_eq!(kind(&err), Some(ErrorKind::InDoubt), "{err:?}");
    let err = b.status("7").await.expect_err("reset");
    assert_eq!(kind(&err), Some(ErrorKind::Unavailable), "a GET is asked again: {err:?}");
    reset.abort();

    for (answer, want) in [
        (reply("503 Service Unavailable", "text/plain", "busy"), ErrorKind::Unavailable),
        (reply("404 Not Found", "application/json", r#"{"msg":"Session '7' not found."}"#), ErrorKind::NotFound),
        (reply("400 Bad Request", "application/json", r#"{"msg":"no"}"#), ErrorKind::Rejected),
        (reply("200 OK", "text/html", "<html>a login page</html>"), ErrorKind::Protocol),
        (reply("200 OK", "application/json", r#"{"id": "seven", "state": "running"}"#), ErrorKind::Protocol),
    ] {
        let (url, task) = server(answer).await;
        let b = backend(&host, plugin.clone(), &url);
        let err = b.status("7").await.expect_err(answer);
        assert_eq!(kind(&err), Some(want), "{answer}: {err:?}");
        assert!(err.to_string().contains(&url), "the message names the URL: {err}");
        task.abort();
    }

    // A host the backend does not allow: refused by drover, named.
    let b = host
        .backend("livy", plugin.clone(), vec![("url".into(), "http://livy.invalid:8998".into())], &["127.0.0.1"])
        .unwrap();
    let err = b.status("7").await.expect_err("denied");
    assert!(err.to_string().contains("allowed_hosts"), "{err}");

    // A bad id never reaches the network.
    let err = b.status("batch-7").await.expect_err("not an id");
    assert_eq!(kind(&err), Some(ErrorKind::Invalid), "{err:?}");
}
