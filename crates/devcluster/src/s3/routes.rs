//! The endpoint's router: one handler that reads a path-style request
//! (`/<bucket>/<key>?<subresource>`) as the S3 operation it is, and the
//! handlers of each operation. Everything on disk is [`super::store`]'s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::store::{Encoding, Meta, ObjectInfo, Store, page};
use super::wire::{
    BucketEntry, Buckets, CommonPrefix, CompleteMultipartUploadResult, InitiateMultipartUploadResult, ListAllMyBucketsResult,
    ListBucketResult, MAX_KEYS, ObjectEntry, Owner, S3Error, XMLNS, byte_range, completed_parts, xml_response,
};

/// Query parameters that make a request another operation than the
/// method's plain one (ACLs, tagging, versions, ...); the ones the stand-in
/// implements are matched before this list is looked at.
const SUBRESOURCES: &[&str] = &[
    "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption", "intelligent-tiering", "inventory",
    "legal-hold", "lifecycle", "location", "logging", "metrics", "notification", "object-lock", "ownershipControls",
    "partNumber", "policy", "policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore", "retention",
    "select", "session", "tagging", "torrent", "uploadId", "uploads", "versioning", "versions", "website",
];

/// What `encoding-type=url` escapes: all but S3's unreserved characters and `/`.
const KEY_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');

/// The longest CompleteMultipartUpload body read (10,000 parts fit).
const MAX_XML_BYTES: usize = 8 << 20;

pub(crate) fn router(store: Arc<Store>) -> Router {
    Router::new().fallback(handle).with_state(store)
}

async fn handle(
    State(store): State<Arc<Store>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Body,
) -> Response {
    let request = Request { store: &store, method, uri, headers, query };
    let mut response = request.serve(body).await.unwrap_or_else(|e| e.into_response());
    let id = format!("{:016X}", crate::ids::random_u64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-amz-request-id", v);
    }
    response
}

struct Request<'a> {
    store: &'a Store,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    query: HashMap<String, String>,
}

impl Request<'_> {
    fn has(&self, param: &str) -> bool {
        self.query.contains_key(param)
    }

    fn param(&self, param: &str) -> Option<&str> {
        self.query.get(param).map(String::as_str)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first query parameter that names an operation of its own.
    fn subresource(&self) -> Option<&'static str> {
        SUBRESOURCES.iter().copied().find(|s| self.has(s))
    }

    /// (bucket, key), percent-decoded; either may be empty.
    fn target(&self) -> Result<(String, String), S3Error> {
        let path = self.uri.path().strip_prefix('/').unwrap_or(self.uri.path());
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        let decode = |s: &str| {
            percent_decode_str(s).decode_utf8().map(|c| c.into_owned()).map_err(|_| {
                S3Error::new(StatusCode::BAD_REQUEST, "InvalidURI", "Couldn't parse the specified URI.")
            })
        };
        Ok((decode(bucket)?, decode(key)?))
    }

    fn not_implemented(&self, what: &str) -> S3Error {
        S3Error::not_implemented(&format!("{what} ({} {})", self.method, self.uri))
    }

    async fn serve(self, body: Body) -> Result<Response, S3Error> {
        let (bucket, key) = self.target()?;
        if bucket.is_empty() {
            return match self.method {
                Method::GET => self.list_buckets(),
                _ => Err(S3Error::method_not_allowed()),
            };
        }
        if key.is_empty() {
            return self.bucket_operation(&bucket, body).await;
        }
        let store = self.store;
        match self.method {
            Method::PUT if self.headers.contains_key("x-amz-copy-source") => Err(self.not_implemented("CopyObject")),
            Method::PUT if self.has("partNumber") || self.has("uploadId") => {
                let (Some(id), Some(number)) = (self.param("uploadId"), self.param("partNumber")) else {
                    return Err(S3Error::invalid_request("UploadPart needs both partNumber and uploadId"));
                };
                let number = number
                    .parse::<u32>()
                    .map_err(|_| S3Error::invalid_argument("Part number must be an integer between 1 and 10000, inclusive"))?;
                let etag = store.upload_part(&bucket, &key, id, number, body.into_data_stream(), self.encoding()).await?;
                Ok(etag_response(&etag))
            }
            Method::PUT if self.subresource().is_none() => {
                let etag = store.put(&bucket, &key, body.into_data_stream(), self.encoding(), self.meta()).await?;
                Ok(etag_response(&etag))
            }
            Method::GET | Method::HEAD if self.subresource().is_none() => self.get_object(&bucket, &key).await,
            Method::DELETE if self.has("uploadId") => {
                store.abort(&bucket, &key, self.param("uploadId").unwrap_or_default())?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            Method::DELETE if self.subresource().is_none() => {
                store.delete(&bucket, &key).await?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            Method::POST if self.has("uploads") => {
                let upload_id = store.create_upload(&bucket, &key, self.meta())?;
                Ok(xml_response(StatusCode::OK, &InitiateMultipartUploadResult { xmlns: XMLNS, bucket, key, upload_id }))
            }
            Method::POST if self.has("uploadId") => {
                let xml = axum::body::to_bytes(body, MAX_XML_BYTES).await.map_err(|_| S3Error::malformed_xml())?;
                let parts = completed_parts(&xml)?;
                let etag = store.complete(&bucket, &key, self.param("uploadId").unwrap_or_default(), &parts).await?;
                let host = self.header("host").unwrap_or("127.0.0.1");
                let location = format!("http://{host}/{bucket}/{}", utf8_percent_encode(&key, KEY_ESCAPES));
                let result = CompleteMultipartUploadResult { xmlns: XMLNS, location, bucket, key, etag: quoted(&etag) };
                Ok(xml_response(StatusCode::OK, &result))
            }
            _ => Err(self.not_implemented(self.subresource().unwrap_or("this operation on an object"))),
        }
    }

    async fn bucket_operation(&self, bucket: &str, body: Body) -> Result<Response, S3Error> {
        let plain = self.subresource().is_none();
        match self.method {
            Method::PUT if plain => {
                // CreateBucketConfiguration (a region) changes nothing here.
                let _ = axum::body::to_bytes(body, MAX_XML_BYTES).await;
                self.store.create_bucket(bucket)?;
                Ok(([(header::LOCATION, format!("/{bucket}"))]).into_response())
            }
            Method::HEAD if plain => {
                self.store.head_bucket(bucket)?;
                Ok(([("x-amz-bucket-region", crate::aws::REGION)]).into_response())
            }
            Method::DELETE if plain => {
                self.store.delete_bucket(bucket)?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            Method::GET if self.param("list-type") == Some("2") && plain => self.list_objects(bucket).await,
            Method::GET if plain => Err(self.not_implemented("ListObjects (version 1; ListObjectsV2, list-type=2, is)")),
            _ => Err(self.not_implemented(self.subresource().unwrap_or("this operation on a bucket"))),
        }
    }

    fn list_buckets(&self) -> Result<Response, S3Error> {
        let buckets = self
            .store
            .buckets()?
            .into_iter()
            .map(|(name, created)| BucketEntry { name, creation_date: iso8601(created) })
            .collect();
        let result = ListAllMyBucketsResult { xmlns: XMLNS, owner: owner(), buckets: Buckets { buckets } };
        Ok(xml_response(StatusCode::OK, &result))
    }

    /// ListObjectsV2: one page, in key order.
    async fn list_objects(&self, bucket: &str) -> Result<Response, S3Error> {
        let prefix = self.param("prefix").unwrap_or_default();
        let delimiter = self.param("delimiter").filter(|d| !d.is_empty());
        let max_keys = match self.param("max-keys") {
            None => MAX_KEYS,
            Some(n) => n
                .parse::<usize>()
                .map_err(|_| S3Error::invalid_argument("Provided max-keys not an integer or within integer range"))?
                .min(MAX_KEYS),
        };
        let url = match self.param("encoding-type") {
            None => false,
            Some("url") => true,
            Some(_) => return Err(S3Error::invalid_argument("Invalid Encoding Method specified in Request")),
        };
        let token = self.param("continuation-token");
        let after = match token {
            None => None,
            // The token is the last item of the page before, hex-encoded: opaque to clients.
            Some(t) => Some(
                hex::decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| S3Error::invalid_argument("The continuation token provided is incorrect"))?,
            ),
        };
        let keys = self.store.keys(bucket, prefix)?;
        let p = page(&keys, prefix, delimiter, self.param("start-after"), after.as_deref(), max_keys);
        let encode = |s: &str| if url { utf8_percent_encode(s, KEY_ESCAPES).to_string() } else { s.to_string() };
        let mut contents = Vec::with_capacity(p.keys.len());
        for &i in &p.keys {
            let info = match self.store.listed(bucket, &keys[i]).await {
                Ok(info) => info,
                // Deleted since the walk.
                Err(e) if e.code() == "NoSuchKey" => continue,
                Err(e) => return Err(e),
            };
            contents.push(ObjectEntry {
                key: encode(&keys[i]),
                last_modified: iso8601(info.modified),
                etag: quoted(&info.etag),
                size: info.size,
                storage_class: "STANDARD",
            });
        }
        let common_prefixes: Vec<CommonPrefix> = p.prefixes.iter().map(|c| CommonPrefix { prefix: encode(c) }).collect();
        let result = ListBucketResult {
            xmlns: XMLNS,
            name: bucket.to_string(),
            prefix: encode(prefix),
            key_count: contents.len() + common_prefixes.len(),
            max_keys,
            delimiter: delimiter.map(encode),
            is_truncated: p.next.is_some(),
            contents,
            common_prefixes,
            encoding_type: url.then_some("url"),
            continuation_token: token.map(str::to_string),
            next_continuation_token: p.next.map(hex::encode),
            start_after: self.param("start-after").map(encode),
        };
        Ok(xml_response(StatusCode::OK, &result))
    }

    /// GetObject and HeadObject, a `Range` honoured.
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Response, S3Error> {
        let (path, info) = self.store.head(bucket, key).await?;
        let range = byte_range(self.header("range"), info.size)?;
        let (status, first, len) = match range {
            Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
            None => (StatusCode::OK, 0, info.size),
        };
        let mut response = Response::builder().status(status);
        for (name, value) in object_headers(&info) {
            response = response.header(name, value);
        }
        response = response.header(header::CONTENT_LENGTH, len);
        if let Some((a, b)) = range {
            response = response.header(header::CONTENT_RANGE, format!("bytes {a}-{b}/{}", info.size));
        }
        let body = if self.method == Method::HEAD {
            Body::empty()
        } else {
            let mut file = tokio::fs::File::open(&path).await.map_err(|_| S3Error::no_such_key(key))?;
            file.seek(std::io::SeekFrom::Start(first)).await.map_err(|e| S3Error::internal("reading an object", &e))?;
            Body::from_stream(tokio_util::io::ReaderStream::new(file.take(len)))
        };
        response.body(body).map_err(|e| S3Error::internal("answering", &std::io::Error::other(e)))
    }

    /// How the body is encoded: `aws-chunked` (an SDK streaming with
    /// chunk signatures or trailing checksums) or as it is.
    fn encoding(&self) -> Encoding {
        let chunked_encoding = self
            .header("content-encoding")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("aws-chunked")));
        let streaming = self.header("x-amz-content-sha256").is_some_and(|v| v.starts_with("STREAMING-"));
        Encoding {
            aws_chunked: chunked_encoding || streaming,
            decoded_length: self.header("x-amz-decoded-content-length").and_then(|v| v.parse().ok()),
        }
    }

    /// The content type and `x-amz-meta-*` headers, kept with the object.
    fn meta(&self) -> Meta {
        let user = self
            .headers
            .iter()
            .filter_map(|(name, value)| {
                let name = name.as_str().strip_prefix("x-amz-meta-")?;
                Some((name.to_string(), value.to_str().ok()?.to_string()))
            })
            .collect();
        Meta { content_type: self.header("content-type").map(str::to_string), user }
    }
}

/// The headers GetObject and HeadObject describe an object with.
fn object_headers(info: &ObjectInfo) -> Vec<(String, String)> {
    let mut out = vec![
        (header::CONTENT_TYPE.to_string(), info.meta.content_type.clone().unwrap_or_else(|| "binary/octet-stream".into())),
        (header::ETAG.to_string(), quoted(&info.etag)),
        (header::LAST_MODIFIED.to_string(), http_date(info.modified)),
        (header::ACCEPT_RANGES.to_string(), "bytes".into()),
    ];
    out.extend(info.meta.user.iter().map(|(k, v)| (format!("x-amz-meta-{k}"), v.clone())));
    out
}

fn etag_response(etag: &str) -> Response {
    ([(header::ETAG, quoted(etag))]).into_response()
}

fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

fn owner() -> Owner {
    Owner { id: "drover-devcluster", display_name: "drover-devcluster" }
}

/// S3's time in XML: `2026-01-31T12:00:00.000Z`.
fn iso8601(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// An HTTP date: `Sat, 31 Jan 2026 12:00:00 GMT`.
fn http_date(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}
