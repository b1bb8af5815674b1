//! drover's config file and the backends it describes.
//!
//! ```toml
//! [backends.prod]
//! plugin = "spark-standalone"
//! settings = { master = "spark://spark-master:7077", rest_url = "http://spark-master:6066" }
//! allowed_hosts = ["spark-master:6066"]
//! ```
//!
//! Pools (`[pools.NAME]` with `slots` and `description`) cap how many
//! tasks run at once across every DAG; a backend's `max_running_drivers`
//! caps its drivers.
//!
//! Notifiers (`[notifiers.NAME]`, see drover-notify) are what DAGs name in
//! `on_failure` and the like; `base_url` is where people reach the UI, for
//! the links in notifications.
//!
//! Without a config file drover uses its embedded defaults: a backend named
//! `local` on the stand-in cluster that `drover standalone` starts, and one
//! for each of its other cluster managers; the cluster-mode ones stage local
//! files to the stand-in's own file systems (see [`backend_configs`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde::Deserialize;

use drover_plugin_host::config::SettingValue;
use drover_plugin_host::{BackendConfig, BackendSet, Limits, PluginHost, StagingConfig};

/// Where local commands find DAGs and backends.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalArgs {
    /// The DAG folder.
    #[arg(long, env = "DROVER_DAGS", default_value = "dags")]
    pub dags: PathBuf,
    /// A drover config file with [backends.NAME] tables.
    #[arg(long, env = "DROVER_CONFIG")]
    pub config: Option<PathBuf>,
    /// drover's home: compiled plugins are kept in its plugin cache, the
    /// one `serve` uses, so a command compiles each component only once.
    #[arg(long, env = "DROVER_HOME", default_value = ".drover")]
    pub home: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub backends: BTreeMap<String, BackendConfig>,
    #[serde(default)]
    pub notifiers: BTreeMap<String, drover_notify::NotifierConfig>,
    /// Where people reach drover's UI (default: the address it serves on).
    pub base_url: Option<String>,
    /// Pools (`[pools.NAME] slots = 4`), written to the database at start.
    #[serde(default)]
    pub pools: BTreeMap<String, PoolConfig>,
}

/// A pool as the config file sets it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// -1: no limit.
    pub slots: i64,
    pub description: Option<String>,
}

impl FileConfig {
    pub fn notifier_names(&self) -> Vec<String> {
        self.notifiers.keys().cloned().collect()
    }
}

pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let file: FileConfig = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for (name, pool) in &file.pools {
        drover_scheduler::check_pool(name, Some(pool.slots))
            .map_err(|e| anyhow::anyhow!("{}: [pools.{name}]: {e}", path.display()))?;
    }
    Ok(file)
}

/// Where the stand-in cluster answers, for the embedded `local` backend.
pub struct StandIn {
    pub rest_url: String,
    pub master_url: String,
    /// Command line of the client-mode spark-submit.
    pub spark_submit: String,
    /// The stand-in's own S3 endpoint, where the embedded `k8s`,
    /// `serverless` and `eks` backends stage local files (bucket
    /// [`drover_devcluster::s3::BUCKET`]); `None`: those stage nothing.
    pub s3: Option<String>,
}

/// The environment variable the embedded `serverless` backend reads its
/// secret from; `drover standalone` answers it with the stand-in's secret
/// when the environment does not set it.
pub const STAND_IN_SECRET_ENV: &str = "DROVER_STANDIN_SECRET_ACCESS_KEY";

/// The embedded backends, one per stand-in cluster manager, with the config
/// file's on top (same name wins).
///
/// Those whose drivers run on the cluster stage an application's local
/// files there first, as spark-submit does, so `resource = "apps/job.py"`
/// works in cluster mode: `yarn` to the stand-in's WebHDFS (at `rest_url`),
/// `k8s`, `serverless` and `eks` to its S3 (`stand_in.s3`), signing with
/// the stand-in's made-up account. `local` (Spark standalone has no staging
/// area: its workers read the submitter's paths) and `livy` stage nothing.
pub fn backend_configs(stand_in: &StandIn, file: Option<&FileConfig>) -> BTreeMap<String, BackendConfig> {
    let text = |s: &str| SettingValue::Text(s.to_string());
    let backend = |plugin: &str, settings: &[(&str, &str)], secret_env: &[(&str, &str)]| BackendConfig {
        plugin: plugin.into(),
        settings: settings.iter().map(|(k, v)| (k.to_string(), text(v))).collect(),
        secret_env: secret_env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        allowed_hosts: None,
        // The stand-in is local: no need to spare it.
        max_calls_per_second: 0,
        ca_file: None,
        memory_mb: None,
        call_timeout: None,
        max_running_drivers: None,
        staging: None,
    };
    let url = stand_in.rest_url.as_str();
    let submit = stand_in.spark_submit.as_str();
    let livy_url = format!("{}{}", url.trim_end_matches('/'), drover_devcluster::livy::PREFIX);
    let mut out = BTreeMap::from([
        (
            "local".to_string(),
            backend(
                "spark-standalone",
                &[("master", &stand_in.master_url), ("rest_url", url), ("master_ui_url", url), ("spark_submit", submit)],
                &[],
            ),
        ),
        ("yarn".to_string(), backend("yarn", &[("rm_url", url), ("spark_submit", submit)], &[])),
        (
            "k8s".to_string(),
            backend("kubernetes", &[("api_url", url), ("namespace", "default"), ("spark_submit", submit)], &[]),
        ),
        (
            "serverless".to_string(),
            backend(
                "emr-serverless",
                &[
                    ("endpoint", url),
                    ("region", drover_devcluster::serverless::REGION),
                    ("application_id", drover_devcluster::serverless::APPLICATION_ID),
                    ("execution_role_arn", "arn:aws:iam::123456789012:role/drover-stand-in"),
                    ("access_key_id", drover_devcluster::serverless::ACCESS_KEY_ID),
                ],
                &[("secret_access_key", STAND_IN_SECRET_ENV)],
            ),
        ),
        (
            "eks".to_string(),
            backend(
                "emr-containers",
                &[
                    ("endpoint", url),
                    ("region", drover_devcluster::emr_containers::REGION),
                    ("virtual_cluster_id", drover_devcluster::emr_containers::VIRTUAL_CLUSTER_ID),
                    ("execution_role_arn", "arn:aws:iam::123456789012:role/drover-stand-in"),
                    ("release_label", drover_devcluster::emr_containers::RELEASE_LABEL),
                    ("access_key_id", drover_devcluster::emr_containers::ACCESS_KEY_ID),
                ],
                &[("secret_access_key", STAND_IN_SECRET_ENV)],
            ),
        ),
        // The bundled livy plugin is Python: a CPython runtime wants more than the default 64 MiB.
        (
            "livy".to_string(),
            BackendConfig {
                memory_mb: Some(drover_plugin_host::bundled::LIVY_MEMORY_MB),
                ..backend("livy", &[("url", &livy_url)], &[])
            },
        ),
    ]);
    let s3 = stand_in.s3.as_deref().map(|endpoint| {
        let (bucket, key_id) = (drover_devcluster::s3::BUCKET, drover_devcluster::aws::ACCESS_KEY_ID);
        StagingConfig::to_s3(endpoint, bucket, key_id, STAND_IN_SECRET_ENV)
    });
    let staging = [("yarn", Some(StagingConfig::to_webhdfs(url))), ("k8s", s3.clone()), ("serverless", s3.clone()), ("eks", s3)];
    for (name, staging) in staging {
        if let Some(b) = out.get_mut(name) {
            b.staging = staging;
        }
    }
    if let Some(f) = file {
        out.extend(f.backends.clone());
    }
    out
}

/// Environment lookups for backend secrets: the process environment, and the
/// stand-in's own secret for the embedded serverless and eks backends.
pub fn env_with_stand_in(var: &str) -> Option<String> {
    std::env::var(var).ok().or_else(|| {
        (var == STAND_IN_SECRET_ENV).then(|| drover_devcluster::serverless::SECRET_ACCESS_KEY.to_string())
    })
}

/// The plugin host, with its compile cache in `cache` when given.
pub fn plugin_host(cache: Option<&Path>) -> anyhow::Result<PluginHost> {
    Ok(PluginHost::new(Limits::default(), cache.map(Path::to_path_buf))?)
}

pub async fn backends(host: &PluginHost, configs: &BTreeMap<String, BackendConfig>) -> anyhow::Result<BackendSet> {
    let (set, errors) = BackendSet::build(host, configs, env_with_stand_in).await;
    if !errors.is_empty() {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        bail!("the backend configuration has problems:\n{}", all.join("\n"));
    }
    Ok(set)
}

/// Backends for commands that only read DAG files: the embedded backends
/// point nowhere, since validation makes no network calls, but stage as
/// under `drover standalone`, so a plugin judges the URIs it would get.
async fn offline_backends(local: &LocalArgs) -> anyhow::Result<(BackendSet, Vec<String>)> {
    let file = local.config.as_deref().map(load).transpose()?;
    let notifiers = file.as_ref().map(FileConfig::notifier_names).unwrap_or_default();
    let stand_in = StandIn {
        rest_url: "http://127.0.0.1:6066".into(),
        master_url: "spark://127.0.0.1:7077".into(),
        spark_submit: "spark-submit".into(),
        s3: Some("http://127.0.0.1:9000".into()),
    };
    let cache = crate::serve::create_home(&local.home)?.join("plugin-cache");
    let host = plugin_host(Some(&cache))?;
    Ok((backends(&host, &backend_configs(&stand_in, file.as_ref())).await?, notifiers))
}

/// Loads DAG files through the backends' plugins, on a blocking thread;
/// also says which of the folders held no DAG file at all.
async fn load_dags(paths: Vec<PathBuf>, (set, notifiers): (BackendSet, Vec<String>)) -> (drover_dag::DirLoad, Vec<PathBuf>) {
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let catalog = set.catalog(handle);
        let catalog = drover_dag::WithNotifiers { backends: &catalog, notifiers: &notifiers };
        let mut all = drover_dag::DirLoad::default();
        let mut empty = Vec::new();
        for p in paths {
            if p.is_dir() {
                let d = drover_dag::load_dir(&p, &catalog);
                if d.dags.is_empty() && d.errors.is_empty() {
                    empty.push(p);
                }
                all.dags.extend(d.dags);
                all.errors.extend(d.errors);
            } else {
                match drover_dag::load_file(&p, &catalog) {
                    Ok(d) => all.dags.push(d),
                    Err(e) => all.errors.push(e),
                }
            }
        }
        (all, empty)
    })
    .await
    .expect("DAG loading panicked")
}

pub async fn validate(local: &LocalArgs, paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let set = offline_backends(local).await?;
    let paths = if paths.is_empty() { vec![local.dags.clone()] } else { paths.to_vec() };
    let (loaded, empty) = load_dags(paths, set).await;
    for d in &loaded.dags {
        println!("ok    {} ({}, {} tasks)", d.id, d.file.display(), d.tasks.len());
    }
    for e in &loaded.errors {
        eprintln!("{e}");
    }
    for dir in &empty {
        eprintln!("no DAG files in {} (a DAG file is a *.toml file directly in the folder)", dir.display());
    }
    if !empty.is_empty() {
        return Ok(ExitCode::from(1));
    }
    if loaded.errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} file(s) with errors", loaded.errors.len());
        Ok(ExitCode::from(1))
    }
}

pub async fn list_local(local: &LocalArgs) -> anyhow::Result<ExitCode> {
    let set = offline_backends(local).await?;
    let (loaded, _) = load_dags(vec![local.dags.clone()], set).await;
    println!("{:<28} {:<16} {:>5}  file", "dag_id", "schedule", "tasks");
    for d in &loaded.dags {
        let schedule = match &d.schedule {
            drover_dag::Schedule::Manual => "none".to_string(),
            drover_dag::Schedule::Cron { expr, .. } => expr.clone(),
        };
        println!("{:<28} {:<16} {:>5}  {}", d.id, schedule, d.tasks.len(), d.file.display());
    }
    for e in &loaded.errors {
        eprintln!("broken: {}", e.file.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_plugin_host::staging::Target;

    #[test]
    fn the_embedded_cluster_mode_backends_stage_to_the_stand_ins_file_systems() {
        let stand_in = StandIn {
            rest_url: "http://127.0.0.1:6066".into(),
            master_url: "spark://127.0.0.1:6066".into(),
            spark_submit: "spark-submit".into(),
            s3: Some("http://127.0.0.1:9000".into()),
        };
        let configs = backend_configs(&stand_in, None);
        let target = |name: &str| {
            configs[name].staging.as_ref().map(|s| match &s.target {
                Target::WebHdfs(w) => format!("webhdfs {}", w.webhdfs),
                Target::S3(t) => format!("s3 {} {}", t.endpoint, t.bucket),
            })
        };
        assert_eq!(target("yarn").as_deref(), Some("webhdfs http://127.0.0.1:6066"));
        for name in ["k8s", "serverless", "eks"] {
            assert_eq!(target(name).as_deref(), Some("s3 http://127.0.0.1:9000 drover-staging"), "{name}");
        }
        assert_eq!((target("local"), target("livy")), (None, None), "Spark standalone and Livy stage nothing");
        let without_s3 = backend_configs(&StandIn { s3: None, ..stand_in }, None);
        assert!(without_s3["k8s"].staging.is_none() && without_s3["yarn"].staging.is_some());
    }
}
