//! drover's YARN plugin: submits Spark applications to a ResourceManager
//! through its REST API (cluster mode: the driver runs in the
//! ApplicationMaster, and YARN retries a failed AM up to max-app-attempts
//! times), or hands the host a `spark-submit --master yarn --deploy-mode
//! client` command (client mode), and tracks, kills, finds and reads the logs
//! of cluster-mode applications.
//!
//! The wire format lives in [`submit`] (what is sent), [`report`] (what comes
//! back) and [`logs`] (the NodeManager's container logs), all pure functions
//! tested on the host target; [`validate`] is what YARN would refuse. This
//! file only wires them to `wasi:http` through the SDK.

pub mod logs;
pub mod report;
pub mod submit;
pub mod validate;
#[cfg(test)]
mod submit_flags;

use std::time::Instant;

use drover_plugin_sdk::batch;
use drover_plugin_sdk::http::{self, Method, Response};
use drover_plugin_sdk::spark::spark_submit_command;
use drover_plugin_sdk::{
    Application, Backend, ConfigKey, DeployMode, DriverStatus, Info, LogChunk, PluginError,
    Problem, Settings, Submitted,
};

use crate::report::{AppInfo, AppReply, AppsReply, AttemptsReply};
use crate::submit::{NewApplication, SUBMISSION_KEY_PROPERTY};

const JSON: (&str, &str) = ("accept", "application/json");

pub struct Yarn;

impl Backend for Yarn {
    fn describe() -> Info {
        Info {
            name: "yarn".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            deploy_modes: vec![DeployMode::Client, DeployMode::Cluster],
            config_keys: vec![
                ConfigKey::new(
                    "rm_url",
                    "The ResourceManager's web address, http://rm:8088.",
                    true,
                ),
                ConfigKey::new(
                    "queue",
                    "YARN queue; default \"default\". conf spark.yarn.queue (--queue) wins.",
                    false,
                ),
                ConfigKey::new(
                    "max_app_attempts",
                    "ApplicationMaster attempts YARN may make; default 2. conf \
                     spark.yarn.maxAppAttempts wins.",
                    false,
                ),
                drover_plugin_sdk::spark::spark_submit_key(),
                ConfigKey::new(
                    "user",
                    "The user submitting: sent as user.name on every request (simple auth) and \
                     as SPARK_USER to the AM; optional.",
                    false,
                ),
                ConfigKey::new(
                    "rm_address",
                    "The ResourceManager's RPC address, rm:8032, for client-mode spark-submit \
                     (spark.hadoop.yarn.resourcemanager.address); default: HADOOP_CONF_DIR's yarn-site.xml.",
                    false,
                ),
            ],
        }
    }

    fn validate(settings: &Settings, app: &Application) -> Vec<Problem> {
        validate::problems(settings, app)
    }

    fn submit(
        settings: &Settings,
        key: &str,
        app: &Application,
    ) -> Result<Submitted, PluginError> {
        let rm_url = rm_url(settings)?;
        match app.deploy_mode {
            DeployMode::Client => {
                let spark_submit = drover_plugin_sdk::spark::spark_submit_program(settings);
                let webapp = http::parse_url(rm_url)?.authority;
                let mut conf = vec![
                    (
                        "spark.hadoop.yarn.resourcemanager.webapp.address".to_string(),
                        webapp,
                    ),
                    (
                        "spark.yarn.queue".to_string(),
                        submit::queue(settings, app).to_string(),
                    ),
                    (
                        "spark.yarn.maxAppAttempts".to_string(),
                        submit::max_app_attempts(settings, app)?.to_string(),
                    ),
                    ("spark.yarn.tags".to_string(), submit::spark_yarn_tags(key)),
                    (SUBMISSION_KEY_PROPERTY.to_string(), key.to_string()),
                ];
                if let Some(address) = settings.get("rm_address") {
                    conf.push((
                        "spark.hadoop.yarn.resourcemanager.address".into(),
                        address.into(),
                    ));
                }
                Ok(Submitted::Local(spark_submit_command(
                    spark_submit,
                    "yarn",
                    "client",
                    app,
                    &conf,
                )))
            }
            DeployMode::Cluster => {
                let url = as_proxy(app, rm(settings, "/ws/v1/cluster/apps/new-application")?);
                let reply = http::request(Method::Post, &url, &[JSON], None)?;
                let new: NewApplication = ok(&reply, &url)?.json(&url)?;
                let context =
                    submit::submission_context(settings, &new.application_id, key, app)?;
                let body = serde_json::to_vec(&context).map_err(|e| {
                    PluginError::Invalid(format!("cannot encode the submission: {e}"))
                })?;
                let url = submission_url(settings, app)?;
                let reply = http::request(
                    Method::Post,
                    &url,
                    &[("content-type", "application/json"), JSON],
                    Some(body),
                )?;
                ok(&reply, &url)?;
                Ok(Submitted::Cluster(new.application_id))
            }
            DeployMode::Service => Err(PluginError::Invalid(validate::SERVICE_MODE.into())),
        }
    }

    fn find(settings: &Settings, key: &str) -> Result<Option<String>, PluginError> {
        let tag = submit::tag(key);
        let url = rm(
            settings,
            &format!(
                "/ws/v1/cluster/apps?applicationTags={}",
                http::encode_component(&tag)
            ),
        )?;
        let reply = http::request(Method::Get, &url, &[JSON], None)?;
        let apps: AppsReply = ok(&reply, &url)?.json(&url)?;
        Ok(report::find_by_tag(apps, &tag))
    }

    /// One `GET /ws/v1/cluster/apps?applicationTags=drover` for every id
    /// (every submission carries the common tag); ids it does not list
    /// (submitted before the common tag, or gone from the RM) are asked one
    /// by one through `status`, within a budget.
    fn status_many(
        settings: &Settings,
        ids: &[String],
    ) -> Result<Vec<Option<DriverStatus>>, PluginError> {
        let started = Instant::now();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let url = rm(
            settings,
            &format!(
                "/ws/v1/cluster/apps?applicationTags={}",
                http::encode_component(submit::COMMON_TAG)
            ),
        )?;
        let reply = http::request(Method::Get, &url, &[JSON], None)?;
        let apps: AppsReply = ok(&reply, &url)?.json(&url)?;
        let listed = report::listed_statuses(&apps, ids);
        Ok(batch::resolve(
            ids,
            listed,
            batch::MAX_FALLBACKS,
            batch::clock_rotation(),
            batch::window_from(started),
            |id| status(settings, id),
        ))
    }

    fn status(settings: &Settings, id: &str) -> Result<DriverStatus, PluginError> {
        status(settings, id)
    }

    fn kill(settings: &Settings, id: &str) -> Result<(), PluginError> {
        let url = rm(
            settings,
            &format!("/ws/v1/cluster/apps/{}/state", http::encode_component(id)),
        )?;
        // 202: the kill is under way; 200: done (or the app had ended already).
        let reply = http::request(
            Method::Put,
            &url,
            &[("content-type", "application/json"), JSON],
            Some(br#"{"state":"KILLED"}"#.to_vec()),
        )?;
        ok(&reply, &url).map(|_| ())
    }

    fn logs(
        settings: &Settings,
        id: &str,
        stream: &str,
        offset: u64,
        max_bytes: u32,
    ) -> Result<LogChunk, PluginError> {
        logs::check_stream(stream)?;
        let app = app_report(settings, id)?;
        let Some(am_logs) = app
            .am_container_logs
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        else {
            // No AM container yet: nothing to read so far.
            return Ok(LogChunk {
                data: Vec::new(),
                next_offset: offset,
                total: None,
            });
        };
        let url = with_user(settings, logs::log_url(am_logs, stream, offset, max_bytes)?);
        let reply = http::request(Method::Get, &url, &[], None)?;
        logs::parse_log(&ok(&reply, &url)?.body, offset, &url)
    }
}

fn rm_url(settings: &Settings) -> Result<&str, PluginError> {
    let url = settings.require("rm_url")?;
    http::parse_url(url)?;
    Ok(url)
}

/// Where the submission context is posted: `POST /ws/v1/cluster/apps`, as
/// the proxy user when the application names one.
pub(crate) fn submission_url(settings: &Settings, app: &Application) -> Result<String, PluginError> {
    Ok(as_proxy(app, rm(settings, "/ws/v1/cluster/apps")?))
}

/// Hadoop's proxy-user impersonation, spark-submit's `--proxy-user` over
/// REST: `doAs=<user>` asks the ResourceManager to act for that user (its
/// `hadoop.proxyuser.<submitter>.*` settings must allow the submitter).
fn as_proxy(app: &Application, url: String) -> String {
    match &app.proxy_user {
        Some(user) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}doAs={}", http::encode_component(user))
        }
        None => url,
    }
}

/// `path` on the ResourceManager, with `user.name` when the backend names a user.
fn rm(settings: &Settings, path: &str) -> Result<String, PluginError> {
    Ok(with_user(settings, http::join(rm_url(settings)?, path)))
}

/// Hadoop's simple (pseudo) authentication: the user rides in the query.
fn with_user(settings: &Settings, url: String) -> String {
    match settings.get("user") {
        Some(user) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}user.name={}", http::encode_component(user))
        }
        None => url,
    }
}

/// The reply if it is a 2xx, else the RM's error.
fn ok<'r>(reply: &'r Response, url: &str) -> Result<&'r Response, PluginError> {
    if reply.is_success() {
        Ok(reply)
    } else {
        Err(report::error_from(reply, url))
    }
}

fn status(settings: &Settings, id: &str) -> Result<DriverStatus, PluginError> {
    let app = app_report(settings, id)?;
    // The attempt number is extra: a failed attempts call must not fail a status.
    let url = rm(
        settings,
        &format!(
            "/ws/v1/cluster/apps/{}/appattempts",
            http::encode_component(id)
        ),
    )?;
    let attempts = http::request(Method::Get, &url, &[JSON], None)
        .ok()
        .filter(Response::is_success)
        .and_then(|r| r.json::<AttemptsReply>(&url).ok());
    report::driver_status(&app, attempts.as_ref())
}

fn app_report(settings: &Settings, id: &str) -> Result<AppInfo, PluginError> {
    let url = rm(
        settings,
        &format!("/ws/v1/cluster/apps/{}", http::encode_component(id)),
    )?;
    let reply = http::request(Method::Get, &url, &[JSON], None)?;
    let parsed: AppReply = ok(&reply, &url)?.json(&url)?;
    Ok(parsed.app)
}

drover_plugin_sdk::export!(Yarn);

#[cfg(test)]
mod tests {
    use drover_plugin_sdk::testing::{app, settings};

    use super::submission_url;

    #[test]
    fn a_proxy_user_is_asked_for_with_do_as_beside_the_submitting_user() {
        let s = settings(&[("rm_url", "http://rm:8088"), ("user", "drover")]);
        let mut a = app();
        assert_eq!(submission_url(&s, &a).unwrap(), "http://rm:8088/ws/v1/cluster/apps?user.name=drover");
        a.proxy_user = Some("ana lyst".into());
        assert_eq!(
            submission_url(&s, &a).unwrap(),
            "http://rm:8088/ws/v1/cluster/apps?user.name=drover&doAs=ana%20lyst"
        );
    }
}
