//! drover's kubernetes plugin: not built yet; describes itself and refuses the rest.

use drover_plugin_sdk::bindings::Guest;
use drover_plugin_sdk::{
    Application, DeployMode, DriverStatus, Info, LogChunk, PluginError, Problem, Submitted,
};

pub struct Plugin;

fn not_yet() -> PluginError {
    PluginError::Unsupported("the kubernetes plugin is not built yet".into())
}

impl Guest for Plugin {
    fn describe() -> Info {
        Info {
            name: "kubernetes".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            deploy_modes: vec![DeployMode::Client, DeployMode::Cluster],
            config_keys: vec![],
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
