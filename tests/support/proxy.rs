//! A fault-injecting HTTP proxy in front of the stand-in cluster.
//!
//! drover's plugins reach the cluster through it, and the test decides at run
//! time what the cluster seems to do: answer ([`Mode::Pass`]), be down
//! ([`Mode::Unavailable`]: 503 without forwarding), drop connections
//! ([`Mode::Reset`]), accept a request but hold its answer back
//! ([`Proxy::hold`], so drover can be killed while a submission it sent is
//! in flight), or answer in the cluster's place ([`Proxy::answer`], e.g. a
//! kill "accepted" that never reaches the cluster). It records every request
//! and whether it reached the cluster, so a test can count submissions.
//! Faults so go through the real path: the plugin's HTTP client, the
//! network, the cluster's own state (STYLE.md habit 16).
//!
//! Requests and answers are read whole (the cluster APIs drover uses answer
//! small JSON documents), one hyper connection per client connection.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::bail;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with a request no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward it and relay the cluster's answer.
    Pass,
    /// Answer 503 without forwarding: the cluster seems down.
    Unavailable,
    /// Reset the connection without answering.
    Reset,
}

/// An answer given in the cluster's place: from the request's path, a
/// status and a JSON body.
pub type Answer = Arc<dyn Fn(&str) -> (u16, String) + Send + Sync>;

#[derive(Clone)]
enum Action {
    /// Forward, then hold the cluster's answer until [`Proxy::release`].
    Hold,
    Answer(Answer),
}

#[derive(Clone)]
struct Rule {
    method: String,
    path: String,
    action: Action,
}

impl Rule {
    fn matches(&self, method: &str, path: &str) -> bool {
        matches(&self.method, &self.path, method, path)
    }
}

/// Whether a request is the one a test names: the same method, and a path
/// (query aside) equal to `pattern`, or starting with what precedes a
/// trailing `*`, or ending with what follows a leading `*`.
/// (`/ws/v1/cluster/apps` is YARN's submit, not its `…/apps/new-application`.)
pub fn matches(method: &str, pattern: &str, req_method: &str, req_path: &str) -> bool {
    let path = req_path.split('?').next().unwrap_or_default();
    let path_ok = if let Some(prefix) = pattern.strip_suffix('*') {
        path.starts_with(prefix)
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        path.ends_with(suffix)
    } else {
        path == pattern
    };
    method.eq_ignore_ascii_case(req_method) && path_ok
}

/// One request the proxy received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub body: Bytes,
    /// The cluster received it and answered (whether or not the answer was
    /// then held back or the client was gone by then).
    pub forwarded: bool,
    /// The status the client was (or will be) answered, if any.
    pub status: Option<u16>,
    /// Its answer is being held back right now.
    pub held: bool,
    /// The proxy reset the connection instead of answering (a connection
    /// reset before a request was read has an empty method and path).
    pub reset: bool,
}

impl Seen {
    /// Whether it has this method and a path matching `pattern` (see [`matches`]).
    pub fn is(&self, method: &str, pattern: &str) -> bool {
        matches(method, pattern, &self.method, &self.path)
    }

    /// The request body as JSON (Null when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

struct Shared {
    target: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    state: Mutex<State>,
    /// Bumped on every change to `seen`, for waiters.
    changed: watch::Sender<u64>,
    /// Bumped by every release; a held answer waits for a newer value.
    released: watch::Sender<u64>,
}

struct State {
    mode: Mode,
    rules: Vec<Rule>,
    seen: Vec<Seen>,
}

/// A running proxy; stops (dropping its connections) when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `target`, in
    /// [`Mode::Pass`].
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("the proxy binds");
        let addr = listener.local_addr().expect("bound address");
        let shared = Arc::new(Shared {
            target,
            client: Client::builder(TokioExecutor::new()).build_http(),
            state: Mutex::new(State { mode: Mode::Pass, rules: Vec::new(), seen: Vec::new() }),
            changed: watch::channel(0).0,
            released: watch::channel(0).0,
        });
        let s = shared.clone();
        let accept = tokio::spawn(async move {
            // Dropped with the accept task: aborts every connection.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                while connections.try_join_next().is_some() {}
                if s.mode() == Mode::Reset {
                    let _ = stream.set_zero_linger();
                    drop(stream);
                    s.record(Seen { method: String::new(), path: String::new(), body: Bytes::new(), forwarded: false, status: None, held: false, reset: true });
                    continue;
                }
                let reset = Arc::new(AtomicBool::new(false));
                let io = TokioIo::new(Resettable { inner: stream, reset: reset.clone() });
                let s = s.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (s, reset) = (s.clone(), reset.clone());
                        async move { s.handle(req, &reset).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Proxy { addr, shared, accept }
    }

    /// The base URL to give drover in place of the cluster's.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.state.lock().unwrap().mode = mode;
    }

    /// Requests with this method and a path matching `path` (see
    /// [`matches`]) are forwarded, and the cluster's answer is held back
    /// until [`Proxy::release`].
    pub fn hold(&self, method: &str, path: &str) {
        self.rule(method, path, Action::Hold);
    }

    /// Requests with this method and a path matching `path` are answered by
    /// `answer` and never reach the cluster.
    pub fn answer(&self, method: &str, path: &str, answer: impl Fn(&str) -> (u16, String) + Send + Sync + 'static) {
        self.rule(method, path, Action::Answer(Arc::new(answer)));
    }

    fn rule(&self, method: &str, path: &str, action: Action) {
        let rule = Rule { method: method.to_string(), path: path.to_string(), action };
        self.shared.state.lock().unwrap().rules.push(rule);
    }

    /// Drops every hold and answer rule and lets every held answer go.
    pub fn release(&self) {
        self.shared.state.lock().unwrap().rules.clear();
        self.shared.released.send_modify(|g| *g += 1);
    }

    /// Every request received so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.state.lock().unwrap().seen.clone()
    }

    /// How many requests with this method and a path matching `path`
    /// reached the cluster.
    pub fn forwarded(&self, method: &str, path: &str) -> usize {
        self.seen().iter().filter(|s| s.forwarded && s.is(method, path)).count()
    }

    /// Waits (on the proxy's own events, with a deadline) until `done`
    /// holds for the requests seen so far.
    pub async fn wait_until(&self, what: &str, deadline: Duration, done: impl Fn(&[Seen]) -> bool) -> anyhow::Result<()> {
        let mut changed = self.shared.changed.subscribe();
        let until = tokio::time::Instant::now() + deadline;
        loop {
            if done(&self.shared.state.lock().unwrap().seen) {
                return Ok(());
            }
            match tokio::time::timeout_at(until, changed.changed()).await {
                Ok(r) => r?,
                Err(_) => {
                    let seen = self.seen();
                    let last: Vec<String> = seen
                        .iter()
                        .rev()
                        .take(12)
                        .map(|s| format!("{} {} -> {:?}{}", s.method, s.path, s.status, if s.held { " (held)" } else { "" }))
                        .collect();
                    bail!("the proxy never saw {what} within {deadline:?}; {} requests, the last: {last:#?}", seen.len())
                }
            }
        }
    }

    /// Waits until `n` answers are being held back at once.
    pub async fn wait_held(&self, n: usize, deadline: Duration) -> anyhow::Result<()> {
        self.wait_until(&format!("{n} held answers"), deadline, |seen| seen.iter().filter(|s| s.held).count() >= n).await
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

type Reply = Result<Response<Full<Bytes>>, std::io::Error>;

impl Shared {
    fn mode(&self) -> Mode {
        self.state.lock().unwrap().mode
    }

    fn record(&self, seen: Seen) -> usize {
        let mut state = self.state.lock().unwrap();
        state.seen.push(seen);
        let i = state.seen.len() - 1;
        drop(state);
        self.changed.send_modify(|g| *g += 1);
        i
    }

    fn update(&self, i: usize, f: impl FnOnce(&mut Seen)) {
        f(&mut self.state.lock().unwrap().seen[i]);
        self.changed.send_modify(|g| *g += 1);
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>, reset: &AtomicBool) -> Reply {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map_err(std::io::Error::other)?.to_bytes();
        let method = parts.method.to_string();
        let path = parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_else(|| "/".into());
        let (mode, rule, release_at) = {
            let state = self.state.lock().unwrap();
            let rule = state.rules.iter().find(|r| r.matches(&method, &path)).cloned();
            (state.mode, rule, *self.released.borrow() + 1)
        };
        let seen = Seen { method, path: path.clone(), body: body.clone(), forwarded: false, status: None, held: false, reset: false };
        let hold = match rule.map(|r| r.action) {
            Some(Action::Answer(answer)) => {
                let (status, text) = answer(&path);
                self.record(Seen { status: Some(status), ..seen });
                return Ok(reply(status, "application/json", text));
            }
            Some(Action::Hold) => true,
            None => match mode {
                Mode::Pass => false,
                Mode::Unavailable => {
                    self.record(Seen { status: Some(503), ..seen });
                    return Ok(reply(503, "text/plain", "503 Service Unavailable (fault-injecting proxy)\n".into()));
                }
                Mode::Reset => {
                    self.record(Seen { reset: true, ..seen });
                    reset.store(true, Ordering::SeqCst);
                    return Err(std::io::Error::other("reset by the fault-injecting proxy"));
                }
            },
        };
        let i = self.record(seen);
        // Forwarded on its own task: once sent, the request reaches the
        // cluster even if the client is killed meanwhile.
        let forward = tokio::spawn(self.clone().forward(parts, body));
        let answer = match forward.await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                self.update(i, |s| s.status = Some(502));
                return Ok(reply(502, "text/plain", format!("fault-injecting proxy: cannot reach the cluster: {e}\n")));
            }
            Err(e) => return Err(std::io::Error::other(e)),
        };
        let status = answer.status().as_u16();
        self.update(i, |s| {
            s.forwarded = true;
            s.status = Some(status);
            s.held = hold;
        });
        if hold {
            let mut released = self.released.subscribe();
            let _ = released.wait_for(|g| *g >= release_at).await;
            self.update(i, |s| s.held = false);
        }
        Ok(answer)
    }

    async fn forward(self: Arc<Self>, mut parts: http::request::Parts, body: Bytes) -> anyhow::Result<Response<Full<Bytes>>> {
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        parts.uri = format!("http://{}{path}", self.target).parse()?;
        strip_hop_by_hop(&mut parts.headers);
        // The Host header stays the client's: request signatures cover it.
        let answer = self.client.request(Request::from_parts(parts, Full::new(body))).await?;
        let (mut parts, body) = answer.into_parts();
        let body = body.collect().await?.to_bytes();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Full::new(body)))
    }
}

fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    for h in ["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"] {
        headers.remove(h);
    }
}

fn reply(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

/// A client connection that, once asked to, closes with a reset (RST)
/// instead of an orderly FIN.
struct Resettable {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for Resettable {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for Resettable {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Resettable {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// How each embedded backend submits a cluster-mode driver on the stand-in:
/// (backend, stand-in manager name, method, path pattern).
pub const SUBMITS: &[(&str, &str, &str, &str)] = &[
    ("local", "spark-standalone", "POST", "/v1/submissions/create"),
    ("yarn", "yarn", "POST", "/ws/v1/cluster/apps"),
    ("k8s", "kubernetes", "POST", "*/pods"),
    ("serverless", "emr-serverless", "POST", "*/jobruns"),
];
