//! HDFS's NameNode REST API (WebHDFS, `/webhdfs/v1/<path>?op=...`) over a
//! local directory: where a YARN client stages an application's files, and
//! where the YARN stand-in localizes an ApplicationMaster's resources from.
//!
//! Emulated from Hadoop 3's `NamenodeWebHdfsMethods` closely enough for the
//! PyPI `hdfs` client (HdfsCLI) and drover's staging:
//!
//! - `PUT ?op=CREATE[&overwrite=true]` answers `307 Temporary Redirect` with a
//!   `Location` on "the DataNode" (this same server, with `data=true`, at the
//!   address the client reached the NameNode by, so a client through a
//!   proxy stays behind it), which takes the bytes (streamed to disk) and
//!   answers `201 Created`;
//! - `GET ?op=GETFILESTATUS`, `GET ?op=LISTSTATUS`, `GET ?op=OPEN` (the bytes,
//!   without the redirect), `PUT ?op=MKDIRS`, `DELETE ?op=DELETE[&recursive=true]`,
//!   `GET ?op=GETHOMEDIRECTORY`;
//! - errors are `{"RemoteException": {exception, javaClassName, message}}`.
//!
//! Deliberate differences: no permissions, owners or replication (every file
//! is `rw-r--r--`, owned by the caller's `user.name`); no APPEND, RENAME or
//! checksums; `OPEN` serves the bytes itself.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{OriginalUri, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

use crate::http::json_response;

/// The server's address (its DataNode's too) and the directory the file system is kept in.
pub(crate) struct Namenode {
    addr: std::net::SocketAddr,
    root: PathBuf,
}

/// The file system's root directory under a devcluster's work directory.
pub(crate) fn root(work_dir: &Path) -> PathBuf {
    work_dir.join("hdfs")
}

pub(crate) fn router(addr: std::net::SocketAddr, root: PathBuf) -> anyhow::Result<Router> {
    std::fs::create_dir_all(&root)?;
    let nn = Arc::new(Namenode { addr, root });
    Ok(Router::new()
        .route("/webhdfs/v1/", any(handle_root))
        .route("/webhdfs/v1", any(handle_root))
        .route("/webhdfs/v1/{*path}", any(handle))
        .with_state(nn))
}

/// The local file an `hdfs:` URI names in `root`: `hdfs://any-host/p`,
/// `hdfs:///p` or `hdfs:/p`.
pub(crate) fn local_file(root: &Path, uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("hdfs:")?;
    let path = match rest.strip_prefix("//") {
        Some(after) => &after[after.find('/')?..],
        None => rest,
    };
    safe_join(root, path)
}

fn safe_join(root: &Path, path: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    for c in Path::new(path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn remote_error(code: StatusCode, exception: &str, message: &str) -> Response {
    json_response(
        code,
        &json!({"RemoteException": {
            "exception": exception,
            "javaClassName": format!("{}.{exception}", if exception == "FileNotFoundException" { "java.io" } else { "org.apache.hadoop.fs" }),
            "message": message,
        }}),
    )
}

fn not_found(path: &str) -> Response {
    remote_error(StatusCode::NOT_FOUND, "FileNotFoundException", &format!("File does not exist: {path}"))
}

async fn handle_root(
    State(nn): State<Arc<Namenode>>,
    method: axum::http::Method,
    uri: OriginalUri,
    headers: axum::http::HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Body,
) -> Response {
    serve(nn, method, "/".into(), uri, &headers, q, body).await
}

async fn handle(
    State(nn): State<Arc<Namenode>>,
    method: axum::http::Method,
    axum::extract::Path(path): axum::extract::Path<String>,
    uri: OriginalUri,
    headers: axum::http::HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Body,
) -> Response {
    serve(nn, method, format!("/{path}"), uri, &headers, q, body).await
}

async fn serve(
    nn: Arc<Namenode>,
    method: axum::http::Method,
    path: String,
    uri: OriginalUri,
    headers: &axum::http::HeaderMap,
    q: HashMap<String, String>,
    body: Body,
) -> Response {
    let op = q.get("op").map(|s| s.to_ascii_uppercase()).unwrap_or_default();
    // Hadoop's boolean parameters take any case ("True" from Python clients).
    let flag = |name: &str| q.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let user = q.get("user.name").cloned().unwrap_or_else(|| "dr.who".into());
    let Some(local) = safe_join(&nn.root, &path) else {
        return remote_error(StatusCode::BAD_REQUEST, "IllegalArgumentException", &format!("Invalid path {path}"));
    };
    use axum::http::Method as M;
    match (method, op.as_str()) {
        (M::PUT, "CREATE") if flag("data") => create(&local, &path, flag("overwrite"), body).await,
        (M::PUT, "CREATE") => {
            if local.is_dir() {
                return remote_error(StatusCode::FORBIDDEN, "FileAlreadyExistsException", &format!("{path} already exists as a directory"));
            }
            // "The DataNode": this same server, told to take the data, as
            // the client reached it.
            let target = uri.0.path_and_query().map(ToString::to_string).unwrap_or_default();
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).map_or_else(|| nn.addr.to_string(), str::to_string);
            let location = format!("http://{host}{target}&data=true");
            (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)]).into_response()
        }
        (M::GET, "GETFILESTATUS") => match status(&local, "", &user) {
            Some(s) => json_response(StatusCode::OK, &json!({"FileStatus": s})),
            None => not_found(&path),
        },
        (M::GET, "LISTSTATUS") => {
            if local.is_file() {
                return json_response(StatusCode::OK, &json!({"FileStatuses": {"FileStatus": [status(&local, "", &user)]}}));
            }
            let Ok(entries) = std::fs::read_dir(&local) else { return not_found(&path) };
            let mut list: Vec<(String, Value)> = entries
                .flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with(".drover-tmp"))
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    status(&e.path(), &name, &user).map(|s| (name, s))
                })
                .collect();
            list.sort_by(|a, b| a.0.cmp(&b.0));
            let list: Vec<Value> = list.into_iter().map(|(_, s)| s).collect();
            json_response(StatusCode::OK, &json!({"FileStatuses": {"FileStatus": list}}))
        }
        (M::GET, "OPEN") => match tokio::fs::File::open(&local).await {
            Ok(f) if local.is_file() => (
                [(header::CONTENT_TYPE, "application/octet-stream")],
                Body::from_stream(tokio_util::io::ReaderStream::new(f)),
            )
                .into_response(),
            _ => not_found(&path),
        },
        (M::GET, "GETHOMEDIRECTORY") => json_response(StatusCode::OK, &json!({"Path": format!("/user/{user}")})),
        (M::PUT, "MKDIRS") => {
            let ok = std::fs::create_dir_all(&local).is_ok();
            json_response(StatusCode::OK, &json!({"boolean": ok}))
        }
        (M::DELETE, "DELETE") => {
            let recursive = flag("recursive");
            let done = if local.is_dir() {
                if recursive {
                    std::fs::remove_dir_all(&local).is_ok()
                } else if std::fs::remove_dir(&local).is_err() {
                    return remote_error(
                        StatusCode::FORBIDDEN,
                        "PathIsNotEmptyDirectoryException",
                        &format!("`{path} is non empty': Directory is not empty"),
                    );
                } else {
                    true
                }
            } else {
                std::fs::remove_file(&local).is_ok()
            };
            json_response(StatusCode::OK, &json!({"boolean": done}))
        }
        (m, op) => remote_error(
            StatusCode::BAD_REQUEST,
            "UnsupportedOperationException",
            &format!("{op} is not supported with {m} by this stand-in"),
        ),
    }
}

/// The DataNode's half of CREATE: the body goes to a temporary file, renamed
/// into place once complete, so a reader never sees half a file.
async fn create(local: &Path, path: &str, overwrite: bool, body: Body) -> Response {
    if local.exists() && !overwrite {
        return remote_error(StatusCode::FORBIDDEN, "FileAlreadyExistsException", &format!("{path} for client already exists"));
    }
    let Some(parent) = local.parent() else { return not_found(path) };
    if let Err(e) = tokio::fs::create_dir_all(parent).await {
        return remote_error(StatusCode::FORBIDDEN, "ParentNotDirectoryException", &e.to_string());
    }
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = parent.join(format!(".drover-tmp-{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    let written = async {
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.map_err(std::io::Error::other)?).await?;
        }
        file.flush().await?;
        tokio::fs::rename(&tmp, local).await
    }
    .await;
    match written {
        Ok(()) => (StatusCode::CREATED, [(header::LOCATION, format!("hdfs://{path}"))]).into_response(),
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            remote_error(StatusCode::INTERNAL_SERVER_ERROR, "IOException", &e.to_string())
        }
    }
}

/// `FileStatus` as Hadoop's `JsonUtil.toJsonMap` writes it.
fn status(local: &Path, suffix: &str, user: &str) -> Option<Value> {
    let meta = std::fs::metadata(local).ok()?;
    let modified = modified_ms(&meta);
    let dir = meta.is_dir();
    Some(json!({
        "accessTime": if dir { 0 } else { modified },
        "blockSize": if dir { 0 } else { 134_217_728 },
        "childrenNum": if dir { std::fs::read_dir(local).map(Iterator::count).unwrap_or(0) } else { 0 },
        "fileId": 16_386,
        "group": "supergroup",
        "length": if dir { 0 } else { meta.len() },
        "modificationTime": modified,
        "owner": user,
        "pathSuffix": suffix,
        "permission": if dir { "755" } else { "644" },
        "replication": if dir { 0 } else { 1 },
        "storagePolicy": 0,
        "type": if dir { "DIRECTORY" } else { "FILE" },
    }))
}

/// A file's modification time in milliseconds, as HDFS keeps it.
pub(crate) fn modified_ms(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hdfs_uris_map_into_the_root_and_never_out_of_it() {
        let root = Path::new("/w/hdfs");
        assert_eq!(local_file(root, "hdfs://127.0.0.1:9/a/b.jar"), Some(PathBuf::from("/w/hdfs/a/b.jar")));
        assert_eq!(local_file(root, "hdfs:///a/b.jar"), Some(PathBuf::from("/w/hdfs/a/b.jar")));
        assert_eq!(local_file(root, "hdfs://h/../etc/passwd"), None);
        assert_eq!(local_file(root, "s3://b/k"), None);
    }
}
