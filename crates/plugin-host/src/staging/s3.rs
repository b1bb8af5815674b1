//! The few S3 calls staging needs, path-style (`<endpoint>/<bucket>/<key>`,
//! which AWS, MinIO and moto all take): PutObject for a file of at most one
//! part; CreateMultipartUpload, UploadPart and CompleteMultipartUpload for a
//! larger one (AbortMultipartUpload when a part fails, so no parts are left
//! billed); ListObjectsV2 and DeleteObject to remove a try's files. Bodies
//! stream from disk a chunk at a time, signed `UNSIGNED-PAYLOAD` (hashing a
//! part first would read it twice); every request is SigV4-signed by the AWS
//! SDK's signer and goes to a host of the backend's allowlist or not at all.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncSeekExt as _;

use super::webhdfs::{FileBody, Payload, empty, encode_path, encode_query, read};
use super::{S3Target, StageError};
use crate::policy::HostRule;

/// The scheme of the staged URIs a plugin is given: what its cluster reads
/// S3 by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UriScheme {
    /// EMR's own file system (EMRFS): EMR Serverless, EMR on EKS.
    S3,
    /// Hadoop's S3A (hadoop-aws), which open-source Spark reads S3 by
    /// (Spark on Kubernetes, YARN, standalone).
    S3a,
}

impl UriScheme {
    /// What a bundled plugin's cluster reads: `s3` for the EMR plugins,
    /// `s3a` for any other (open-source Spark has no `s3:` file system).
    pub fn for_plugin(plugin: &str) -> UriScheme {
        match plugin {
            "emr-serverless" | "emr-containers" => UriScheme::S3,
            _ => UriScheme::S3a,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UriScheme::S3 => "s3",
            UriScheme::S3a => "s3a",
        }
    }
}

/// Static AWS credentials. Debug never shows the secret parts.
#[derive(Clone)]
pub struct S3Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl S3Credentials {
    pub fn new(access_key_id: String, secret_access_key: String, session_token: Option<String>) -> S3Credentials {
        S3Credentials { access_key_id, secret_access_key, session_token }
    }
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

pub(crate) struct S3 {
    /// `scheme://authority` of the endpoint.
    base: Uri,
    bucket: String,
    region: String,
    part_size: u64,
    credentials: Credentials,
    allowed: Arc<Vec<HostRule>>,
    client: Client<HttpsConnector<HttpConnector>, Payload>,
}

/// The two numbers of a multipart upload: how many parts, and the size of
/// each but the last. One part: a plain PutObject.
pub(crate) fn parts(size: u64, part_size: u64) -> u64 {
    size.div_ceil(part_size).max(1)
}

impl S3 {
    /// `ca_file`: the CA an https endpoint's certificate is checked
    /// against instead of the public web roots.
    pub(crate) fn new(target: &S3Target, allowed: Arc<Vec<HostRule>>, ca_file: Option<&Path>) -> Result<S3, String> {
        let base: Uri = target
            .endpoint
            .parse()
            .map_err(|e| format!("staging s3 `{}` is not a URL: {e}", target.endpoint))?;
        if !matches!(base.scheme_str(), Some("http" | "https")) || base.host().is_none() {
            return Err(format!("staging s3 `{}` must be an http:// or https:// URL with a host", target.endpoint));
        }
        if !base.path().trim_matches('/').is_empty() {
            return Err(format!(
                "staging s3 `{}` has a path: give the endpoint alone and the bucket as bucket = \"...\"",
                target.endpoint
            ));
        }
        let c = target.credentials.as_ref().ok_or("staging to S3 has no credentials")?;
        let credentials =
            Credentials::new(&c.access_key_id, &c.secret_access_key, c.session_token.clone(), None, "drover-staging");
        let https = crate::policy::https_connector(ca_file)?;
        Ok(S3 {
            base,
            bucket: target.bucket.clone(),
            region: target.region.clone(),
            part_size: target.part_size,
            credentials,
            allowed,
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// `<endpoint>/<bucket>/<key>?<query>`, the key percent-encoded once.
    fn url(&self, key: &str, query: &str) -> String {
        let mut url = format!(
            "{}://{}/{}",
            self.base.scheme_str().unwrap_or("https"),
            self.base.authority().map(ToString::to_string).unwrap_or_default(),
            encode_path(&self.bucket)
        );
        if !key.is_empty() {
            url.push('/');
            url.push_str(&encode_path(key));
        }
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Payload,
    ) -> Result<http::Response<hyper::body::Incoming>, StageError> {
        let uri: Uri = url.parse().map_err(|e| StageError::Rejected(format!("bad URL {url}: {e}")))?;
        let host = uri.host().unwrap_or_default().trim_matches(['[', ']']).to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        if !self.allowed.iter().any(|r| r.allows(&host, port)) {
            return Err(StageError::Denied(format!("{host}:{port}")));
        }
        let mut request = Request::builder().method(method.clone()).uri(uri);
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        let mut request = request.body(body).map_err(|e| StageError::Rejected(e.to_string()))?;
        self.sign(&mut request, method.as_str(), url, headers)?;
        self.client
            .request(request)
            .await
            .map_err(|e| StageError::Unavailable(format!("{host}:{port}: {e}")))
    }

    fn sign(&self, request: &mut Request<Payload>, method: &str, url: &str, headers: &[(&str, String)]) -> Result<(), StageError> {
        let unsignable = |e: &dyn std::fmt::Display| StageError::Rejected(format!("cannot sign {method} {url}: {e}"));
        let mut settings = SigningSettings::default();
        // S3's own rules: the path signed as sent, and the payload's hash
        // (here: that it is not hashed) in x-amz-content-sha256. The
        // devcluster's S3 reader (`s3/fetch.rs`) signs the same way; the
        // two crates share no crate that could hold it.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| unsignable(&e))?
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(k, v)| (*k, v.as_str())),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| unsignable(&e))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| unsignable(&e))?.into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }

    /// Writes `local` to `key` (overwriting); its size.
    pub(crate) async fn put(&self, key: &str, local: &Path) -> Result<u64, StageError> {
        let local_err = |e| StageError::Local { path: local.display().to_string(), source: e };
        // Open first: a missing file fails before anything reaches S3.
        let file = tokio::fs::File::open(local).await.map_err(local_err)?;
        let size = file.metadata().await.map_err(local_err)?.len();
        if parts(size, self.part_size) == 1 {
            let body = FileBody::new(file, size).boxed_unsync();
            let response = self.send(Method::PUT, &self.url(key, ""), &[("content-length", size.to_string())], body).await?;
            if response.status() != StatusCode::OK {
                return Err(failure("PutObject", response).await);
            }
            return Ok(size);
        }
        drop(file);
        let upload = self.create_multipart(key).await?;
        match self.upload_parts(key, &upload, local, size).await {
            Ok(()) => Ok(size),
            Err(e) => {
                // The parts are kept (and billed) until the upload is aborted.
                let url = self.url(key, &format!("uploadId={}", encode_query(&upload)));
                match self.send(Method::DELETE, &url, &[], empty()).await {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        let abort = failure("AbortMultipartUpload", r).await;
                        tracing::warn!(key, error = %abort, "multipart upload left behind");
                    }
                    Err(abort) => tracing::warn!(key, error = %abort, "multipart upload left behind"),
                }
                Err(e)
            }
        }
    }

    async fn create_multipart(&self, key: &str) -> Result<String, StageError> {
        let response = self.send(Method::POST, &self.url(key, "uploads"), &[], empty()).await?;
        if response.status() != StatusCode::OK {
            return Err(failure("CreateMultipartUpload", response).await);
        }
        let body = read(response).await?;
        let text = String::from_utf8_lossy(&body);
        quick_xml::de::from_str::<InitiateMultipartUploadResult>(&text)
            .map(|r| r.upload_id)
            .map_err(|e| StageError::Rejected(format!("CreateMultipartUpload answered no UploadId ({e}): {text}")))
    }

    async fn upload_parts(&self, key: &str, upload: &str, local: &Path, size: u64) -> Result<(), StageError> {
        let local_err = |e| StageError::Local { path: local.display().to_string(), source: e };
        let count = parts(size, self.part_size);
        let mut etags = Vec::with_capacity(count as usize);
        for n in 1..=count {
            let offset = (n - 1) * self.part_size;
            let len = self.part_size.min(size - offset);
            let mut file = tokio::fs::File::open(local).await.map_err(local_err)?;
            file.seek(std::io::SeekFrom::Start(offset)).await.map_err(local_err)?;
            let url = self.url(key, &format!("partNumber={n}&uploadId={}", encode_query(upload)));
            let body = FileBody::new(file, len).boxed_unsync();
            let response = self.send(Method::PUT, &url, &[("content-length", len.to_string())], body).await?;
            if response.status() != StatusCode::OK {
                return Err(failure("UploadPart", response).await);
            }
            let etag = response
                .headers()
                .get(http::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .ok_or_else(|| StageError::Rejected(format!("UploadPart {n} answered no ETag")))?;
            etags.push(etag);
        }
        let xml = complete_body(etags)?;
        let url = self.url(key, &format!("uploadId={}", encode_query(upload)));
        let headers = [("content-length", xml.len().to_string()), ("content-type", "application/xml".to_string())];
        let body = Full::new(Bytes::from(xml)).map_err(|never| match never {}).boxed_unsync();
        let response = self.send(Method::POST, &url, &headers, body).await?;
        if response.status() != StatusCode::OK {
            return Err(failure("CompleteMultipartUpload", response).await);
        }
        // A 200 may still carry an error: S3 answers before it has finished.
        let body = read(response).await?;
        let text = String::from_utf8_lossy(&body);
        match quick_xml::de::from_str::<CompleteAnswer>(&text) {
            Ok(CompleteAnswer::Done {}) => Ok(()),
            Ok(CompleteAnswer::Error(e)) => Err(refusal("CompleteMultipartUpload", StatusCode::OK, Some(e), &text)),
            Err(e) => Err(StageError::Rejected(format!("CompleteMultipartUpload answered 200 with no result ({e}): {text}"))),
        }
    }

    /// Deletes every object whose key starts with `prefix`; none is fine.
    pub(crate) async fn delete_prefix(&self, prefix: &str) -> Result<(), StageError> {
        let mut token: Option<String> = None;
        loop {
            let mut query = format!("list-type=2&prefix={}", encode_query(prefix));
            if let Some(t) = &token {
                query.push_str(&format!("&continuation-token={}", encode_query(t)));
            }
            let response = self.send(Method::GET, &self.url("", &query), &[], empty()).await?;
            if response.status() != StatusCode::OK {
                return Err(failure("ListObjectsV2", response).await);
            }
            let body = read(response).await?;
            let text = String::from_utf8_lossy(&body);
            let listed: ListBucketResult = quick_xml::de::from_str(&text)
                .map_err(|e| StageError::Rejected(format!("ListObjectsV2 answered an unreadable list ({e}): {text}")))?;
            for Object { key } in listed.contents {
                let response = self.send(Method::DELETE, &self.url(&key, ""), &[], empty()).await?;
                if !response.status().is_success() {
                    return Err(failure("DeleteObject", response).await);
                }
            }
            token = listed.next_continuation_token.filter(|_| listed.is_truncated);
            if token.is_none() {
                return Ok(());
            }
        }
    }
}

/// A refusal, with S3's `<Code>` and `<Message>`; a 5xx (`SlowDown`,
/// `InternalError`) is S3 being unavailable.
async fn failure(op: &str, response: http::Response<hyper::body::Incoming>) -> StageError {
    let status = response.status();
    let body = read(response).await.unwrap_or_default();
    error_text(op, status, &String::from_utf8_lossy(&body))
}

fn error_text(op: &str, status: StatusCode, body: &str) -> StageError {
    refusal(op, status, quick_xml::de::from_str::<ErrorBody>(body).ok(), body)
}

/// `body` read as S3's `<Error>` (`error`, if it is one) and what it means.
fn refusal(op: &str, status: StatusCode, error: Option<ErrorBody>, body: &str) -> StageError {
    let message = match &error {
        Some(ErrorBody { code, message: Some(message) }) => format!("{code}: {message}"),
        Some(ErrorBody { code, message: None }) => code.clone(),
        None => body.chars().take(300).collect(),
    };
    let text = format!("{op} answered {status}: {message}");
    let busy = error.is_some_and(|e| matches!(e.code.as_str(), "SlowDown" | "InternalError"));
    if status.is_server_error() || busy {
        StageError::Unavailable(text)
    } else {
        StageError::Rejected(text)
    }
}

/// The body of CompleteMultipartUpload: every part by number and ETag.
fn complete_body(etags: Vec<String>) -> Result<String, StageError> {
    let body = CompleteMultipartUpload {
        xmlns: "http://s3.amazonaws.com/doc/2006-03-01/",
        parts: etags.into_iter().zip(1..).map(|(etag, part_number)| Part { part_number, etag }).collect(),
    };
    quick_xml::se::to_string(&body).map_err(|e| StageError::Rejected(format!("cannot write CompleteMultipartUpload: {e}")))
}

// S3's answers, as far as staging reads them (other elements are skipped).

/// ListObjectsV2's answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    contents: Vec<Object>,
    next_continuation_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Object {
    key: String,
}

/// CreateMultipartUpload's answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateMultipartUploadResult {
    upload_id: String,
}

/// CompleteMultipartUpload's answer to a 200, told apart by its root
/// element: the upload's result, or an error met after S3 began answering.
#[derive(Debug, Deserialize)]
enum CompleteAnswer {
    #[serde(rename = "CompleteMultipartUploadResult")]
    Done {},
    Error(ErrorBody),
}

/// S3's `<Error>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    code: String,
    message: Option<String>,
}

/// CompleteMultipartUpload's request.
#[derive(Debug, Serialize)]
#[serde(rename = "CompleteMultipartUpload")]
struct CompleteMultipartUpload {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "Part")]
    parts: Vec<Part>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Part {
    part_number: u32,
    #[serde(rename = "ETag")]
    etag: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_goes_up_whole_until_it_needs_more_than_one_part() {
        assert_eq!(parts(0, 8 << 20), 1);
        assert_eq!(parts(8 << 20, 8 << 20), 1);
        assert_eq!(parts((8 << 20) + 1, 8 << 20), 2);
        assert_eq!(parts(11 << 20, 5 << 20), 3);
    }

    #[test]
    fn reads_keys_and_paging_from_a_list_answer() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                   <Name>b</Name><IsTruncated>true</IsTruncated><Contents><Key>p/drover-k/a&amp;b.py</Key><Size>3</Size></Contents>\
                   <Contents><Key>p/drover-k/c.jar</Key></Contents><NextContinuationToken>t1</NextContinuationToken></ListBucketResult>";
        let listed: ListBucketResult = quick_xml::de::from_str(xml).unwrap();
        let keys: Vec<&str> = listed.contents.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["p/drover-k/a&b.py", "p/drover-k/c.jar"]);
        assert!(listed.is_truncated);
        assert_eq!(listed.next_continuation_token.as_deref(), Some("t1"));
        let empty: ListBucketResult = quick_xml::de::from_str("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>").unwrap();
        assert!(empty.contents.is_empty() && !empty.is_truncated && empty.next_continuation_token.is_none());
        let started = "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u&amp;1</UploadId></InitiateMultipartUploadResult>";
        assert_eq!(quick_xml::de::from_str::<InitiateMultipartUploadResult>(started).unwrap().upload_id, "u&1");
        assert!(quick_xml::de::from_str::<InitiateMultipartUploadResult>("<Foo/>").is_err());
    }

    #[test]
    fn completes_a_multipart_upload_with_every_parts_etag_and_reads_its_answer() {
        let xml = complete_body(vec!["\"e1\"".into(), "\"e<2>\"".into()]).unwrap();
        assert!(xml.starts_with("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part><PartNumber>1</PartNumber>"), "{xml}");
        // Read back by a parser: the ETags' quotes and brackets survive.
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Read {
            part: Vec<ReadPart>,
        }
        #[derive(Deserialize)]
        struct ReadPart {
            #[serde(rename = "PartNumber")]
            n: u32,
            #[serde(rename = "ETag")]
            etag: String,
        }
        let read: Read = quick_xml::de::from_str(&xml).unwrap();
        let parts: Vec<(u32, &str)> = read.part.iter().map(|p| (p.n, p.etag.as_str())).collect();
        assert_eq!(parts, [(1, "\"e1\""), (2, "\"e<2>\"")]);
        let done = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n<CompleteMultipartUploadResult><Location>l</Location><ETag>&quot;x-2&quot;</ETag></CompleteMultipartUploadResult>";
        assert!(matches!(quick_xml::de::from_str::<CompleteAnswer>(done), Ok(CompleteAnswer::Done {})));
        let failed = "<?xml version=\"1.0\"?>\n \n<Error><Code>InternalError</Code><Message>try again</Message></Error>";
        assert!(matches!(quick_xml::de::from_str::<CompleteAnswer>(failed), Ok(CompleteAnswer::Error(e)) if e.code == "InternalError"));
    }

    #[test]
    fn an_error_answer_names_its_code_and_a_5xx_is_unavailable() {
        let body = "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        let e = error_text("PutObject", StatusCode::NOT_FOUND, body);
        assert!(matches!(&e, StageError::Rejected(m) if m.contains("NoSuchBucket: The specified bucket")), "{e}");
        let slow = "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>";
        assert!(matches!(error_text("UploadPart", StatusCode::SERVICE_UNAVAILABLE, slow), StageError::Unavailable(_)));
        assert!(matches!(error_text("CompleteMultipartUpload", StatusCode::OK, slow), StageError::Unavailable(_)));
        let escaped = "<Error><Code>AccessDenied</Code><Message>no &lt;access&gt; &amp; more</Message></Error>";
        let e = error_text("PutObject", StatusCode::FORBIDDEN, escaped);
        assert!(matches!(&e, StageError::Rejected(m) if m.ends_with("AccessDenied: no <access> & more")), "{e}");
        let e = error_text("PutObject", StatusCode::BAD_GATEWAY, "<html>proxy</html>");
        assert!(matches!(&e, StageError::Unavailable(m) if m.ends_with("<html>proxy</html>")), "not S3's XML: the body as it came: {e}");
    }

    #[test]
    fn emr_plugins_read_s3_and_the_others_s3a() {
        assert_eq!(UriScheme::for_plugin("emr-serverless"), UriScheme::S3);
        assert_eq!(UriScheme::for_plugin("emr-containers"), UriScheme::S3);
        assert_eq!(UriScheme::for_plugin("kubernetes"), UriScheme::S3a);
    }
}
