//! Backends as configured in drover's config file, resolved into callable
//! [`Backend`]s.
//!
//! ```toml
//! [backends.local]
//! plugin = "spark-standalone"            # a bundled plugin, or a path to a .wasm component
//! allowed_hosts = ["127.0.0.1:6066"]     # default: the hosts of the URL-valued settings
//! settings = { master = "spark://127.0.0.1:7077", rest_url = "http://127.0.0.1:6066" }
//! secret_env = { token = "SPARK_TOKEN" } # setting key -> environment variable
//! memory_mb = 128                        # sandbox memory cap per call; default 64
//! call_timeout = "30s"                   # deadline of one plugin call; default 30s
//!
//! [backends.local.staging]               # cluster mode: upload local files first
//! webhdfs = "http://namenode:9870"       # or s3 = URL and bucket = NAME (see `crate::staging`)
//! ```
//!
//! Secrets never live in DAG files or the config file: only the name of the
//! environment variable that holds them does.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::call::Backend;
use crate::engine::PluginHost;
use crate::policy::HostRule;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// Bundled plugin name or path to a `.wasm` component.
    pub plugin: String,
    #[serde(default)]
    pub settings: BTreeMap<String, SettingValue>,
    /// Setting key -> name of the environment variable holding its value.
    #[serde(default)]
    pub secret_env: BTreeMap<String, String>,
    /// `host` or `host:port` the plugin may reach. Default: the hosts of the
    /// settings whose values are http(s) URLs.
    pub allowed_hosts: Option<Vec<String>>,
    /// At most this many calls a second to the cluster (submit, status,
    /// kill, logs, find), however many drivers drover follows. 0: no limit.
    #[serde(default = "default_rate")]
    pub max_calls_per_second: u32,
    /// PEM file of the CA that signed the cluster's TLS certificate (e.g. a
    /// Kubernetes API server's); https requests of this backend then trust
    /// exactly it.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Linear memory cap of each call's sandbox, in MiB. Default: the host's
    /// ([`crate::Limits`], 64 MiB).
    #[serde(default)]
    pub memory_mb: Option<u32>,
    /// Wall-clock deadline of one call, HTTP requests included, as humantime
    /// text ("30s", "2m"). Default: the host's ([`crate::Limits`], 30 s).
    #[serde(default, deserialize_with = "humantime_opt")]
    pub call_timeout: Option<std::time::Duration>,
    /// At most this many of the backend's drivers at once, across every DAG
    /// and deploy mode: the cluster's own capacity. Read by the scheduler;
    /// none: no cap.
    #[serde(default)]
    pub max_running_drivers: Option<u32>,
    /// Where cluster-mode applications' local files are uploaded before
    /// submission ([`crate::staging`]); none: local files are not staged.
    #[serde(default)]
    pub staging: Option<crate::StagingConfig>,
}

fn humantime_opt<'de, D>(d: D) -> Result<Option<std::time::Duration>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("call_timeout `{text}`: {e} (write e.g. \"30s\" or \"2m\")")))
}

fn default_rate() -> u32 {
    50
}

/// Settings are strings on the wire; the file may write them as TOML scalars.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum SettingValue {
    Text(String),
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl std::fmt::Display for SettingValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingValue::Text(s) => f.write_str(s),
            SettingValue::Bool(b) => write!(f, "{b}"),
            SettingValue::Int(i) => write!(f, "{i}"),
            SettingValue::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A problem with one backend's configuration.
#[derive(Debug, Clone, thiserror::Error)]
#[error("backend `{backend}`: {message}\n  hint: {hint}")]
pub struct ConfigError {
    pub backend: String,
    pub message: String,
    pub hint: String,
}

/// Every configured backend by name.
#[derive(Debug, Clone, Default)]
pub struct BackendSet {
    backends: BTreeMap<String, Backend>,
}

impl BackendSet {
    /// Loads each backend's plugin and checks its settings against what the
    /// plugin declares. Reports every problem; a broken backend is left out
    /// and the others still load.
    pub async fn build(
        host: &PluginHost,
        configs: &BTreeMap<String, BackendConfig>,
        env: impl Fn(&str) -> Option<String>,
    ) -> (BackendSet, Vec<ConfigError>) {
        let mut set = BackendSet::default();
        let mut errors = Vec::new();
        for (name, cfg) in configs {
            match resolve(host, name, cfg, &env).await {
                Ok(b) => {
                    set.backends.insert(name.clone(), b);
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        (set, errors)
    }

    pub fn get(&self, name: &str) -> Option<&Backend> {
        self.backends.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Backend)> {
        self.backends.iter()
    }

    /// A view for DAG validation, which is synchronous: plugin calls are
    /// driven with `handle.block_on`, so use it from a blocking thread
    /// (`tokio::task::spawn_blocking`).
    pub fn catalog(&self, handle: tokio::runtime::Handle) -> Catalog<'_> {
        Catalog { set: self, handle }
    }
}

async fn resolve(
    host: &PluginHost,
    name: &str,
    cfg: &BackendConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Backend, Vec<ConfigError>> {
    let err = |message: String, hint: &str| ConfigError {
        backend: name.to_string(),
        message,
        hint: hint.to_string(),
    };
    let plugin = host
        .load_named(&cfg.plugin)
        .await
        .map_err(|e| vec![err(e.to_string(), "name a bundled plugin or give the path of a .wasm component")])?;
    let keys = &plugin.info().config_keys;
    let known: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    let mut errors = Vec::new();
    let mut settings = Vec::new();

    for (k, v) in &cfg.settings {
        match keys.iter().find(|c| &c.name == k) {
            None => errors.push(err(
                format!("unknown setting `{k}` for plugin `{}`", plugin.info().name),
                &format!("known settings: {}", known.join(", ")),
            )),
            Some(c) if c.secret => errors.push(err(
                format!("setting `{k}` is a secret and cannot be written in the config file"),
                &format!("put it in an environment variable and write secret_env = {{ {k} = \"VAR_NAME\" }}"),
            )),
            Some(_) => settings.push((k.clone(), v.to_string())),
        }
    }
    for (k, var) in &cfg.secret_env {
        if !known.contains(&k.as_str()) {
            errors.push(err(
                format!("unknown setting `{k}` in secret_env for plugin `{}`", plugin.info().name),
                &format!("known settings: {}", known.join(", ")),
            ));
            continue;
        }
        match env(var) {
            Some(v) => settings.push((k.clone(), v)),
            None => errors.push(err(
                format!("environment variable `{var}` (for setting `{k}`) is not set"),
                &format!("export {var}=... before starting drover"),
            )),
        }
    }
    for c in keys.iter().filter(|c| c.required) {
        if !settings.iter().any(|(k, _)| k == &c.name) {
            errors.push(err(
                format!("missing required setting `{}` ({})", c.name, c.description),
                &format!("add `{} = ...` to [backends.{name}.settings]", c.name),
            ));
        }
    }

    let mut allowed: Vec<HostRule> = match &cfg.allowed_hosts {
        Some(list) => list
            .iter()
            .filter_map(|h| match HostRule::parse(h) {
                Ok(r) => Some(r),
                Err(e) => {
                    errors.push(err(e, "write host or host:port, e.g. \"spark-master:6066\""));
                    None
                }
            })
            .collect(),
        None => settings
            .iter()
            .filter(|(_, v)| v.starts_with("http://") || v.starts_with("https://"))
            .filter_map(|(_, v)| HostRule::parse(v).ok())
            .collect(),
    };
    // The staging file system's own address is allowed with the rest by
    // default; its DataNodes (WebHDFS redirects) must be listed.
    if cfg.allowed_hosts.is_none()
        && let Some(rule) = cfg.staging.as_ref().and_then(|s| HostRule::parse(s.address()).ok())
    {
        allowed.push(rule);
    }
    let ca = match &cfg.ca_file {
        Some(path) => match crate::policy::CaClient::from_pem_file(path) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.push(err(e, "point ca_file at the PEM certificate of the cluster's CA"));
                None
            }
        },
        None => None,
    };
    let mut limits = host.limits();
    if let Some(mb) = cfg.memory_mb {
        if mb == 0 {
            errors.push(err("memory_mb must be at least 1".into(), "leave it out for the default of 64 MiB"));
        }
        limits.memory_bytes = (mb as usize) << 20;
    }
    if let Some(t) = cfg.call_timeout {
        if t.is_zero() {
            errors.push(err("call_timeout must be longer than 0s".into(), "leave it out for the default of 30s"));
        }
        limits.call_timeout = t;
    }
    // Credentials are read here, with the backend's settings and `env`.
    let staging = match &cfg.staging {
        Some(staging) => {
            let mut staging = staging.clone();
            // The cluster's CA signs its file system's certificate too, as a rule.
            if staging.ca_file.is_none() {
                staging.ca_file = cfg.ca_file.clone();
            }
            let hint = match staging.target {
                crate::staging::Target::WebHdfs(_) => "write webhdfs = \"http://namenode:9870\" and an absolute dir",
                crate::staging::Target::S3(_) => {
                    "write s3 = \"https://s3.REGION.amazonaws.com\" (the endpoint alone), bucket, and credentials \
                     (access_key_id with secret_env = { secret_access_key = \"VAR\" }, the backend's own, or AWS_* variables)"
                }
            };
            if let Err(e) = staging.resolve_credentials(&settings, env) {
                errors.push(err(e, hint));
            }
            Some((staging, hint))
        }
        None => None,
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let backend = Backend::new(
        host.shared.clone(),
        name.to_string(),
        plugin,
        settings,
        allowed,
        cfg.max_calls_per_second,
        ca,
    )
    .with_limits(limits);
    let backend = match staging {
        Some((staging, hint)) => backend.with_staging(staging).map_err(|e| vec![err(e, hint)])?,
        None => backend,
    };
    Ok(match crate::bundled::lookup(&cfg.plugin) {
        Some(_) => backend,
        None => backend.with_plugin_file(std::path::PathBuf::from(&cfg.plugin)),
    })
}

/// [`drover_dag::Backends`] over a [`BackendSet`]: unknown backends, deploy
/// modes and whatever the plugin's `validate` finds.
pub struct Catalog<'a> {
    set: &'a BackendSet,
    handle: tokio::runtime::Handle,
}

impl drover_dag::Backends for Catalog<'_> {
    fn names(&self) -> Vec<String> {
        self.set.backends.keys().cloned().collect()
    }

    fn deploy_modes(&self, backend: &str) -> Option<Vec<drover_dag::DeployMode>> {
        let b = self.set.get(backend)?;
        Some(
            b.plugin()
                .info()
                .deploy_modes
                .clone(),
        )
    }

    fn check_application(
        &self,
        backend: &str,
        app: &drover_dag::ApplicationTemplate,
    ) -> Vec<drover_dag::AppProblem> {
        let Some(b) = self.set.get(backend) else {
            return Vec::new();
        };
        match self.handle.block_on(b.validate(app)) {
            Ok(problems) => problems,
            Err(e) => vec![drover_dag::AppProblem {
                field: "backend".into(),
                message: format!("the backend's plugin could not check this application: {e}"),
                hint: "fix the plugin or the backend configuration".into(),
            }],
        }
    }
}
