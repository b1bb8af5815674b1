//! Staging: copying an application's local files to the cluster before a
//! cluster-mode submission, as spark-submit does.
//!
//! The host, not the plugin, moves the bytes. A plugin has no files (its
//! sandbox links no filesystem) and a 64 MiB memory cap; a jar can be larger
//! than that. So before `submit`, [`Stager::stage`] streams every local
//! resource of the application (main jar or script, jars, py-files, files)
//! from disk to the backend's staging location, a chunk at a time, through the
//! same host allowlist the plugin's own requests go through, and hands the
//! plugin an application whose fields name the staged copies. The plugin's
//! limits keep meaning what they say: its memory never holds a file, and its
//! call deadline covers only its own requests (uploads have their own,
//! [`StagingConfig::timeout`]).
//!
//! Staged files go under a directory named after the submission key
//! (`<dir>/drover-<key>/`), so a try sent again after a crash writes the same
//! paths again (overwriting) instead of leaving a second copy, and the whole
//! directory is deleted in one request once the try ends.

mod webhdfs;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::policy::HostRule;
use crate::types::Application;

pub(crate) use webhdfs::WebHdfs;

/// A backend's `[backends.NAME.staging]` table.
///
/// ```toml
/// [backends.yarn.staging]
/// webhdfs = "http://namenode:9870"      # the NameNode's HTTP address
/// dir = "/user/drover/.sparkStaging"    # default
/// fs = "hdfs://namenode:8020"           # fs.defaultFS; default hdfs://<webhdfs host:port>
/// user = "drover"                       # WebHDFS simple auth (user.name); default: none
/// keep = false                          # keep staged files after the try
/// timeout = "10m"                       # the deadline of one file's upload
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagingConfig {
    /// The NameNode's WebHDFS address (`http://host:port`).
    pub webhdfs: String,
    #[serde(default = "default_dir")]
    pub dir: String,
    /// The file system URI the cluster reads staged files by.
    #[serde(default)]
    pub fs: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    /// Keep the staged files once the try ends (Spark's
    /// `spark.yarn.preserve.staging.files`).
    #[serde(default)]
    pub keep: bool,
    #[serde(default = "default_timeout", deserialize_with = "humantime_de")]
    pub timeout: Duration,
}

fn default_dir() -> String {
    "/user/drover/.sparkStaging".into()
}

fn default_timeout() -> Duration {
    Duration::from_secs(600)
}

fn humantime_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| serde::de::Error::custom(format!("timeout `{text}`: {e}")))
}

/// Why staging failed; told to the scheduler as a plugin error of the same
/// kind, so a cluster that is down is waited for and a missing file is not.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StageError {
    /// A local file cannot be read: the application is wrong.
    #[error("cannot stage {path}: {source}")]
    Local { path: String, source: std::io::Error },
    /// The host is not in the backend's allowed hosts.
    #[error("staging to {0} is not allowed")]
    Denied(String),
    /// The file system could not be reached or is busy.
    #[error("staging file system unavailable: {0}")]
    Unavailable(String),
    /// The file system answered and refused.
    #[error("staging file system refused: {0}")]
    Rejected(String),
}

/// One staged file: where it came from, where it went, and what the file
/// system says about it (YARN checks size and modification time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Staged {
    pub(crate) local: PathBuf,
    /// The URI the cluster reads it by (`hdfs://nn:8020/dir/drover-KEY/x.jar`).
    pub(crate) uri: String,
    /// The name it is localized under in a container.
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) modified_ms: i64,
}

/// Stages applications for one backend.
pub(crate) struct Stager {
    pub(crate) config: StagingConfig,
    fs: WebHdfs,
}

impl std::fmt::Debug for Stager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stager").field("webhdfs", &self.config.webhdfs).field("dir", &self.config.dir).finish()
    }
}

/// The local file a resource string names, if it names one: a path, or a
/// `file:` URI. `local:`, `hdfs:`, `s3:` and other URIs are already where the
/// cluster reads them.
pub(crate) fn local_path(resource: &str) -> Option<PathBuf> {
    let (path, _) = split_fragment(resource);
    if let Some(rest) = path.strip_prefix("file://") {
        return Some(PathBuf::from(rest));
    }
    if let Some(rest) = path.strip_prefix("file:") {
        return Some(PathBuf::from(rest));
    }
    let scheme = path.split_once(':').map(|(s, _)| s);
    let is_uri = scheme.is_some_and(|s| {
        s.len() > 1 && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    });
    (!is_uri && !path.is_empty()).then(|| PathBuf::from(path))
}

/// `file.txt#alias` -> (`file.txt`, Some(`alias`)): Spark's rename syntax.
fn split_fragment(s: &str) -> (&str, Option<&str>) {
    match s.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (s, None),
    }
}

/// The staging directory of one try.
pub(crate) fn try_dir(dir: &str, key: &str) -> String {
    format!("{}/drover-{key}", dir.trim_end_matches('/'))
}

impl Stager {
    pub(crate) fn new(config: StagingConfig, allowed: Arc<Vec<HostRule>>) -> Result<Stager, String> {
        let fs = WebHdfs::new(&config, allowed)?;
        Ok(Stager { config, fs })
    }

    /// Whether `app` has anything to stage.
    pub(crate) fn needs_staging(app: &Application) -> bool {
        std::iter::once(&app.resource)
            .chain(&app.jars)
            .chain(&app.py_files)
            .chain(&app.files)
            .any(|r| local_path(r).is_some())
    }

    /// Uploads every local resource of `app` under the try's directory and
    /// returns the application naming the staged copies, with what was staged.
    pub(crate) async fn stage(&self, key: &str, app: &Application) -> Result<(Application, Vec<Staged>), StageError> {
        // Every file is checked before the first byte leaves: a missing one
        // fails the try without leaving the others behind on the cluster.
        for r in std::iter::once(&app.resource).chain(&app.jars).chain(&app.py_files).chain(&app.files) {
            if let Some(local) = local_path(r) {
                match tokio::fs::metadata(&local).await {
                    Ok(m) if m.is_file() => {}
                    Ok(_) => {
                        return Err(StageError::Local {
                            path: local.display().to_string(),
                            source: std::io::Error::other("not a file"),
                        });
                    }
                    Err(source) => return Err(StageError::Local { path: local.display().to_string(), source }),
                }
            }
        }
        let dir = try_dir(&self.config.dir, key);
        let mut staged: Vec<Staged> = Vec::new();
        let mut out = app.clone();
        let mut fields: Vec<&mut String> = vec![&mut out.resource];
        fields.extend(out.jars.iter_mut());
        fields.extend(out.py_files.iter_mut());
        fields.extend(out.files.iter_mut());
        for field in fields {
            let Some(local) = local_path(field) else { continue };
            let (_, alias) = split_fragment(field);
            let base = local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "resource".into());
            // Two resources with one file name (a/x.py, b/x.py) must not
            // overwrite each other in the directory.
            let mut name = base.clone();
            let mut n = 1;
            while staged.iter().any(|s| s.name == name && s.local != local) {
                n += 1;
                name = format!("{n}-{base}");
            }
            let entry = match staged.iter().find(|s| s.local == local) {
                Some(s) => s.clone(),
                None => {
                    let path = format!("{dir}/{name}");
                    let status = tokio::time::timeout(self.config.timeout, self.fs.create(&path, &local))
                        .await
                        .map_err(|_| StageError::Unavailable(format!("uploading {} took longer than {:?}", local.display(), self.config.timeout)))??;
                    let s = Staged {
                        local: local.clone(),
                        uri: format!("{}{path}", self.fs_uri()),
                        name: alias.unwrap_or(&name).to_string(),
                        size: status.length,
                        modified_ms: status.modification_time,
                    };
                    staged.push(s.clone());
                    s
                }
            };
            *field = match alias {
                Some(a) => format!("{}#{a}", entry.uri),
                None => entry.uri,
            };
        }
        add_cache_conf(&mut out, &staged);
        Ok((out, staged))
    }

    /// Deletes the try's staging directory (nothing when `keep` is set).
    pub(crate) async fn unstage(&self, key: &str) -> Result<(), StageError> {
        if self.config.keep {
            return Ok(());
        }
        self.fs.delete(&try_dir(&self.config.dir, key)).await
    }

    fn fs_uri(&self) -> String {
        match &self.config.fs {
            Some(fs) => fs.trim_end_matches('/').to_string(),
            None => format!("hdfs://{}", self.fs.authority()),
        }
    }
}

/// Spark's record of a YARN application's distributed cache
/// (`spark.yarn.cache.*`, as `org.apache.spark.deploy.yarn.Client` writes
/// it): each staged file with its size and modification time, which the
/// plugin puts in the ApplicationMaster's local resources and the
/// NodeManager checks.
fn add_cache_conf(app: &mut Application, staged: &[Staged]) {
    if staged.is_empty() {
        return;
    }
    let join = |f: &dyn Fn(&Staged) -> String| staged.iter().map(f).collect::<Vec<_>>().join(",");
    app.conf.insert("spark.yarn.cache.filenames".into(), join(&|s| format!("{}#{}", s.uri, s.name)));
    app.conf.insert("spark.yarn.cache.sizes".into(), join(&|s| s.size.to_string()));
    app.conf.insert("spark.yarn.cache.timestamps".into(), join(&|s| s.modified_ms.to_string()));
    app.conf.insert("spark.yarn.cache.visibilities".into(), join(&|_| "PRIVATE".into()));
    app.conf.insert("spark.yarn.cache.types".into(), join(&|_| "FILE".into()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_paths_and_file_uris_only() {
        assert_eq!(local_path("/apps/job.jar"), Some(PathBuf::from("/apps/job.jar")));
        assert_eq!(local_path("file:///apps/job.jar"), Some(PathBuf::from("/apps/job.jar")));
        assert_eq!(local_path("file:/apps/x.py#y.py"), Some(PathBuf::from("/apps/x.py")));
        assert_eq!(local_path("local:///opt/spark/x.jar"), None);
        assert_eq!(local_path("hdfs://nn:8020/x.jar"), None);
        assert_eq!(local_path("s3://bucket/x.jar"), None);
    }

    #[test]
    fn a_try_stages_under_a_directory_named_by_its_key() {
        assert_eq!(try_dir("/user/d/.sparkStaging/", "k1"), "/user/d/.sparkStaging/drover-k1");
    }
}
