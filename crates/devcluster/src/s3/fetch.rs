//! Localizing a driver's `s3://` and `s3a://` resources, as a real driver
//! does before it runs: the Kubernetes stand-in's driver pods (Spark's
//! submission client in the pod downloads remote `--jars`, `--files` and
//! `--py-files` into the working directory, SPARK-33782) and the EMR
//! stand-ins' job runs (EMRFS) fetch each object from the devcluster's S3
//! (its own endpoint, or the one it is configured with,
//! [`crate::DevClusterConfig::s3`]) into the driver's directory and run the
//! copies. The items of `spark.archives` are unpacked there, each into a
//! directory named by its `#alias` or its file name, as spark-submit does
//! for `--archives`. The stand-in only reads, path-style, signing with
//! `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` when they are set and the
//! stand-in's own made-up account otherwise (moto and the devcluster's own
//! S3 take any signature; a real node reads with its instance role).
//!
//! Without an endpoint nothing is fetched, and a driver naming `s3:` fails
//! as a cluster without the file system would (`No FileSystem for scheme`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use tokio::io::AsyncWriteExt as _;

/// The Spark properties whose comma-separated lists name files the driver
/// reads locally.
const LISTS: [&str; 3] = ["spark.jars", "spark.files", "spark.submit.pyFiles"];

/// The Spark property whose items are archives, unpacked where the driver runs.
const ARCHIVES: &str = "spark.archives";

/// An S3 endpoint to read objects from.
#[derive(Clone)]
pub struct S3Source {
    endpoint: String,
    client: reqwest::Client,
    credentials: Credentials,
}

impl std::fmt::Debug for S3Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Source").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl S3Source {
    /// `endpoint` is the base URL (`http://127.0.0.1:5000`); objects are
    /// read at `<endpoint>/<bucket>/<key>`.
    pub fn new(endpoint: &str) -> S3Source {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let credentials = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Credentials::new(id, secret, env("AWS_SESSION_TOKEN"), None, "environment"),
            _ => Credentials::new(crate::aws::ACCESS_KEY_ID, crate::aws::SECRET_ACCESS_KEY, None, None, "stand-in"),
        };
        S3Source { endpoint: endpoint.trim_end_matches('/').to_string(), client: reqwest::Client::new(), credentials }
    }

    /// The SigV4 headers of `GET url` (S3's rules: the path as sent, the
    /// payload not hashed). drover's S3 stager signs with the same settings
    /// (drover-plugin-host, `staging/s3.rs`); they are written twice because
    /// neither crate may depend on the other and no crate both depend on is
    /// a home for AWS signing.
    fn signed_headers(&self, url: &str) -> Result<Vec<(String, String)>, String> {
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(crate::aws::REGION)
            .name("s3")
            .time(std::time::SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let request = SignableRequest::new("GET", url, std::iter::empty(), SignableBody::UnsignedPayload)
            .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(request, &params).map_err(|e| e.to_string())?.into_parts();
        Ok(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    /// Downloads every S3 resource `resource` and the file lists of `conf`
    /// name into `dir` (under its `#alias` if it has one, else its file
    /// name), and returns the resource with those names replaced by the
    /// copies' paths (the same for `conf`, in place); the S3 archives of
    /// `spark.archives` are unpacked into `dir` the same way, each into a
    /// directory. The error reads as a JVM driver's would.
    pub async fn localize(&self, dir: &Path, resource: &str, conf: &mut BTreeMap<String, String>) -> Result<String, String> {
        let resource = match self.fetch_item(dir, resource).await? {
            Some(path) => path.display().to_string(),
            None => resource.to_string(),
        };
        for key in LISTS {
            let Some(list) = conf.get(key).cloned() else { continue };
            let mut items = Vec::new();
            for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                items.push(match self.fetch_item(dir, item).await? {
                    Some(path) => path.display().to_string(),
                    None => item.to_string(),
                });
            }
            conf.insert(key.to_string(), items.join(","));
        }
        if let Some(list) = conf.get(ARCHIVES).cloned() {
            let mut items = Vec::new();
            for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                items.push(match self.unpack_item(dir, item).await? {
                    Some(path) => path.display().to_string(),
                    None => item.to_string(),
                });
            }
            conf.insert(ARCHIVES.to_string(), items.join(","));
        }
        Ok(resource)
    }

    /// The directory `item` is unpacked into if it names an S3 archive;
    /// `None` otherwise. The archive itself is downloaded beside it first,
    /// then removed.
    async fn unpack_item(&self, dir: &Path, item: &str) -> Result<Option<PathBuf>, String> {
        let (uri, alias) = item.split_once('#').map_or((item, None), |(u, a)| (u, Some(a)));
        let Some((bucket, key)) = bucket_and_key(uri) else { return Ok(None) };
        let file = key.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("archive").to_string();
        let name = alias.filter(|n| !n.is_empty()).unwrap_or(&file);
        let (download, dst) = (dir.join(format!(".{name}.download")), dir.join(name));
        self.fetch(uri, bucket, key, &download).await?;
        let (from, to) = (download.clone(), dst.clone());
        let unpacked = tokio::task::spawn_blocking(move || crate::archive::unpack(&from, &file, &to))
            .await
            .map_err(|e| format!("java.io.IOException: unpacking {uri}: {e}"))?;
        let _ = tokio::fs::remove_file(&download).await;
        unpacked?;
        Ok(Some(dst))
    }

    /// The local copy of `item` if it names an S3 object; `None` otherwise.
    async fn fetch_item(&self, dir: &Path, item: &str) -> Result<Option<PathBuf>, String> {
        let (uri, alias) = item.split_once('#').map_or((item, None), |(u, a)| (u, Some(a)));
        let Some((bucket, key)) = bucket_and_key(uri) else { return Ok(None) };
        let name = alias.or_else(|| key.rsplit('/').next()).filter(|n| !n.is_empty()).unwrap_or("resource");
        let dst = dir.join(name);
        self.fetch(uri, bucket, key, &dst).await?;
        Ok(Some(dst))
    }

    /// Streams one object to `dst`, a chunk at a time.
    async fn fetch(&self, uri: &str, bucket: &str, key: &str, dst: &Path) -> Result<(), String> {
        let io = |e: &dyn std::fmt::Display| format!("java.io.IOException: localizing {uri}: {e}");
        let url = format!("{}/{bucket}/{}", self.endpoint, encode_key(key));
        let mut request = self.client.get(&url);
        for (k, v) in self.signed_headers(&url).map_err(|e| io(&e))? {
            request = request.header(k, v);
        }
        let mut response = request.send().await.map_err(|e| io(&e))?;
        match response.status().as_u16() {
            200 => {}
            404 => return Err(format!("java.io.FileNotFoundException: No such file or directory: {uri}")),
            status => return Err(io(&format!("GET {url} answered {status}"))),
        }
        tokio::fs::create_dir_all(dir_of(dst)).await.map_err(|e| io(&e))?;
        let mut file = tokio::fs::File::create(dst).await.map_err(|e| io(&e))?;
        while let Some(chunk) = response.chunk().await.map_err(|e| io(&e))? {
            file.write_all(&chunk).await.map_err(|e| io(&e))?;
        }
        file.flush().await.map_err(|e| io(&e))?;
        // A script may be the driver itself: the owner may read and run it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            tokio::fs::set_permissions(dst, std::fs::Permissions::from_mode(0o700)).await.map_err(|e| io(&e))?;
        }
        Ok(())
    }
}

fn dir_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// `s3://bucket/key` or `s3a://bucket/key` (`s3n:` too) -> (bucket, key).
pub fn bucket_and_key(uri: &str) -> Option<(&str, &str)> {
    let rest = ["s3://", "s3a://", "s3n://"].iter().find_map(|p| uri.strip_prefix(p))?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

/// Percent-encodes a key's bytes outside the unreserved set and `/`.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bucket_and_key_from_s3_and_s3a_uris_only() {
        assert_eq!(bucket_and_key("s3://b/p/x.jar"), Some(("b", "p/x.jar")));
        assert_eq!(bucket_and_key("s3a://b/x.py"), Some(("b", "x.py")));
        assert_eq!(bucket_and_key("s3://b/"), None);
        assert_eq!(bucket_and_key("hdfs://nn/x"), None);
        assert_eq!(bucket_and_key("/local/x.py"), None);
        assert_eq!(encode_key("a b/c+d.py"), "a%20b/c%2Bd.py");
    }
}
