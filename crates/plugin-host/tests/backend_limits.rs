//! Each backend's sandbox limits come from its own `[backends.x]` table
//! (`memory_mb`, `call_timeout`), the host's limits being the defaults.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use drover_dag::Application;
use drover_plugin_host::bundled::MISBEHAVE;
use drover_plugin_host::{Backend, BackendConfig, BackendSet, CallError, Limits, PluginHost, Submitted};

fn app(behaviour: &str) -> Application {
    common::app("limits", Some(behaviour))
}

/// Builds backend `x` from a config table (as JSON; the file is TOML, the
/// fields the same) over a copy of the misbehave component, on a host with
/// today's default limits.
async fn configured(extra: serde_json::Value) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("misbehave.wasm");
    std::fs::write(&path, MISBEHAVE).unwrap();
    let mut table = serde_json::json!({ "plugin": path.to_str().unwrap() });
    table.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let cfg: BackendConfig = serde_json::from_value(table).expect("config parses");
    let host = PluginHost::new(Limits::default(), None).unwrap();
    let (set, errors) = BackendSet::build(&host, &BTreeMap::from([("x".to_string(), cfg)]), |_| None).await;
    assert!(errors.is_empty(), "{errors:?}");
    set.get("x").expect("backend x").clone()
}

#[tokio::test]
async fn defaults_are_todays_limits() {
    let b = configured(serde_json::json!({})).await;
    assert_eq!(b.limits().memory_bytes, 64 << 20);
    assert_eq!(b.limits().call_timeout, Duration::from_secs(30));
    // 32 MiB fits under the default cap.
    let out = b.submit("k", &app("alloc:32")).await.expect("32 MiB fits in 64");
    assert!(matches!(out, Submitted::Cluster(id) if id.starts_with("allocated-32")));
}

#[tokio::test]
async fn a_lower_memory_cap_refuses_what_the_default_allows() {
    let b = configured(serde_json::json!({ "memory_mb": 16 })).await;
    let err = b.submit("k", &app("alloc:32")).await.expect_err("32 MiB must not fit in 16");
    assert!(matches!(err, CallError::OutOfMemory { limit_mb: 16, .. }), "{err:?}");
    assert!(err.to_string().contains("memory limit of 16 MiB"), "{err}");
    // The backend keeps serving calls.
    assert!(b.submit("k", &app("ok")).await.is_ok());
}

#[tokio::test]
async fn a_raised_memory_cap_allows_more_and_still_holds() {
    let b = configured(serde_json::json!({ "memory_mb": 256 })).await;
    b.submit("k", &app("alloc:100")).await.expect("100 MiB fits in 256");
    let err = b.submit("k", &app("alloc")).await.expect_err("1 GiB must not fit in 256 MiB");
    assert!(matches!(err, CallError::OutOfMemory { limit_mb: 256, .. }), "{err:?}");
}

#[tokio::test]
async fn a_loop_is_stopped_at_the_backends_own_deadline() {
    let b = configured(serde_json::json!({ "call_timeout": "1s" })).await;
    assert_eq!(b.limits().call_timeout, Duration::from_secs(1));
    let started = Instant::now();
    let err = b.submit("k", &app("loop")).await.expect_err("loop must be stopped");
    match &err {
        CallError::TimedOut { call: "submit", after, .. } => assert_eq!(*after, Duration::from_secs(1)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(err.to_string().contains("within 1s"), "{err}");
    // Generous: far below the host's 30 s default, so the backend's own deadline applied.
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn bad_limits_are_refused_with_the_backend_named() {
    let parse = serde_json::from_value::<BackendConfig>(
        serde_json::json!({ "plugin": "x.wasm", "call_timeout": "soon" }),
    );
    let e = parse.expect_err("not a duration").to_string();
    assert!(e.contains("call_timeout `soon`"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("misbehave.wasm");
    std::fs::write(&path, MISBEHAVE).unwrap();
    let cfg: BackendConfig = serde_json::from_value(serde_json::json!({
        "plugin": path.to_str().unwrap(), "memory_mb": 0, "call_timeout": "0s"
    }))
    .unwrap();
    let host = PluginHost::new(Limits::default(), None).unwrap();
    let (set, errors) = BackendSet::build(&host, &BTreeMap::from([("x".to_string(), cfg)]), |_| None).await;
    assert!(set.get("x").is_none());
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|t| t.contains("backend `x`") && t.contains("memory_mb")), "{text:?}");
    assert!(text.iter().any(|t| t.contains("call_timeout")), "{text:?}");
}
