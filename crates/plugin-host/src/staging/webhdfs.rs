//! The few WebHDFS calls staging needs (the NameNode's REST API,
//! `/webhdfs/v1/<path>?op=...`): CREATE with its two steps (the NameNode
//! answers 307 with a DataNode's `Location`, which takes the bytes),
//! GETFILESTATUS for the size and modification time YARN checks, and DELETE.
//! Every request, the redirect's included, goes to a host of the backend's
//! allowlist or not at all.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::client::legacy::Client;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncRead, ReadBuf};

use super::{StageError, WebHdfsTarget};
use crate::policy::HostRule;

pub(super) type Payload = UnsyncBoxBody<Bytes, std::io::Error>;

/// Bytes read from disk per chunk of an upload: the most of a file in memory at once.
const CHUNK: usize = 64 * 1024;

/// What GETFILESTATUS says about a file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileStatus {
    pub(crate) length: u64,
    pub(crate) modification_time: i64,
}

pub(crate) struct WebHdfs {
    base: Uri,
    user: Option<String>,
    allowed: Arc<Vec<HostRule>>,
    client: Client<HttpsConnector<HttpConnector>, Payload>,
}

impl WebHdfs {
    /// `ca_file`: the CA an https NameNode's (and its DataNodes')
    /// certificates are checked against instead of the public web roots.
    pub(crate) fn new(config: &WebHdfsTarget, allowed: Arc<Vec<HostRule>>, ca_file: Option<&Path>) -> Result<WebHdfs, String> {
        let base: Uri = config
            .webhdfs
            .parse()
            .map_err(|e| format!("staging webhdfs `{}` is not a URL: {e}", config.webhdfs))?;
        if !matches!(base.scheme_str(), Some("http" | "https")) || base.host().is_none() {
            return Err(format!(
                "staging webhdfs `{}` must be an http:// or https:// URL with a host (https: the NameNode's \
                 dfs.namenode.https-address)",
                config.webhdfs
            ));
        }
        if !config.dir.starts_with('/') {
            return Err(format!("staging dir `{}` must be an absolute path", config.dir));
        }
        Ok(WebHdfs {
            base,
            user: config.user.clone(),
            allowed,
            client: Client::builder(TokioExecutor::new()).build(crate::policy::https_connector(ca_file)?),
        })
    }

    /// `host:port` of the NameNode's HTTP address.
    pub(crate) fn authority(&self) -> String {
        self.base.authority().map(ToString::to_string).unwrap_or_default()
    }

    fn url(&self, path: &str, op: &str) -> String {
        let mut url = format!(
            "{}://{}/webhdfs/v1{}?op={op}",
            self.base.scheme_str().unwrap_or("http"),
            self.authority(),
            encode_path(path)
        );
        if let Some(u) = &self.user {
            url.push_str("&user.name=");
            url.push_str(&encode_query(u));
        }
        url
    }

    async fn send(&self, method: Method, url: &str, body: Payload) -> Result<http::Response<hyper::body::Incoming>, StageError> {
        let uri: Uri = url.parse().map_err(|e| StageError::Rejected(format!("bad URL {url}: {e}")))?;
        let host = uri.host().unwrap_or_default().trim_matches(['[', ']']).to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(80);
        if uri.scheme_str() != Some("http") {
            return Err(StageError::Rejected(format!("{url}: only http:// WebHDFS is supported")));
        }
        if !self.allowed.iter().any(|r| r.allows(&host, port)) {
            return Err(StageError::Denied(format!("{host}:{port}")));
        }
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(body)
            .map_err(|e| StageError::Rejected(e.to_string()))?;
        self.client
            .request(request)
            .await
            .map_err(|e| StageError::Unavailable(format!("{host}:{port}: {e}")))
    }

    /// Writes `local` to `path` (overwriting), then returns its status.
    pub(crate) async fn create(&self, path: &str, local: &Path) -> Result<FileStatus, StageError> {
        let local_err = |e| StageError::Local { path: local.display().to_string(), source: e };
        // Open first: a missing file fails before anything reaches the cluster.
        let file = tokio::fs::File::open(local).await.map_err(local_err)?;
        let size = file.metadata().await.map_err(local_err)?.len();
        let url = format!("{}&overwrite=true", self.url(path, "CREATE"));
        let first = self.send(Method::PUT, &url, empty()).await?;
        let location = match first.status() {
            StatusCode::TEMPORARY_REDIRECT => first
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .ok_or_else(|| StageError::Rejected("CREATE redirect without a Location".into()))?,
            _ => return Err(failure("CREATE", first).await),
        };
        let body = FileBody::new(file, size);
        let second = self.send(Method::PUT, &location, body.boxed_unsync()).await?;
        if second.status() != StatusCode::CREATED {
            return Err(failure("CREATE (data)", second).await);
        }
        self.status(path).await
    }

    pub(crate) async fn status(&self, path: &str) -> Result<FileStatus, StageError> {
        let response = self.send(Method::GET, &self.url(path, "GETFILESTATUS"), empty()).await?;
        if response.status() != StatusCode::OK {
            return Err(failure("GETFILESTATUS", response).await);
        }
        let body = read(response).await?;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| StageError::Rejected(format!("GETFILESTATUS answered no JSON: {e}")))?;
        let fs = &v["FileStatus"];
        match (fs["length"].as_u64(), fs["modificationTime"].as_i64()) {
            (Some(length), Some(modification_time)) => Ok(FileStatus { length, modification_time }),
            _ => Err(StageError::Rejected(format!("GETFILESTATUS answered {v}"))),
        }
    }

    /// Deletes `path` and everything under it; a path already gone is fine.
    pub(crate) async fn delete(&self, path: &str) -> Result<(), StageError> {
        let url = format!("{}&recursive=true", self.url(path, "DELETE"));
        let response = self.send(Method::DELETE, &url, empty()).await?;
        if response.status() != StatusCode::OK {
            return Err(failure("DELETE", response).await);
        }
        Ok(())
    }
}

pub(super) fn empty() -> Payload {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub(super) async fn read(response: http::Response<hyper::body::Incoming>) -> Result<Bytes, StageError> {
    response
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| StageError::Unavailable(format!("reading the answer: {e}")))
}

/// A refusal, with the RemoteException's message where there is one; a 5xx
/// is the file system being unavailable.
async fn failure(op: &str, response: http::Response<hyper::body::Incoming>) -> StageError {
    let status = response.status();
    let body = read(response).await.unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["RemoteException"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
    let text = format!("{op} answered {status}: {message}");
    if status.is_server_error() {
        StageError::Unavailable(text)
    } else {
        StageError::Rejected(text)
    }
}

/// A file's bytes as a request body, read a chunk at a time as the
/// connection takes them, with its exact length (sent as Content-Length).
pub(super) struct FileBody {
    file: tokio::fs::File,
    left: u64,
    buf: Vec<u8>,
}

impl FileBody {
    /// The next `len` bytes of `file`, from where it is positioned.
    pub(super) fn new(file: tokio::fs::File, len: u64) -> FileBody {
        FileBody { file, left: len, buf: vec![0; CHUNK] }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let want = this.buf.len().min(usize::try_from(this.left).unwrap_or(usize::MAX));
        let mut buf = ReadBuf::new(&mut this.buf[..want]);
        match Pin::new(&mut this.file).poll_read(cx, &mut buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) if buf.filled().is_empty() => Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file got shorter while it was uploaded",
            )))),
            Poll::Ready(Ok(())) => {
                let chunk = Bytes::copy_from_slice(buf.filled());
                this.left -= chunk.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// Percent-encodes a path's bytes outside the unreserved set and `/`.
pub(super) fn encode_path(path: &str) -> String {
    encode(path, |b| b == b'/')
}

pub(super) fn encode_query(s: &str) -> String {
    encode(s, |_| false)
}

fn encode(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
