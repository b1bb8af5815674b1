//! `Backend::reload`: a backend whose plugin is a `.wasm` file takes a new
//! component only when it loads and still fits the backend's settings; the
//! refusal is kept on the backend until a good file comes back.

use std::collections::BTreeMap;

use drover_plugin_host::config::SettingValue;
use drover_plugin_host::{BackendConfig, BackendSet, Limits, PluginHost, Reload, bundled};

fn livy_config(file: &std::path::Path) -> BTreeMap<String, BackendConfig> {
    let cfg = BackendConfig {
        plugin: file.display().to_string(),
        settings: BTreeMap::from([("url".to_string(), SettingValue::Text("http://127.0.0.1:1".into()))]),
        secret_env: BTreeMap::new(),
        allowed_hosts: None,
        max_calls_per_second: 0,
        ca_file: None,
        memory_mb: None,
        call_timeout: None,
        max_running_drivers: None,
        staging: None,
    };
    BTreeMap::from([("b".to_string(), cfg)])
}

#[tokio::test]
async fn a_plugin_file_is_reloaded_only_when_the_new_component_fits() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.wasm");
    std::fs::write(&file, bundled::LIVY_RUST).unwrap();
    let host = PluginHost::new(Limits::default(), None).unwrap();
    let (set, errors) = BackendSet::build(&host, &livy_config(&file), |_| None).await;
    assert!(errors.is_empty(), "{errors:?}");
    let b = set.get("b").unwrap();
    assert_eq!(b.plugin_file(), Some(file.as_path()));
    let first = b.plugin();

    // The same bytes: nothing to do.
    assert!(matches!(b.reload(&host).await, Reload::Unchanged));

    // Not a component: refused, the one in use stays.
    std::fs::write(&file, b"garbage").unwrap();
    let Reload::Refused(err) = b.reload(&host).await else { panic!("garbage is refused") };
    assert_eq!(err.file, file);
    assert_eq!(b.plugin().digest(), first.digest());
    assert_eq!(b.reload_error().as_ref().map(|e| &e.message), Some(&err.message));

    // A real component that does not know the backend's `url` setting.
    std::fs::write(&file, bundled::SPARK_STANDALONE).unwrap();
    let Reload::Refused(err) = b.reload(&host).await else { panic!("a plugin without `url` is refused") };
    assert!(err.message.contains("does not know the setting `url`"), "{}", err.message);
    assert_eq!(b.plugin().digest(), first.digest());

    // A missing file: refused with the reason.
    std::fs::remove_file(&file).unwrap();
    let Reload::Refused(err) = b.reload(&host).await else { panic!("a missing file is refused") };
    assert!(err.message.contains("cannot read"), "{}", err.message);

    // The good file back: no refusal any more.
    std::fs::write(&file, bundled::LIVY_RUST).unwrap();
    assert!(matches!(b.reload(&host).await, Reload::Unchanged));
    assert!(b.reload_error().is_none());
}

#[tokio::test]
async fn a_bundled_plugin_has_no_file_to_reload() {
    let host = PluginHost::new(Limits::default(), None).unwrap();
    let mut configs = livy_config(std::path::Path::new("x"));
    configs.get_mut("b").unwrap().plugin = "livy-rust".into();
    let (set, errors) = BackendSet::build(&host, &configs, |_| None).await;
    assert!(errors.is_empty(), "{errors:?}");
    let b = set.get("b").unwrap();
    assert_eq!(b.plugin_file(), None);
    assert!(matches!(b.reload(&host).await, Reload::Unchanged));
}
