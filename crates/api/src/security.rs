//! What a browser may do with drover beyond the token: which Host names it
//! answers, and the headers that keep its pages from being framed, sniffed
//! or made to load scripts from elsewhere.
//!
//! The Host check stops DNS rebinding: a page on `evil.example` whose name
//! is made to resolve to 127.0.0.1 reaches drover with `Host: evil.example`,
//! which is refused. Rebinding needs a DNS name, so IP literals (any bound
//! address) and `localhost` pass without configuration; other names must be
//! allowed (`drover serve --allowed-host drover.example.com`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ErrorBody;

/// The Host names drover answers besides IP addresses and `localhost`.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    /// Lowercase names without a port; `*` allows every name.
    names: Arc<Vec<String>>,
}

impl AllowedHosts {
    /// `names` as given on the command line: `drover.example.com`, with or
    /// without a port (ports are not checked), or `*` for any name.
    pub fn new(names: &[String]) -> AllowedHosts {
        let names = names
            .iter()
            .map(|n| host_name(n.trim()).to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        AllowedHosts { names: Arc::new(names) }
    }

    pub fn allows(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        if name.is_empty() {
            return false;
        }
        let ip_literal = name.parse::<std::net::Ipv4Addr>().is_ok()
            || (name.starts_with('[') && name.ends_with(']') && name[1..name.len() - 1].parse::<std::net::Ipv6Addr>().is_ok());
        ip_literal
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.names.iter().any(|n| n == "*" || *n == name)
    }
}

/// The name part of a Host header or authority: `[::1]:8080` -> `[::1]`,
/// `example.com:80` -> `example.com`.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// Refuses requests whose Host is not allowed, with 421 and the usual
/// `{"detail", "status"}` body.
pub async fn check_host(State(allowed): State<AllowedHosts>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    match host {
        Some(h) if allowed.allows(&h) => next.run(req).await,
        other => {
            let detail = match other {
                Some(h) => format!(
                    "this server does not answer to the host name `{}`; if it is yours, allow it with \
                     `--allowed-host {}` (or DROVER_ALLOWED_HOSTS)",
                    host_name(&h),
                    host_name(&h)
                ),
                None => "the request has no Host header".to_string(),
            };
            let status = StatusCode::MISDIRECTED_REQUEST;
            let body = ErrorBody { detail, status: status.as_u16(), errors: Vec::new() };
            (status, axum::Json(body)).into_response()
        }
    }
}

/// Only drover's own scripts, styles and API; no framing; no sniffing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// Adds the browser-hardening headers to every answer.
pub async fn headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    resp
}

/// Puts the Host check and the headers around `router`.
pub fn protect(router: axum::Router, allowed: AllowedHosts) -> axum::Router {
    router
        .layer(axum::middleware::from_fn(headers))
        .layer(axum::middleware::from_fn_with_state(allowed, check_host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_and_localhost_pass_and_other_names_must_be_allowed() {
        let none = AllowedHosts::default();
        for ok in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST", "[::1]:8080", "10.1.2.3", "app.localhost:1"] {
            assert!(none.allows(ok), "{ok}");
        }
        for bad in ["evil.example:8080", "evil.example", "127.0.0.1.evil.example", "", ":8080", "[::1"] {
            assert!(!none.allows(bad), "{bad}");
        }
        let some = AllowedHosts::new(&["Drover.Example.com:443".into()]);
        assert!(some.allows("drover.example.com:8080"));
        assert!(!some.allows("evil.example"));
        assert!(AllowedHosts::new(&["*".into()]).allows("anything.example"));
    }
}
