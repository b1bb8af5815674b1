//! Handlers. Paths follow Airflow's REST API v2.

use axum::extract::{FromRequest, FromRequestParts, Query, State};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tower_http::limit::RequestBodyLimitLayer;

use drover_store::{RunRow, TaskInstanceRow};

use crate::error::ApiError;
use crate::models::*;
use crate::AppState;

/// JSON bodies whose rejections become [`ApiError`]s (a 400 naming the problem).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
struct Json<T>(T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
struct Path<T>(T);

/// Request bodies are small JSON documents; anything bigger is refused.
const MAX_BODY: usize = 1 << 20;

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/api/v2/monitor/health", get(health))
        .route("/api/v2/version", get(version))
        .route("/api/v2/dags", get(list_dags))
        .route("/api/v2/dags/{dag_id}", get(get_dag).patch(patch_dag))
        .route("/api/v2/dags/{dag_id}/dagRuns", get(list_runs).post(trigger))
        .route("/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}", get(get_run).patch(patch_run))
        .route(
            "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances",
            get(list_task_instances),
        )
        .route(
            "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
            get(get_task_instance),
        )
        .route(
            "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries",
            get(list_tries),
        )
        .route(
            "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}",
            get(get_log),
        )
        .route(
            "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/kill",
            post(kill_task),
        )
        .route("/api/v2/importErrors", get(import_errors))
        .route("/api/v2/events", get(crate::events::events))
        .route("/", get(crate::assets::index))
        .route("/ui/{*path}", get(crate::assets::asset))
        .fallback(|| async { ApiError::NotFound("no such endpoint; the API lives under /api/v2".into()) })
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .with_state(state)
}

async fn health(State(s): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    s.scheduler.store().list_dags().await?;
    Ok(Json(serde_json::json!({
        "metadatabase": { "status": "healthy" },
        "scheduler": { "status": "healthy", "latest_scheduler_heartbeat": chrono::Utc::now() },
    })))
}

async fn version() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "version": env!("CARGO_PKG_VERSION"), "git_version": null }))
}

async fn list_dags(State(s): State<AppState>) -> Result<Json<DagCollection>, ApiError> {
    let rows = s.scheduler.store().list_dags().await?;
    let dags: Vec<DagResponse> = rows
        .iter()
        .filter(|r| r.is_active)
        .map(|r| DagResponse::new(r, s.scheduler.dag(&r.dag_id).as_deref()))
        .collect();
    Ok(Json(DagCollection {
        total_entries: dags.len(),
        dags,
    }))
}

async fn dag_row(s: &AppState, dag_id: &str) -> Result<drover_store::DagRow, ApiError> {
    s.scheduler
        .store()
        .get_dag(dag_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("DAG `{dag_id}` not found")))
}

async fn get_dag(State(s): State<AppState>, Path(dag_id): Path<String>) -> Result<Json<DagResponse>, ApiError> {
    let row = dag_row(&s, &dag_id).await?;
    Ok(Json(DagResponse::new(&row, s.scheduler.dag(&dag_id).as_deref())))
}

async fn patch_dag(
    State(s): State<AppState>,
    Path(dag_id): Path<String>,
    Json(body): Json<DagPatchBody>,
) -> Result<Json<DagResponse>, ApiError> {
    s.scheduler.set_paused(&dag_id, body.is_paused).await?;
    let row = dag_row(&s, &dag_id).await?;
    Ok(Json(DagResponse::new(&row, s.scheduler.dag(&dag_id).as_deref())))
}

#[derive(Deserialize)]
struct Page {
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn default_limit() -> i64 {
    50
}

async fn list_runs(
    State(s): State<AppState>,
    Path(dag_id): Path<String>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DagRunCollection>, ApiError> {
    let Query(page) = page?;
    dag_row(&s, &dag_id).await?;
    let store = s.scheduler.store();
    let runs = store.list_runs(&dag_id, page.limit.clamp(1, 1000), page.offset.max(0)).await?;
    Ok(Json(DagRunCollection {
        dag_runs: runs.iter().map(DagRunResponse::from).collect(),
        total_entries: store.count_runs(&dag_id).await?,
    }))
}

async fn trigger(
    State(s): State<AppState>,
    Path(dag_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<DagRunResponse>, ApiError> {
    // An empty body triggers with defaults, like `airflow dags trigger`.
    let body: TriggerBody = if body.iter().all(u8::is_ascii_whitespace) {
        TriggerBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
    };
    let run = s
        .scheduler
        .trigger(
            &dag_id,
            drover_scheduler::TriggerRequest {
                conf: body.conf.unwrap_or_default(),
                logical_date: body.logical_date,
                run_id: body.dag_run_id,
            },
        )
        .await?;
    Ok(Json(DagRunResponse::from(&run)))
}

async fn find_run(s: &AppState, dag_id: &str, run_id: &str) -> Result<RunRow, ApiError> {
    s.scheduler
        .store()
        .get_run(dag_id, run_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("DAG run `{run_id}` of DAG `{dag_id}` not found")))
}

async fn get_run(
    State(s): State<AppState>,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> Result<Json<DagRunResponse>, ApiError> {
    Ok(Json(DagRunResponse::from(&find_run(&s, &dag_id, &run_id).await?)))
}

/// Airflow's "modify a DAG run": drover supports marking it failed, which
/// kills its running drivers on their clusters.
async fn patch_run(
    State(s): State<AppState>,
    Path((dag_id, run_id)): Path<(String, String)>,
    Json(body): Json<RunPatchBody>,
) -> Result<Json<DagRunResponse>, ApiError> {
    if body.state != "failed" {
        return Err(ApiError::BadRequest(format!(
            "state `{}` cannot be set; drover runs can be marked \"failed\" (which kills their drivers)",
            body.state
        )));
    }
    s.scheduler.fail_run(&dag_id, &run_id).await?;
    Ok(Json(DagRunResponse::from(&find_run(&s, &dag_id, &run_id).await?)))
}

async fn list_task_instances(
    State(s): State<AppState>,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> Result<Json<TaskInstanceCollection>, ApiError> {
    let run = find_run(&s, &dag_id, &run_id).await?;
    let store = s.scheduler.store();
    let mut out = Vec::new();
    for ti in store.task_instances(run.id).await? {
        let tries = store.tries(ti.id).await?;
        out.push(TaskInstanceResponse::new(&run, &ti, tries.last()));
    }
    Ok(Json(TaskInstanceCollection {
        total_entries: out.len(),
        task_instances: out,
    }))
}

async fn find_ti(s: &AppState, run: &RunRow, task_id: &str) -> Result<TaskInstanceRow, ApiError> {
    s.scheduler
        .store()
        .task_instances(run.id)
        .await?
        .into_iter()
        .find(|t| t.task_id == task_id)
        .ok_or_else(|| ApiError::NotFound(format!("task `{task_id}` not found in run `{}`", run.run_id)))
}

async fn get_task_instance(
    State(s): State<AppState>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
) -> Result<Json<TaskInstanceResponse>, ApiError> {
    let run = find_run(&s, &dag_id, &run_id).await?;
    let ti = find_ti(&s, &run, &task_id).await?;
    let tries = s.scheduler.store().tries(ti.id).await?;
    let mut resp = TaskInstanceResponse::new(&run, &ti, tries.last());
    if let Some(t) = tries.last() {
        let events = s.scheduler.store().driver_events(t.id).await?;
        resp.driver = Some(DriverResponse::new(t, events));
    }
    Ok(Json(resp))
}

async fn list_tries(
    State(s): State<AppState>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
) -> Result<Json<TryCollection>, ApiError> {
    let run = find_run(&s, &dag_id, &run_id).await?;
    let ti = find_ti(&s, &run, &task_id).await?;
    let store = s.scheduler.store();
    let mut out = Vec::new();
    for t in store.tries(ti.id).await? {
        let events = store.driver_events(t.id).await?;
        out.push(TryResponse {
            task_id: ti.task_id.clone(),
            dag_id: run.dag_id.clone(),
            dag_run_id: run.run_id.clone(),
            map_index: -1,
            try_number: t.try_number,
            state: t.state.to_string(),
            start_date: t.started_at,
            end_date: t.ended_at,
            duration: duration(Some(t.started_at), t.ended_at),
            executor: t.backend.clone(),
            driver: DriverResponse::new(&t, events),
        });
    }
    Ok(Json(TryCollection {
        total_entries: out.len(),
        task_instances: out,
    }))
}

#[derive(Deserialize)]
struct LogQuery {
    /// `stdout` or `stderr` (cluster-mode drivers; client-mode output is one file).
    stream: Option<String>,
    /// Read from this byte offset (the previous answer's continuation_token).
    offset: Option<u64>,
    #[serde(default = "default_log_bytes")]
    max_bytes: u32,
}

fn default_log_bytes() -> u32 {
    1 << 20
}

/// A try's driver log. Client-mode output comes from the file drover
/// captured; cluster-mode logs from the cluster through the backend's plugin.
/// Without `offset`, the whole log (both streams); with it, one stream from
/// there on, and `continuation_token` is the offset to ask for next.
async fn get_log(
    State(s): State<AppState>,
    Path((dag_id, run_id, task_id, try_number)): Path<(String, String, String, i64)>,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LogResponse>, ApiError> {
    let Query(q) = query?;
    let run = find_run(&s, &dag_id, &run_id).await?;
    let ti = find_ti(&s, &run, &task_id).await?;
    let t = s
        .scheduler
        .store()
        .tries(ti.id)
        .await?
        .into_iter()
        .find(|t| t.try_number == try_number)
        .ok_or_else(|| ApiError::NotFound(format!("task `{task_id}` has no try {try_number}")))?;
    let stream = q.stream.as_deref().unwrap_or("stdout");
    if !matches!(stream, "stdout" | "stderr") {
        return Err(ApiError::BadRequest(format!("stream `{stream}` is neither stdout nor stderr")));
    }
    let offset = q.offset.unwrap_or(0);
    if let Some(path) = &t.log_path {
        let bytes = tokio::fs::read(path).await.unwrap_or_default();
        let from = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        let to = from.saturating_add(q.max_bytes as usize).min(bytes.len());
        return Ok(Json(LogResponse {
            content: String::from_utf8_lossy(&bytes[from..to]).into_owned(),
            continuation_token: Some(to.to_string()),
        }));
    }
    let (Some(id), Some(backend)) = (&t.cluster_id, s.scheduler.backends().get(&t.backend)) else {
        return Ok(Json(LogResponse {
            content: String::new(),
            continuation_token: Some(offset.to_string()),
        }));
    };
    if q.offset.is_some() {
        let chunk = backend
            .logs(id, stream, offset, q.max_bytes)
            .await
            .map_err(|e| ApiError::Conflict(format!("the driver's log is not available: {e}")))?;
        return Ok(Json(LogResponse {
            content: String::from_utf8_lossy(&chunk.data).into_owned(),
            continuation_token: Some(chunk.next_offset.to_string()),
        }));
    }
    let mut content = String::new();
    for stream in ["stdout", "stderr"] {
        match backend.logs(id, stream, 0, q.max_bytes).await {
            Ok(chunk) => {
                content.push_str(&format!("==== driver {stream} ====\n"));
                content.push_str(&String::from_utf8_lossy(&chunk.data));
                if !content.ends_with('\n') {
                    content.push('\n');
                }
            }
            Err(e) => content.push_str(&format!("==== driver {stream}: unavailable: {e} ====\n")),
        }
    }
    Ok(Json(LogResponse {
        content,
        continuation_token: None,
    }))
}

async fn kill_task(
    State(s): State<AppState>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    s.scheduler.kill_task(&dag_id, &run_id, &task_id).await?;
    Ok(Json(serde_json::json!({ "killed": true })))
}

async fn import_errors(State(s): State<AppState>) -> Result<Json<ImportErrorCollection>, ApiError> {
    let rows = s.scheduler.store().import_errors().await?;
    Ok(Json(ImportErrorCollection {
        total_entries: rows.len(),
        import_errors: rows
            .into_iter()
            .enumerate()
            .map(|(i, r)| ImportErrorResponse {
                import_error_id: i + 1,
                timestamp: r.updated_at,
                filename: r.file,
                bundle_name: "dags-folder".into(),
                stack_trace: r.message,
            })
            .collect(),
    }))
}
