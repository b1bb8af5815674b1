//! drover's yarn plugin: not built yet; describes itself and refuses the rest.

use drover_plugin_sdk::bindings::Guest;
use drover_plugin_sdk::{
    Application, ConfigKey, DeployMode, DriverStatus, Info, LogChunk, PluginError, Problem, Submitted,
};

pub struct Plugin;

fn not_yet() -> PluginError {
    PluginError::Unsupported("the yarn plugin is not built yet".into())
}

impl Guest for Plugin {
    fn describe() -> Info {
        Info {
            name: "yarn".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            deploy_modes: vec![DeployMode::Client, DeployMode::Cluster],
            config_keys: vec![
                ConfigKey::new("rm_url", "The ResourceManager's web address, http://rm:8088.", true),
                ConfigKey::new("queue", "YARN queue; default \"default\".", false),
                ConfigKey::new("max_app_attempts", "ApplicationMaster attempts YARN may make; default 2.", false),
                ConfigKey::new("spark_submit", "The client-mode command, split on whitespace; default \"spark-submit\".", false),
                ConfigKey::new("user", "The user submitting (user.name); optional.", false),
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
