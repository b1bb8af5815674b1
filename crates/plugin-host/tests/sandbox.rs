//! The sandbox holds: a plugin that traps, loops forever, allocates 1 GiB or
//! calls a host it may not reach fails that one call with a clear error, and
//! the host keeps serving calls afterwards.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_plugin_host::bundled::MISBEHAVE;
use drover_dag::Application;
use drover_plugin_host::{Backend, CallError, ErrorKind, Limits, Plugin, PluginHost, Submitted};

fn app(behaviour: &str) -> Application {
    common::app("sandbox", Some(behaviour))
}

async fn setup(timeout: Duration) -> (PluginHost, Arc<Plugin>) {
    let host = PluginHost::new(
        Limits {
            call_timeout: timeout,
            memory_bytes: 64 << 20,
        },
        None,
    )
    .expect("engine");
    let plugin = host.load("misbehave", MISBEHAVE).await.expect("misbehave loads");
    (host, plugin)
}

fn backend(host: &PluginHost, plugin: Arc<Plugin>, url: &str, allowed: &[&str]) -> Backend {
    host.backend("sandbox", plugin, vec![("url".into(), url.into())], allowed)
        .expect("backend")
}

/// After any failure, an ordinary call on the same host must still work.
async fn still_works(b: &Backend) {
    match b.submit("key-ok", &app("ok")).await {
        Ok(Submitted::Cluster(id)) => assert_eq!(id, "misbehave-1"),
        other => panic!("host unusable after a failure: {other:?}"),
    }
}

#[tokio::test]
async fn a_trapping_plugin_fails_the_call_and_the_host_keeps_working() {
    let (host, plugin) = setup(Duration::from_secs(10)).await;
    let b = backend(&host, plugin, "http://127.0.0.1:9/", &[]);
    let err = b.submit("k", &app("trap")).await.expect_err("trap must fail");
    match &err {
        CallError::Trapped { plugin, call, .. } => {
            assert_eq!(plugin, "misbehave");
            assert_eq!(*call, "submit");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert!(err.to_string().contains("crashed in `submit`"), "{err}");
    assert!(!err.is_retryable());
    still_works(&b).await;
}

#[tokio::test]
async fn a_plugin_looping_forever_is_stopped_at_its_deadline() {
    let (host, plugin) = setup(Duration::from_millis(500)).await;
    let b = backend(&host, plugin, "http://127.0.0.1:9/", &[]);
    let started = Instant::now();
    let err = b.submit("k", &app("loop")).await.expect_err("loop must be stopped");
    assert!(matches!(err, CallError::TimedOut { call: "submit", .. }), "{err:?}");
    assert!(err.to_string().contains("did not finish `submit`"), "{err}");
    // Generous bound: only proves the loop did not run on indefinitely.
    assert!(started.elapsed() < Duration::from_secs(60));
    still_works(&b).await;
}

#[tokio::test]
async fn a_plugin_allocating_a_gibibyte_hits_its_memory_cap() {
    let (host, plugin) = setup(Duration::from_secs(10)).await;
    let b = backend(&host, plugin, "http://127.0.0.1:9/", &[]);
    let err = b.submit("k", &app("alloc")).await.expect_err("1 GiB must not fit in 64 MiB");
    assert!(
        matches!(err, CallError::OutOfMemory { limit_mb: 64, .. }),
        "expected out of memory, got {err:?}"
    );
    assert!(err.to_string().contains("memory limit of 64 MiB"), "{err}");
    still_works(&b).await;
}

#[tokio::test]
async fn a_plugin_calling_a_host_it_may_not_reach_is_denied() {
    // A real listener, so a leak through the policy would be noticed as success.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = tokio::spawn(async move { listener.accept().await.is_ok() });

    let (host, plugin) = setup(Duration::from_secs(10)).await;
    let url = format!("http://127.0.0.1:{port}/secret");
    let b = backend(&host, plugin, &url, &["127.0.0.1:1"]);
    let err = b.submit("k", &app("forbidden")).await.expect_err("must be denied");
    match &err {
        CallError::Denied { host, backend, .. } => {
            assert_eq!(host, &format!("127.0.0.1:{port}"));
            assert_eq!(backend, "sandbox");
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    assert!(err.to_string().contains("allowed_hosts"), "{err}");
    assert!(!err.is_retryable());
    assert!(!accepted.is_finished(), "the denied request reached the listener");
    accepted.abort();
    still_works(&b).await;
}

/// A server that reads each request, then resets the connection (linger 0,
/// then close): its port, and the task to abort.
async fn resetter() -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            sock.set_zero_linger().unwrap();
            drop(sock);
        }
    });
    (port, task)
}

/// Regression: a reset read "answered with broken HTTP:
/// ErrorCode::HttpProtocolError".
#[tokio::test]
async fn a_cluster_resetting_the_connection_is_named_in_words() {
    let (port, server) = resetter().await;
    let (host, plugin) = setup(Duration::from_secs(30)).await;
    let url = format!("http://127.0.0.1:{port}/v1/submissions/create");
    let b = backend(&host, plugin, &url, &["127.0.0.1"]);
    let err = b.submit("k", &app("forbidden")).await.expect_err("a reset must fail the call");
    let text = err.to_string();
    assert!(text.contains("connection reset by 127.0.0.1"), "{text}");
    assert!(!text.contains("ErrorCode"), "{text}");
    assert!(err.is_retryable(), "a reset is a transport failure: {err:?}");
    server.abort();
    still_works(&b).await;
}

/// Issue 9: a submission whose answer is lost to a reset may have been
/// applied, so it is reported in doubt (never as an unreachable cluster,
/// which the scheduler would simply submit to again).
#[tokio::test]
async fn a_reset_after_a_submission_was_sent_leaves_it_in_doubt() {
    let (port, server) = resetter().await;
    let (host, plugin) = setup(Duration::from_secs(30)).await;
    let url = format!("http://127.0.0.1:{port}/v1/submissions/create");
    let b = backend(&host, plugin, &url, &["127.0.0.1"]);
    let err = b.submit("k", &app("post")).await.expect_err("a reset must fail the call");
    let text = err.to_string();
    assert!(text.contains("connection reset by 127.0.0.1"), "{text}");
    assert!(text.contains("may have been applied"), "{text}");
    assert!(
        matches!(err, CallError::Plugin { kind: ErrorKind::InDoubt, .. }),
        "{err:?}"
    );
    server.abort();
}

#[tokio::test]
async fn a_cluster_refusing_connections_is_named_in_words() {
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (host, plugin) = setup(Duration::from_secs(30)).await;
    let b = backend(&host, plugin, &format!("http://127.0.0.1:{port}/"), &["127.0.0.1"]);
    let err = b.submit("k", &app("forbidden")).await.expect_err("nobody listens");
    assert!(err.to_string().contains("connection refused by 127.0.0.1"), "{err}");
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn plugin_stderr_is_captured_into_the_error() {
    let (host, plugin) = setup(Duration::from_secs(10)).await;
    let b = backend(&host, plugin, "http://127.0.0.1:9/", &[]);
    let err = b.submit("k", &app("trap")).await.expect_err("trap");
    // Rust guests print the panic message on stderr before trapping.
    let CallError::Trapped { stderr, .. } = err else { panic!("not a trap") };
    assert!(stderr.contains("panicked"), "stderr was: {stderr:?}");
}

#[tokio::test]
async fn components_are_compiled_once_and_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let host = PluginHost::new(Limits::default(), Some(dir.path().to_path_buf())).unwrap();
    let a = host.load("misbehave", MISBEHAVE).await.unwrap();
    let b = host.load("misbehave", MISBEHAVE).await.unwrap();
    assert!(Arc::ptr_eq(&a, &b), "same bytes must give the same compiled plugin");
    let artifacts: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(artifacts.len(), 1, "one artifact per component");
    // A new host (a restart) loads the artifact instead of compiling.
    let again = PluginHost::new(Limits::default(), Some(dir.path().to_path_buf())).unwrap();
    let c = again.load("misbehave", MISBEHAVE).await.unwrap();
    assert_eq!(c.info().name, "misbehave");
}
