//! Who may call what. Mutating calls need a token (`Authorization: Bearer
//! <token>`, as Airflow's clients send it) or a session cookie from logging
//! in with one (or with a one-time login code); reads are open or need the
//! same, as configured.
//!
//! A session is a random id in an HttpOnly cookie and a row in the store
//! (only the id's sha256), so logging out ends it for good, sessions
//! survive restarts, and they end when the tokens change. Wrong tokens and
//! codes are counted per client address: after a few, that address waits
//! (429 with Retry-After) before it may try again.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use drover_store::Store;

use crate::error::{ApiError, ErrorBody};

const COOKIE: &str = "drover_session";
const SESSION_SECONDS: i64 = 12 * 3600;
/// How long a login code printed by `drover standalone` works.
pub const LOGIN_CODE_TTL: Duration = Duration::from_secs(10 * 60);

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
    /// Names the set of tokens; a session granted under other tokens ends.
    token_key: String,
    read_access: ReadAccess,
    store: Store,
    /// Unused one-time login codes: sha256 -> when it stops working.
    codes: Mutex<HashMap<[u8; 32], Instant>>,
    /// Failed logins at /auth/login, and wrong Bearer tokens: counted apart,
    /// so a client probing one cannot lock out the other.
    logins: Throttle,
    bearers: Throttle,
}

enum Caller {
    Token,
    Session,
    Anonymous,
    BadToken,
}

impl Auth {
    /// `tokens` must not be empty: a server without a token accepts no change.
    pub fn new(tokens: &[String], read_access: ReadAccess, store: Store) -> Arc<Auth> {
        let mut key = Sha256::new();
        key.update(b"drover-session-v2");
        for t in tokens {
            key.update(t.as_bytes());
            key.update([0]);
        }
        Arc::new(Auth {
            tokens: tokens.iter().map(|t| Sha256::digest(t.as_bytes()).into()).collect(),
            token_key: hex::encode(key.finalize()),
            read_access,
            store,
            codes: Mutex::new(HashMap::new()),
            logins: Throttle::default(),
            bearers: Throttle::default(),
        })
    }

    fn accepts(&self, token: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.tokens.contains(&digest)
    }

    /// A new one-time login code: it works once, for [`LOGIN_CODE_TTL`], and
    /// gives a session like the token does, so a login link never carries
    /// the token itself.
    pub fn login_code(&self) -> String {
        let code = hex::encode(rand::random::<[u8; 16]>());
        let now = Instant::now();
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        codes.retain(|_, until| *until > now);
        codes.insert(Sha256::digest(code.as_bytes()).into(), now + LOGIN_CODE_TTL);
        code
    }

    /// Spends `code`: true once, if it is known and still valid at `now`.
    fn take_code(&self, code: &str, now: Instant) -> bool {
        let digest: [u8; 32] = Sha256::digest(code.as_bytes()).into();
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        codes.remove(&digest).is_some_and(|until| until > now)
    }

    /// A new session; answers the cookie's value.
    async fn new_session(&self) -> Result<String, ApiError> {
        let id = hex::encode(rand::random::<[u8; 32]>());
        let now = chrono::Utc::now().timestamp();
        self.store
            .create_session(&session_digest(&id), &self.token_key, now, now + SESSION_SECONDS)
            .await
            .map_err(|e| ApiError::Internal(format!("cannot record the session: {e}")))?;
        Ok(id)
    }

    async fn session_valid(&self, id: &str) -> bool {
        let now = chrono::Utc::now().timestamp();
        match self.store.session_valid(&session_digest(id), &self.token_key, now).await {
            Ok(valid) => valid,
            Err(e) => {
                tracing::error!(error = %e, "cannot check a session; treating it as logged out");
                false
            }
        }
    }

    async fn identify(&self, headers: &HeaderMap) -> Caller {
        if let Some(v) = headers.get(header::AUTHORIZATION) {
            let token = v.to_str().ok().and_then(|v| v.strip_prefix("Bearer "));
            return match token {
                Some(t) if self.accepts(t.trim()) => Caller::Token,
                _ => Caller::BadToken,
            };
        }
        match cookie(headers, COOKIE) {
            Some(v) if self.session_valid(v).await => Caller::Session,
            _ => Caller::Anonymous,
        }
    }
}

fn session_digest(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The caller's address, when the server recorded it (`ConnectInfo`).
fn client_ip(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Failed logins (wrong tokens or codes) per client address. The first
/// few are free; from then on each failure locks the address out for
/// longer (30 s, doubling up to 15 min), so guessing a token is hopeless
/// while a person who mistyped waits half a minute. Only a quiet spell
/// forgives: a success does not, or a client using the right token from the
/// same address would keep resetting a guesser's count.
#[derive(Default)]
struct Throttle {
    clients: Mutex<HashMap<IpAddr, Failures>>,
}

struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

const FREE_FAILURES: u32 = 5;
const FIRST_LOCKOUT: Duration = Duration::from_secs(30);
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at most; beyond, the forgiven and expired go first.
const MAX_CLIENTS: usize = 10_000;

impl Throttle {
    /// `Err(wait)` while `ip` is locked out.
    fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        match clients.get(&ip).and_then(|f| f.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    fn failed(&self, ip: IpAddr, now: Instant) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() >= MAX_CLIENTS {
            clients.retain(|_, f| f.locked_until.is_some_and(|u| u > now) || now.duration_since(f.last) < MAX_LOCKOUT);
            if clients.len() >= MAX_CLIENTS {
                clients.retain(|_, f| f.locked_until.is_some_and(|u| u > now));
            }
        }
        let f = clients.entry(ip).or_insert(Failures { count: 0, last: now, locked_until: None });
        // A long quiet spell forgives the old failures.
        if now.duration_since(f.last) > MAX_LOCKOUT && f.locked_until.is_none_or(|u| u <= now) {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
        if f.count >= FREE_FAILURES {
            let doublings = (f.count - FREE_FAILURES).min(5);
            f.locked_until = Some(now + (FIRST_LOCKOUT * 2u32.pow(doublings)).min(MAX_LOCKOUT));
        }
    }
}

/// 429 with Retry-After (whole seconds, rounded up).
fn too_many_failures(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let body = ErrorBody {
        detail: format!("too many wrong tokens or codes from this address; try again in {seconds} s"),
        status: 429,
        errors: Vec::new(),
    };
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    resp
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
    let ip = client_ip(req.extensions());
    // Checked before the token is: a locked-out address learns nothing.
    if req.headers().contains_key(header::AUTHORIZATION)
        && let Err(wait) = auth.bearers.check(ip, Instant::now())
    {
        return too_many_failures(wait);
    }
    match auth.identify(req.headers()).await {
        Caller::Token => next.run(req).await,
        Caller::Session if mutating && !same_origin(req.headers()) => {
            ApiError::Forbidden("a session may only change things from drover's own pages".into()).into_response()
        }
        Caller::Session => next.run(req).await,
        Caller::BadToken => {
            auth.bearers.failed(ip, Instant::now());
            ApiError::Unauthorized(format!("the token is not accepted; {HOW}")).into_response()
        }
        Caller::Anonymous if !mutating && auth.read_access == ReadAccess::Public => next.run(req).await,
        Caller::Anonymous if mutating => {
            ApiError::Unauthorized(format!("this call changes state and needs a token; {HOW}")).into_response()
        }
        Caller::Anonymous => ApiError::Unauthorized(format!("reading needs a token on this server; {HOW}")).into_response(),
    }
}

/// Either the API token or a one-time login code (from the link `drover
/// standalone` prints).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub token: Option<String>,
    pub code: Option<String>,
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
        authenticated: matches!(auth.identify(&headers).await, Caller::Token | Caller::Session),
        read_access: auth.read_access,
    })
}

const BAD_CODE: &str = "the login code is unknown, already used or expired (a code works once, for 10 minutes); \
                        log in with the API token from <home>/api-token instead";

/// Exchanges a token or a one-time login code for a session cookie
/// (HttpOnly, SameSite=Strict). After repeated failures from one address,
/// answers 429 with Retry-After until the lockout ends.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = SessionResponse), (status = 401, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
pub async fn login(State(auth): State<Arc<Auth>>, extensions: Extensions, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if !same_origin(&headers) {
        return ApiError::Forbidden("log in from drover's own pages".into()).into_response();
    }
    let ip = client_ip(&extensions);
    if let Err(wait) = auth.logins.check(ip, Instant::now()) {
        return too_many_failures(wait);
    }
    let accepted = match serde_json::from_slice::<LoginBody>(&body) {
        Ok(LoginBody { token: Some(token), code: None }) => auth.accepts(token.trim()).then_some(()).ok_or("the token is not accepted"),
        Ok(LoginBody { token: None, code: Some(code) }) => auth.take_code(code.trim(), Instant::now()).then_some(()).ok_or(BAD_CODE),
        _ => {
            return ApiError::BadRequest("expected a JSON body {\"token\": \"...\"} or {\"code\": \"...\"}".into())
                .into_response();
        }
    };
    if let Err(why) = accepted {
        auth.logins.failed(ip, Instant::now());
        return ApiError::Unauthorized(why.into()).into_response();
    }
    let id = match auth.new_session().await {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECONDS}");
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

/// Ends the session: its cookie stops working, also after a restart.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 200, body = SessionResponse)))]
pub async fn logout(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, COOKIE)
        && let Err(e) = auth.store.delete_session(&session_digest(id)).await
    {
        return ApiError::Internal(format!("cannot end the session: {e}")).into_response();
    }
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

    #[tokio::test]
    async fn sessions_end_on_logout_and_when_the_tokens_change() {
        let store = Store::memory().await.unwrap();
        let a = Auth::new(&["s3cret".into()], ReadAccess::Public, store.clone());
        let s = a.new_session().await.unwrap();
        assert!(a.session_valid(&s).await);
        assert!(!a.session_valid(&format!("{s}0")).await, "an unknown id is refused");
        let b = Auth::new(&["other".into()], ReadAccess::Public, store.clone());
        assert!(!b.session_valid(&s).await, "a new token ends old sessions");
        store.delete_session(&session_digest(&s)).await.unwrap();
        assert!(!a.session_valid(&s).await, "a deleted session is refused");
    }

    #[tokio::test]
    async fn a_login_code_works_once_and_not_after_it_expires() {
        let a = Auth::new(&["s3cret".into()], ReadAccess::Public, Store::memory().await.unwrap());
        let code = a.login_code();
        assert!(!a.take_code("s3cret", Instant::now()), "the token is not a code");
        assert!(a.take_code(&code, Instant::now()));
        assert!(!a.take_code(&code, Instant::now()), "a code works once");
        let late = a.login_code();
        assert!(!a.take_code(&late, Instant::now() + LOGIN_CODE_TTL), "an expired code is refused");
    }

    #[test]
    fn failures_lock_an_address_out_for_longer_each_time_and_a_quiet_spell_forgives() {
        let t = Throttle::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 1..FREE_FAILURES {
            t.failed(ip, t0);
            assert_eq!(t.check(ip, t0), Ok(()), "the first failures are free");
        }
        t.failed(ip, t0);
        assert_eq!(t.check(ip, t0), Err(FIRST_LOCKOUT));
        assert_eq!(t.check(other, t0), Ok(()), "other addresses are not affected");
        let t1 = t0 + FIRST_LOCKOUT;
        assert_eq!(t.check(ip, t1), Ok(()), "the lockout ends");
        t.failed(ip, t1);
        assert_eq!(t.check(ip, t1), Err(FIRST_LOCKOUT * 2), "the next failure locks out for longer");
        for _ in 0..20 {
            t.failed(ip, t1);
        }
        assert_eq!(t.check(ip, t1), Err(MAX_LOCKOUT), "up to a limit");
        let quiet = t1 + MAX_LOCKOUT * 2 + Duration::from_secs(1);
        t.failed(ip, quiet);
        assert_eq!(t.check(ip, quiet), Ok(()), "after a quiet spell the count starts over");
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
