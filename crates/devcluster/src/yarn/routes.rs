//! The ResourceManager's and NodeManager's HTTP surface: cluster info,
//! application submission and queries, kill by state, and container logs.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::state::ResourceManager;
use super::wire::{AppsQuery, LogQuery, RmError, UserQuery, parse_submission, text};
use super::{HADOOP_VERSION, MAX_MEMORY_MB, MAX_VCORES};

/// The user when a request names none (`hadoop.http.staticuser.user`).
const STATIC_USER: &str = "dr.who";

pub(super) fn router(rm: Arc<ResourceManager>) -> Router {
    Router::new()
        .route("/cluster", get(cluster_page))
        .route("/ws/v1/cluster", get(cluster_info))
        .route("/ws/v1/cluster/info", get(cluster_info))
        .route("/ws/v1/cluster/apps/new-application", post(new_application))
        .route("/ws/v1/cluster/apps", get(list_apps).post(submit))
        .route("/ws/v1/cluster/apps/{id}", get(get_app))
        .route(
            "/ws/v1/cluster/apps/{id}/state",
            get(get_state).put(put_state),
        )
        .route("/ws/v1/cluster/apps/{id}/appattempts", get(get_attempts))
        .route(
            "/ws/v1/node/containerlogs/{container}/{file}",
            get(container_log),
        )
        .route(
            "/node/containerlogs/{container}/{user}/{file}",
            get(container_log_page),
        )
        .with_state(rm)
}

async fn cluster_page() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html;charset=utf-8")],
        "<html><head><title>All Applications</title></head><body>drover devcluster ResourceManager</body></html>",
    )
}

async fn cluster_info(State(rm): State<Arc<ResourceManager>>) -> axum::Json<Value> {
    axum::Json(json!({"clusterInfo": {
        "id": rm.cluster_ts,
        "startedOn": rm.cluster_ts,
        "state": "STARTED",
        "haState": "ACTIVE",
        "rmStateStoreName": "org.apache.hadoop.yarn.server.resourcemanager.recovery.NullRMStateStore",
        "resourceManagerVersion": HADOOP_VERSION,
        "resourceManagerBuildVersion": format!("{HADOOP_VERSION} from drover-devcluster"),
        "resourceManagerVersionBuiltOn": "",
        "hadoopVersion": HADOOP_VERSION,
        "hadoopBuildVersion": format!("{HADOOP_VERSION} from drover-devcluster"),
        "hadoopVersionBuiltOn": "",
        "haZooKeeperConnectionState": "ResourceManager HA is not enabled.",
    }}))
}

async fn new_application(State(rm): State<Arc<ResourceManager>>) -> axum::Json<Value> {
    let id = rm.new_application();
    axum::Json(json!({
        "application-id": id,
        "maximum-resource-capability": {"memory": MAX_MEMORY_MB, "vCores": MAX_VCORES},
    }))
}

async fn submit(
    State(rm): State<Arc<ResourceManager>>,
    Query(q): Query<UserQuery>,
    body: Bytes,
) -> Result<Response, RmError> {
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        RmError::bad_request(format!("Unable to parse the submission context: {e}"))
    })?;
    let ctx = parse_submission(&body)?;
    let id = ctx.id.clone();
    // The application belongs to the user the request acts for.
    let user = q.do_as.or(q.user).unwrap_or_else(|| STATIC_USER.to_owned());
    rm.submit(ctx, user)?;
    let location = format!("{}/ws/v1/cluster/apps/{id}", rm.base_url());
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)]).into_response())
}

fn csv_upper(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|t| t.trim().to_uppercase())
        .filter(|t| !t.is_empty())
        .collect()
}

async fn list_apps(
    State(rm): State<Arc<ResourceManager>>,
    Query(q): Query<AppsQuery>,
) -> axum::Json<Value> {
    let tags: Vec<String> = q
        .application_tags
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut states = csv_upper(&q.states);
    states.extend(csv_upper(&q.state));
    let types = csv_upper(&q.application_types);
    let st = rm.lock();
    let apps: Vec<Value> = st
        .apps
        .iter()
        .filter(|a| tags.is_empty() || a.tags.iter().any(|t| tags.contains(t)))
        .filter(|a| states.is_empty() || states.iter().any(|s| s == a.state.as_str()))
        .filter(|a| types.is_empty() || types.contains(&a.application_type.to_uppercase()))
        .filter(|a| q.queue.as_ref().is_none_or(|queue| queue == &a.queue))
        .filter(|a| q.user.as_ref().is_none_or(|u| u == &a.user))
        .map(|a| rm.app_json(a))
        .collect();
    if apps.is_empty() {
        axum::Json(json!({"apps": null}))
    } else {
        axum::Json(json!({"apps": {"app": apps}}))
    }
}

async fn get_app(
    State(rm): State<Arc<ResourceManager>>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<Value>, RmError> {
    let st = rm.lock();
    let app = st.app(&id)?;
    Ok(axum::Json(json!({"app": rm.app_json(app)})))
}

async fn get_state(
    State(rm): State<Arc<ResourceManager>>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<Value>, RmError> {
    let st = rm.lock();
    let app = st.app(&id)?;
    Ok(axum::Json(json!({"state": app.state.as_str()})))
}

async fn put_state(
    State(rm): State<Arc<ResourceManager>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Result<Response, RmError> {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| RmError::bad_request(format!("Unable to parse the target state: {e}")))?;
    let target = text(body.get("state")).unwrap_or_default();
    if target != "KILLED" {
        return Err(RmError::bad_request(
            "Only 'KILLED' is allowed as a target state.",
        ));
    }
    let (done, state) = rm.kill(&id).ok_or_else(|| RmError::no_app(&id))?;
    let body = axum::Json(json!({"state": state.as_str()}));
    if done {
        Ok((StatusCode::OK, body).into_response())
    } else {
        let location = format!("{}/ws/v1/cluster/apps/{id}/state", rm.base_url());
        Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], body).into_response())
    }
}

async fn get_attempts(
    State(rm): State<Arc<ResourceManager>>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<Value>, RmError> {
    let st = rm.lock();
    let app = st.app(&id)?;
    let attempts: Vec<Value> = app
        .attempts
        .iter()
        .map(|at| rm.attempt_json(app, at))
        .collect();
    Ok(axum::Json(json!({"appAttempts": {"appAttempt": attempts}})))
}

/// Reads `size` bytes of a log (negative: the last bytes), and its length.
async fn read_log(
    path: &std::path::Path,
    size: Option<i64>,
) -> std::io::Result<(Vec<u8>, u64, String)> {
    let mut file = tokio::fs::File::open(path).await?;
    let meta = file.metadata().await?;
    let total = meta.len();
    let modified: chrono::DateTime<Utc> = meta
        .modified()
        .map(Into::into)
        .unwrap_or_else(|_| Utc::now());
    let (skip, take) = match size {
        None => (0, total),
        Some(n) if n < 0 => {
            let n = n.unsigned_abs().min(total);
            (total - n, n)
        }
        Some(n) => (0, (n as u64).min(total)),
    };
    file.seek(std::io::SeekFrom::Start(skip)).await?;
    let mut bytes = Vec::with_capacity(usize::try_from(take).unwrap_or(0));
    file.take(take).read_to_end(&mut bytes).await?;
    Ok((
        bytes,
        total,
        modified.format("%a %b %d %H:%M:%S %z %Y").to_string(),
    ))
}

/// `NMWebServices.getContainerLogFile`: the log framed as `LogToolUtils.outputContainerLog` writes it.
async fn container_log(
    State(rm): State<Arc<ResourceManager>>,
    UrlPath((container, file)): UrlPath<(String, String)>,
    Query(q): Query<LogQuery>,
) -> Result<Response, RmError> {
    let path = log_path(&rm, &container, &file)?;
    let (bytes, total, modified) = read_log(&path, q.size).await.map_err(|e| {
        RmError::not_found(format!(
            "Can not find the log file:{file} for the container:{container}: {e}"
        ))
    })?;
    let header = format!("Container: {container} on {}", rm.node_id());
    let mut body = format!(
        "{header}\nLogAggregationType: LOCAL\n{}\nLogType:{file}\nLogLastModifiedTime:{modified}\n\
         LogLength:{total}\nLogContents:\n",
        "=".repeat(header.len())
    )
    .into_bytes();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(format!("\nEnd of LogType:{file}\n{}\n\n", "*".repeat(92)).as_bytes());
    Ok(([(header::CONTENT_TYPE, "text/plain;charset=utf-8")], body).into_response())
}

/// The NodeManager web UI's log page, as plain text (the real one wraps it in HTML).
async fn container_log_page(
    State(rm): State<Arc<ResourceManager>>,
    UrlPath((container, _user, file)): UrlPath<(String, String, String)>,
) -> Result<Response, RmError> {
    let path = log_path(&rm, &container, &file)?;
    let (bytes, _, _) = read_log(&path, None)
        .await
        .map_err(|e| RmError::not_found(format!("{file} for {container}: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "text/plain;charset=utf-8")], bytes).into_response())
}

fn log_path(rm: &ResourceManager, container: &str, file: &str) -> Result<PathBuf, RmError> {
    if file.contains('/') || file.contains("..") || file.is_empty() {
        return Err(RmError::bad_request(format!(
            "Invalid log file name: {file}"
        )));
    }
    let dir = rm
        .container_dir(container)
        .ok_or_else(|| RmError::not_found(format!("Unknown container. Container either has not started or has already completed or doesn't belong to this node at all. Container: {container}")))?;
    Ok(dir.join(file))
}

