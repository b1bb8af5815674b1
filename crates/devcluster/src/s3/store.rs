//! The bucket directory: S3's buckets and objects as directories and files.
//!
//! ```text
//! <root>/<bucket>/<key>                      an object, the file at its key's path
//! <root>/.drover-s3/meta/<bucket>/<key>      its ETag, content type and user metadata (JSON)
//! <root>/.drover-s3/uploads/<id>/            a multipart upload: upload.json, one file per part
//! <root>/.drover-s3/tmp/                     bodies being received
//! ```
//!
//! A body is received into `tmp/` and renamed into place once whole, so a
//! reader never sees half an object and the last of two writers wins, as on
//! S3. A file put into a bucket directory by hand is an object too: without
//! a matching metadata file (same size and modification time) its ETag is
//! the MD5 of its bytes, computed when asked. Bucket names cannot start with
//! a dot, so `.drover-s3` is never a bucket.
//!
//! What to list ([`page`]) is decided without I/O.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use axum::body::BodyDataStream;
use axum::http::StatusCode;
use futures::StreamExt as _;
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::wire::{AwsChunked, MAX_KEY_BYTES, MAX_PART_NUMBER, MIN_PART_SIZE, S3Error};

const INTERNAL: &str = ".drover-s3";

/// What is kept of an object besides its bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `x-amz-meta-*` headers, by their name after the prefix.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user: BTreeMap<String, String>,
}

/// The metadata file: [`Meta`], the ETag, and what the object file was
/// when they were written.
#[derive(Serialize, Deserialize)]
struct MetaFile {
    etag: String,
    size: u64,
    modified_ns: u64,
    #[serde(flatten)]
    meta: Meta,
}

/// An object as GetObject, HeadObject and ListObjectsV2 describe it.
#[derive(Debug, Clone)]
pub(crate) struct ObjectInfo {
    pub size: u64,
    pub modified: SystemTime,
    /// Without quotes.
    pub etag: String,
    pub meta: Meta,
}

/// How a request body is encoded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Encoding {
    /// `Content-Encoding: aws-chunked`.
    pub aws_chunked: bool,
    /// `x-amz-decoded-content-length`: the payload's size, when the client said it.
    pub decoded_length: Option<u64>,
}

/// A multipart upload in progress.
#[derive(Serialize, Deserialize)]
struct Upload {
    bucket: String,
    key: String,
    #[serde(flatten)]
    meta: Meta,
}

/// Where an object key lives in its bucket directory.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyPath {
    /// A file.
    Object(PathBuf),
    /// A key ending in `/` (a "directory marker", as S3A writes for mkdir):
    /// kept as a directory, never listed.
    Marker(PathBuf),
}

/// Checks a bucket name against S3's rules (3 to 63 lowercase letters,
/// digits, dots and hyphens; a letter or digit at each end): what keeps a
/// name from leaving the root.
pub(crate) fn check_bucket_name(name: &str) -> Result<(), S3Error> {
    let ok = (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("..");
    match ok {
        true => Ok(()),
        false => Err(S3Error::new(StatusCode::BAD_REQUEST, "InvalidBucketName", "The specified bucket is not valid.")),
    }
}

/// `key` as a path under `dir`. S3 takes any key; a file system does not,
/// so a key with an empty, `.` or `..` segment is refused here, by name.
pub(crate) fn key_path(dir: &Path, key: &str) -> Result<KeyPath, S3Error> {
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::new(StatusCode::BAD_REQUEST, "KeyTooLongError", "Your key is too long"));
    }
    let (segments, marker) = match key.strip_suffix('/') {
        Some(rest) => (rest, true),
        None => (key, false),
    };
    let mut path = dir.to_path_buf();
    for segment in segments.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.contains('\0') {
            return Err(S3Error::invalid_argument(format!(
                "the key `{key}` has an empty, `.` or `..` segment: the devcluster's S3 keeps objects as files and cannot store it"
            )));
        }
        path.push(segment);
    }
    Ok(if marker { KeyPath::Marker(path) } else { KeyPath::Object(path) })
}

/// One ListObjectsV2 page: keys (indices into the listed keys) and common
/// prefixes in key order, and where the next page starts (the last item).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Page {
    pub keys: Vec<usize>,
    pub prefixes: Vec<String>,
    pub next: Option<String>,
}

/// What ListObjectsV2 answers from `keys` (sorted, UTF-8 byte order, as S3
/// sorts): those under `prefix` after `start_after` and after the page
/// marked by `token`, keys sharing a `delimiter` after the prefix rolled up
/// into one common prefix, at most `max_keys` items.
pub(crate) fn page(
    keys: &[String],
    prefix: &str,
    delimiter: Option<&str>,
    start_after: Option<&str>,
    token: Option<&str>,
    max_keys: usize,
) -> Page {
    let delimiter = delimiter.filter(|d| !d.is_empty());
    // A token ending in the delimiter was a common prefix: what it rolled
    // up was listed with it.
    let rolled_up = |k: &str| match (token, delimiter) {
        (Some(t), Some(d)) => t.ends_with(d) && k.starts_with(t),
        _ => false,
    };
    enum Item {
        Key(usize),
        Prefix(String),
    }
    let mut items: Vec<Item> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if items.len() > max_keys {
            break;
        }
        if !k.starts_with(prefix)
            || start_after.is_some_and(|a| k.as_str() <= a)
            || token.is_some_and(|t| k.as_str() <= t)
            || rolled_up(k)
        {
            continue;
        }
        let rest = &k[prefix.len()..];
        match delimiter.and_then(|d| rest.find(d).map(|at| at + d.len())) {
            Some(end) => {
                let common = &k[..prefix.len() + end];
                if !matches!(items.last(), Some(Item::Prefix(p)) if p == common) {
                    items.push(Item::Prefix(common.to_string()));
                }
            }
            None => items.push(Item::Key(i)),
        }
    }
    let truncated = items.len() > max_keys;
    items.truncate(max_keys);
    let mut out = Page::default();
    if truncated {
        out.next = items.last().map(|item| match item {
            Item::Key(i) => keys[*i].clone(),
            Item::Prefix(p) => p.clone(),
        });
    }
    for item in items {
        match item {
            Item::Key(i) => out.keys.push(i),
            Item::Prefix(p) => out.prefixes.push(p),
        }
    }
    out
}

/// The bucket directory.
pub(crate) struct Store {
    root: PathBuf,
}

fn io_error(what: &str) -> impl Fn(std::io::Error) -> S3Error + '_ {
    move |e| S3Error::internal(what, &e)
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn random_id() -> String {
    format!("{:016x}{:016x}", crate::ids::random_u64(), crate::ids::random_u64())
}

impl Store {
    /// The store at `root`, made if missing; bodies a killed devcluster left
    /// half received are removed.
    pub(crate) fn open(root: &Path) -> std::io::Result<Store> {
        let store = Store { root: root.to_path_buf() };
        let tmp = store.internal("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        for dir in ["tmp", "meta", "uploads"] {
            std::fs::create_dir_all(store.internal(dir))?;
        }
        Ok(store)
    }

    fn internal(&self, name: &str) -> PathBuf {
        self.root.join(INTERNAL).join(name)
    }

    fn tmp_file(&self) -> PathBuf {
        self.internal("tmp").join(random_id())
    }

    /// The directory of an existing bucket.
    fn bucket(&self, bucket: &str) -> Result<PathBuf, S3Error> {
        if check_bucket_name(bucket).is_err() {
            return Err(S3Error::no_such_bucket(bucket));
        }
        let dir = self.root.join(bucket);
        match dir.is_dir() {
            true => Ok(dir),
            false => Err(S3Error::no_such_bucket(bucket)),
        }
    }

    pub(crate) fn create_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        check_bucket_name(bucket)?;
        let dir = self.root.join(bucket);
        if dir.is_dir() {
            return Err(S3Error::new(
                StatusCode::CONFLICT,
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already own it.",
            ));
        }
        std::fs::create_dir_all(&dir).map_err(io_error("creating a bucket"))
    }

    pub(crate) fn head_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        self.bucket(bucket).map(drop)
    }

    pub(crate) fn delete_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        let dir = self.bucket(bucket)?;
        if !walk(&dir).map_err(io_error("listing a bucket"))?.is_empty() {
            return Err(S3Error::new(StatusCode::CONFLICT, "BucketNotEmpty", "The bucket you tried to delete is not empty"));
        }
        std::fs::remove_dir_all(&dir).map_err(io_error("deleting a bucket"))?;
        let _ = std::fs::remove_dir_all(self.internal("meta").join(bucket));
        Ok(())
    }

    /// Every bucket with its creation time, by name.
    pub(crate) fn buckets(&self) -> Result<Vec<(String, SystemTime)>, S3Error> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(io_error("listing buckets"))?.flatten() {
            let Ok(name) = entry.file_name().into_string() else { continue };
            if check_bucket_name(&name).is_ok() && entry.path().is_dir() {
                let created = entry.metadata().and_then(|m| m.created().or_else(|_| m.modified()));
                out.push((name, created.unwrap_or(SystemTime::UNIX_EPOCH)));
            }
        }
        out.sort();
        Ok(out)
    }

    fn meta_path(&self, bucket: &str, key: &str) -> PathBuf {
        // The key was checked when its object path was made.
        self.internal("meta").join(bucket).join(key)
    }

    /// The file of an existing object.
    fn object_file(&self, bucket: &str, key: &str) -> Result<(PathBuf, std::fs::Metadata), S3Error> {
        let dir = self.bucket(bucket)?;
        let KeyPath::Object(path) = key_path(&dir, key)? else { return Err(S3Error::no_such_key(key)) };
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok((path, m)),
            _ => Err(S3Error::no_such_key(key)),
        }
    }

    /// An object's size, time, ETag and metadata.
    pub(crate) async fn head(&self, bucket: &str, key: &str) -> Result<(PathBuf, ObjectInfo), S3Error> {
        let (path, m) = self.object_file(bucket, key)?;
        let info = self.info(bucket, key, &path, &m).await?;
        Ok((path, info))
    }

    async fn info(&self, bucket: &str, key: &str, path: &Path, m: &std::fs::Metadata) -> Result<ObjectInfo, S3Error> {
        let modified = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let kept = tokio::fs::read(self.meta_path(bucket, key))
            .await
            .ok()
            .and_then(|bytes| serde_json::from_slice::<MetaFile>(&bytes).ok())
            .filter(|f| f.size == m.len() && f.modified_ns == nanos(modified));
        let (etag, meta) = match kept {
            Some(f) => (f.etag, f.meta),
            // Put there by hand, or changed since: S3's ETag of a single
            // PUT, the MD5 of the bytes.
            None => (hex::encode(md5_of(path).await.map_err(io_error("reading an object"))?), Meta::default()),
        };
        Ok(ObjectInfo { size: m.len(), modified, etag, meta })
    }

    /// Writes the metadata file of the object just renamed into `path`.
    async fn keep_meta(&self, bucket: &str, key: &str, path: &Path, etag: &str, meta: Meta) -> Result<(), S3Error> {
        let m = tokio::fs::metadata(path).await.map_err(io_error("reading an object"))?;
        let file = MetaFile {
            etag: etag.to_string(),
            size: m.len(),
            modified_ns: nanos(m.modified().unwrap_or(SystemTime::UNIX_EPOCH)),
            meta,
        };
        let dst = self.meta_path(bucket, key);
        let tmp = self.tmp_file();
        let json = serde_json::to_vec(&file).map_err(|e| S3Error::internal("writing metadata", &std::io::Error::other(e)))?;
        tokio::fs::write(&tmp, json).await.map_err(io_error("writing metadata"))?;
        place(&tmp, &dst).await.map_err(io_error("writing metadata"))
    }

    /// PutObject: the body, whole, becomes the object at `key`; its ETag.
    pub(crate) async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: BodyDataStream,
        encoding: Encoding,
        meta: Meta,
    ) -> Result<String, S3Error> {
        let dir = self.bucket(bucket)?;
        let path = match key_path(&dir, key)? {
            KeyPath::Object(path) => path,
            KeyPath::Marker(path) => {
                let tmp = self.tmp_file();
                let (_, size) = receive(&tmp, body, encoding).await?;
                let _ = tokio::fs::remove_file(&tmp).await;
                if size != 0 {
                    return Err(S3Error::invalid_argument(format!(
                        "the key `{key}` ends in `/`: the devcluster's S3 keeps it as a directory, which holds no bytes"
                    )));
                }
                tokio::fs::create_dir_all(&path).await.map_err(io_error("making a directory marker"))?;
                return Ok(hex::encode(Md5::digest(b"")));
            }
        };
        if path.is_dir() {
            return Err(prefix_clash(key));
        }
        let tmp = self.tmp_file();
        let (digest, _) = receive(&tmp, body, encoding).await?;
        let etag = hex::encode(digest);
        if let Err(e) = place(&tmp, &path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(placing_error(key, &e));
        }
        self.keep_meta(bucket, key, &path, &etag, meta).await?;
        Ok(etag)
    }

    /// DeleteObject: gone whether or not it was there; directories it
    /// leaves empty go too, as S3 has no directories.
    pub(crate) async fn delete(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        let dir = self.bucket(bucket)?;
        let path = match key_path(&dir, key)? {
            KeyPath::Object(path) => {
                match tokio::fs::remove_file(&path).await {
                    // A key that is only a prefix here is no object either.
                    Ok(()) => {}
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory) => {}
                    Err(e) => return Err(S3Error::internal("deleting an object", &e)),
                }
                let meta = self.meta_path(bucket, key);
                let _ = tokio::fs::remove_file(&meta).await;
                prune(&meta, &self.internal("meta").join(bucket));
                path
            }
            // The marker's directory goes too, if nothing is under it.
            KeyPath::Marker(path) => path.join("marker"),
        };
        prune(&path, &dir);
        Ok(())
    }

    /// Every object key under `prefix`, sorted as S3 sorts them.
    pub(crate) fn keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, S3Error> {
        let dir = self.bucket(bucket)?;
        // Walk only the directory the prefix's whole segments name.
        let start = match prefix.rsplit_once('/') {
            Some((parent, _)) => match key_path(&dir, &format!("{parent}/")) {
                Ok(KeyPath::Marker(path)) => path,
                _ => return Ok(Vec::new()),
            },
            None => dir.clone(),
        };
        if !start.is_dir() {
            return Ok(Vec::new());
        }
        let mut keys: Vec<String> = walk(&start)
            .map_err(io_error("listing a bucket"))?
            .into_iter()
            .filter_map(|p| {
                let rel = p.strip_prefix(&dir).ok()?;
                let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
                Some(parts?.join("/"))
            })
            .filter(|k| k.starts_with(prefix))
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// The description of a listed object.
    pub(crate) async fn listed(&self, bucket: &str, key: &str) -> Result<ObjectInfo, S3Error> {
        self.head(bucket, key).await.map(|(_, info)| info)
    }

    /// CreateMultipartUpload: the upload's id.
    pub(crate) fn create_upload(&self, bucket: &str, key: &str, meta: Meta) -> Result<String, S3Error> {
        let dir = self.bucket(bucket)?;
        if !matches!(key_path(&dir, key)?, KeyPath::Object(_)) {
            return Err(S3Error::invalid_argument(format!("`{key}` ends in `/`: a directory marker takes no parts")));
        }
        let id = random_id();
        let upload = self.internal("uploads").join(&id);
        std::fs::create_dir_all(&upload).map_err(io_error("starting an upload"))?;
        let record = Upload { bucket: bucket.to_string(), key: key.to_string(), meta };
        let json = serde_json::to_vec(&record).map_err(|e| S3Error::internal("starting an upload", &std::io::Error::other(e)))?;
        std::fs::write(upload.join("upload.json"), json).map_err(io_error("starting an upload"))?;
        Ok(id)
    }

    /// The directory of upload `id` of `key`, with what it was started with.
    fn upload(&self, bucket: &str, key: &str, id: &str) -> Result<(PathBuf, Upload), S3Error> {
        self.bucket(bucket)?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(S3Error::no_such_upload(id));
        }
        let dir = self.internal("uploads").join(id);
        let record: Upload = std::fs::read(dir.join("upload.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| S3Error::no_such_upload(id))?;
        if record.bucket != bucket || record.key != key {
            return Err(S3Error::no_such_upload(id));
        }
        Ok((dir, record))
    }

    /// UploadPart: part `number` of upload `id`; its ETag. A part sent
    /// again replaces the one before.
    pub(crate) async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        number: u32,
        body: BodyDataStream,
        encoding: Encoding,
    ) -> Result<String, S3Error> {
        if !(1..=MAX_PART_NUMBER).contains(&number) {
            return Err(S3Error::invalid_argument(format!("Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive")));
        }
        let (dir, _) = self.upload(bucket, key, id)?;
        let tmp = self.tmp_file();
        let (digest, _) = receive(&tmp, body, encoding).await?;
        let etag = hex::encode(digest);
        // Named by number and content: a part sent twice at once leaves
        // two complete files, and CompleteMultipartUpload names the one it means.
        let name = format!("{number}-{etag}");
        if let Err(e) = tokio::fs::rename(&tmp, dir.join(&name)).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            // Aborted or completed meanwhile.
            return Err(match dir.exists() {
                true => S3Error::internal("keeping a part", &e),
                false => S3Error::no_such_upload(id),
            });
        }
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let other = entry.file_name().to_string_lossy().into_owned();
            if other.split_once('-').is_some_and(|(n, _)| n == number.to_string()) && other != name {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(etag)
    }

    /// CompleteMultipartUpload: the `parts` (number, ETag), in order, become
    /// the object; its ETag, S3's: the MD5 of the parts' MD5s, `-<count>`.
    pub(crate) async fn complete(&self, bucket: &str, key: &str, id: &str, parts: &[(u32, String)]) -> Result<String, S3Error> {
        let (dir, record) = self.upload(bucket, key, id)?;
        let bucket_dir = self.bucket(bucket)?;
        let KeyPath::Object(path) = key_path(&bucket_dir, key)? else { return Err(S3Error::no_such_key(key)) };
        let invalid_part = || {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidPart",
                "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
            )
        };
        if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidPartOrder",
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
            ));
        }
        let mut files = Vec::with_capacity(parts.len());
        let mut md5s = Vec::with_capacity(parts.len() * 16);
        for (i, (number, etag)) in parts.iter().enumerate() {
            let raw = hex::decode(etag).ok().filter(|d| d.len() == 16).ok_or_else(invalid_part)?;
            let file = dir.join(format!("{number}-{}", etag.to_ascii_lowercase()));
            let size = std::fs::metadata(&file).map_err(|_| invalid_part())?.len();
            if i + 1 < parts.len() && size < MIN_PART_SIZE {
                return Err(S3Error::new(
                    StatusCode::BAD_REQUEST,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed object size.",
                ));
            }
            md5s.extend_from_slice(&raw);
            files.push(file);
        }
        if path.is_dir() {
            return Err(prefix_clash(key));
        }
        let tmp = self.tmp_file();
        let joined = async {
            let mut out = tokio::fs::File::create(&tmp).await?;
            for file in &files {
                let mut part = tokio::fs::File::open(file).await?;
                tokio::io::copy(&mut part, &mut out).await?;
            }
            out.flush().await
        }
        .await;
        if let Err(e) = joined {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(S3Error::internal("joining parts", &e));
        }
        let etag = format!("{}-{}", hex::encode(Md5::digest(&md5s)), parts.len());
        if let Err(e) = place(&tmp, &path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(placing_error(key, &e));
        }
        self.keep_meta(bucket, key, &path, &etag, record.meta).await?;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        Ok(etag)
    }

    /// AbortMultipartUpload: the parts are removed.
    pub(crate) fn abort(&self, bucket: &str, key: &str, id: &str) -> Result<(), S3Error> {
        let (dir, _) = self.upload(bucket, key, id)?;
        std::fs::remove_dir_all(&dir).map_err(io_error("aborting an upload"))
    }
}

/// Refused: S3 keeps `a` and `a/b` side by side, a file system cannot.
fn prefix_clash(key: &str) -> S3Error {
    S3Error::invalid_request(format!(
        "`{key}` is also the prefix of other keys: the devcluster's S3 keeps objects as files and cannot store both"
    ))
}

fn placing_error(key: &str, e: &std::io::Error) -> S3Error {
    match e.kind() {
        std::io::ErrorKind::NotADirectory | std::io::ErrorKind::IsADirectory | std::io::ErrorKind::AlreadyExists => prefix_clash(key),
        _ => S3Error::internal("placing an object", e),
    }
}

/// Streams `body` into the file `tmp`: the MD5 and size of the payload.
async fn receive(tmp: &Path, body: BodyDataStream, encoding: Encoding) -> Result<([u8; 16], u64), S3Error> {
    let result = receive_into(tmp, body, encoding).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(tmp).await;
    }
    result
}

async fn receive_into(tmp: &Path, mut body: BodyDataStream, encoding: Encoding) -> Result<([u8; 16], u64), S3Error> {
    let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(tmp).await.map_err(io_error("receiving a body"))?);
    let mut md5 = Md5::new();
    let mut size = 0u64;
    let mut chunked = encoding.aws_chunked.then(AwsChunked::default);
    let mut decoded = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| S3Error::incomplete_body(format!("the body ended early: {e}")))?;
        let payload: &[u8] = match &mut chunked {
            Some(d) => {
                decoded.clear();
                d.feed(&chunk, &mut decoded).map_err(S3Error::incomplete_body)?;
                &decoded
            }
            None => &chunk,
        };
        md5.update(payload);
        size += payload.len() as u64;
        file.write_all(payload).await.map_err(io_error("receiving a body"))?;
    }
    if let Some(d) = &chunked {
        d.finish().map_err(S3Error::incomplete_body)?;
    }
    if let Some(expected) = encoding.decoded_length
        && expected != size
    {
        return Err(S3Error::incomplete_body(format!(
            "You did not provide the number of bytes specified by the x-amz-decoded-content-length header ({size} of {expected})"
        )));
    }
    file.flush().await.map_err(io_error("receiving a body"))?;
    Ok((md5.finalize().into(), size))
}

/// Renames `tmp` to `dst`, making `dst`'s directories; again if a delete
/// pruned them in between.
async fn place(tmp: &Path, dst: &Path) -> std::io::Result<()> {
    let parent = dst.parent().unwrap_or(Path::new("."));
    let mut tries = 0;
    loop {
        tokio::fs::create_dir_all(parent).await?;
        match tokio::fs::rename(tmp, dst).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 3 => tries += 1,
            other => return other,
        }
    }
}

/// Removes the directories above `path` that are empty, up to `top` (kept).
fn prune(path: &Path, top: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == top || !d.starts_with(top) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Every file under `dir`, at any depth.
fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    Ok(out)
}

async fn md5_of(path: &Path) -> std::io::Result<[u8; 16]> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(md5.finalize().into());
        }
        md5.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = list.iter().map(ToString::to_string).collect();
        v.sort();
        v
    }

    fn names(all: &[String], p: &Page) -> Vec<String> {
        p.keys.iter().map(|&i| all[i].clone()).collect()
    }

    #[test]
    fn pages_follow_each_other_without_gap_or_repeat() {
        let all = keys(&["a", "b/1", "b/2", "c", "d/x/1", "d/y", "e"]);
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let p = page(&all, "", None, None, token.as_deref(), 2);
            seen.extend(names(&all, &p));
            assert!(p.prefixes.is_empty());
            match p.next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, all);
        // Exactly max_keys left: not truncated.
        let p = page(&all, "", None, Some("d/x/1"), None, 2);
        assert_eq!((names(&all, &p), p.next), (vec!["d/y".to_string(), "e".to_string()], None));
    }

    #[test]
    fn a_delimiter_rolls_keys_up_into_common_prefixes_once_across_pages() {
        let all = keys(&["a", "b/1", "b/2", "b/3", "c", "d/x/1", "d/y"]);
        let p = page(&all, "", Some("/"), None, None, 1000);
        assert_eq!(names(&all, &p), ["a", "c"]);
        assert_eq!(p.prefixes, ["b/", "d/"]);
        // One item a page: a common prefix counts as one, and is not listed again.
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let p = page(&all, "", Some("/"), None, token.as_deref(), 1);
            items.extend(names(&all, &p));
            items.extend(p.prefixes.clone());
            match p.next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(items, ["a", "b/", "c", "d/"]);
        let p = page(&all, "d/", Some("/"), None, None, 1000);
        assert_eq!((names(&all, &p), p.prefixes), (vec!["d/y".to_string()], vec!["d/x/".to_string()]));
        let p = page(&all, "b", None, None, None, 1000);
        assert_eq!(names(&all, &p), ["b/1", "b/2", "b/3"]);
        assert_eq!(page(&all, "", None, None, None, 0), Page::default());
    }

    #[test]
    fn keys_map_into_the_bucket_and_never_out_of_it() {
        let dir = Path::new("/s3/b");
        assert_eq!(key_path(dir, "a/b.py").unwrap(), KeyPath::Object(PathBuf::from("/s3/b/a/b.py")));
        assert_eq!(key_path(dir, "a/").unwrap(), KeyPath::Marker(PathBuf::from("/s3/b/a")));
        assert_eq!(key_path(dir, "a b+c").unwrap(), KeyPath::Object(PathBuf::from("/s3/b/a b+c")));
        for bad in ["../x", "a/../../x", "a//b", "/a", ".", "a/./b"] {
            assert_eq!(key_path(dir, bad).unwrap_err().code(), "InvalidArgument", "{bad}");
        }
        assert_eq!(key_path(dir, &"k".repeat(1025)).unwrap_err().code(), "KeyTooLongError");
        for bad in ["..", ".drover-s3", "ab", "Upper", "a..b", "-ab", &"b".repeat(64)] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
        for good in ["drover-staging", "a.b-c", "123"] {
            assert!(check_bucket_name(good).is_ok(), "{good}");
        }
    }
}
