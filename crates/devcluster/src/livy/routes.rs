//! Livy's HTTP surface under [`super::PREFIX`]: `/version`, the batch API
//! and the driver log page a batch links to.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::state::{Livy, log_lines};
use super::wire::{CreateBatchRequest, LivyError, int_param, slice};
use super::{LIVY_VERSION, PREFIX};

pub(super) fn router(livy: Arc<Livy>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/batches", get(list_batches).post(create_batch))
        .route("/batches/{id}", get(get_batch).delete(delete_batch))
        .route("/batches/{id}/state", get(get_state))
        .route("/batches/{id}/log", get(get_log))
        .route("/ui/batch/{id}/log", get(log_page))
        .with_state(livy)
}

async fn version() -> axum::Json<Value> {
    axum::Json(json!({
        "version": LIVY_VERSION,
        "user": "drover",
        "revision": "drover-devcluster",
        "branch": "",
        "date": "",
        "url": "",
    }))
}

async fn create_batch(State(livy): State<Arc<Livy>>, body: Bytes) -> Result<Response, LivyError> {
    let req: CreateBatchRequest =
        serde_json::from_slice(&body).map_err(|e| LivyError::bad_request(e.to_string()))?;
    let batch = livy.create(req)?;
    let location = format!("{PREFIX}/batches/{}", batch["id"]);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(batch),
    )
        .into_response())
}

async fn list_batches(
    State(livy): State<Arc<Livy>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, LivyError> {
    let from = int_param(&q, "from")?.unwrap_or(0);
    let size = int_param(&q, "size")?.unwrap_or(100);
    let st = livy.lock();
    let sessions: Vec<Value> = slice(&st.batches, from, from + size)
        .iter()
        .map(|b| livy.view(b))
        .collect();
    Ok(axum::Json(json!({
        "from": from,
        "total": st.batches.len(),
        "sessions": sessions,
    })))
}

async fn get_batch(
    State(livy): State<Arc<Livy>>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<Value>, LivyError> {
    let st = livy.lock();
    Ok(axum::Json(livy.view(st.find(&id)?)))
}

async fn get_state(
    State(livy): State<Arc<Livy>>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<Value>, LivyError> {
    let st = livy.lock();
    let b = st.find(&id)?;
    Ok(axum::Json(json!({"id": b.id, "state": b.state.as_str()})))
}

/// `SessionServlet.serializeLogs`: `size` lines (100; negative: all) from
/// `from` (default: the last `size` lines).
async fn get_log(
    State(livy): State<Arc<Livy>>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, LivyError> {
    let from = int_param(&q, "from")?;
    let size = int_param(&q, "size")?;
    let (id, dir) = {
        let st = livy.lock();
        let b = st.find(&id)?;
        (b.id, b.dir.clone())
    };
    let lines = log_lines(&dir);
    let mut size = size.unwrap_or(100);
    if size < 0 {
        size = lines.len() as i64;
    }
    let mut from = from.unwrap_or(-1);
    if from < 0 {
        from = (lines.len() as i64 - size).max(0);
    }
    Ok(axum::Json(json!({
        "id": id,
        "from": from,
        "total": lines.len(),
        "log": slice(&lines, from, from + size),
    })))
}

/// The driver log page `appInfo.driverLogUrl` points at, as plain text.
async fn log_page(
    State(livy): State<Arc<Livy>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, LivyError> {
    let dir = livy.lock().find(&id)?.dir.clone();
    Ok((
        [(header::CONTENT_TYPE, "text/plain;charset=utf-8")],
        log_lines(&dir).join("\n"),
    )
        .into_response())
}

async fn delete_batch(
    State(livy): State<Arc<Livy>>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<Value>, LivyError> {
    livy.delete(&id).await?;
    Ok(axum::Json(json!({"msg": "deleted"})))
}

