//! drover's kubernetes plugin: not built yet; describes itself and refuses the rest.

use drover_plugin_sdk::bindings::Guest;
use drover_plugin_sdk::{
    Application, ConfigKey, DeployMode, DriverStatus, Info, LogChunk, PluginError, Problem, Submitted,
};

pub struct Plugin;

fn secret(name: &str, description: &str) -> ConfigKey {
    ConfigKey { name: name.into(), description: description.into(), required: false, secret: true }
}

fn not_yet() -> PluginError {
    PluginError::Unsupported("the kubernetes plugin is not built yet".into())
}

impl Guest for Plugin {
    fn describe() -> Info {
        Info {
            name: "kubernetes".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            deploy_modes: vec![DeployMode::Client, DeployMode::Cluster],
            config_keys: vec![
                ConfigKey::new("api_url", "The Kubernetes API server, https://host:6443.", true),
                ConfigKey::new("namespace", "Namespace of the driver pods; default \"default\".", false),
                secret("token", "Bearer token (a service account token)."),
                ConfigKey::new("image", "Spark container image of the driver.", false),
                ConfigKey::new("service_account", "Service account of the driver pod.", false),
                ConfigKey::new("spark_submit", "The client-mode command, split on whitespace; default \"spark-submit\".", false),
                ConfigKey::new("driver_pod_template", "JSON pod template merged into driver pods.", false),
                ConfigKey::new("executor_pod_template", "JSON pod template for executor pods.", false),
            ],
        }
    }

    fn validate(_settings: Vec<(String, String)>, _app: Application) -> Vec<Problem> {
        Vec::new()
    }

    fn submit(_: Vec<(String, String)>, _: String, _: Application) -> Result<Submitted, PluginError> {
        Err(not_yet())
    }

    fn find(_: Vec<(String, String)>, _: String) -> Result<Option<String>, PluginError> {
        Err(not_yet())
    }

    fn status(_: Vec<(String, String)>, _: String) -> Result<DriverStatus, PluginError> {
        Err(not_yet())
    }

    fn kill(_: Vec<(String, String)>, _: String) -> Result<(), PluginError> {
        Err(not_yet())
    }

    fn logs(_: Vec<(String, String)>, _: String, _: String, _: u64, _: u32) -> Result<LogChunk, PluginError> {
        Err(not_yet())
    }
}

drover_plugin_sdk::export!(Plugin);
