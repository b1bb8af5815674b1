//! What one sandboxed plugin call costs, per language: the Livy plugin in
//! Rust, Python and JavaScript, each called the way drover calls every
//! plugin (a fresh instance per call, under the backend's limits).
//!
//! For each component:
//!
//! - size, and compile time (`Component::new`, no cache), and the time to
//!   load it from the compiled-artifact cache a restart uses;
//! - `validate` (no HTTP): instantiate + the call, the sandbox's own cost;
//! - `status` of a running batch on the stand-in's Livy API: instantiate +
//!   one HTTP GET on loopback + the call; beside it, the same GET made by a
//!   plain Rust HTTP client on a new connection each time (as the sandbox's
//!   outgoing handler makes one per request), so the HTTP time can be taken out;
//! - the most linear memory one call took (the instance's memory, which
//!   `memory_mb` caps).
//!
//! p50 and p95 over `DROVER_BENCH_CALLS` calls (default 300) after 20 warm-up
//! calls. Components: the bundled Rust plugin (`livy-rust`, or `livy` where
//! that is the Rust one); the Python one from `DROVER_BENCH_PYTHON_WASM` or
//! plugins/livy-py/livy.wasm; the JavaScript one from `DROVER_BENCH_JS_WASM`,
//! or built from plugins/livy-js with npm when npm is there. A component that
//! is not there is reported as skipped.
//!
//! `cargo bench -p drover-e2e --bench plugin_calls`. See BENCHMARKS.md.

#[path = "../support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use drover_dag::{Application, DeployMode, Resources};
use drover_devcluster::{DevCluster, DevClusterConfig};
use drover_plugin_host::{Backend, Limits, PluginHost, Submitted};

const WARMUP: usize = 20;
/// Enough for any of the three languages' components.
const MEMORY_MB: usize = 256;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn calls() -> usize {
    std::env::var("DROVER_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

/// The Rust Livy plugin's bytes.
fn rust_component() -> Option<Vec<u8>> {
    drover_plugin_host::bundled::lookup("livy-rust").map(<[u8]>::to_vec).or_else(|| {
        // Before the Python plugin took the name, `livy` was the Rust one.
        Some(drover_plugin_host::bundled::LIVY.to_vec())
    })
}

fn python_component() -> Option<(Vec<u8>, String)> {
    let path = std::env::var_os("DROVER_BENCH_PYTHON_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("plugins/livy-py/livy.wasm"));
    std::fs::read(&path).ok().map(|b| (b, path.display().to_string()))
}

/// The JavaScript plugin: a given file, or plugins/livy-js built in a temp
/// copy (`npm ci && npm run build`), the first `.wasm` the build leaves.
fn js_component(tmp: &Path) -> Result<(Vec<u8>, String), String> {
    if let Some(path) = std::env::var_os("DROVER_BENCH_JS_WASM") {
        let path = PathBuf::from(path);
        return std::fs::read(&path).map(|b| (b, path.display().to_string())).map_err(|e| e.to_string());
    }
    let src = repo().join("plugins/livy-js");
    if !src.join("package.json").is_file() {
        return Err("plugins/livy-js is not there".into());
    }
    let dir = tmp.join("livy-js");
    copy_dir(&src, &dir).map_err(|e| format!("copy: {e}"))?;
    for args in [&["ci", "--no-audit", "--no-fund", "--loglevel=error"][..], &["run", "build"][..]] {
        let out = Command::new("npm").args(args).current_dir(&dir).output().map_err(|e| format!("npm: {e}"))?;
        if !out.status.success() {
            return Err(format!("npm {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)));
        }
    }
    let wasm = find_wasm(&dir).ok_or("the build left no .wasm")?;
    std::fs::read(&wasm).map(|b| (b, "plugins/livy-js (built)".to_string())).map_err(|e| e.to_string())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let name = e.file_name();
        if name == "node_modules" {
            continue;
        }
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to.join(&name))?;
        } else {
            std::fs::copy(e.path(), to.join(&name))?;
        }
    }
    Ok(())
}

fn find_wasm(dir: &Path) -> Option<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            let p = e.path();
            if p.is_dir() && e.file_name() != "node_modules" {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "wasm") {
                return Some(p);
            }
        }
    }
    None
}

fn app(resource: &Path) -> Application {
    Application {
        name: "bench".into(),
        resource: resource.display().to_string(),
        main_class: None,
        args: vec![],
        conf: Default::default(),
        deploy_mode: DeployMode::Cluster,
        driver: Resources { memory_mb: Some(512), cores: Some(1), instances: None },
        executor: Resources::default(),
        jars: vec![],
        files: vec![],
        py_files: vec![],
        env: Default::default(),
        proxy_user: None,
    }
}

/// p50 and p95 of `samples`, in microseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.95))
}

async fn time<F, Fut, T, E>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    for _ in 0..WARMUP {
        f().await.unwrap_or_else(|e| panic!("warm-up call failed: {e}"));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await.unwrap_or_else(|e| panic!("call failed: {e}"));
        out.push(t.elapsed());
    }
    out
}

struct Row {
    lang: &'static str,
    source: String,
    size: usize,
    compile: Duration,
    cached_load: Duration,
    validate: (f64, f64),
    status: (f64, f64),
    http: (f64, f64),
    memory_peak: u64,
}

async fn measure(lang: &'static str, source: String, bytes: &[u8], cluster: &DevCluster, work: &Path) -> Row {
    let limits = Limits { memory_bytes: MEMORY_MB << 20, ..Limits::default() };
    // Compile with no cache: what a first start pays.
    let host = PluginHost::new(limits, None).expect("host");
    let plugin = host.load(lang, bytes).await.unwrap_or_else(|e| panic!("{lang}: {e}"));
    let compile = plugin.compile_time();
    // Load from the artifact cache: what a restart pays.
    let cache = work.join(format!("cache-{lang}"));
    PluginHost::new(limits, Some(cache.clone())).unwrap().load(lang, bytes).await.unwrap();
    let cached = PluginHost::new(limits, Some(cache)).unwrap();
    let cached_load = cached.load(lang, bytes).await.unwrap().compile_time();

    let url = cluster.livy_url();
    let backend: Backend = host
        .backend(lang, plugin, vec![("url".into(), url.clone())], &[url.as_str()])
        .expect("backend");
    let script = support::drover::script(work, &format!("{lang}-long.sh"), "#!/bin/sh\nexec sleep 600\n");
    let application = app(&script);
    let id = match backend.submit(&format!("bench-{lang}"), &application).await.expect("submit") {
        Submitted::Cluster(id) => id,
        Submitted::Local(_) => panic!("Livy batches are cluster mode"),
    };

    let n = calls();
    let validate = percentiles(time(n, || backend.validate(&application)).await);
    let status = percentiles(time(n, || backend.status(&id)).await);
    // The same GET without a plugin: the HTTP part of a status call. A new
    // connection each time, as the sandbox's outgoing handler makes one per
    // request.
    let http_client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let get = format!("{url}/batches/{id}");
    let http = percentiles(
        time(n, || {
            let req = http_client.get(&get);
            async move { req.send().await?.bytes().await }
        })
        .await,
    );
    let memory_peak = backend.memory_peak_bytes();
    backend.kill(&id).await.expect("kill");
    Row {
        lang,
        source,
        size: bytes.len(),
        compile,
        cached_load,
        validate,
        status,
        http,
        memory_peak,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let work = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(DevClusterConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        work_dir: work.path().join("cluster"),
        ..DevClusterConfig::default()
    })
    .await
    .expect("stand-in");

    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    match rust_component() {
        Some(b) => rows.push(measure("rust", "bundled livy (plugins/livy)".into(), &b, &cluster, work.path()).await),
        None => skipped.push(("rust", "no bundled Rust Livy plugin".to_string())),
    }
    match python_component() {
        Some((b, src)) => rows.push(measure("python", src, &b, &cluster, work.path()).await),
        None => skipped.push(("python", "no plugins/livy-py/livy.wasm and no DROVER_BENCH_PYTHON_WASM".to_string())),
    }
    match js_component(work.path()) {
        Ok((b, src)) => rows.push(measure("js", src, &b, &cluster, work.path()).await),
        Err(why) => skipped.push(("js", why)),
    }
    cluster.shutdown().await;

    println!("## Plugin call cost ({} calls each, after {WARMUP} warm-up calls)\n", calls());
    println!("| language | component | compile | cached load | validate p50 / p95 | status p50 / p95 | HTTP GET alone (new connection) p50 / p95 | status minus HTTP p50 | memory per call |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.1} MiB ({}) | {:.0} ms | {:.1} ms | {:.0} / {:.0} µs | {:.0} / {:.0} µs | {:.0} / {:.0} µs | {:.0} µs | {:.1} MiB |",
            r.lang,
            r.size as f64 / f64::from(1u32 << 20),
            r.source,
            r.compile.as_secs_f64() * 1e3,
            r.cached_load.as_secs_f64() * 1e3,
            r.validate.0,
            r.validate.1,
            r.status.0,
            r.status.1,
            r.http.0,
            r.http.1,
            (r.status.0 - r.http.0).max(0.0),
            r.memory_peak as f64 / f64::from(1u32 << 20),
        );
    }
    for (lang, why) in skipped {
        println!("\n{lang}: skipped ({why})");
    }
}
