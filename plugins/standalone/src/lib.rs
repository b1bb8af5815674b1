//! drover's Spark standalone plugin: submits drivers through the master's REST
//! submission server (cluster mode) or hands the host a spark-submit command
//! (client mode), and tracks, kills and reads logs of cluster-mode drivers.
//!
//! The wire format lives in [`rest`], the log endpoint in [`logs`]; both are
//! pure functions over bytes and JSON so they are tested on the host target.
//! This file only wires them to `wasi:http` through the SDK.

pub mod logs;
pub mod master;
pub mod rest;
pub mod tracking;
pub mod validate;
#[cfg(test)]
mod submit_flags;

use std::time::Instant;

use drover_plugin_sdk::batch;
use drover_plugin_sdk::http::{self, Method};
use drover_plugin_sdk::spark::spark_submit_command;
use drover_plugin_sdk::{
    Application, Backend, ConfigKey, DeployMode, DriverStatus, Info, LogChunk, PluginError,
    Problem, Settings, Submitted,
};

use crate::rest::RestResponse;

/// The Spark property that carries drover's submission key on the driver.
pub const SUBMISSION_KEY_PROPERTY: &str = "spark.drover.submissionKey";

pub struct Standalone;

impl Backend for Standalone {
    fn describe() -> Info {
        Info {
            name: "spark-standalone".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            deploy_modes: vec![DeployMode::Client, DeployMode::Cluster],
            config_keys: vec![
                ConfigKey::new("master", "The master's URL, spark://host:7077.", true),
                ConfigKey::new(
                    "rest_url",
                    "The master's REST submission server, http://host:6066 \
                     (spark.master.rest.enabled=true); required for cluster mode.",
                    false,
                ),
                drover_plugin_sdk::spark::spark_submit_key(),
                ConfigKey::new(
                    "master_ui_url",
                    "The master's web UI, http://host:8080; enables driver logs, \
                     tracking links (each driver's page on its worker) and batch status \
                     (the workers' UIs must be allowed hosts too).",
                    false,
                ),
                ConfigKey::new(
                    "spark_version",
                    "clientSparkVersion sent with REST submissions; default \"4.0.0\".",
                    false,
                ),
                ConfigKey::new(
                    "supervise",
                    "Have the master relaunch a failed cluster-mode driver \
                     (spark.driver.supervise); default false.",
                    false,
                ),
            ],
        }
    }

    fn validate(settings: &Settings, app: &Application) -> Vec<Problem> {
        validate::problems(settings, app)
    }

    fn find(_settings: &Settings, _key: &str) -> Result<Option<String>, PluginError> {
        // The REST server has no lookup, and the master's JSON view shows no
        // driver properties (the app's own setAppName even replaces
        // spark.app.name), so a submission cannot be found by its key.
        Err(PluginError::Unsupported(
            "a Spark standalone master keeps no submission property it can be searched by".into(),
        ))
    }

    fn submit(
        settings: &Settings,
        key: &str,
        app: &Application,
    ) -> Result<Submitted, PluginError> {
        let master = settings.require("master")?;
        match app.deploy_mode {
            DeployMode::Client => {
                let spark_submit = drover_plugin_sdk::spark::spark_submit_program(settings);
                let key = [(SUBMISSION_KEY_PROPERTY.to_string(), key.to_string())];
                Ok(Submitted::Local(spark_submit_command(
                    spark_submit,
                    master,
                    "client",
                    app,
                    &key,
                )))
            }
            DeployMode::Cluster => {
                let rest_url = rest_url(settings)?;
                let request = rest::create_request(settings, master, key, app)?;
                let url = http::join(rest_url, "/v1/submissions/create");
                let reply = http::request(
                    Method::Post,
                    &url,
                    &[("content-type", "application/json;charset=UTF-8")],
                    Some(serde_json::to_vec(&request).map_err(|e| {
                        PluginError::Invalid(format!("cannot encode the submission: {e}"))
                    })?),
                )?;
                let parsed: RestResponse = reply.json(&url)?;
                rest::submission_id(reply.status, parsed).map(Submitted::Cluster)
            }
            DeployMode::Service => Err(PluginError::Invalid(validate::SERVICE_MODE.into())),
        }
    }

    /// One `GET {master_ui_url}/json/` for every id; ids it does not list
    /// (ended longer ago than the last 200 drivers, or unknown) and ERROR or
    /// FAILED drivers (whose exception only the REST status carries) are
    /// asked one by one through the REST status, within a budget.
    fn status_many(
        settings: &Settings,
        ids: &[String],
    ) -> Result<Vec<Option<DriverStatus>>, PluginError> {
        let started = Instant::now();
        let Some(ui) = settings.get("master_ui_url") else {
            return Err(PluginError::Unsupported(
                "set master_ui_url to read the status of many drivers at once".into(),
            ));
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let url = http::join(ui, "/json/");
        let reply = http::request(Method::Get, &url, &[("accept", "application/json")], None)?;
        if !reply.is_success() {
            return Err(reply.unparsed_error(&url, "not the master's JSON view"));
        }
        let state: master::MasterState = reply.json(&url)?;
        let listed = master::listed_statuses(&state, ids);
        let resolved = batch::resolve(
            ids,
            listed,
            batch::MAX_FALLBACKS,
            batch::clock_rotation(),
            batch::window_from(started),
            |id| status(settings, id).map(|(s, _)| s),
        );
        Ok(resolved
            .into_iter()
            .zip(ids)
            .map(|(st, id)| {
                st.map(|mut st| {
                    st.tracking_url = st
                        .tracking_url
                        .or_else(|| tracking::driver_link(&state, ui, id));
                    st
                })
            })
            .collect())
    }

    fn status(settings: &Settings, id: &str) -> Result<DriverStatus, PluginError> {
        status(settings, id).map(|(status, _)| status)
    }

    fn kill(settings: &Settings, id: &str) -> Result<(), PluginError> {
        let url = http::join(
            rest_url(settings)?,
            &format!("/v1/submissions/kill/{}", http::encode_component(id)),
        );
        let reply = http::request(Method::Post, &url, &[], None)?;
        let parsed: RestResponse = reply.json(&url)?;
        match rest::kill_outcome(reply.status, parsed) {
            Ok(()) => Ok(()),
            // The master says no when the driver is already gone; find out which.
            Err(refused) => match status(settings, id) {
                Ok((s, _)) if s.phase.is_terminal() => Ok(()),
                Err(PluginError::NotFound(m)) => Err(PluginError::NotFound(m)),
                _ => Err(refused),
            },
        }
    }

    fn logs(
        settings: &Settings,
        id: &str,
        stream: &str,
        offset: u64,
        max_bytes: u32,
    ) -> Result<LogChunk, PluginError> {
        let Some(ui) = settings.get("master_ui_url") else {
            return Err(PluginError::Unsupported(
                "set master_ui_url to read driver logs".into(),
            ));
        };
        logs::check_stream(stream)?;
        let (_, raw) = status(settings, id)?;
        let Some(worker_id) = raw.worker_id.filter(|w| !w.is_empty()) else {
            // Not placed on a worker yet: nothing to read so far.
            return Ok(LogChunk {
                data: Vec::new(),
                next_offset: offset,
                total: None,
            });
        };
        let master_url = http::join(ui, "/json/");
        let master: serde_json::Value = http::get_json(&master_url)?;
        let worker_ui = logs::worker_ui(&master, &worker_id, &master_url)?;
        let url = logs::log_url(&worker_ui, id, stream, offset, max_bytes);
        let reply = http::request(Method::Get, &url, &[], None)?;
        if !reply.is_success() {
            return Err(reply.unparsed_error(&url, "not a log page"));
        }
        logs::parse_log_page(&reply.body, &url)
    }
}

fn rest_url(settings: &Settings) -> Result<&str, PluginError> {
    let url = settings.require("rest_url")?;
    http::parse_url(url)?;
    Ok(url)
}

/// The driver's status, and the reply it came from (for the worker id).
fn status(settings: &Settings, id: &str) -> Result<(DriverStatus, RestResponse), PluginError> {
    let url = http::join(
        rest_url(settings)?,
        &format!("/v1/submissions/status/{}", http::encode_component(id)),
    );
    let reply = http::request(Method::Get, &url, &[("accept", "application/json")], None)?;
    let parsed: RestResponse = reply.json(&url)?;
    let status = rest::driver_status(id, reply.status, &parsed)?;
    Ok((status, parsed))
}

drover_plugin_sdk::export!(Standalone);

#[cfg(test)]
mod tests {
    use super::*;
    use drover_plugin_sdk::testing::settings;

    #[test]
    fn status_many_without_the_masters_ui_is_unsupported() {
        let settings = settings(&[("master", "spark://m:7077"), ("rest_url", "http://m:6066")]);
        assert!(matches!(
            Standalone::status_many(&settings, &["driver-1".into()]),
            Err(PluginError::Unsupported(m)) if m.contains("master_ui_url")
        ));
    }
}
