//! The host reads the contract version a component was built for from its
//! `drover:plugin/backend@VERSION` export, loads the versions it supports and
//! refuses any other at load time, naming both.

use drover_plugin_host::{HostError, Limits, PluginHost, SUPPORTED_CONTRACTS};
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
async fn bundled_plugins_are_built_for_a_supported_contract() {
    let host = host();
    for name in drover_plugin_host::bundled::NAMES {
        let plugin = host.load_named(name).await.expect("a bundled plugin loads");
        assert_eq!(plugin.contract_version(), "0.1.0", "{name}");
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
    assert!(text.contains("supported: 0.1.0"), "{text}");
}

#[tokio::test]
async fn a_component_without_the_backend_export_is_refused_saying_what_it_exports() {
    let wasm = component_exporting("wasi:http/incoming-handler@0.2.12");
    let text = host().load("proxy.wasm", &wasm).await.expect_err("not a plugin").to_string();
    assert!(text.contains("wasi:http/incoming-handler@0.2.12"), "{text}");
    assert!(text.contains("supported: 0.1.0"), "{text}");

    let wasm = component_exporting("drover:plugin/backend");
    let text = host().load("unversioned.wasm", &wasm).await.expect_err("no version").to_string();
    assert!(text.contains("without a version"), "{text}");
}
