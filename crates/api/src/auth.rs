//! Who may call what. Mutating calls need a token (`Authorization: Bearer
//! <token>`, as Airflow's clients send it) or a session cookie from logging
//! in with one; reads are open or need the same, as configured. Sessions
//! are signed with a key derived from the tokens, so they survive restarts
//! and end when the tokens change.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

const COOKIE: &str = "drover_session";
const SESSION_SECONDS: i64 = 12 * 3600;

/// Whether reading needs a token too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadAccess {
    /// Anyone who can reach the server may read.
    Public,
    /// Reading needs a token or a session, like writing.
    Token,
}

impl std::str::FromStr for ReadAccess {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "public" => Ok(ReadAccess::Public),
            "token" => Ok(ReadAccess::Token),
            _ => Err(format!("read access `{s}` is neither `public` nor `token`")),
        }
    }
}

pub struct Auth {
    /// sha256 of each accepted token.
    tokens: Vec<[u8; 32]>,
    session_key: [u8; 32],
    read_access: ReadAccess,
}

enum Caller {
    Token,
    Session,
    Anonymous,
    BadToken,
}

impl Auth {
    /// `tokens` must not be empty: a server without a token accepts no change.
    pub fn new(tokens: &[String], read_access: ReadAccess) -> Arc<Auth> {
        let mut key = Sha256::new();
        key.update(b"drover-session-v1");
        for t in tokens {
            key.update(t.as_bytes());
            key.update([0]);
        }
        Arc::new(Auth {
            tokens: tokens.iter().map(|t| Sha256::digest(t.as_bytes()).into()).collect(),
            session_key: key.finalize().into(),
            read_access,
        })
    }

    fn accepts(&self, token: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.tokens.contains(&digest)
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.session_key).expect("any key length")
    }

    fn new_session(&self) -> String {
        let expires = chrono::Utc::now().timestamp() + SESSION_SECONDS;
        let mut mac = self.mac();
        mac.update(expires.to_string().as_bytes());
        format!("{expires}.{}", hex::encode(mac.finalize().into_bytes()))
    }

    fn session_valid(&self, value: &str) -> bool {
        let Some((expires, sig)) = value.split_once('.') else { return false };
        let (Ok(at), Ok(sig)) = (expires.parse::<i64>(), hex::decode(sig)) else { return false };
        let mut mac = self.mac();
        mac.update(expires.as_bytes());
        mac.verify_slice(&sig).is_ok() && at > chrono::Utc::now().timestamp()
    }

    fn identify(&self, headers: &HeaderMap) -> Caller {
        if let Some(v) = headers.get(header::AUTHORIZATION) {
            let token = v.to_str().ok().and_then(|v| v.strip_prefix("Bearer "));
            return match token {
                Some(t) if self.accepts(t.trim()) => Caller::Token,
                _ => Caller::BadToken,
            };
        }
        match cookie(headers, COOKIE) {
            Some(v) if self.session_valid(v) => Caller::Session,
            _ => Caller::Anonymous,
        }
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A browser sends Origin with cross-site requests; a session may only
/// change things from drover's own pages.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return true };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

const HOW: &str = "send `Authorization: Bearer <token>` or log in at /#login; \
                   `drover standalone` and `drover serve` write the token to <home>/api-token";

/// The guard in front of /api/v2.
pub async fn guard(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if matches!(path, "/api/v2/monitor/health" | "/api/v2/version" | "/api/v2/openapi.json") {
        return next.run(req).await;
    }
    let mutating = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    match auth.identify(req.headers()) {
        Caller::Token => next.run(req).await,
        Caller::Session if mutating && !same_origin(req.headers()) => {
            ApiError::Forbidden("a session may only change things from drover's own pages".into()).into_response()
        }
        Caller::Session => next.run(req).await,
        Caller::BadToken => ApiError::Unauthorized(format!("the token is not accepted; {HOW}")).into_response(),
        Caller::Anonymous if !mutating && auth.read_access == ReadAccess::Public => next.run(req).await,
        Caller::Anonymous if mutating => {
            ApiError::Unauthorized(format!("this call changes state and needs a token; {HOW}")).into_response()
        }
        Caller::Anonymous => ApiError::Unauthorized(format!("reading needs a token on this server; {HOW}")).into_response(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub token: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionResponse {
    pub authenticated: bool,
    pub read_access: ReadAccess,
}

/// Who the caller is, for the UI.
#[utoipa::path(get, path = "/auth/session", tag = "auth", responses((status = 200, body = SessionResponse)))]
pub async fn session(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> axum::Json<SessionResponse> {
    axum::Json(SessionResponse {
        authenticated: matches!(auth.identify(&headers), Caller::Token | Caller::Session),
        read_access: auth.read_access,
    })
}

/// Exchanges a token for a session cookie (HttpOnly, SameSite=Strict).
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = SessionResponse), (status = 401, body = crate::error::ErrorBody)))]
pub async fn login(State(auth): State<Arc<Auth>>, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<LoginBody>(&body) else {
        return ApiError::BadRequest("expected a JSON body {\"token\": \"...\"}".into()).into_response();
    };
    if !auth.accepts(body.token.trim()) {
        return ApiError::Unauthorized("the token is not accepted".into()).into_response();
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECONDS}",
        auth.new_session()
    );
    let mut resp = axum::Json(SessionResponse {
        authenticated: true,
        read_access: auth.read_access,
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// Ends the session.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 200, body = SessionResponse)))]
pub async fn logout(State(auth): State<Arc<Auth>>) -> Response {
    let mut resp = axum::Json(SessionResponse {
        authenticated: false,
        read_access: auth.read_access,
    })
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("drover_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_signed_and_bound_to_the_tokens() {
        let a = Auth::new(&["s3cret".into()], ReadAccess::Public);
        let s = a.new_session();
        assert!(a.session_valid(&s));
        assert!(!a.session_valid(&s.replace('.', ".0")), "a tampered signature is refused");
        let (exp, sig) = s.split_once('.').unwrap();
        let later = format!("{}.{sig}", exp.parse::<i64>().unwrap() + 1000);
        assert!(!a.session_valid(&later), "an extended expiry is refused");
        let b = Auth::new(&["other".into()], ReadAccess::Public);
        assert!(!b.session_valid(&s), "a new token ends old sessions");
    }

    #[test]
    fn origin_must_match_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(!same_origin(&h));
    }
}
