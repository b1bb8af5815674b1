//! drover's emr-serverless plugin: not built yet; describes itself and refuses the rest.

use drover_plugin_sdk::bindings::Guest;
use drover_plugin_sdk::{
    Application, ConfigKey, DeployMode, DriverStatus, Info, LogChunk, PluginError, Problem, Submitted,
};

pub struct Plugin;

fn secret(name: &str, description: &str) -> ConfigKey {
    ConfigKey { name: name.into(), description: description.into(), required: false, secret: true }
}

fn not_yet() -> PluginError {
    PluginError::Unsupported("the emr-serverless plugin is not built yet".into())
}

impl Guest for Plugin {
    fn describe() -> Info {
        Info {
            name: "emr-serverless".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            deploy_modes: vec![DeployMode::Service],
            config_keys: vec![
                ConfigKey::new("endpoint", "The service endpoint, https://emr-serverless.REGION.amazonaws.com.", true),
                ConfigKey::new("region", "AWS region, e.g. us-east-1.", true),
                ConfigKey::new("application_id", "The EMR Serverless application to run on.", true),
                ConfigKey::new("execution_role_arn", "IAM role the job runs as.", true),
                ConfigKey::new("access_key_id", "AWS access key id.", true),
                secret("secret_access_key", "AWS secret access key."),
                secret("session_token", "AWS session token, for temporary credentials."),
                ConfigKey::new("max_attempts", "retryPolicy.maxAttempts of each job run; default 1.", false),
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
