//! HTTP over `wasi:http/outgoing-handler`, with failures mapped onto [`PluginError`].
//!
//! The host decides about retries from the error variant alone, so the mapping
//! here matters: the cluster being unreachable is [`PluginError::Unavailable`],
//! a reply that is not what the protocol says is [`PluginError::Protocol`], and
//! the host's outbound allowlist refusing the request is reported with the
//! setting that fixes it.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{PluginError, excerpt};

/// Larger replies are refused rather than buffered: a plugin runs under a memory cap.
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
    Patch,
}

impl Method {
    fn carries_body(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names are lower-case; values are decoded lossily as UTF-8.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON of type `T`, whatever the status (REST servers put
    /// their error details in JSON too). When the body does not parse, the
    /// status decides: 404 is [`PluginError::NotFound`], 429 and 5xx are
    /// [`PluginError::Unavailable`], other 4xx [`PluginError::Rejected`], and a
    /// 2xx with garbage is [`PluginError::Protocol`]; each names `url` and
    /// quotes the start of the body.
    pub fn json<T: DeserializeOwned>(&self, url: &str) -> Result<T, PluginError> {
        match serde_json::from_slice(&self.body) {
            Ok(value) => Ok(value),
            Err(e) => Err(self.unparsed_error(url, &e.to_string())),
        }
    }

    /// The error for a reply whose body could not be understood, chosen by status.
    pub fn unparsed_error(&self, url: &str, why: &str) -> PluginError {
        let body = String::from_utf8_lossy(&self.body);
        let quoted = if body.trim().is_empty() {
            "an empty body".to_string()
        } else {
            format!("{:?}", excerpt(&body, 200))
        };
        let status = self.status;
        match status {
            404 => PluginError::NotFound(format!("{url} answered 404 Not Found: {quoted}")),
            429 | 500..=599 => {
                PluginError::Unavailable(format!("{url} answered HTTP {status}: {quoted}"))
            }
            400..=499 => PluginError::Rejected(format!("{url} answered HTTP {status}: {quoted}")),
            _ => PluginError::Protocol(format!(
                "{url} answered HTTP {status} with a body that is not what was expected ({why}): {quoted}"
            )),
        }
    }
}

/// The parts of an absolute `http`/`https` URL that `wasi:http` wants separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    pub https: bool,
    /// host[:port], as written.
    pub authority: String,
    /// host without the port, for messages.
    pub host: String,
    /// path and query, at least "/".
    pub path_with_query: String,
}

pub fn parse_url(url: &str) -> Result<UrlParts, PluginError> {
    let invalid = |why: &str| PluginError::Invalid(format!("bad URL {url:?}: {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("expected http://host[:port]/path"))?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        other => return Err(invalid(&format!("scheme {other:?} is not http or https"))),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let mut path_with_query = rest[end..]
        .split('#')
        .next()
        .unwrap_or_default()
        .to_string();
    if authority.is_empty() {
        return Err(invalid("no host"));
    }
    if authority.contains('@') {
        return Err(invalid("credentials in the URL are not supported"));
    }
    if !path_with_query.starts_with('/') {
        path_with_query.insert(0, '/');
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default().to_string()
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(h, _)| h)
            .to_string()
    };
    Ok(UrlParts {
        https,
        authority: authority.to_string(),
        host,
        path_with_query,
    })
}

/// Joins a base URL from the settings (with or without a trailing slash) and a path.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Percent-encodes one query or path component (RFC 3986 unreserved kept).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One HTTP exchange. A body (and, for POST/PUT/PATCH, an absent one) is sent
/// with `content-length`: chunked uploads break some servers.
pub fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Response, PluginError> {
    let parts = parse_url(url)?;
    let body = match body {
        None if method.carries_body() => Some(Vec::new()),
        b => b,
    };
    transport::send(method, url, &parts, headers, body)
}

/// GET `url` and parse the reply as JSON (see [`Response::json`]).
pub fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, PluginError> {
    request(Method::Get, url, &[("accept", "application/json")], None)?.json(url)
}

/// POST `body` as JSON to `url` and parse the reply as JSON (see [`Response::json`]).
pub fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
    url: &str,
    body: &B,
) -> Result<T, PluginError> {
    let bytes = serde_json::to_vec(body)
        .map_err(|e| PluginError::Invalid(format!("cannot encode the request to {url}: {e}")))?;
    request(
        Method::Post,
        url,
        &[
            ("content-type", "application/json;charset=UTF-8"),
            ("accept", "application/json"),
        ],
        Some(bytes),
    )?
    .json(url)
}

#[cfg(target_arch = "wasm32")]
mod transport {
    use std::time::Duration;

    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        ErrorCode, Fields, IncomingBody, Method as WasiMethod, OutgoingBody, OutgoingRequest,
        RequestOptions, Scheme,
    };
    use wasip2::io::streams::StreamError;

    use super::{ErrorKind, MAX_RESPONSE_BYTES, Method, Response, UrlParts};
    use crate::PluginError;

    const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);
    const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(60);

    pub(super) fn send(
        method: Method,
        url: &str,
        parts: &UrlParts,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Response, PluginError> {
        let invalid =
            |what: &str| PluginError::Invalid(format!("cannot build a request to {url}: {what}"));

        let mut entries: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
            .collect();
        if let Some(b) = &body {
            entries.retain(|(k, _)| k != "content-length");
            entries.push(("content-length".into(), b.len().to_string().into_bytes()));
        }
        let fields = Fields::from_list(&entries).map_err(|e| invalid(&format!("header: {e:?}")))?;

        let request = OutgoingRequest::new(fields);
        request
            .set_method(&match method {
                Method::Get => WasiMethod::Get,
                Method::Post => WasiMethod::Post,
                Method::Put => WasiMethod::Put,
                Method::Delete => WasiMethod::Delete,
                Method::Patch => WasiMethod::Patch,
            })
            .map_err(|()| invalid("method"))?;
        request
            .set_scheme(Some(if parts.https {
                &Scheme::Https
            } else {
                &Scheme::Http
            }))
            .map_err(|()| invalid("scheme"))?;
        request
            .set_authority(Some(&parts.authority))
            .map_err(|()| invalid("authority"))?;
        request
            .set_path_with_query(Some(&parts.path_with_query))
            .map_err(|()| invalid("path"))?;

        // Timeouts are advisory: a host that does not support one keeps its own.
        let options = RequestOptions::new();
        let _ = options.set_connect_timeout(Some(nanos(CONNECT_TIMEOUT)));
        let _ = options.set_first_byte_timeout(Some(nanos(FIRST_BYTE_TIMEOUT)));
        let _ = options.set_between_bytes_timeout(Some(nanos(BETWEEN_BYTES_TIMEOUT)));

        let outgoing_body = match body {
            Some(_) => Some(request.body().map_err(|()| invalid("body taken twice"))?),
            None => None,
        };
        let future = outgoing_handler::handle(request, Some(options))
            .map_err(|e| map_error(e, url, parts))?;

        // The body is written after `handle`, so a body larger than the host's
        // pipe cannot block before anyone reads it.
        if let (Some(outgoing_body), Some(bytes)) = (outgoing_body, body) {
            let stream = outgoing_body.write().map_err(|()| invalid("body stream"))?;
            for chunk in bytes.chunks(4096) {
                if let Err(e) = stream.blocking_write_and_flush(chunk) {
                    drop(stream);
                    // The real reason, if any, is on the response future.
                    return Err(match response_error(&future) {
                        Some(err) => after_send(method, err, url, parts),
                        None => answer_lost(method, unavailable_stream(url, e)),
                    });
                }
            }
            drop(stream);
            OutgoingBody::finish(outgoing_body, None)
                .map_err(|e| after_send(method, e, url, parts))?;
        }

        future.subscribe().block();
        // From here on the request has been sent: a lost answer leaves a
        // request that changes state (a submission) in doubt.
        let sent = |e: PluginError| answer_lost(method, e);
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(e))) => return Err(after_send(method, e, url, parts)),
            Some(Err(())) | None => {
                return Err(sent(PluginError::Unavailable(format!("no response from {url}"))));
            }
        };

        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();

        let incoming = response
            .consume()
            .map_err(|()| PluginError::Protocol(format!("the response from {url} has no body")))?;
        let mut body = Vec::new();
        {
            let stream = incoming.stream().map_err(|()| {
                PluginError::Protocol(format!("the response from {url} has no body"))
            })?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => {
                        body.extend_from_slice(&chunk);
                        if body.len() > MAX_RESPONSE_BYTES {
                            return Err(PluginError::Protocol(format!(
                                "the response from {url} is larger than {MAX_RESPONSE_BYTES} bytes"
                            )));
                        }
                    }
                    Err(StreamError::Closed) => break,
                    Err(e) => return Err(sent(unavailable_stream(url, e))),
                }
            }
        }
        let _ = IncomingBody::finish(incoming);
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// A transport failure once the request was handed over: unless the
    /// connection never came about, the peer may have received it.
    fn after_send(method: Method, e: ErrorCode, url: &str, parts: &UrlParts) -> PluginError {
        let never_connected = matches!(
            e,
            ErrorCode::ConnectionRefused
                | ErrorCode::ConnectionTimeout
                | ErrorCode::DnsTimeout
                | ErrorCode::DnsError(_)
                | ErrorCode::DestinationNotFound
                | ErrorCode::DestinationUnavailable
                | ErrorCode::DestinationIpProhibited
                | ErrorCode::DestinationIpUnroutable
                | ErrorCode::TlsProtocolError
                | ErrorCode::TlsCertificateError
                | ErrorCode::TlsAlertReceived(_)
                | ErrorCode::HttpRequestDenied
        );
        let err = map_error(e, url, parts);
        if never_connected { err } else { answer_lost(method, err) }
    }

    /// A transport failure after a request that changes state was sent:
    /// the cluster may have applied it, so it is not reported as an
    /// unreachable cluster (which callers may simply ask again) but as an
    /// answer that went wrong, for the caller to check before repeating.
    fn answer_lost(method: Method, e: PluginError) -> PluginError {
        match (method, e) {
            (Method::Get, e) => e,
            (_, PluginError::Unavailable(m)) => PluginError::InDoubt(format!(
                "{m}, after the request was sent: it may have been applied"
            )),
            (_, e) => e,
        }
    }

    fn nanos(d: Duration) -> u64 {
        d.as_nanos().try_into().unwrap_or(u64::MAX)
    }

    fn response_error(future: &wasip2::http::types::FutureIncomingResponse) -> Option<ErrorCode> {
        match future.get() {
            Some(Ok(Err(e))) => Some(e),
            _ => None,
        }
    }

    fn unavailable_stream(url: &str, e: StreamError) -> PluginError {
        let why = match e {
            StreamError::Closed => "connection closed".to_string(),
            StreamError::LastOperationFailed(err) => {
                match wasip2::http::types::http_error_code(&err) {
                    Some(code) => in_words(&code, host_of(url)),
                    None => err.to_debug_string(),
                }
            }
        };
        PluginError::Unavailable(format!("talking to {url} failed: {why}"))
    }

    fn map_error(e: ErrorCode, url: &str, parts: &UrlParts) -> PluginError {
        let kind = match &e {
            ErrorCode::HttpRequestDenied => ErrorKind::Denied,
            ErrorCode::HttpRequestMethodInvalid
            | ErrorCode::HttpRequestUriInvalid
            | ErrorCode::HttpRequestUriTooLong
            | ErrorCode::HttpRequestHeaderSectionSize(_)
            | ErrorCode::HttpRequestHeaderSize(_)
            | ErrorCode::HttpRequestBodySize(_)
            | ErrorCode::HttpRequestLengthRequired => ErrorKind::BadRequest,
            ErrorCode::HttpResponseIncomplete
            | ErrorCode::HttpResponseHeaderSectionSize(_)
            | ErrorCode::HttpResponseHeaderSize(_)
            | ErrorCode::HttpResponseBodySize(_)
            | ErrorCode::HttpResponseTrailerSectionSize(_)
            | ErrorCode::HttpResponseTrailerSize(_)
            | ErrorCode::HttpResponseTransferCoding(_)
            | ErrorCode::HttpResponseContentCoding(_)
            | ErrorCode::HttpProtocolError => ErrorKind::BadResponse,
            _ => ErrorKind::Unreachable,
        };
        super::error_for(kind, &in_words(&e, &parts.host), url, &parts.host)
    }

    fn host_of(url: &str) -> &str {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        rest.split(['/', '?', '#']).next().unwrap_or(rest)
    }

    /// A transport failure as a user knows it, naming the host. The host
    /// passes what `wasi:http` has no code for (TLS details, other socket
    /// errors) as an internal error's text, TLS ones starting `TLS error: `.
    fn in_words(e: &ErrorCode, host: &str) -> String {
        match e {
            ErrorCode::ConnectionRefused => format!("connection refused by {host}"),
            ErrorCode::ConnectionTerminated => format!("connection reset by {host}"),
            ErrorCode::ConnectionTimeout => format!("timed out connecting to {host}"),
            ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
                format!("timed out waiting for {host} to answer")
            }
            ErrorCode::ConnectionWriteTimeout => format!("timed out sending to {host}"),
            ErrorCode::ConnectionLimitReached => format!("too many connections open to {host}"),
            ErrorCode::DnsTimeout => format!("DNS lookup of {host} timed out"),
            ErrorCode::DnsError(p) => match &p.rcode {
                Some(why) => format!("DNS lookup of {host} failed ({why})"),
                None => format!("DNS lookup of {host} failed"),
            },
            ErrorCode::DestinationNotFound => format!("{host} not found"),
            ErrorCode::DestinationUnavailable => format!("{host} is unreachable"),
            ErrorCode::DestinationIpProhibited => format!("the address of {host} is prohibited"),
            ErrorCode::DestinationIpUnroutable => format!("no route to {host}"),
            ErrorCode::TlsProtocolError => format!("TLS error with {host}"),
            ErrorCode::TlsCertificateError => {
                format!("TLS error with {host}: its certificate is not trusted")
            }
            ErrorCode::TlsAlertReceived(a) => format!(
                "TLS error with {host}: it sent alert {}",
                a.alert_message.as_deref().unwrap_or("(no message)")
            ),
            ErrorCode::HttpResponseIncomplete => {
                format!("{host} closed the connection before answering in full")
            }
            ErrorCode::HttpProtocolError => format!("{host} answered with broken HTTP"),
            ErrorCode::InternalError(Some(m)) => match m.strip_prefix("TLS error: ") {
                Some(why) => format!("TLS error with {host}: {why}"),
                None => format!("{m} ({host})"),
            },
            other => format!("{other:?}"),
        }
    }
}

/// How a transport failure bears on retrying; see [`error_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The host's outbound policy refused the request.
    Denied,
    /// The request itself is malformed; retrying will not help.
    BadRequest,
    /// The peer answered something that is not valid HTTP.
    BadResponse,
    /// DNS, connect, TLS, timeouts: the peer could not be reached.
    Unreachable,
}

/// The [`PluginError`] for a failed exchange with `url`; `detail` is the
/// transport's own description.
pub fn error_for(kind: ErrorKind, detail: &str, url: &str, host: &str) -> PluginError {
    match kind {
        ErrorKind::Denied => PluginError::Unavailable(format!(
            "request to {host} denied by drover: add it to the backend's allowed_hosts"
        )),
        ErrorKind::BadRequest => {
            PluginError::Invalid(format!("request to {url} refused: {detail}"))
        }
        ErrorKind::BadResponse => {
            PluginError::Protocol(format!("bad answer from {url}: {detail}"))
        }
        ErrorKind::Unreachable => PluginError::Unavailable(format!("cannot reach {url}: {detail}")),
    }
}

/// Without `wasi:http` (unit tests on the host) every request fails cleanly.
#[cfg(not(target_arch = "wasm32"))]
mod transport {
    use super::{Method, Response, UrlParts};
    use crate::PluginError;

    pub(super) fn send(
        _method: Method,
        url: &str,
        _parts: &UrlParts,
        _headers: &[(&str, &str)],
        _body: Option<Vec<u8>>,
    ) -> Result<Response, PluginError> {
        Err(PluginError::Unsupported(format!(
            "no wasi:http outside wasm32: cannot reach {url}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_url_splits_scheme_authority_and_path() {
        let p = parse_url("http://master:6066/v1/submissions/status/driver-1?x=1#frag").unwrap();
        assert_eq!(
            p,
            UrlParts {
                https: false,
                authority: "master:6066".into(),
                host: "master".into(),
                path_with_query: "/v1/submissions/status/driver-1?x=1".into(),
            }
        );
        let p = parse_url("HTTPS://[::1]:8443").unwrap();
        assert!(p.https);
        assert_eq!((p.host.as_str(), p.path_with_query.as_str()), ("::1", "/"));
        let p = parse_url("http://h?q").unwrap();
        assert_eq!(p.path_with_query, "/?q");
    }

    #[test]
    fn parse_url_refuses_what_wasi_http_cannot_send() {
        for bad in [
            "spark://master:7077",
            "master:6066",
            "http://",
            "http://u:p@h/",
        ] {
            assert!(
                matches!(parse_url(bad), Err(PluginError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn denied_requests_name_the_host_and_the_setting() {
        let e = error_for(
            ErrorKind::Denied,
            "HttpRequestDenied",
            "http://evil:1/x",
            "evil",
        );
        assert_eq!(
            e,
            PluginError::Unavailable(
                "request to evil denied by drover: add it to the backend's allowed_hosts".into()
            )
        );
        let e = error_for(
            ErrorKind::Unreachable,
            "ConnectionRefused",
            "http://h:1/x",
            "h",
        );
        assert!(matches!(&e, PluginError::Unavailable(m) if m.contains("http://h:1/x")));
    }

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn garbage_bodies_are_protocol_errors_quoting_the_body() {
        let e = response(200, "<html>oops</html>")
            .json::<serde_json::Value>("http://h/x")
            .unwrap_err();
        assert!(
            matches!(&e, PluginError::Protocol(m) if m.contains("http://h/x") && m.contains("<html>oops")),
            "{e:?}"
        );
    }

    #[test]
    fn unparsed_error_bodies_follow_the_status() {
        let j = |s| {
            response(s, "nope")
                .json::<serde_json::Value>("u")
                .unwrap_err()
        };
        assert!(matches!(j(404), PluginError::NotFound(_)));
        assert!(matches!(j(503), PluginError::Unavailable(_)));
        assert!(matches!(j(400), PluginError::Rejected(_)));
        // JSON error bodies are returned for the caller to read.
        let v: serde_json::Value = response(400, r#"{"message":"bad"}"#).json("u").unwrap();
        assert_eq!(v["message"], "bad");
    }

    #[test]
    fn join_and_encode() {
        assert_eq!(join("http://h:8080/", "/json/"), "http://h:8080/json/");
        assert_eq!(encode_component("driver-1 a/b"), "driver-1%20a%2Fb");
    }
}
