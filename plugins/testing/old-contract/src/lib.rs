//! A plugin built for contract 0.1.0 (`plugins/wit/drover-plugin@0.1.0`),
//! straight from the WIT and not through the SDK, which follows the current
//! contract: the host's tests prove with it that plugins built before 0.2.0
//! keep loading and running, and that the host refuses for them what 0.1.0
//! cannot carry (a proxy user).
//!
//! It runs nothing anywhere: `submit` hands back a client-mode launch of
//! `echo` with the application's name and the key, `validate` refuses a
//! main class named "refused", and the rest answer as a finished driver.

wit_bindgen::generate!({
    path: "../../wit/drover-plugin@0.1.0",
    world: "plugin",
});

use drover::plugin::types::{
    Application, DeployMode, DriverPhase, DriverStatus, Info, LocalLaunch, LogChunk, PluginError,
    Problem, Submitted,
};
use exports::drover::plugin::backend::Guest;

struct OldContract;

impl Guest for OldContract {
    fn describe() -> Info {
        Info {
            name: "old-contract".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            deploy_modes: vec![DeployMode::Client],
            config_keys: vec![],
        }
    }

    fn validate(_settings: Vec<(String, String)>, app: Application) -> Vec<Problem> {
        match app.main_class.as_deref() {
            Some("refused") => vec![Problem {
                field: "main_class".into(),
                message: "this plugin refuses the main class \"refused\"".into(),
                hint: "name another class".into(),
            }],
            _ => vec![],
        }
    }

    fn submit(_settings: Vec<(String, String)>, key: String, app: Application) -> Result<Submitted, PluginError> {
        Ok(Submitted::Local(LocalLaunch {
            program: "echo".into(),
            args: vec![app.name, key],
            env: vec![],
        }))
    }

    fn find(_settings: Vec<(String, String)>, _key: String) -> Result<Option<String>, PluginError> {
        Err(PluginError::Unsupported("client mode only".into()))
    }

    fn status(_settings: Vec<(String, String)>, _id: String) -> Result<DriverStatus, PluginError> {
        Ok(DriverStatus {
            phase: DriverPhase::Succeeded,
            raw_state: "DONE".into(),
            attempt: None,
            location: None,
            message: None,
            tracking_url: None,
        })
    }

    fn status_many(
        _settings: Vec<(String, String)>,
        _ids: Vec<String>,
    ) -> Result<Vec<Option<DriverStatus>>, PluginError> {
        Err(PluginError::Unsupported("no list endpoint".into()))
    }

    fn kill(_settings: Vec<(String, String)>, _id: String) -> Result<(), PluginError> {
        Ok(())
    }

    fn logs(
        _settings: Vec<(String, String)>,
        _id: String,
        _stream: String,
        offset: u64,
        _max_bytes: u32,
    ) -> Result<LogChunk, PluginError> {
        Ok(LogChunk { data: vec![], next_offset: offset, total: Some(0) })
    }
}

export!(OldContract);
