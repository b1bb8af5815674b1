//! drover's Apache Livy plugin: runs applications as Livy batches through
//! its REST API (`POST /batches`, `GET /batches/{id}`, `GET /batches?from&size`,
//! `DELETE /batches/{id}`, `GET /batches/{id}/log?from&size`).
//!
//! Livy runs spark-submit in cluster mode for a batch, so the only deploy
//! mode is `cluster`. drover's submission key is the batch's `name` (what
//! [`find`](Backend::find) matches in Livy's batch list; Livy also refuses a
//! second live batch of the same name) and the Spark property
//! `spark.drover.submissionKey`. Livy's batch log is lines of spark-submit
//! output in a stdout and a stderr section; drover reads each as bytes, one
//! newline per line.
//!
//! The wire format and state mapping live in [`api`], load-time checks in
//! [`validate`]; both are pure and tested on the host target. This file only
//! wires them to `wasi:http` through the SDK.

pub mod api;
pub mod validate;

use std::collections::BTreeMap;
use std::time::Instant;

use drover_plugin_sdk::batch;
use drover_plugin_sdk::http::{self, Method, Response};
use drover_plugin_sdk::{
    Application, Backend, ConfigKey, DeployMode, DriverStatus, Info, LogChunk, PluginError,
    Problem, Settings, Submitted,
};
use serde::de::DeserializeOwned;

use crate::api::{Batch, BatchList, BatchOptions, LogPage};

/// `GET /batches` pages `find` and `status_many` read at most.
pub const LIST_PAGES: usize = 50;

/// `GET /batches/{id}/log` pages one `logs` call reads at most.
pub const LOG_PAGES: usize = 100;

pub struct Plugin;

impl Backend for Plugin {
    fn describe() -> Info {
        Info {
            name: "livy".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            deploy_modes: vec![DeployMode::Cluster],
            config_keys: vec![
                ConfigKey::new(
                    "url",
                    "The Livy server's base URL, e.g. http://livy-server:8998.",
                    true,
                ),
                ConfigKey::new(
                    "proxy_user",
                    "The user Livy runs each batch as (proxyUser) when the application names no \
                     proxy_user; default: Livy's own.",
                    false,
                ),
                ConfigKey::new(
                    "queue",
                    "The YARN queue of each batch; default: spark.yarn.queue in the \
                     application's conf, else the cluster's.",
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
        let client = Client::new(settings)?;
        if app.deploy_mode != DeployMode::Cluster {
            return Err(PluginError::Invalid(format!(
                "deploy mode {} is not supported: {}",
                app.deploy_mode.as_str(),
                validate::DEPLOY_MODE
            )));
        }
        let opts = BatchOptions {
            proxy_user: settings.get("proxy_user").map(str::to_string),
            queue: settings.get("queue").map(str::to_string),
        };
        let body = serde_json::to_vec(&api::create_batch(key, app, &opts))
            .map_err(|e| PluginError::Invalid(format!("cannot encode the batch: {e}")))?;
        match client.call::<Batch>(Method::Post, "/batches", Some(body)) {
            Ok(batch) => Ok(Submitted::Cluster(batch.id.to_string())),
            // A live batch has the key as its name: an earlier try went through.
            Err(e) if api::is_duplicate_name(&e) => match client.find(key)? {
                Some(id) => Ok(Submitted::Cluster(id.to_string())),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    fn find(settings: &Settings, key: &str) -> Result<Option<String>, PluginError> {
        let client = Client::new(settings)?;
        Ok(client.find(key)?.map(|id| id.to_string()))
    }

    fn status(settings: &Settings, id: &str) -> Result<DriverStatus, PluginError> {
        let client = Client::new(settings)?;
        Ok(api::driver_status(&client.batch(api::parse_id(id)?)?))
    }

    /// Livy's batch list, page by page, until every requested batch has shown
    /// or the list ends; batches not shown are asked one by one, within a budget.
    fn status_many(
        settings: &Settings,
        ids: &[String],
    ) -> Result<Vec<Option<DriverStatus>>, PluginError> {
        let started = Instant::now();
        let client = Client::new(settings)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: BTreeMap<u64, usize> = ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| api::parse_id(id).ok().map(|n| (n, i)))
            .collect();
        let mut listed: Vec<Option<DriverStatus>> = vec![None; ids.len()];
        let mut seen = 0;
        let mut from = Some(0);
        for page in 0..LIST_PAGES {
            let Some(start) = from else { break };
            if seen == wanted.len() {
                break;
            }
            let reply = match client.list(start) {
                Ok(reply) => reply,
                Err(e) if page == 0 => return Err(e),
                // What the earlier pages showed stands; the rest is asked one by one.
                Err(_) => break,
            };
            for b in &reply.sessions {
                if let Some(&i) = wanted.get(&b.id)
                    && listed[i].is_none()
                {
                    listed[i] = Some(api::driver_status(b));
                    seen += 1;
                }
            }
            from = reply.next_from();
        }
        Ok(batch::resolve(
            ids,
            listed,
            batch::MAX_FALLBACKS,
            batch::clock_rotation(),
            batch::window_from(started),
            |id| Ok(api::driver_status(&client.batch(api::parse_id(id)?)?)),
        ))
    }

    fn kill(settings: &Settings, id: &str) -> Result<(), PluginError> {
        let client = Client::new(settings)?;
        let id = api::parse_id(id)?;
        client
            .call::<serde_json::Value>(Method::Delete, &format!("/batches/{id}"), None)
            .map(|_| ())
    }

    fn logs(
        settings: &Settings,
        id: &str,
        stream: &str,
        offset: u64,
        max_bytes: u32,
    ) -> Result<LogChunk, PluginError> {
        api::check_stream(stream)?;
        let client = Client::new(settings)?;
        let id = api::parse_id(id)?;
        // Livy pages by lines, both streams in one log: read from the first
        // line until the stream's bytes asked for are in hand or the log ends.
        let want = offset.saturating_add(u64::from(max_bytes));
        let mut lines: Vec<String> = Vec::new();
        let mut from = 0;
        let mut complete = false;
        for _ in 0..LOG_PAGES {
            let page: LogPage = client.call(
                Method::Get,
                &format!("/batches/{id}/log?from={from}&size={}", api::LOG_PAGE_LINES),
                None,
            )?;
            let got = page.log.len() as u64;
            lines.extend(page.log);
            from = page.from + got;
            let end = match page.total {
                Some(total) => from >= total,
                None => got < api::LOG_PAGE_LINES,
            };
            if got == 0 || end {
                complete = true;
                break;
            }
            if api::log_bytes(&api::stream_lines(&lines, stream)).len() as u64 >= want {
                break;
            }
        }
        let bytes = api::log_bytes(&api::stream_lines(&lines, stream));
        Ok(api::log_chunk(&bytes, offset, max_bytes, complete))
    }
}

/// Requests to one backend's Livy server.
struct Client<'a> {
    url: &'a str,
}

impl<'a> Client<'a> {
    fn new(settings: &'a Settings) -> Result<Self, PluginError> {
        let url = settings.require("url")?;
        http::parse_url(url)?;
        Ok(Client { url })
    }

    fn batch(&self, id: u64) -> Result<Batch, PluginError> {
        self.call(Method::Get, &format!("/batches/{id}"), None)
    }

    fn list(&self, from: u64) -> Result<BatchList, PluginError> {
        self.call(
            Method::Get,
            &format!("/batches?from={from}&size={}", api::PAGE_SIZE),
            None,
        )
    }

    /// The newest batch named `key`, reading the list page by page.
    fn find(&self, key: &str) -> Result<Option<u64>, PluginError> {
        let mut found = None;
        let mut from = Some(0);
        for _ in 0..LIST_PAGES {
            let Some(start) = from else { break };
            let page = self.list(start)?;
            found = found.max(api::find_in(&page.sessions, key));
            from = page.next_from();
        }
        Ok(found)
    }

    /// One exchange; a 2xx reply parsed as `T`, anything else mapped by its
    /// status with Livy's message quoted. Mutating calls carry
    /// `X-Requested-By`, which Livy wants when its CSRF protection is on.
    fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, PluginError> {
        let url = http::join(self.url, path);
        let mut headers: Vec<(&str, &str)> = vec![("accept", "application/json")];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        if method != Method::Get {
            headers.push(("x-requested-by", "drover"));
        }
        let reply: Response = http::request(method, &url, &headers, body)?;
        if reply.is_success() {
            reply.json(&url)
        } else {
            Err(reply.unparsed_error(&url, "not a success"))
        }
    }
}

drover_plugin_sdk::export!(Plugin);
