//! Where a plugin may send HTTP requests.
//!
//! The host checks every outgoing request against the backend's allowed
//! hosts before anything leaves the process, and clamps the request's
//! timeouts to the call's budget (wasmtime's default is 600 s).
//!
//! Hosts are matched by name, as the plugin wrote them in the URL: a name that
//! resolves to another address is not re-checked at connect time, so list
//! names you trust.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use http_body_util::BodyExt;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// One allowed destination: `host` (any port) or `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    host: String,
    port: Option<u16>,
}

impl HostRule {
    /// Parses `host`, `host:port`, `[v6]:port` or a URL (its host and port).
    pub fn parse(s: &str) -> Result<HostRule, String> {
        let s = s.trim();
        if s.contains("://") {
            let uri: http::Uri = s.parse().map_err(|e| format!("`{s}` is not a URL: {e}"))?;
            let host = uri.host().ok_or_else(|| format!("`{s}` has no host"))?;
            let port = uri.port_u16().or(match uri.scheme_str() {
                Some("https") => Some(443),
                Some("http") => Some(80),
                _ => None,
            });
            return Ok(HostRule {
                host: host.trim_matches(['[', ']']).to_ascii_lowercase(),
                port,
            });
        }
        let authority: http::uri::Authority = s
            .parse()
            .map_err(|e| format!("`{s}` is not a host or host:port: {e}"))?;
        Ok(HostRule {
            host: authority.host().trim_matches(['[', ']']).to_ascii_lowercase(),
            port: authority.port_u16(),
        })
    }

    pub(crate) fn allows(&self, host: &str, port: u16) -> bool {
        self.host == host && self.port.is_none_or(|p| p == port)
    }
}

impl std::fmt::Display for HostRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// HTTPS to a cluster whose certificate a private CA signed (a Kubernetes API
/// server, say): trusts exactly the CA certificates of the backend's
/// `ca_file`. Pooled, so repeated status calls reuse their connections.
#[derive(Clone)]
pub(crate) struct CaClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, WasiBody>,
}

/// A connector for http and https, trusting the CA certificates in
/// `ca_file` (PEM) when given, else the public web roots.
pub(crate) fn https_connector(ca_file: Option<&Path>) -> Result<hyper_rustls::HttpsConnector<HttpConnector>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let roots = match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("ca_file {} is not PEM certificates: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("ca_file {} holds a certificate rustls refuses: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("ca_file {} holds no certificate", path.display()));
            }
            roots
        }
        None => rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() },
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build())
}

impl CaClient {
    pub(crate) fn from_pem_file(path: &Path) -> Result<CaClient, String> {
        Ok(CaClient {
            client: Client::builder(TokioExecutor::new()).build(https_connector(Some(path))?),
        })
    }

    async fn send(
        &self,
        request: http::Request<WasiBody>,
        timeout: Duration,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let response = tokio::time::timeout(timeout, self.client.request(request))
            .await
            .map_err(|_| HttpError::ConnectionReadTimeout)?
            .map_err(|e| {
                // Connection and TLS failures (an untrusted certificate) say
                // so, keeping the socket's own error kind (refused, reset).
                let text = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| format!("{e}: {s}"));
                let kind = io_kind(&e).unwrap_or(std::io::ErrorKind::Other);
                HttpError::Connect(std::io::Error::new(kind, text))
            })?;
        Ok(response.map(|b| b.map_err(HttpError::from).boxed_unsync()))
    }
}

/// The per-call HTTP hooks: allowlist and timeout clamp. Records what it
/// denied so the host can say which host was refused.
pub(crate) struct Policy {
    pub(crate) allowed: Arc<Vec<HostRule>>,
    pub(crate) timeout: Duration,
    pub(crate) denied: Arc<Mutex<Vec<String>>>,
    pub(crate) ca: Option<CaClient>,
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for Policy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        drop(fut);
        let uri = request.uri();
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        if !self.allowed.iter().any(|r| r.allows(&host, port)) {
            self.denied
                .lock()
                .expect("denied list")
                .push(format!("{host}:{port}"));
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        if let Some(ca) = self.ca.clone().filter(|_| uri.scheme_str() == Some("https")) {
            let timeout = self.timeout;
            return Box::new(async move {
                let response = ca.send(request, timeout).await?;
                Ok((
                    response,
                    Box::new(async { Ok(()) }) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ))
            });
        }
        let clamp = |t: Option<Duration>| Some(t.map_or(self.timeout, |t| t.min(self.timeout)));
        let options = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: clamp(options.connect_timeout),
            first_byte_timeout: clamp(options.first_byte_timeout),
            between_bytes_timeout: clamp(options.between_bytes_timeout),
        };
        Box::new(async move {
            let (res, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }

    /// wasmtime calls every failure of an open connection a protocol error;
    /// a reset, an early close or a timeout is named as such.
    fn p2_error_from_hyper(&mut self, err: &hyper::Error) -> ErrorCode {
        use std::io::ErrorKind as K;
        match io_kind(err) {
            Some(K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe) => ErrorCode::ConnectionTerminated,
            Some(K::TimedOut) => ErrorCode::ConnectionReadTimeout,
            _ if err.is_timeout() => ErrorCode::HttpResponseTimeout,
            _ if err.is_incomplete_message() => ErrorCode::HttpResponseIncomplete,
            _ => {
                tracing::debug!(error = ?err, "cluster answered broken HTTP");
                ErrorCode::HttpProtocolError
            }
        }
    }

    fn p2_error_from_connect(&mut self, err: &std::io::Error) -> ErrorCode {
        connect_error(err)
    }

    fn p2_error_from_tls(&mut self, err: &std::io::Error) -> ErrorCode {
        ErrorCode::InternalError(Some(format!("TLS error: {err}")))
    }
}

/// The socket error under a transport error, if any.
fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cause = c.source();
    }
    None
}

/// A failed connection as the `wasi:http` error the plugin renders in
/// words ("connection refused by <host>"); wasmtime's default calls every
/// connect failure refused.
fn connect_error(err: &std::io::Error) -> ErrorCode {
    use std::io::ErrorKind as K;
    match err.kind() {
        K::ConnectionRefused => ErrorCode::ConnectionRefused,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => ErrorCode::ConnectionTerminated,
        K::TimedOut => ErrorCode::ConnectionTimeout,
        K::HostUnreachable | K::NetworkUnreachable => ErrorCode::DestinationUnavailable,
        _ if err.to_string().contains("certificate") => ErrorCode::InternalError(Some(format!("TLS error: {err}"))),
        _ => ErrorCode::InternalError(Some(err.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_rules_match_host_and_port() {
        let r = HostRule::parse("127.0.0.1:6066").unwrap();
        assert!(r.allows("127.0.0.1", 6066));
        assert!(!r.allows("127.0.0.1", 6067));
        let any = HostRule::parse("Spark-Master.example").unwrap();
        assert!(any.allows("spark-master.example", 1234));
        let url = HostRule::parse("https://emr.example.com/x").unwrap();
        assert_eq!(url.to_string(), "emr.example.com:443");
    }
}
