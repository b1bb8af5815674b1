//! The Spark application a task submits: as written (templates unrendered) and rendered.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::template::{self, RenderContext, RenderError};

/// How the driver runs, in spark-submit's terms, plus `service` for managers that run the
/// whole application for you (serverless offerings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployMode {
    Client,
    Cluster,
    Service,
}

impl DeployMode {
    pub const ALL: [DeployMode; 3] = [DeployMode::Client, DeployMode::Cluster, DeployMode::Service];

    pub fn as_str(self) -> &'static str {
        match self {
            DeployMode::Client => "client",
            DeployMode::Cluster => "cluster",
            DeployMode::Service => "service",
        }
    }
}

impl fmt::Display for DeployMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown deploy mode \"{0}\" (expected client, cluster or service)")]
pub struct ParseDeployModeError(pub String);

impl FromStr for DeployMode {
    type Err = ParseDeployModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeployMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| ParseDeployModeError(s.to_string()))
    }
}

/// Driver or executor sizing. `None` leaves the choice to the cluster manager.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub memory_mb: Option<u32>,
    pub cores: Option<u32>,
    pub instances: Option<u32>,
}

/// The application as written, with templates unrendered. Local paths are already absolute.
/// The same fields as [`Application`]; only [`ApplicationTemplate::render`] turns one into
/// the other, so a plugin never receives an unrendered template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApplicationTemplate(pub Application);

impl std::ops::Deref for ApplicationTemplate {
    type Target = Application;
    fn deref(&self) -> &Application {
        &self.0
    }
}

/// Rendered, ready for a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub name: String,
    pub resource: String,
    pub main_class: Option<String>,
    pub args: Vec<String>,
    pub conf: BTreeMap<String, String>,
    pub deploy_mode: DeployMode,
    pub driver: Resources,
    pub executor: Resources,
    pub jars: Vec<String>,
    pub files: Vec<String>,
    pub py_files: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// spark-submit's `--proxy-user`: the user the application runs as.
    /// Not a Spark property, so a field of its own (contract 0.2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_user: Option<String>,
}

impl ApplicationTemplate {
    /// Renders every templated string (all strings but map keys). The first failure is
    /// returned, naming the field it is in.
    pub fn render(&self, ctx: &RenderContext) -> Result<Application, RenderError> {
        let r = template::Renderer::new(ctx);
        let list = |field: &str, items: &[String]| -> Result<Vec<String>, RenderError> {
            items
                .iter()
                .enumerate()
                .map(|(i, s)| r.render(&format!("{field}[{i}]"), s))
                .collect()
        };
        let map = |field: &str,
                   items: &BTreeMap<String, String>|
         -> Result<BTreeMap<String, String>, RenderError> {
            items
                .iter()
                .map(|(k, v)| Ok((k.clone(), r.render(&format!("{field}.{k}"), v)?)))
                .collect()
        };
        Ok(Application {
            name: r.render("name", &self.name)?,
            resource: r.render("resource", &self.resource)?,
            main_class: self
                .main_class
                .as_deref()
                .map(|m| r.render("main_class", m))
                .transpose()?,
            args: list("args", &self.args)?,
            conf: map("conf", &self.conf)?,
            deploy_mode: self.deploy_mode,
            driver: self.driver.clone(),
            executor: self.executor.clone(),
            jars: list("jars", &self.jars)?,
            files: list("files", &self.files)?,
            py_files: list("py_files", &self.py_files)?,
            env: map("env", &self.env)?,
            proxy_user: self
                .proxy_user
                .as_deref()
                .map(|u| r.render("proxy_user", u))
                .transpose()?,
        })
    }
}

/// What validation needs to know about backends; implemented by the plugin host, which asks
/// each backend's plugin. Kept as a trait so this crate stays free of wasmtime.
pub trait Backends {
    /// Every configured backend name, for hints.
    fn names(&self) -> Vec<String>;
    /// Deploy modes the backend's plugin supports; `None` when the backend is unknown.
    fn deploy_modes(&self, backend: &str) -> Option<Vec<DeployMode>>;
    /// Whatever the plugin objects to in an application. Only asked for known backends and
    /// supported deploy modes.
    fn check_application(&self, backend: &str, app: &ApplicationTemplate) -> Vec<AppProblem>;
    /// The notifiers of the config file a DAG may name (`on_failure`, ...);
    /// none unless the catalog is wrapped in [`WithNotifiers`].
    fn notifiers(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Backends plus the config file's notifier names: what a DAG is checked
/// against when it may name notifiers.
pub struct WithNotifiers<'a> {
    pub backends: &'a dyn Backends,
    pub notifiers: &'a [String],
}

impl Backends for WithNotifiers<'_> {
    fn names(&self) -> Vec<String> {
        self.backends.names()
    }
    fn deploy_modes(&self, backend: &str) -> Option<Vec<DeployMode>> {
        self.backends.deploy_modes(backend)
    }
    fn check_application(&self, backend: &str, app: &ApplicationTemplate) -> Vec<AppProblem> {
        self.backends.check_application(backend, app)
    }
    fn notifiers(&self) -> Vec<String> {
        self.notifiers.to_vec()
    }
}

/// A plugin's objection to an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppProblem {
    /// Dotted path in the application table: "deploy_mode", "resource", "conf.spark.x",
    /// "driver.memory", "args". Used to point at the right line.
    pub field: String,
    pub message: String,
    pub hint: String,
}
