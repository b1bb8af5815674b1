//! S3's wire shapes as the devcluster's endpoint writes and reads them: the
//! XML answers (ListBuckets, ListObjectsV2, the multipart results),
//! CompleteMultipartUpload's request, S3's `<Error>` with its HTTP status,
//! the `aws-chunked` body encoding AWS SDKs stream uploads in, and the
//! `Range` header. Nothing here touches the disk.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tracing::error;

/// The namespace of every S3 answer.
pub(crate) const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// S3's smallest part but the last of a multipart upload (5 MiB).
pub(crate) const MIN_PART_SIZE: u64 = 5 << 20;

/// S3's highest part number.
pub(crate) const MAX_PART_NUMBER: u32 = 10_000;

/// S3's longest key, in bytes of UTF-8.
pub(crate) const MAX_KEY_BYTES: usize = 1024;

/// The most keys one ListObjectsV2 page holds (also its default).
pub(crate) const MAX_KEYS: usize = 1000;

/// An answer that is S3's `<Error>`: the status, S3's `<Code>`, and a
/// message a client can act on. A 5xx says nothing of its cause to the
/// client; the cause is logged in full.
#[derive(Debug)]
pub(crate) struct S3Error {
    status: StatusCode,
    code: &'static str,
    message: String,
    bucket: Option<String>,
    key: Option<String>,
    upload_id: Option<String>,
}

impl S3Error {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error { status, code, message: message.into(), bucket: None, key: None, upload_id: None }
    }

    pub(crate) fn code(&self) -> &'static str {
        self.code
    }

    pub(crate) fn no_such_bucket(bucket: &str) -> S3Error {
        S3Error {
            bucket: Some(bucket.to_string()),
            ..S3Error::new(StatusCode::NOT_FOUND, "NoSuchBucket", "The specified bucket does not exist")
        }
    }

    pub(crate) fn no_such_key(key: &str) -> S3Error {
        S3Error { key: Some(key.to_string()), ..S3Error::new(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist.") }
    }

    pub(crate) fn no_such_upload(upload_id: &str) -> S3Error {
        S3Error {
            upload_id: Some(upload_id.to_string()),
            ..S3Error::new(
                StatusCode::NOT_FOUND,
                "NoSuchUpload",
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
            )
        }
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> S3Error {
        S3Error::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> S3Error {
        S3Error::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
    }

    pub(crate) fn malformed_xml() -> S3Error {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    }

    pub(crate) fn incomplete_body(message: impl Into<String>) -> S3Error {
        S3Error::new(StatusCode::BAD_REQUEST, "IncompleteBody", message)
    }

    pub(crate) fn not_implemented(what: &str) -> S3Error {
        S3Error::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("{what} is not implemented by the devcluster's S3 stand-in"),
        )
    }

    pub(crate) fn method_not_allowed() -> S3Error {
        S3Error::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "The specified method is not allowed against this resource.")
    }

    /// A failure of the stand-in's own disk: logged in full, opaque to the client.
    pub(crate) fn internal(what: &str, e: &std::io::Error) -> S3Error {
        error!(error = %e, what, "devcluster S3 failed");
        S3Error::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "We encountered an internal error. Please try again.")
    }
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// `<Error>` as S3 writes it.
#[derive(Serialize)]
#[serde(rename = "Error", rename_all = "PascalCase")]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_id: Option<&'a str>,
}

impl IntoResponse for S3Error {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: &self.message,
            bucket_name: self.bucket.as_deref(),
            key: self.key.as_deref(),
            upload_id: self.upload_id.as_deref(),
        };
        xml_response(self.status, &body)
    }
}

/// `value` as an XML document with `status`.
pub(crate) fn xml_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match quick_xml::se::to_string(value) {
        Ok(xml) => {
            let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{xml}");
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"))], body).into_response()
        }
        Err(e) => {
            error!(error = %e, "devcluster S3 could not write an answer");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// ListBuckets' answer.
#[derive(Serialize)]
#[serde(rename = "ListAllMyBucketsResult", rename_all = "PascalCase")]
pub(crate) struct ListAllMyBucketsResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub owner: Owner,
    pub buckets: Buckets,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Owner {
    #[serde(rename = "ID")]
    pub id: &'static str,
    pub display_name: &'static str,
}

#[derive(Serialize)]
pub(crate) struct Buckets {
    #[serde(rename = "Bucket")]
    pub buckets: Vec<BucketEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BucketEntry {
    pub name: String,
    pub creation_date: String,
}

/// ListObjectsV2's answer.
#[derive(Serialize)]
#[serde(rename = "ListBucketResult", rename_all = "PascalCase")]
pub(crate) struct ListBucketResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub name: String,
    pub prefix: String,
    pub key_count: usize,
    pub max_keys: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    pub is_truncated: bool,
    pub contents: Vec<ObjectEntry>,
    pub common_prefixes: Vec<CommonPrefix>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_continuation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_after: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ObjectEntry {
    pub key: String,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub size: u64,
    pub storage_class: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CommonPrefix {
    pub prefix: String,
}

/// CreateMultipartUpload's answer.
#[derive(Serialize)]
#[serde(rename = "InitiateMultipartUploadResult", rename_all = "PascalCase")]
pub(crate) struct InitiateMultipartUploadResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
}

/// CompleteMultipartUpload's answer.
#[derive(Serialize)]
#[serde(rename = "CompleteMultipartUploadResult", rename_all = "PascalCase")]
pub(crate) struct CompleteMultipartUploadResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub location: String,
    pub bucket: String,
    pub key: String,
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// CompleteMultipartUpload's request: the parts by number and ETag (the
/// checksum elements an SDK may add are skipped).
#[derive(Debug, Deserialize)]
pub(crate) struct CompleteMultipartUpload {
    #[serde(rename = "Part", default)]
    pub parts: Vec<CompletedPart>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CompletedPart {
    #[serde(rename = "PartNumber")]
    pub number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// Reads CompleteMultipartUpload's body; its parts as (number, ETag
/// without quotes), in the order given.
pub(crate) fn completed_parts(body: &[u8]) -> Result<Vec<(u32, String)>, S3Error> {
    let text = std::str::from_utf8(body).map_err(|_| S3Error::malformed_xml())?;
    let request: CompleteMultipartUpload = quick_xml::de::from_str(text).map_err(|_| S3Error::malformed_xml())?;
    if request.parts.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    Ok(request.parts.into_iter().map(|p| (p.number, p.etag.trim_matches('"').to_string())).collect())
}

/// A `Range: bytes=...` header against an object of `size` bytes: the
/// first and last byte to send. `Ok(None)`: send it all (no header, or one
/// S3 ignores: several ranges, another unit); `Err`: 416 InvalidRange.
pub(crate) fn byte_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let unsatisfiable = || {
        S3Error::new(StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange", "The requested range is not satisfiable")
    };
    let Some((first, last)) = spec.split_once('-') else { return Ok(None) };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    let range = match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => {
            let n = parse(last).ok_or_else(unsatisfiable)?;
            if n == 0 || size == 0 {
                return Err(unsatisfiable());
            }
            (size.saturating_sub(n), size - 1)
        }
        // bytes=A-: from A to the end.
        (false, true) => {
            let a = parse(first).ok_or_else(unsatisfiable)?;
            if a >= size {
                return Err(unsatisfiable());
            }
            (a, size - 1)
        }
        (false, false) => {
            let (Some(a), Some(b)) = (parse(first), parse(last)) else { return Ok(None) };
            if b < a {
                return Ok(None);
            }
            if a >= size {
                return Err(unsatisfiable());
            }
            (a, b.min(size - 1))
        }
        (true, true) => return Ok(None),
    };
    Ok(Some(range))
}

/// Decodes an `aws-chunked` body as AWS SDKs stream it: chunks of
/// `<hex size>[;chunk-signature=<sig>]\r\n<bytes>\r\n`, a last chunk of size
/// 0, then trailer lines (`x-amz-checksum-crc32:...`) and an empty line.
/// Signatures and trailers are read past, not checked.
#[derive(Debug, Default)]
pub(crate) struct AwsChunked {
    pending: Vec<u8>,
    state: ChunkState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Header,
    Data(usize),
    DataEnd,
    Trailers,
    Done,
}

/// The longest chunk header or trailer line taken.
const MAX_LINE: usize = 8192;

impl AwsChunked {
    /// Decodes what `input` completes, appending the payload's bytes to `out`.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        self.pending.extend_from_slice(input);
        let mut at = 0;
        loop {
            let rest = &self.pending[at..];
            match self.state {
                ChunkState::Header | ChunkState::Trailers => {
                    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if rest.len() > MAX_LINE {
                            return Err("an aws-chunked line is too long".into());
                        }
                        break;
                    };
                    let line = std::str::from_utf8(&rest[..end]).map_err(|_| "an aws-chunked line is not text".to_string())?;
                    at += end + 2;
                    if self.state == ChunkState::Trailers {
                        if line.is_empty() {
                            self.state = ChunkState::Done;
                        }
                        continue;
                    }
                    let size = line.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(size, 16).map_err(|_| format!("`{size}` is not a chunk size"))?;
                    self.state = if size == 0 { ChunkState::Trailers } else { ChunkState::Data(size) };
                }
                ChunkState::Data(left) => {
                    if rest.is_empty() {
                        break;
                    }
                    let n = left.min(rest.len());
                    out.extend_from_slice(&rest[..n]);
                    at += n;
                    self.state = if n == left { ChunkState::DataEnd } else { ChunkState::Data(left - n) };
                }
                ChunkState::DataEnd => {
                    if rest.len() < 2 {
                        break;
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err("an aws-chunked chunk does not end with CRLF".into());
                    }
                    at += 2;
                    self.state = ChunkState::Header;
                }
                ChunkState::Done => {
                    at = self.pending.len();
                    break;
                }
            }
        }
        self.pending.drain(..at);
        Ok(())
    }

    /// Whether the body ended where the encoding says it does.
    pub(crate) fn finish(&self) -> Result<(), String> {
        match self.state {
            ChunkState::Done => Ok(()),
            // Some clients end with the last chunk's header and no empty line.
            ChunkState::Trailers if self.pending.is_empty() => Ok(()),
            _ => Err("the aws-chunked body ended inside a chunk".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pieces: &[&[u8]]) -> Result<Vec<u8>, String> {
        let mut d = AwsChunked::default();
        let mut out = Vec::new();
        for p in pieces {
            d.feed(p, &mut out)?;
        }
        d.finish().map(|()| out)
    }

    #[test]
    fn decodes_signed_and_trailer_chunks_however_the_body_is_cut() {
        let signed = b"5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n0;chunk-signature=0f\r\n\r\n";
        assert_eq!(decode(&[signed]).unwrap(), b"hello world");
        // Cut at every byte: the same payload.
        let pieces: Vec<&[u8]> = signed.chunks(1).collect();
        assert_eq!(decode(&pieces).unwrap(), b"hello world");
        let trailer = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        assert_eq!(decode(&[&trailer[..7], &trailer[7..]]).unwrap(), b"hello world");
        assert!(decode(&[b"5\r\nhel"]).is_err(), "cut inside a chunk");
        assert!(decode(&[b"zz\r\nhello\r\n"]).is_err(), "not a size");
        assert!(decode(&[b"5\r\nhelloXX0\r\n\r\n"]).is_err(), "a chunk without its CRLF");
    }

    #[test]
    fn ranges_read_as_s3_reads_them() {
        assert_eq!(byte_range(None, 10).unwrap(), None);
        assert_eq!(byte_range(Some("bytes=0-3"), 10).unwrap(), Some((0, 3)));
        assert_eq!(byte_range(Some("bytes=4-"), 10).unwrap(), Some((4, 9)));
        assert_eq!(byte_range(Some("bytes=-3"), 10).unwrap(), Some((7, 9)));
        assert_eq!(byte_range(Some("bytes=-30"), 10).unwrap(), Some((0, 9)));
        assert_eq!(byte_range(Some("bytes=5-100"), 10).unwrap(), Some((5, 9)));
        assert_eq!(byte_range(Some("bytes=0-1,4-5"), 10).unwrap(), None, "several ranges: the whole object");
        assert_eq!(byte_range(Some("bytes=10-"), 10).unwrap_err().code(), "InvalidRange");
        assert_eq!(byte_range(Some("bytes=-0"), 10).unwrap_err().code(), "InvalidRange");
        assert_eq!(byte_range(Some("bytes=0-0"), 0).unwrap_err().code(), "InvalidRange");
    }

    #[test]
    fn reads_the_parts_of_a_complete_request_and_refuses_an_empty_one() {
        let xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                   <Part><ETag>&quot;e1&quot;</ETag><PartNumber>1</PartNumber><ChecksumCRC32>x</ChecksumCRC32></Part>\
                   <Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag></Part></CompleteMultipartUpload>";
        assert_eq!(completed_parts(xml.as_bytes()).unwrap(), [(1, "e1".to_string()), (2, "e2".to_string())]);
        assert_eq!(completed_parts(b"<CompleteMultipartUpload/>").unwrap_err().code(), "MalformedXML");
        assert_eq!(completed_parts(b"not xml").unwrap_err().code(), "MalformedXML");
    }

    #[test]
    fn an_error_is_s3s_xml_with_its_status() {
        let response = S3Error::no_such_key("a&b").into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let xml = ErrorBody { code: "NoSuchKey", message: "m", bucket_name: None, key: Some("a&b"), upload_id: None };
        let xml = quick_xml::se::to_string(&xml).unwrap();
        assert_eq!(xml, "<Error><Code>NoSuchKey</Code><Message>m</Message><Key>a&amp;b</Key></Error>");
    }
}
