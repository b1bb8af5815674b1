//! Staging: copying an application's local files to the cluster before
//! submitting a driver that runs there (cluster or service mode), as
//! spark-submit does.
//!
//! The host, not the plugin, moves the bytes. A plugin has no files (its
//! sandbox links no filesystem) and a 64 MiB memory cap; a jar can be larger
//! than that. So before `submit`, [`Stager::stage`] streams every local
//! resource of the application (main jar or script, jars, py-files, files,
//! and the archives of the conf's `spark.archives`, which the contract has
//! no field for) from disk to the backend's staging location, a chunk at a time, through the
//! same host allowlist the plugin's own requests go through, and hands the
//! plugin an application whose fields name the staged copies. The plugin's
//! limits keep meaning what they say: its memory never holds a file, and its
//! call deadline covers only its own requests (uploads have their own,
//! [`StagingConfig::timeout`]).
//!
//! Two file systems, one per backend: HDFS through WebHDFS (`webhdfs.rs`, for
//! YARN) and S3 (`s3.rs`, for Kubernetes and the EMR services; `s3a://` or
//! `s3://` URIs, by what the plugin's cluster reads). Where each local file
//! goes is decided without I/O (`Stager::plan`), which is also what
//! `validate` shows the plugin; the uploads act on that plan.
//!
//! Staged files go under a directory named after the submission key
//! (`<dir>/drover-<key>/`), so a try sent again after a crash writes the same
//! paths again (overwriting) instead of leaving a second copy, and the whole
//! directory is deleted once the try ends.

mod s3;
mod webhdfs;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::policy::HostRule;
use crate::types::Application;

pub use s3::{S3Credentials, UriScheme};
pub(crate) use s3::S3;
pub(crate) use webhdfs::WebHdfs;

/// A backend's `[backends.NAME.staging]` table: where staged files go
/// ([`Target`], chosen by which of `webhdfs` and `s3` the table has), and
/// what holds for both.
///
/// ```toml
/// [backends.yarn.staging]
/// webhdfs = "http://namenode:9870"      # the NameNode's HTTP address
/// dir = "/user/drover/.sparkStaging"    # default
/// fs = "hdfs://namenode:8020"           # fs.defaultFS; default hdfs://<webhdfs host:port>
/// user = "drover"                       # WebHDFS simple auth (user.name); default: none
/// keep = false                          # keep staged files after the try
/// timeout = "10m"                       # the deadline of one file's upload
///
/// [backends.k8s.staging]
/// s3 = "https://s3.us-east-1.amazonaws.com"  # the endpoint; path-style requests
/// bucket = "drover-staging"
/// prefix = "staging"                    # default
/// region = "us-east-1"                  # default
/// scheme = "s3a"                        # default: s3 for the EMR plugins, s3a for the others
/// part_size = 8388608                   # multipart upload above this many bytes; default 8 MiB
/// access_key_id = "AKIA..."             # default: the backend's access_key_id, then $AWS_ACCESS_KEY_ID
/// secret_env = { secret_access_key = "STAGING_SECRET", session_token = "STAGING_TOKEN" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "StagingTable")]
pub struct StagingConfig {
    pub target: Target,
    /// Keep the staged files once the try ends (Spark's
    /// `spark.yarn.preserve.staging.files`).
    pub keep: bool,
    /// The deadline of one file's upload.
    pub timeout: Duration,
    /// PEM certificates of the CA that signed an https staging endpoint's
    /// certificate (a private S3 such as MinIO, a NameNode's HTTPS port),
    /// trusted instead of the public web roots. Default: the backend's
    /// `ca_file`.
    pub ca_file: Option<std::path::PathBuf>,
}

/// The file system staged files go to.
#[derive(Debug, Clone)]
pub enum Target {
    WebHdfs(WebHdfsTarget),
    S3(S3Target),
}

/// HDFS through the NameNode's WebHDFS REST API (YARN).
#[derive(Debug, Clone)]
pub struct WebHdfsTarget {
    /// The NameNode's WebHDFS address (`http://host:port`).
    pub webhdfs: String,
    pub dir: String,
    /// The file system URI the cluster reads staged files by.
    pub fs: Option<String>,
    pub user: Option<String>,
}

/// An S3 bucket (Kubernetes, EMR Serverless, EMR on EKS).
#[derive(Debug, Clone)]
pub struct S3Target {
    /// The endpoint (`https://s3.REGION.amazonaws.com`, MinIO's, moto's),
    /// addressed path-style: `<endpoint>/<bucket>/<key>`.
    pub endpoint: String,
    pub bucket: String,
    /// Key prefix of every try's directory (no leading or trailing `/`).
    pub prefix: String,
    pub region: String,
    /// The scheme of the staged URIs the plugin gets; `None`: by plugin.
    pub scheme: Option<UriScheme>,
    /// Files larger than this go up in parts of this size.
    pub part_size: u64,
    pub access_key_id: Option<String>,
    /// `secret_access_key` / `session_token` -> the environment variable holding it.
    pub secret_env: BTreeMap<String, String>,
    /// Resolved by [`StagingConfig::resolve_credentials`] or given by
    /// [`StagingConfig::with_credentials`]; never read from the file.
    pub(crate) credentials: Option<S3Credentials>,
}

/// S3's smallest part but the last (5 MiB).
pub const MIN_PART_SIZE: u64 = 5 << 20;
const DEFAULT_PART_SIZE: u64 = 8 << 20;
const DEFAULT_HDFS_DIR: &str = "/user/drover/.sparkStaging";
const DEFAULT_S3_PREFIX: &str = "staging";
const DEFAULT_REGION: &str = "us-east-1";

/// The table as written; [`StagingConfig`] is what it means.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StagingTable {
    webhdfs: Option<String>,
    dir: Option<String>,
    fs: Option<String>,
    user: Option<String>,
    s3: Option<String>,
    bucket: Option<String>,
    prefix: Option<String>,
    region: Option<String>,
    scheme: Option<UriScheme>,
    part_size: Option<u64>,
    access_key_id: Option<String>,
    secret_env: Option<BTreeMap<String, String>>,
    ca_file: Option<std::path::PathBuf>,
    #[serde(default)]
    keep: bool,
    #[serde(default = "default_timeout", deserialize_with = "humantime_de")]
    timeout: Duration,
}

impl TryFrom<StagingTable> for StagingConfig {
    type Error = String;

    fn try_from(t: StagingTable) -> Result<StagingConfig, String> {
        let hdfs_keys = [("dir", t.dir.is_some()), ("fs", t.fs.is_some()), ("user", t.user.is_some())];
        let s3_keys = [
            ("bucket", t.bucket.is_some()),
            ("prefix", t.prefix.is_some()),
            ("region", t.region.is_some()),
            ("scheme", t.scheme.is_some()),
            ("part_size", t.part_size.is_some()),
            ("access_key_id", t.access_key_id.is_some()),
            ("secret_env", t.secret_env.is_some()),
        ];
        let misplaced = |keys: &[(&str, bool)], kind: &str, fix: &str| -> Result<(), String> {
            let set: Vec<&str> = keys.iter().filter(|(_, set)| *set).map(|(k, _)| *k).collect();
            match set.is_empty() {
                true => Ok(()),
                false => Err(format!("staging to {kind} has no key {}: {fix}", set.join(", "))),
            }
        };
        let target = match (t.webhdfs, t.s3) {
            (Some(_), Some(_)) => {
                return Err("staging has both webhdfs and s3: keep the one the cluster reads from                             (webhdfs for YARN, s3 for Kubernetes and EMR)"
                    .into());
            }
            (None, None) => {
                return Err("staging names no file system: write webhdfs = \"http://namenode:9870\" (YARN) \
                            or s3 = \"https://s3.REGION.amazonaws.com\" with bucket = \"...\" (Kubernetes, EMR)"
                    .into());
            }
            (Some(webhdfs), None) => {
                misplaced(&s3_keys, "WebHDFS", "those are S3 staging keys; remove them, or stage to s3 instead")?;
                Target::WebHdfs(WebHdfsTarget {
                    webhdfs,
                    dir: t.dir.unwrap_or_else(|| DEFAULT_HDFS_DIR.into()),
                    fs: t.fs,
                    user: t.user,
                })
            }
            (None, Some(endpoint)) => {
                misplaced(&hdfs_keys, "S3", "those are WebHDFS staging keys; use prefix for the key prefix")?;
                let bucket = t.bucket.filter(|b| !b.is_empty()).ok_or_else(|| {
                    "staging to S3 needs a bucket: write bucket = \"...\" beside s3".to_string()
                })?;
                let part_size = t.part_size.unwrap_or(DEFAULT_PART_SIZE);
                if part_size < MIN_PART_SIZE {
                    return Err(format!(
                        "staging part_size {part_size} is below S3's smallest part ({MIN_PART_SIZE} bytes, 5 MiB)"
                    ));
                }
                let secret_env = t.secret_env.unwrap_or_default();
                if let Some(k) = secret_env.keys().find(|k| !["secret_access_key", "session_token"].contains(&k.as_str())) {
                    return Err(format!(
                        "staging secret_env has `{k}`: only secret_access_key and session_token are secrets"
                    ));
                }
                Target::S3(S3Target {
                    endpoint,
                    bucket,
                    prefix: t.prefix.unwrap_or_else(|| DEFAULT_S3_PREFIX.into()).trim_matches('/').to_string(),
                    region: t.region.unwrap_or_else(|| DEFAULT_REGION.into()),
                    scheme: t.scheme,
                    part_size,
                    access_key_id: t.access_key_id,
                    secret_env,
                    credentials: None,
                })
            }
        };
        Ok(StagingConfig { target, keep: t.keep, timeout: t.timeout, ca_file: t.ca_file })
    }
}

impl StagingConfig {
    /// Staging to the NameNode's WebHDFS at `webhdfs`, every other key at
    /// its default, as a table with only `webhdfs` would say.
    pub fn to_webhdfs(webhdfs: &str) -> StagingConfig {
        StagingConfig {
            target: Target::WebHdfs(WebHdfsTarget {
                webhdfs: webhdfs.to_string(),
                dir: DEFAULT_HDFS_DIR.into(),
                fs: None,
                user: None,
            }),
            keep: false,
            ca_file: None,
            timeout: default_timeout(),
        }
    }

    /// Staging to `bucket` on the S3 endpoint `endpoint`, signing with
    /// `access_key_id` and the secret in the environment variable
    /// `secret_env`, every other key at its default, as a table with only
    /// those keys would say.
    pub fn to_s3(endpoint: &str, bucket: &str, access_key_id: &str, secret_env: &str) -> StagingConfig {
        StagingConfig {
            target: Target::S3(S3Target {
                endpoint: endpoint.to_string(),
                bucket: bucket.to_string(),
                prefix: DEFAULT_S3_PREFIX.into(),
                region: DEFAULT_REGION.into(),
                scheme: None,
                part_size: DEFAULT_PART_SIZE,
                access_key_id: Some(access_key_id.to_string()),
                secret_env: BTreeMap::from([("secret_access_key".to_string(), secret_env.to_string())]),
                credentials: None,
            }),
            keep: false,
            ca_file: None,
            timeout: default_timeout(),
        }
    }

    /// The address staging requests go to, allowed with the backend's hosts
    /// by default.
    pub fn address(&self) -> &str {
        match &self.target {
            Target::WebHdfs(w) => &w.webhdfs,
            Target::S3(s) => &s.endpoint,
        }
    }

    /// The same configuration signing S3 requests with these credentials
    /// (for embedding drover; the config file names environment variables).
    pub fn with_credentials(mut self, credentials: S3Credentials) -> StagingConfig {
        if let Target::S3(s) = &mut self.target {
            s.credentials = Some(credentials);
        }
        self
    }

    /// Finds S3 staging's credentials, first found wins: the table's
    /// `access_key_id` and `secret_env`; the backend's own settings
    /// `access_key_id`, `secret_access_key`, `session_token` (what the EMR
    /// plugins sign with); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`. Nothing to do for WebHDFS or credentials given.
    pub fn resolve_credentials(&mut self, settings: &[(String, String)], env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
        let Target::S3(s) = &mut self.target else { return Ok(()) };
        if s.credentials.is_some() {
            return Ok(());
        }
        let setting = |k: &str| settings.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        if s.access_key_id.is_some() || !s.secret_env.is_empty() {
            let from_env = |k: &str| -> Result<Option<String>, String> {
                match s.secret_env.get(k) {
                    Some(var) => env(var)
                        .map(Some)
                        .ok_or_else(|| format!("environment variable `{var}` (staging {k}) is not set")),
                    None => Ok(None),
                }
            };
            let (Some(id), Some(secret)) = (s.access_key_id.clone(), from_env("secret_access_key")?) else {
                return Err("staging credentials need both access_key_id and \
                            secret_env = { secret_access_key = \"VAR_NAME\" }"
                    .into());
            };
            s.credentials = Some(S3Credentials::new(id, secret, from_env("session_token")?));
        } else if let (Some(id), Some(secret)) = (setting("access_key_id"), setting("secret_access_key")) {
            s.credentials = Some(S3Credentials::new(id, secret, setting("session_token")));
        } else if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            s.credentials = Some(S3Credentials::new(id, secret, env("AWS_SESSION_TOKEN")));
        } else {
            return Err("staging to S3 has no credentials: write access_key_id and \
                        secret_env = { secret_access_key = \"VAR_NAME\" } in the staging table, \
                        or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                .into());
        }
        Ok(())
    }
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

/// What a staged file is to the cluster: a file localized as it is, or an
/// archive unpacked into a directory of its name (YARN's `FILE` and
/// `ARCHIVE` local resource types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Archive,
}

impl Kind {
    /// YARN's name of the resource type (`spark.yarn.cache.types`).
    fn yarn_type(self) -> &'static str {
        match self {
            Kind::File => "FILE",
            Kind::Archive => "ARCHIVE",
        }
    }
}

/// The Spark property listing an application's archives (`--archives`,
/// comma-separated, each `path#alias` or `path`).
pub(crate) const ARCHIVES: &str = "spark.archives";

/// One staged file: where it came from, where it went, and what the file
/// system says about it (YARN checks size and modification time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Staged {
    pub(crate) local: PathBuf,
    /// The URI the cluster reads it by (`hdfs://nn:8020/dir/drover-KEY/x.jar`).
    pub(crate) uri: String,
    /// The name it is localized under in a container (an archive: the
    /// directory it is unpacked into).
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) size: u64,
    pub(crate) modified_ms: i64,
}

/// Stages applications for one backend.
pub(crate) struct Stager {
    pub(crate) config: StagingConfig,
    fs: Fs,
}

/// The file system client, with what makes a staged path a URI.
enum Fs {
    WebHdfs { client: WebHdfs, dir: String, fs: Option<String> },
    S3 { client: S3, bucket: String, prefix: String, scheme: UriScheme },
}

impl std::fmt::Debug for Stager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stager").field("address", &self.config.address()).field("root", &self.root()).finish()
    }
}

/// One file of a try, placed before anything is uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    local: PathBuf,
    /// Its path on the file system (an HDFS path, or an S3 key).
    path: String,
    uri: String,
    /// The name it is localized under.
    name: String,
    kind: Kind,
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

/// The staging directory of one try: `<root>/drover-<key>` (an HDFS path,
/// or an S3 key prefix, which has no leading `/` and may be empty).
pub(crate) fn try_dir(root: &str, key: &str) -> String {
    match root.trim_end_matches('/') {
        "" if !root.starts_with('/') => format!("drover-{key}"),
        root => format!("{root}/drover-{key}"),
    }
}

/// Every resource string of `app`, local or not, with what it is to the
/// cluster: the fields, then the archives of the conf.
fn resources(app: &Application) -> impl Iterator<Item = (&str, Kind)> {
    std::iter::once(&app.resource)
        .chain(&app.jars)
        .chain(&app.py_files)
        .chain(&app.files)
        .map(|r| (r.as_str(), Kind::File))
        .chain(list(app.conf.get(ARCHIVES)).map(|r| (r, Kind::Archive)))
}

/// The items of a comma-separated Spark list property, as Spark splits them.
fn list(value: Option<&String>) -> impl Iterator<Item = &str> {
    value.into_iter().flat_map(|v| v.split(',')).map(str::trim).filter(|s| !s.is_empty())
}

impl Stager {
    /// `plugin` is the plugin's name (it picks the staged URIs' scheme when
    /// the table does not), `settings` the backend's (S3 credentials may
    /// come from them).
    pub(crate) fn new(
        mut config: StagingConfig,
        allowed: Arc<Vec<HostRule>>,
        plugin: &str,
        settings: &[(String, String)],
    ) -> Result<Stager, String> {
        config.resolve_credentials(settings, &|k| std::env::var(k).ok())?;
        let fs = match &config.target {
            Target::WebHdfs(t) => Fs::WebHdfs { client: WebHdfs::new(t, allowed, config.ca_file.as_deref())?, dir: t.dir.clone(), fs: t.fs.clone() },
            Target::S3(t) => Fs::S3 {
                client: S3::new(t, allowed, config.ca_file.as_deref())?,
                bucket: t.bucket.clone(),
                prefix: t.prefix.clone(),
                scheme: t.scheme.unwrap_or_else(|| UriScheme::for_plugin(plugin)),
            },
        };
        Ok(Stager { config, fs })
    }

    /// Whether `app` has anything to stage.
    pub(crate) fn needs_staging(app: &Application) -> bool {
        resources(app).any(|(r, _)| local_path(r).is_some())
    }

    fn root(&self) -> &str {
        match &self.fs {
            Fs::WebHdfs { dir, .. } => dir,
            Fs::S3 { prefix, .. } => prefix,
        }
    }

    fn uri(&self, path: &str) -> String {
        match &self.fs {
            Fs::WebHdfs { client, fs, .. } => match fs {
                Some(fs) => format!("{}{path}", fs.trim_end_matches('/')),
                None => format!("hdfs://{}{path}", client.authority()),
            },
            Fs::S3 { bucket, scheme, .. } => format!("{}://{bucket}/{path}", scheme.as_str()),
        }
    }

    /// `app` as the plugin will get it once staged under `key`, and where
    /// each local file goes; no I/O. Also what `validate` shows the plugin,
    /// so it judges the URIs it will be given, not paths it never sees.
    fn plan(&self, key: &str, app: &Application) -> (Application, Vec<Planned>) {
        let dir = try_dir(self.root(), key);
        let mut planned: Vec<Planned> = Vec::new();
        let mut out = app.clone();
        let mut fields: Vec<&mut String> = vec![&mut out.resource];
        fields.extend(out.jars.iter_mut());
        fields.extend(out.py_files.iter_mut());
        fields.extend(out.files.iter_mut());
        for field in fields {
            if let Some(staged) = self.place(&dir, &mut planned, field, Kind::File) {
                *field = staged;
            }
        }
        // Archives are a conf list: local items become staged URIs in place,
        // aliases kept, remote ones left as they are.
        if let Some(value) = app.conf.get(ARCHIVES) {
            let items: Vec<String> = list(Some(value))
                .map(|item| self.place(&dir, &mut planned, item, Kind::Archive).unwrap_or_else(|| item.to_string()))
                .collect();
            out.conf.insert(ARCHIVES.into(), items.join(","));
        }
        (out, planned)
    }

    /// Where the resource `item` goes, if it is local: its staged URI (with
    /// its `#alias`), the file added to `planned` unless it is there as the
    /// same kind already.
    fn place(&self, dir: &str, planned: &mut Vec<Planned>, item: &str, kind: Kind) -> Option<String> {
        let local = local_path(item)?;
        let (_, alias) = split_fragment(item);
        let entry = match planned.iter().find(|p| p.local == local && p.kind == kind) {
            Some(p) => p.clone(),
            None => {
                let base = local
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "resource".into());
                // Two resources with one file name (a/x.py, b/x.py) must not
                // overwrite each other in the directory.
                let mut file = base.clone();
                let mut n = 1;
                while planned.iter().any(|p| p.path.rsplit('/').next() == Some(file.as_str())) {
                    n += 1;
                    file = format!("{n}-{base}");
                }
                let path = format!("{dir}/{file}");
                let name = alias.unwrap_or(&file).to_string();
                let p = Planned { local, uri: self.uri(&path), path, name, kind };
                planned.push(p.clone());
                p
            }
        };
        Some(match alias {
            Some(a) => format!("{}#{a}", entry.uri),
            None => entry.uri,
        })
    }

    /// `app` as the plugin would get it after staging (see [`Stager::plan`]).
    pub(crate) fn preview(&self, app: &Application) -> Application {
        self.plan("KEY", app).0
    }

    /// Uploads every local resource of `app` under the try's directory and
    /// returns the application naming the staged copies, with what was staged.
    pub(crate) async fn stage(&self, key: &str, app: &Application) -> Result<(Application, Vec<Staged>), StageError> {
        // Every file is checked before the first byte leaves: a missing one
        // fails the try without leaving the others behind on the cluster.
        for local in resources(app).filter_map(|(r, _)| local_path(r)) {
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
        let (mut out, planned) = self.plan(key, app);
        let mut staged = Vec::with_capacity(planned.len());
        for p in planned {
            let (size, modified_ms) = tokio::time::timeout(self.config.timeout, self.upload(&p))
                .await
                .map_err(|_| StageError::Unavailable(format!("uploading {} took longer than {:?}", p.local.display(), self.config.timeout)))??;
            staged.push(Staged { local: p.local, uri: p.uri, name: p.name, kind: p.kind, size, modified_ms });
        }
        if let Fs::WebHdfs { .. } = self.fs {
            add_cache_conf(&mut out, &staged);
        }
        Ok((out, staged))
    }

    /// One file up; its size and modification time as the file system has them.
    async fn upload(&self, p: &Planned) -> Result<(u64, i64), StageError> {
        match &self.fs {
            Fs::WebHdfs { client, .. } => {
                let status = client.create(&p.path, &p.local).await?;
                Ok((status.length, status.modification_time))
            }
            Fs::S3 { client, .. } => Ok((client.put(&p.path, &p.local).await?, 0)),
        }
    }

    /// Deletes the try's staging directory (nothing when `keep` is set).
    pub(crate) async fn unstage(&self, key: &str) -> Result<(), StageError> {
        if self.config.keep {
            return Ok(());
        }
        let dir = try_dir(self.root(), key);
        match &self.fs {
            Fs::WebHdfs { client, .. } => client.delete(&dir).await,
            Fs::S3 { client, .. } => client.delete_prefix(&format!("{dir}/")).await,
        }
    }
}

/// Spark's record of a YARN application's distributed cache
/// (`spark.yarn.cache.*`, as `org.apache.spark.deploy.yarn.Client` writes
/// it): each staged file with its size and modification time, which the
/// plugin puts in the ApplicationMaster's local resources and the
/// NodeManager checks; archives as `ARCHIVE`, which the NodeManager unpacks
/// into a directory named by the alias.
fn add_cache_conf(app: &mut Application, staged: &[Staged]) {
    if staged.is_empty() {
        return;
    }
    let join = |f: &dyn Fn(&Staged) -> String| staged.iter().map(f).collect::<Vec<_>>().join(",");
    app.conf.insert("spark.yarn.cache.filenames".into(), join(&|s| format!("{}#{}", s.uri, s.name)));
    app.conf.insert("spark.yarn.cache.sizes".into(), join(&|s| s.size.to_string()));
    app.conf.insert("spark.yarn.cache.timestamps".into(), join(&|s| s.modified_ms.to_string()));
    app.conf.insert("spark.yarn.cache.visibilities".into(), join(&|_| "PRIVATE".into()));
    app.conf.insert("spark.yarn.cache.types".into(), join(&|s| s.kind.yarn_type().into()));
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
        assert_eq!(try_dir("staging", "k1"), "staging/drover-k1");
        assert_eq!(try_dir("", "k1"), "drover-k1", "an S3 key has no leading slash");
    }

    fn table(v: serde_json::Value) -> Result<StagingConfig, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn the_table_stages_to_webhdfs_or_s3_by_which_key_it_has() {
        let w = table(serde_json::json!({"webhdfs": "http://nn:9870", "keep": true})).unwrap();
        assert!(matches!(&w.target, Target::WebHdfs(t) if t.dir == "/user/drover/.sparkStaging"));
        assert!(w.keep);
        let s = table(serde_json::json!({"s3": "http://127.0.0.1:9000", "bucket": "b", "prefix": "/x/y/", "timeout": "1m"})).unwrap();
        let Target::S3(t) = &s.target else { panic!("{s:?}") };
        assert_eq!((t.bucket.as_str(), t.prefix.as_str(), t.region.as_str()), ("b", "x/y", "us-east-1"));
        assert_eq!((t.part_size, t.scheme, s.timeout), (8 << 20, None, Duration::from_secs(60)));
    }

    #[test]
    fn the_constructors_say_what_a_table_with_their_keys_says() {
        let w = table(serde_json::json!({"webhdfs": "http://nn:9870"})).unwrap();
        assert_eq!(format!("{:?}", StagingConfig::to_webhdfs("http://nn:9870")), format!("{w:?}"));
        let s = table(serde_json::json!({
            "s3": "http://s3:9000", "bucket": "b", "access_key_id": "AK", "secret_env": {"secret_access_key": "VAR"},
        }))
        .unwrap();
        assert_eq!(format!("{:?}", StagingConfig::to_s3("http://s3:9000", "b", "AK", "VAR")), format!("{s:?}"));
    }

    #[test]
    fn refuses_both_kinds_neither_and_keys_of_the_other_kind() {
        let both = table(serde_json::json!({"webhdfs": "http://nn:9870", "s3": "http://s3", "bucket": "b"})).unwrap_err();
        assert!(both.contains("both webhdfs and s3"), "{both}");
        let neither = table(serde_json::json!({"keep": true})).unwrap_err();
        assert!(neither.contains("webhdfs = ") && neither.contains("s3 = "), "{neither}");
        let mixed = table(serde_json::json!({"webhdfs": "http://nn:9870", "bucket": "b"})).unwrap_err();
        assert!(mixed.contains("no key bucket"), "{mixed}");
        let mixed = table(serde_json::json!({"s3": "http://s3", "bucket": "b", "dir": "/x"})).unwrap_err();
        assert!(mixed.contains("no key dir") && mixed.contains("prefix"), "{mixed}");
        let no_bucket = table(serde_json::json!({"s3": "http://s3"})).unwrap_err();
        assert!(no_bucket.contains("needs a bucket"), "{no_bucket}");
        let small = table(serde_json::json!({"s3": "http://s3", "bucket": "b", "part_size": 1024})).unwrap_err();
        assert!(small.contains("5 MiB"), "{small}");
        let unknown = table(serde_json::json!({"s3": "http://s3", "bucket": "b", "endpoint": "x"})).unwrap_err();
        assert!(unknown.contains("endpoint"), "{unknown}");
    }

    #[test]
    fn s3_credentials_come_from_the_table_then_the_backend_then_aws_variables() {
        let base = serde_json::json!({"s3": "http://s3", "bucket": "b"});
        let id = |c: &StagingConfig| match &c.target {
            Target::S3(t) => format!("{:?}", t.credentials),
            Target::WebHdfs(_) => String::new(),
        };
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("from-env".to_string()),
            "AWS_SECRET_ACCESS_KEY" | "MY_SECRET" => Some("secret".to_string()),
            _ => None,
        };
        let mut c = table(base.clone()).unwrap();
        c.resolve_credentials(&[], &env).unwrap();
        assert!(id(&c).contains("from-env") && !id(&c).contains("secret"), "{}", id(&c));
        let mut c = table(base.clone()).unwrap();
        let settings = [("access_key_id".to_string(), "from-backend".to_string()), ("secret_access_key".to_string(), "s".to_string())];
        c.resolve_credentials(&settings, &env).unwrap();
        assert!(id(&c).contains("from-backend"), "{}", id(&c));
        let mut c = table(serde_json::json!({"s3": "http://s3", "bucket": "b", "access_key_id": "from-table",
            "secret_env": {"secret_access_key": "MY_SECRET"}}))
        .unwrap();
        c.resolve_credentials(&settings, &env).unwrap();
        assert!(id(&c).contains("from-table"), "{}", id(&c));
        let mut c = table(serde_json::json!({"s3": "http://s3", "bucket": "b", "access_key_id": "x",
            "secret_env": {"secret_access_key": "UNSET"}}))
        .unwrap();
        assert!(c.resolve_credentials(&[], &env).unwrap_err().contains("`UNSET`"));
        let mut c = table(base).unwrap();
        assert!(c.resolve_credentials(&[], &|_| None).unwrap_err().contains("no credentials"));
    }

    #[test]
    fn local_files_are_planned_as_s3a_uris_for_kubernetes_and_s3_for_emr() {
        let config = table(serde_json::json!({"s3": "http://127.0.0.1:9000", "bucket": "b"}))
            .unwrap()
            .with_credentials(S3Credentials::new("id".into(), "secret".into(), None));
        let allowed = Arc::new(Vec::new());
        let app = Application {
            py_files: vec!["file:/apps/dep.py".into(), "/other/dep.py".into(), "s3://kept/x.zip".into()],
            ..app("/apps/main.py", &["/apps/data.txt#in.txt", "/apps/main.py"], None)
        };
        let k8s = Stager::new(config.clone(), allowed.clone(), "kubernetes", &[]).unwrap();
        let (out, planned) = k8s.plan("k1", &app);
        assert_eq!(out.resource, "s3a://b/staging/drover-k1/main.py");
        assert_eq!(
            out.py_files,
            ["s3a://b/staging/drover-k1/dep.py", "s3a://b/staging/drover-k1/2-dep.py", "s3://kept/x.zip"]
        );
        assert_eq!(out.files, ["s3a://b/staging/drover-k1/data.txt#in.txt", "s3a://b/staging/drover-k1/main.py"]);
        assert_eq!(planned.len(), 4, "each local file once: {planned:?}");
        assert_eq!(planned[0].path, "staging/drover-k1/main.py");
        let emr = Stager::new(config, allowed, "emr-serverless", &[]).unwrap();
        assert_eq!(emr.preview(&app).resource, "s3://b/staging/drover-KEY/main.py");
    }

    fn app(resource: &str, files: &[&str], archives: Option<&str>) -> Application {
        Application {
            resource: resource.into(),
            py_files: vec![],
            files: files.iter().map(|f| f.to_string()).collect(),
            name: "a".into(),
            main_class: None,
            args: vec![],
            conf: archives.map(|a| (ARCHIVES.to_string(), a.to_string())).into_iter().collect(),
            deploy_mode: crate::types::DeployMode::Cluster,
            driver: Default::default(),
            executor: Default::default(),
            jars: vec![],
            env: Default::default(),
            proxy_user: None,
        }
    }

    fn hdfs_stager() -> Stager {
        let config = table(serde_json::json!({"webhdfs": "http://nn:9870", "dir": "/st", "fs": "hdfs://nn:8020"})).unwrap();
        Stager::new(config, Arc::new(Vec::new()), "yarn", &[]).unwrap()
    }

    #[test]
    fn local_archives_of_the_conf_are_staged_and_the_list_names_the_copies_with_their_aliases() {
        let stager = hdfs_stager();
        let archives = " /apps/env.tar.gz#env, hdfs://nn:8020/shared/libs.zip#libs ,file:/apps/data.zip,,local:/opt/x.tgz#x,/apps/data.txt#d";
        let (out, planned) = stager.plan("k", &app("hdfs://nn:8020/main.py", &["/apps/data.txt"], Some(archives)));
        assert_eq!(
            out.conf[ARCHIVES],
            "hdfs://nn:8020/st/drover-k/env.tar.gz#env,hdfs://nn:8020/shared/libs.zip#libs,\
             hdfs://nn:8020/st/drover-k/data.zip,local:/opt/x.tgz#x,hdfs://nn:8020/st/drover-k/2-data.txt#d",
            "local items staged in place, aliases kept, remote ones untouched, blanks dropped"
        );
        assert_eq!(out.files, ["hdfs://nn:8020/st/drover-k/data.txt"]);
        let placed: Vec<(&str, &str, Kind)> = planned.iter().map(|p| (p.path.as_str(), p.name.as_str(), p.kind)).collect();
        assert_eq!(
            placed,
            [
                ("/st/drover-k/data.txt", "data.txt", Kind::File),
                ("/st/drover-k/env.tar.gz", "env", Kind::Archive),
                ("/st/drover-k/data.zip", "data.zip", Kind::Archive),
                // One file both as a file and an archive is localized twice,
                // once copied and once unpacked, so it is staged twice.
                ("/st/drover-k/2-data.txt", "d", Kind::Archive),
            ]
        );
        assert!(Stager::needs_staging(&app("hdfs://nn/main.py", &[], Some("/apps/env.zip"))), "an archive alone is staged");
        assert!(!Stager::needs_staging(&app("hdfs://nn/main.py", &[], Some("hdfs://nn/env.zip#env"))));
        let (out, planned) = stager.plan("k", &app("hdfs://nn/main.py", &[], None));
        assert!(!out.conf.contains_key(ARCHIVES) && planned.is_empty(), "no archives, no property");
    }

    #[test]
    fn the_yarn_cache_conf_records_archives_as_archive_resources_with_their_size_and_time() {
        let staged = |uri: &str, name: &str, kind, size, modified_ms| Staged {
            local: PathBuf::from("/x"),
            uri: uri.into(),
            name: name.into(),
            kind,
            size,
            modified_ms,
        };
        let mut out = app("hdfs://nn/st/main.py", &[], None);
        add_cache_conf(
            &mut out,
            &[staged("hdfs://nn/st/main.py", "main.py", Kind::File, 10, 1000), staged("hdfs://nn/st/env.zip", "env", Kind::Archive, 20, 2000)],
        );
        assert_eq!(out.conf["spark.yarn.cache.filenames"], "hdfs://nn/st/main.py#main.py,hdfs://nn/st/env.zip#env");
        assert_eq!(out.conf["spark.yarn.cache.sizes"], "10,20");
        assert_eq!(out.conf["spark.yarn.cache.timestamps"], "1000,2000");
        assert_eq!(out.conf["spark.yarn.cache.types"], "FILE,ARCHIVE");
    }
}
