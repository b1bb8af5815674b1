//! The API server's HTTP surface: discovery, core/v1 pods and their `log`
//! subresource, a bearer-token check when one is configured, and `Status`
//! 404s for everything else under `/api` and `/apis`. Also [`ApiServer`],
//! the stand-in served alone (for tests that want only Kubernetes).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::MINOR;
use super::selector::Selectors;
use super::state::Api;
use super::watch::watch;
use super::wire::{ApiError, table, wants_table};
use crate::SubmissionRecord;
use crate::http::json_response;
use crate::process::Spawner;
use crate::stand_in::Context;

/// A standalone API server for tests: the stand-in alone, optionally
/// requiring a bearer token.
pub struct ApiServer {
    addr: SocketAddr,
    api: Arc<Api>,
    spawner: Arc<Spawner>,
    cancel: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

impl ApiServer {
    /// Serve on `bind` with pods' work dirs under `work_dir`; every request must
    /// carry `Authorization: Bearer <token>` when `token` is set.
    pub async fn start(
        bind: SocketAddr,
        work_dir: &Path,
        token: Option<String>,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let spawner = Arc::new(Spawner::start(tokio::runtime::Handle::current())?);
        let cancel = CancellationToken::new();
        let ctx = Context {
            addr,
            work_dir: work_dir.to_path_buf(),
            hdfs: crate::webhdfs::root(work_dir),
            s3: None,
            spawner: spawner.clone(),
            cancel: cancel.child_token(),
        };
        let api = Arc::new(Api::new(&ctx, token));
        let app = router(api.clone());
        let stop = cancel.clone();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(err) = serve.await {
                warn!(error = %err, "kubernetes stand-in stopped with an error");
            }
        });
        Ok(Self {
            addr,
            api,
            spawner,
            cancel,
            server,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn submissions(&self) -> Vec<SubmissionRecord> {
        self.api.lock().submissions.clone()
    }

    /// Kill every pod's processes, wait until reaped, stop serving.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.api.drivers.shutdown().await;
        self.spawner.stop();
        self.server.abort();
    }
}

pub(super) fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/api", get(api_versions))
        .route("/api/", get(api_versions))
        .route("/apis", get(api_groups))
        .route("/apis/", get(api_groups))
        .route("/api/v1", get(api_resources))
        .route("/api/v1/", get(api_resources))
        .route("/api/v1/pods", get(list_all))
        .route(
            "/api/v1/namespaces/{ns}/pods",
            get(list_pods).post(create_pod),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}",
            get(get_pod).delete(delete_pod),
        )
        .route("/api/v1/namespaces/{ns}/pods/{name}/status", get(get_pod))
        .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(pod_log))
        .route(
            "/api/{*rest}",
            get(not_served)
                .post(not_served)
                .delete(not_served)
                .put(not_served)
                .patch(not_served),
        )
        .route(
            "/apis/{*rest}",
            get(not_served)
                .post(not_served)
                .delete(not_served)
                .put(not_served)
                .patch(not_served),
        )
        .route_layer(middleware::from_fn_with_state(api.clone(), authenticate))
        .with_state(api)
}

async fn authenticate(State(api): State<Arc<Api>>, req: Request, next: Next) -> Response {
    if let Some(token) = &api.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given.and_then(|v| v.strip_prefix("Bearer ")) != Some(token.as_str()) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Unauthorized".into(),
                None,
            )
            .into_response();
        }
    }
    next.run(req).await
}

async fn not_served(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!(
            "the server could not find the requested resource ({})",
            req.uri().path()
        ),
        None,
    )
}

async fn version() -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "major": "1", "minor": MINOR, "gitVersion": format!("v1.{MINOR}.0-drover"),
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
            "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
        }),
    )
}

async fn api_versions(State(api): State<Arc<Api>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": api.addr.to_string()}],
        }),
    )
}

async fn api_groups() -> Response {
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
    )
}

async fn api_resources() -> Response {
    let verbs = ["create", "delete", "get", "list", "watch"];
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIResourceList", "groupVersion": "v1",
            "resources": [
                {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                 "verbs": verbs, "shortNames": ["po"], "categories": ["all"]},
                {"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]},
                {"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]},
            ],
        }),
    )
}

async fn create_pod(
    State(api): State<Arc<Api>>,
    UrlPath(ns): UrlPath<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let pod = api.create(&ns, &body)?;
    Ok(json_response(StatusCode::CREATED, &pod))
}

async fn get_pod(
    State(api): State<Arc<Api>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pod = api.get(&ns, &name)?;
    Ok(if wants_table(&headers) {
        json_response(StatusCode::OK, &table(0, &[pod]))
    } else {
        json_response(StatusCode::OK, &pod)
    })
}

async fn delete_pod(
    State(api): State<Arc<Api>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let options: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("DeleteOptions: {e}")))?
    };
    let grace = match q.get("gracePeriodSeconds") {
        Some(g) => Some(g.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("gracePeriodSeconds: invalid value {g:?}"))
        })?),
        None => options["gracePeriodSeconds"].as_u64(),
    };
    Ok(json_response(
        StatusCode::OK,
        &api.delete(&ns, &name, grace)?,
    ))
}

async fn list_all(
    State(api): State<Arc<Api>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    list_or_watch(api, None, q, headers)
}

async fn list_pods(
    State(api): State<Arc<Api>>,
    UrlPath(ns): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    list_or_watch(api, Some(ns), q, headers)
}

fn list_or_watch(
    api: Arc<Api>,
    ns: Option<String>,
    q: HashMap<String, String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let sel = Selectors::from_query(&q)?;
    if q.get("watch")
        .is_some_and(|w| matches!(w.to_ascii_lowercase().as_str(), "true" | "1"))
    {
        return Ok(watch(api, ns, sel, &q));
    }
    let (rv, items) = api.list(ns.as_deref(), &sel);
    if wants_table(&headers) {
        return Ok(json_response(StatusCode::OK, &table(rv, &items)));
    }
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut p| {
            if let Some(o) = p.as_object_mut() {
                o.remove("kind");
                o.remove("apiVersion");
            }
            p
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": rv.to_string()}, "items": items,
        }),
    ))
}


async fn pod_log(
    State(api): State<Arc<Api>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (pod, dir) = {
        let st = api.lock();
        let e = st
            .pods
            .get(&(ns.clone(), name.clone()))
            .ok_or_else(|| ApiError::not_found(&name))?;
        (e.pod.clone(), e.dir.clone())
    };
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) if names.contains(&c.as_str()) => c.clone(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if names.len() == 1 => names[0].to_string(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let state = statuses
        .iter()
        .find(|c| c["name"] == container.as_str())
        .map(|c| c["state"].clone())
        .unwrap_or(Value::Null);
    let path = dir.join(&container).join("log");
    let mut bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(_) => {
            let reason = state
                .pointer("/waiting/reason")
                .and_then(Value::as_str)
                .unwrap_or("ContainerCreating");
            return Err(ApiError::bad_request(format!(
                "container {container:?} in pod {name:?} is waiting to start: {reason}"
            )));
        }
    };
    if let Some(n) = q.get("tailLines").and_then(|n| n.parse::<usize>().ok()) {
        let text_end = if bytes.ends_with(b"\n") {
            bytes.len() - 1
        } else {
            bytes.len()
        };
        let start = bytes[..text_end]
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, b)| **b == b'\n')
            .nth(n.saturating_sub(1))
            .map_or(0, |(i, _)| i + 1);
        bytes.drain(..if n == 0 { bytes.len() } else { start });
    }
    if let Some(limit) = q.get("limitBytes").and_then(|n| n.parse::<usize>().ok()) {
        bytes.truncate(limit);
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        bytes,
    )
        .into_response())
}

