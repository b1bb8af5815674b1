//! A deliberately bad plugin for drover's host tests: `submit` misbehaves in
//! the way `app.main_class` names, so each host safeguard (trap handling,
//! epoch deadline, memory cap, outbound allowlist, stderr capture) has a
//! component to prove itself against.

use std::hint::black_box;

use drover_plugin_sdk::http::{self, Method};
use drover_plugin_sdk::{
    Application, Backend, ConfigKey, DeployMode, DriverPhase, DriverStatus, Info, LogChunk,
    PluginError, Problem, Settings, Submitted,
};

pub const LOG: &[u8] = b"misbehave: line one\nmisbehave: line two\n";

pub struct Misbehave;

impl Backend for Misbehave {
    fn describe() -> Info {
        Info {
            name: "misbehave".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            deploy_modes: vec![DeployMode::Client, DeployMode::Cluster],
            config_keys: vec![ConfigKey::new(
                "url",
                "What `forbidden` tries to reach.",
                false,
            )],
        }
    }

    fn validate(_settings: &Settings, _app: &Application) -> Vec<Problem> {
        Vec::new()
    }

    fn find(_settings: &Settings, _key: &str) -> Result<Option<String>, PluginError> {
        Ok(None)
    }

    fn submit(
        settings: &Settings,
        _key: &str,
        app: &Application,
    ) -> Result<Submitted, PluginError> {
        match app.main_class.as_deref().unwrap_or_default() {
            "trap" => unreachable!("misbehave: told to trap"),
            "loop" => {
                let mut n = 0u64;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            "alloc" => {
                let big = black_box(vec![1u8; 1 << 30]);
                let last = big[big.len() - 1];
                Ok(Submitted::Cluster(format!("allocated-{last}")))
            }
            sized if sized.starts_with("alloc:") => {
                // `alloc:N`: N MiB, to tell one memory cap from another.
                let mib: usize = sized["alloc:".len()..].parse().unwrap_or(1);
                let big = black_box(vec![1u8; mib << 20]);
                let last = big[big.len() - 1];
                Ok(Submitted::Cluster(format!("allocated-{mib}-{last}")))
            }
            "forbidden" => {
                let url = settings.require("url")?;
                http::request(Method::Get, url, &[], None)?;
                Ok(Submitted::Cluster("reached".into()))
            }
            "post" => {
                // A request that changes state, like a real submission.
                let url = settings.require("url")?;
                http::request(Method::Post, url, &[("content-type", "application/json")], Some(b"{}".to_vec()))?;
                Ok(Submitted::Cluster("posted".into()))
            }
            "stderr" => {
                eprintln!("misbehave: about to fail");
                Err(PluginError::Rejected("told to fail".into()))
            }
            _ => Ok(Submitted::Cluster("misbehave-1".into())),
        }
    }

    fn status_many(
        _settings: &Settings,
        _ids: &[String],
    ) -> Result<Vec<Option<DriverStatus>>, PluginError> {
        Err(PluginError::Unsupported("no batch status yet".into()))
    }

    fn status(_settings: &Settings, _id: &str) -> Result<DriverStatus, PluginError> {
        Ok(DriverStatus {
            phase: DriverPhase::Succeeded,
            raw_state: "DONE".into(),
            attempt: None,
            location: None,
            message: None,
            tracking_url: None,
        })
    }

    fn kill(_settings: &Settings, _id: &str) -> Result<(), PluginError> {
        Ok(())
    }

    fn logs(
        _settings: &Settings,
        _id: &str,
        _stream: &str,
        offset: u64,
        max_bytes: u32,
    ) -> Result<LogChunk, PluginError> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(LOG.len());
        let end = start.saturating_add(max_bytes as usize).min(LOG.len());
        Ok(LogChunk {
            data: LOG[start..end].to_vec(),
            next_offset: end as u64,
            total: Some(LOG.len() as u64),
        })
    }
}

drover_plugin_sdk::export!(Misbehave);
