//! The host reads the contract version a component was built for from its
//! `drover:plugin/backend@VERSION` export, loads the versions it supports and
//! refuses any other at load time, naming both. A plugin built for 0.1.0
//! keeps working, and what 0.1.0 cannot carry (a proxy user) is refused by
//! the host instead of dropped on the way.

mod common;

use drover_dag::DeployMode;
use drover_plugin_host::{CallError, ErrorKind, HostError, Limits, PluginHost, Submitted, SUPPORTED_CONTRACTS};
use wasm_encoder::{Component, ComponentExportKind, ComponentExportSection, ComponentInstanceSection};

/// A component that exports an (empty) instance under `export`: just what
/// the host reads the contract version from.
fn component_exporting(export: &str) -> Vec<u8> {
    let mut instances = ComponentInstanceSection::new();
    instances.export_items::<&str, _>([]);
    let mut exports = ComponentExportSection::new();
    exports.export(export, ComponentExportKind::Instance, 0, None);
    let mut c = Component::new();
    c.section(&instances);
    c.section(&exports);
    c.finish()
}

fn host() -> PluginHost {
    PluginHost::new(Limits::default(), None).expect("plugin host")
}

#[tokio::test]
async fn bundled_plugins_are_built_for_the_current_contract() {
    let host = host();
    for name in drover_plugin_host::bundled::NAMES {
        let plugin = host.load_named(name).await.expect("a bundled plugin loads");
        assert_eq!(plugin.contract_version(), "0.2.0", "{name}");
        assert!(SUPPORTED_CONTRACTS.contains(&plugin.contract_version()));
    }
}

#[tokio::test]
async fn a_component_for_a_contract_version_that_does_not_exist_is_refused_naming_both() {
    let wasm = component_exporting("drover:plugin/backend@9.9.9");
    let err = host().load("future.wasm", &wasm).await.expect_err("9.9.9 is not supported");
    assert!(
        matches!(&err, HostError::UnsupportedContract { found, .. } if found == "9.9.9"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("future.wasm"), "{text}");
    assert!(text.contains("contract 9.9.9"), "{text}");
    assert!(text.contains("supported: 0.1.0, 0.2.0"), "{text}");
}

#[tokio::test]
async fn a_component_without_the_backend_export_is_refused_saying_what_it_exports() {
    let wasm = component_exporting("wasi:http/incoming-handler@0.2.12");
    let text = host().load("proxy.wasm", &wasm).await.expect_err("not a plugin").to_string();
    assert!(text.contains("wasi:http/incoming-handler@0.2.12"), "{text}");
    assert!(text.contains("supported: 0.1.0, 0.2.0"), "{text}");

    let wasm = component_exporting("drover:plugin/backend");
    let text = host().load("unversioned.wasm", &wasm).await.expect_err("no version").to_string();
    assert!(text.contains("without a version"), "{text}");
}

#[tokio::test]
async fn a_plugin_built_for_contract_0_1_0_still_loads_validates_and_submits() {
    let host = host();
    let plugin = host.load("old.wasm", drover_plugin_host::bundled::OLD_CONTRACT).await.expect("0.1.0 loads");
    assert_eq!(plugin.contract_version(), "0.1.0");
    assert_eq!(plugin.info().name, "old-contract");
    let backend = host.backend("old", plugin, vec![], &[]).unwrap();

    let mut app = common::app("nightly", None);
    app.deploy_mode = DeployMode::Client;
    assert!(backend.validate(&app).await.unwrap().is_empty());
    app.main_class = Some("refused".into());
    let problems = backend.validate(&app).await.unwrap();
    assert_eq!(problems.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), ["main_class"]);

    app.main_class = None;
    match backend.submit("k-1", &app).await.unwrap() {
        Submitted::Local(l) => assert_eq!((l.program.as_str(), l.args), ("echo", vec!["nightly".to_string(), "k-1".to_string()])),
        other => panic!("{other:?}"),
    }
    assert_eq!(backend.status("x").await.unwrap().raw_state, "DONE");
    assert!(matches!(backend.find("k-1").await, Err(e) if e.kind() == Some(ErrorKind::Unsupported)));
}

#[tokio::test]
async fn a_proxy_user_is_refused_for_a_0_1_0_plugin_which_could_not_carry_it() {
    let host = host();
    let plugin = host.load("old.wasm", drover_plugin_host::bundled::OLD_CONTRACT).await.unwrap();
    let backend = host.backend("old", plugin, vec![], &[]).unwrap();
    let mut app = common::app("nightly", Some("refused"));
    app.deploy_mode = DeployMode::Client;
    app.proxy_user = Some("analyst".into());

    // At DAG load: the plugin's own problems, and the host's on proxy_user.
    let problems = backend.validate(&app).await.unwrap();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["main_class", "proxy_user"]);
    let p = &problems[1];
    assert!(p.message.contains("old.wasm") && p.message.contains("contract 0.1.0"), "{p:?}");
    assert!(p.message.contains("\"analyst\""), "{p:?}");
    assert!(p.hint.contains("plugins/wit/drover-plugin@0.2.0"), "{p:?}");

    // At submission (a plugin file swapped since the DAG loaded): refused
    // for good, and the plugin never hears of the application.
    app.main_class = None;
    let err = backend.submit("k-1", &app).await.expect_err("refused");
    assert!(matches!(&err, CallError::Plugin { kind: ErrorKind::Invalid, .. }), "{err:?}");
    assert!(err.to_string().contains("contract 0.1.0"), "{err}");
    assert_eq!(
        backend.call_stats().iter().find(|s| s.call == "submit").map_or(0, |s| s.count),
        0,
        "the plugin was not called"
    );
}

#[tokio::test]
async fn a_0_2_0_plugin_receives_the_proxy_user() {
    // The Rust Livy plugin puts the application's proxy user in the batch;
    // its validate refuses one with white space, which it can only do if
    // the field reached it.
    let host = host();
    let plugin = host.load_named("livy-rust").await.unwrap();
    assert_eq!(plugin.contract_version(), "0.2.0");
    let backend = host.backend("livy", plugin, vec![("url".into(), "http://livy:8998".into())], &[]).unwrap();
    let mut app = common::app("nightly", None);
    app.proxy_user = Some("two words".into());
    let problems = backend.validate(&app).await.unwrap();
    assert!(problems.iter().any(|p| p.field == "proxy_user" && p.message.contains("white space")), "{problems:?}");
}
