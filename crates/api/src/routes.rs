//! Handlers. Paths follow Airflow's REST API v2.

use axum::extract::{FromRequest, FromRequestParts, Query, State};
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use tower_http::limit::RequestBodyLimitLayer;
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use drover_store::{RunRow, TaskInstanceRow};

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::models::*;

/// JSON bodies whose rejections become [`ApiError`]s (a 400 naming the problem).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct Json<T>(pub(crate) T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct Path<T>(pub(crate) T);

/// Request bodies are small JSON documents; anything bigger is refused.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// Every route, with the OpenAPI document built from the same handlers.
pub fn app(state: AppState) -> Router {
    let (api, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(version))
        .routes(routes!(list_dags))
        .routes(routes!(get_dag, patch_dag))
        .routes(routes!(list_runs, trigger))
        .routes(routes!(get_run, patch_run))
        .routes(routes!(list_task_instances))
        .routes(routes!(get_task_instance))
        .routes(routes!(task_instance_dependencies))
        .routes(routes!(list_tries))
        .routes(routes!(get_log))
        .routes(routes!(kill_task))
        .routes(routes!(clear_task_instances))
        .routes(routes!(grid))
        .routes(routes!(list_drivers))
        .routes(routes!(get_driver))
        .routes(routes!(list_backends))
        .routes(routes!(list_plugins))
        .routes(routes!(import_errors))
        .routes(routes!(list_pools, create_pool))
        .routes(routes!(get_pool, patch_pool, delete_pool))
        .routes(routes!(crate::backfills::list_backfills, crate::backfills::create_backfill))
        .routes(routes!(crate::backfills::dry_run_backfill))
        .routes(routes!(crate::backfills::get_backfill))
        .routes(routes!(crate::backfills::pause_backfill))
        .routes(routes!(crate::backfills::unpause_backfill))
        .routes(routes!(crate::backfills::cancel_backfill))
        .routes(routes!(crate::notifications::list_notifications))
        .routes(routes!(crate::events::events))
        .split_for_parts();
    let mut doc = doc;
    document_errors(&mut doc);
    let doc = Arc::new(doc);
    let api = api
        .route(
            "/api/v2/openapi.json",
            get(move || async move { axum::Json(doc.as_ref().clone()) }),
        )
        .route("/metrics", get(crate::metrics::metrics))
        .fallback(|| async {
            ApiError::NotFound(
                "no such endpoint; the API lives under /api/v2 (see /api/v2/openapi.json)".into(),
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            crate::auth::guard,
        ))
        .with_state(state.clone());
    let auth = Router::new()
        .route("/auth/session", get(crate::auth::session))
        .route("/auth/login", post(crate::auth::login))
        .route("/auth/logout", post(crate::auth::logout))
        .with_state(state.auth.clone());
    let router = Router::new()
        .route("/", get(crate::assets::index))
        .route("/ui/{*path}", get(crate::assets::asset))
        .merge(auth)
        .merge(api)
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(axum::middleware::from_fn(crate::error::json_errors));
    // Outermost: a refused Host gets no further, and every answer gets the headers.
    crate::security::protect(router, state.allowed_hosts.clone())
}

#[derive(OpenApi)]
#[openapi(
    info(title = "drover", description = "drover's HTTP API. Paths and JSON fields follow Airflow's stable REST API v2 \
        where both have the concept; drivers, backends, plugins and events are drover's own. Mutating calls need \
        `Authorization: Bearer <token>` or a session from /auth/login."),
    paths(crate::auth::session, crate::auth::login, crate::auth::logout),
    modifiers(&BearerAuth),
    security(("HTTPBearer" = [])),
)]
struct ApiDoc;

/// Any call may be malformed or lack the token it needs: every operation
/// documents a 400 and a 401 with the error body.
fn document_errors(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |what: &str| {
        ResponseBuilder::new()
            .description(what)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
            )
            .build()
    };
    for item in openapi.paths.paths.values_mut() {
        let ops = [&mut item.get, &mut item.post, &mut item.patch, &mut item.put, &mut item.delete];
        for op in ops.into_iter().flatten() {
            for (code, what) in [
                ("400", "malformed path, query or body; `detail` says what to fix"),
                ("401", "no token, or a token that is not accepted"),
                ("421", "a Host name this server does not answer to (see --allowed-host)"),
                ("429", "too many wrong tokens from this address; retry after Retry-After seconds"),
            ] {
                op.responses.responses.entry(code.into()).or_insert_with(|| error(what).into());
            }
        }
    }
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "HTTPBearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// As Airflow's: always 200, each part `healthy` or `unhealthy`. The
/// scheduler is healthy while its loop turns (it beats every few seconds
/// even when idle) and unhealthy once its last heartbeat is older than the
/// health threshold.
#[utoipa::path(get, path = "/api/v2/monitor/health", tag = "Monitor", responses((status = 200, description = "database and scheduler health")))]
async fn health(State(s): State<AppState>) -> Json<serde_json::Value> {
    let db = match s.scheduler.list_dags().await {
        Ok(_) => "healthy",
        Err(e) => {
            tracing::error!(error = %e, "health check: the database does not answer");
            "unhealthy"
        }
    };
    let h = s.scheduler.health();
    Json(serde_json::json!({
        "metadatabase": { "status": db },
        "scheduler": {
            "status": if h.healthy { "healthy" } else { "unhealthy" },
            "latest_scheduler_heartbeat": h.latest_heartbeat,
        },
        // drover has no triggerer; Airflow's document requires the entry.
        "triggerer": { "status": null, "latest_triggerer_heartbeat": null },
    }))
}

#[utoipa::path(get, path = "/api/v2/version", tag = "Version", responses((status = 200, description = "drover version")))]
async fn version() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "version": env!("CARGO_PKG_VERSION"), "git_version": null }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DagQuery {
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
    /// Only DAGs whose id contains this (SQL `LIKE`'s `%` and `_` work), as Airflow's.
    dag_id_pattern: Option<String>,
}

#[utoipa::path(get, path = "/api/v2/dags", tag = "DAG", params(DagQuery), responses((status = 200, body = DagCollection), (status = 401, body = ErrorBody)))]
async fn list_dags(
    State(s): State<AppState>,
    query: Result<Query<DagQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DagCollection>, ApiError> {
    let Query(q) = query?;
    let page = Page { limit: q.limit, offset: q.offset };
    let (rows, total) = s
        .scheduler
        .store()
        .dag_page(q.dag_id_pattern.as_deref().filter(|p| !p.is_empty()), page.limit(), page.offset())
        .await?;
    let dags: Vec<DagResponse> = rows
        .iter()
        .map(|r| DagResponse::new(r, s.scheduler.dag(&r.dag_id).as_deref()))
        .collect();
    Ok(Json(DagCollection {
        total_entries: total as usize,
        dags,
    }))
}

async fn dag_row(s: &AppState, dag_id: &str) -> Result<drover_store::DagRow, ApiError> {
    s.scheduler
        .get_dag(dag_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("DAG `{dag_id}` not found")))
}

#[utoipa::path(get, path = "/api/v2/dags/{dag_id}", tag = "DAG", params(("dag_id" = String, Path, description = "DAG id")), responses((status = 200, body = DagResponse), (status = 404, body = ErrorBody)))]
async fn get_dag(
    State(s): State<AppState>,
    Path(dag_id): Path<String>,
) -> Result<Json<DagResponse>, ApiError> {
    let row = dag_row(&s, &dag_id).await?;
    Ok(Json(DagResponse::new(
        &row,
        s.scheduler.dag(&dag_id).as_deref(),
    )))
}

#[utoipa::path(patch, path = "/api/v2/dags/{dag_id}", tag = "DAG", params(("dag_id" = String, Path, description = "DAG id")), request_body = DagPatchBody, responses((status = 200, body = DagResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn patch_dag(
    State(s): State<AppState>,
    Path(dag_id): Path<String>,
    Json(body): Json<DagPatchBody>,
) -> Result<Json<DagResponse>, ApiError> {
    s.scheduler.set_paused(&dag_id, body.is_paused).await?;
    let row = dag_row(&s, &dag_id).await?;
    Ok(Json(DagResponse::new(
        &row,
        s.scheduler.dag(&dag_id).as_deref(),
    )))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Page {
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn default_limit() -> i64 {
    50
}

/// The most items a list answer holds, as Airflow's `maximum_page_limit`
/// (100 there too): a larger `limit` is cut to it, and `total_entries` says
/// how many there are in all.
pub(crate) const MAX_PAGE: i64 = 100;

impl Page {
    fn limit(&self) -> i64 {
        self.limit.clamp(1, MAX_PAGE)
    }
    fn offset(&self) -> i64 {
        self.offset.max(0)
    }
}

#[utoipa::path(get, path = "/api/v2/dags/{dag_id}/dagRuns", tag = "DagRun", params(("dag_id" = String, Path, description = "DAG id"), Page), responses((status = 200, body = DagRunCollection), (status = 404, body = ErrorBody)))]
async fn list_runs(
    State(s): State<AppState>,
    Path(dag_id): Path<String>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DagRunCollection>, ApiError> {
    let Query(page) = page?;
    dag_row(&s, &dag_id).await?;
    let sched = &s.scheduler;
    let runs = sched
        .list_runs(&dag_id, page.limit(), page.offset())
        .await?;
    Ok(Json(DagRunCollection {
        dag_runs: runs.iter().map(DagRunResponse::from).collect(),
        total_entries: sched.count_runs(&dag_id).await?,
    }))
}

#[utoipa::path(post, path = "/api/v2/dags/{dag_id}/dagRuns", tag = "DagRun", params(("dag_id" = String, Path, description = "DAG id")), request_body = TriggerBody, responses((status = 200, body = DagRunResponse), (status = 400, body = ErrorBody, description = "bad JSON, or a conf that does not fit the params: `errors` names each field"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
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
        .get_run(dag_id, run_id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("DAG run `{run_id}` of DAG `{dag_id}` not found"))
        })
}

#[utoipa::path(get, path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}", tag = "DagRun", params(("dag_id" = String, Path, description = "DAG id"), ("dag_run_id" = String, Path, description = "run id (URL-encoded)")), responses((status = 200, body = DagRunResponse), (status = 404, body = ErrorBody)))]
async fn get_run(
    State(s): State<AppState>,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> Result<Json<DagRunResponse>, ApiError> {
    Ok(Json(DagRunResponse::from(
        &find_run(&s, &dag_id, &run_id).await?,
    )))
}

#[utoipa::path(patch, path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}", tag = "DagRun", params(("dag_id" = String, Path, description = "DAG id"), ("dag_run_id" = String, Path, description = "run id (URL-encoded)")), request_body = RunPatchBody, responses((status = 200, body = DagRunResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
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
    Ok(Json(DagRunResponse::from(
        &find_run(&s, &dag_id, &run_id).await?,
    )))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it as pairs, for repeated `state`
struct TiQuery {
    /// Default 50, at most 100.
    limit: Option<i64>,
    offset: Option<i64>,
    /// Only these states; repeat it (or separate with commas). `none` or
    /// `no_status`: not started.
    state: Option<Vec<String>>,
    /// Only tasks whose id contains this (SQL `LIKE`'s `%` and `_` work).
    task_display_name_pattern: Option<String>,
}

#[utoipa::path(get, path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances", tag = "TaskInstance", params(("dag_id" = String, Path, description = "DAG id"), ("dag_run_id" = String, Path, description = "run id (URL-encoded)"), TiQuery), responses((status = 200, body = TaskInstanceCollection), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// A page of a run's task instances in the DAG file's order, each with its latest try.
async fn list_task_instances(
    State(s): State<AppState>,
    Path((dag_id, run_id)): Path<(String, String)>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TaskInstanceCollection>, ApiError> {
    let Query(pairs) = query?;
    let mut page = Page { limit: default_limit(), offset: 0 };
    let mut filter = drover_store::TiFilter::default();
    for (k, v) in &pairs {
        match k.as_str() {
            "limit" => page.limit = whole_number(k, v)?,
            "offset" => page.offset = whole_number(k, v)?,
            "state" => {
                for st in v.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                    let st = if st == "no_status" { "none" } else { st };
                    st.parse::<drover_store::TiState>().map_err(|_| {
                        ApiError::BadRequest(format!(
                            "unknown state `{st}`; states are none, queued, running, up_for_retry, success, failed, upstream_failed, skipped"
                        ))
                    })?;
                    filter.states.push(st.to_string());
                }
            }
            "task_display_name_pattern" | "task_id_pattern" if !v.is_empty() => {
                filter.task_id_pattern = Some(v.clone());
            }
            _ => {}
        }
    }
    let run = find_run(&s, &dag_id, &run_id).await?;
    let sched = &s.scheduler;
    let (rows, total) = sched
        .store()
        .task_instance_page(run.id, &filter, page.limit(), page.offset())
        .await?;
    let dag = sched.dag(&dag_id);
    let mut out = Vec::new();
    for ti in &rows {
        let tries = sched.tries(ti.id).await?;
        out.push(TaskInstanceResponse::new(&run, ti, tries.last(), dag.as_deref().and_then(|d| d.task(&ti.task_id))));
    }
    Ok(Json(TaskInstanceCollection {
        total_entries: total as usize,
        task_instances: out,
    }))
}

/// The task instances of a run that `keep` names, each with its latest try.
async fn ti_collection(
    s: &AppState,
    run: &RunRow,
    keep: impl Fn(&str) -> bool,
) -> Result<Json<TaskInstanceCollection>, ApiError> {
    let sched = &s.scheduler;
    let dag = sched.dag(&run.dag_id);
    let mut out = Vec::new();
    for ti in sched.task_instances(run.id).await? {
        if keep(&ti.task_id) {
            let tries = sched.tries(ti.id).await?;
            out.push(TaskInstanceResponse::new(run, &ti, tries.last(), dag.as_deref().and_then(|d| d.task(&ti.task_id))));
        }
    }
    Ok(Json(TaskInstanceCollection {
        total_entries: out.len(),
        task_instances: out,
    }))
}

/// A query parameter that must be a whole number.
fn whole_number(key: &str, value: &str) -> Result<i64, ApiError> {
    value
        .parse::<i64>()
        .map_err(|_| ApiError::BadRequest(format!("`{key}` must be a whole number, not `{value}`")))
}

async fn find_ti(s: &AppState, run: &RunRow, task_id: &str) -> Result<TaskInstanceRow, ApiError> {
    s.scheduler
        .task_instances(run.id)
        .await?
        .into_iter()
        .find(|t| t.task_id == task_id)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "task `{task_id}` not found in run `{}`",
                run.run_id
            ))
        })
}

#[utoipa::path(get, path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}", tag = "TaskInstance", params(("dag_id" = String, Path, description = "DAG id"), ("dag_run_id" = String, Path, description = "run id (URL-encoded)"), ("task_id" = String, Path, description = "task id")), responses((status = 200, body = TaskInstanceResponse), (status = 404, body = ErrorBody)))]
async fn get_task_instance(
    State(s): State<AppState>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
) -> Result<Json<TaskInstanceResponse>, ApiError> {
    let run = find_run(&s, &dag_id, &run_id).await?;
    let ti = find_ti(&s, &run, &task_id).await?;
    let tries = s.scheduler.tries(ti.id).await?;
    let dag = s.scheduler.dag(&dag_id);
    let mut resp = TaskInstanceResponse::new(&run, &ti, tries.last(), dag.as_deref().and_then(|d| d.task(&task_id)));
    if let Some(t) = tries.last() {
        let events = s.scheduler.driver_events(t.id).await?;
        resp.driver = Some(DriverResponse::new(t, events));
    }
    Ok(Json(resp))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MapIndexQuery {
    /// drover has no mapped tasks: only -1 (the default) names a task instance.
    map_index: Option<i64>,
}

#[utoipa::path(get, path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/dependencies", tag = "TaskInstance", params(("dag_id" = String, Path, description = "DAG id"), ("dag_run_id" = String, Path, description = "run id (URL-encoded)"), ("task_id" = String, Path, description = "task id"), MapIndexQuery), responses((status = 200, body = TaskDependencyCollection), (status = 404, body = ErrorBody)))]
/// What keeps a task instance from starting: for a queued one (ready, and
/// waiting for room), the limit it waits for; otherwise nothing.
async fn task_instance_dependencies(
    State(s): State<AppState>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
    query: Result<Query<MapIndexQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TaskDependencyCollection>, ApiError> {
    let Query(q) = query?;
    let run = find_run(&s, &dag_id, &run_id).await?;
    let ti = find_ti(&s, &run, &task_id).await?;
    if q.map_index.is_some_and(|i| i != -1) {
        return Err(ApiError::NotFound(format!("task `{task_id}` has no mapped instances (drover does not map tasks)")));
    }
    let waiting = match (ti.state, ti.queued_reason) {
        (drover_store::TiState::Queued, Some(reason)) => Some(reason),
        _ => None,
    };
    Ok(Json(TaskDependencyCollection {
        dependencies: waiting
            .into_iter()
            .map(|reason| TaskDependencyResponse { name: drover_scheduler::dependency_name(&reason).into(), reason })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries", tag = "TaskInstance", params(("dag_id" = String, Path, description = "DAG id"), ("dag_run_id" = String, Path, description = "run id (URL-encoded)"), ("task_id" = String, Path, description = "task id")), responses((status = 200, body = TryCollection), (status = 404, body = ErrorBody)))]
async fn list_tries(
    State(s): State<AppState>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
) -> Result<Json<TryCollection>, ApiError> {
    let run = find_run(&s, &dag_id, &run_id).await?;
    let ti = find_ti(&s, &run, &task_id).await?;
    let sched = &s.scheduler;
    let dag = sched.dag(&dag_id);
    let task = dag.as_deref().and_then(|d| d.task(&task_id));
    let mut out = Vec::new();
    for t in sched.tries(ti.id).await? {
        let events = sched.driver_events(t.id).await?;
        out.push(TryResponse::new(&run, &ti, &t, events, task));
    }
    Ok(Json(TryCollection {
        total_entries: out.len(),
        task_instances: out,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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

#[utoipa::path(get, path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}", tag = "TaskInstance", params(("dag_id" = String, Path, description = "DAG id"), ("dag_run_id" = String, Path, description = "run id (URL-encoded)"), ("task_id" = String, Path, description = "task id"), ("try_number" = i64, Path), LogQuery), responses((status = 200, body = LogResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// A try's driver log. Client-mode output comes from the file drover
/// captured; cluster-mode logs from drover's archived copy once the try has
/// ended and the copy is made, else from the cluster through the backend's
/// plugin (`source` says which). Without `offset`, the whole log (both
/// streams); with it, one stream from there on, and `continuation_token` is
/// the offset to ask for next. With several drovers, a client-mode log on
/// another drover's disk is fetched from that drover (`source`: `peer`).
async fn get_log(
    State(s): State<AppState>,
    Path((dag_id, run_id, task_id, try_number)): Path<(String, String, String, i64)>,
    headers: axum::http::HeaderMap,
    uri: axum::extract::OriginalUri,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LogResponse>, ApiError> {
    let Query(q) = query?;
    let run = find_run(&s, &dag_id, &run_id).await?;
    let ti = find_ti(&s, &run, &task_id).await?;
    let t = s
        .scheduler
        .tries(ti.id)
        .await?
        .into_iter()
        .find(|t| t.try_number == try_number)
        .ok_or_else(|| ApiError::NotFound(format!("task `{task_id}` has no try {try_number}")))?;
    let stream = q.stream.as_deref().unwrap_or("stdout");
    if !matches!(stream, "stdout" | "stderr") {
        return Err(ApiError::BadRequest(format!(
            "stream `{stream}` is neither stdout nor stderr"
        )));
    }
    let offset = q.offset.unwrap_or(0);
    if let Some(path) = &t.log_path {
        // Run by another drover: its disk has the log (asked once; a
        // drover asked by another does not ask on).
        let mut elsewhere = None;
        if let (Some(epoch), Some(me)) = (t.epoch, &s.holder)
            && !headers.contains_key(PROXIED)
            && let Some((holder, base)) = s.scheduler.store().epoch_holder(epoch).await?
            && holder != *me
        {
            match peer_log(&base, &headers, &uri).await {
                Ok(log) => return Ok(Json(log)),
                Err(why) => elsewhere = Some(format!("this client-mode driver ran on drover {holder}, and its log is on that drover's disk; {base} does not answer: {why}")),
            }
        }
        let bytes = match (tokio::fs::read(path).await, elsewhere) {
            (Ok(b), _) => b,
            (Err(_), Some(why)) => return Err(ApiError::Unavailable(why)),
            (Err(_), None) => Vec::new(),
        };
        let from = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let to = from.saturating_add(q.max_bytes as usize).min(bytes.len());
        return Ok(Json(
            LogResponse::new(&String::from_utf8_lossy(&bytes[from..to]), Some(to.to_string())).from("file"),
        ));
    }
    let none = || Ok(Json(LogResponse::new("", Some(offset.to_string()))));
    let Some(id) = &t.cluster_id else {
        return none();
    };
    if q.offset.is_some() {
        let piece = match log_piece(&s, &t, id, stream, offset, q.max_bytes).await {
            Some(p) => p,
            None => return none(),
        };
        let (data, next, source) = piece.map_err(|e| ApiError::Conflict(format!("the driver's log is not available: {e}")))?;
        return Ok(Json(LogResponse::new(&String::from_utf8_lossy(&data), Some(next.to_string())).from(source)));
    }
    let mut content = String::new();
    let mut sources = Vec::new();
    for stream in drover_scheduler::LOG_STREAMS {
        match log_piece(&s, &t, id, stream, 0, q.max_bytes).await {
            None => return none(),
            Some(Ok((data, _, source))) => {
                content.push_str(&format!("==== driver {stream} ====\n"));
                content.push_str(&String::from_utf8_lossy(&data));
                if !content.ends_with('\n') {
                    content.push('\n');
                }
                sources.push(source);
            }
            Some(Err(e)) => content.push_str(&format!("==== driver {stream}: unavailable: {e} ====\n")),
        }
    }
    // The archive when any stream came from it: it is what is kept.
    let source = if sources.contains(&"archive") { "archive" } else { "cluster" };
    Ok(Json(LogResponse::new(&content, None).from(source)))
}

/// Marks a request one drover passes to another.
const PROXIED: &str = "x-drover-proxied";

/// A client-mode log from the drover whose API is at `base` (it ran the
/// driver): the same request, with the caller's credentials.
async fn peer_log(base: &str, headers: &axum::http::HeaderMap, uri: &axum::extract::OriginalUri) -> Result<LogResponse, String> {
    let path = uri.0.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let mut req = reqwest::Client::new().get(&url).header(PROXIED, "1").timeout(std::time::Duration::from_secs(30));
    for name in [axum::http::header::AUTHORIZATION, axum::http::header::COOKIE] {
        if let Some(v) = headers.get(&name) {
            req = req.header(name.as_str(), v.as_bytes());
        }
    }
    let res = req.send().await.map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("HTTP {}", res.status()));
    }
    let mut body: serde_json::Value = res.json().await.map_err(|e| e.to_string())?;
    let content: Vec<String> = serde_json::from_value(body["content"].take()).map_err(|e| e.to_string())?;
    Ok(LogResponse {
        content,
        continuation_token: body["continuation_token"].as_str().map(String::from),
        source: Some("peer".into()),
    })
}

/// A piece of one stream of a cluster-mode driver's log: the archived copy
/// when there is one, else the cluster's; the bytes, the next offset and
/// where they came from. `None` when the try's backend is not configured
/// and nothing is archived.
async fn log_piece(
    s: &AppState,
    t: &drover_store::TryRow,
    cluster_id: &str,
    stream: &str,
    offset: u64,
    max_bytes: u32,
) -> Option<Result<(Vec<u8>, u64, &'static str), String>> {
    use drover_scheduler::ArchivedLog;
    let archived = drover_scheduler::read_archived_log(t, stream, offset, max_bytes).await;
    if let ArchivedLog::Chunk { data, next_offset } = archived {
        return Some(Ok((data, next_offset, "archive")));
    }
    let live = s.scheduler.driver_log(&t.backend, cluster_id, stream, offset, max_bytes).await;
    match (live, archived) {
        (Some(Ok(chunk)), _) => Some(Ok((chunk.data, chunk.next_offset, "cluster"))),
        (Some(Err(e)), ArchivedLog::Missing(why)) => Some(Err(format!("{e} (and drover's copy has none: {why})"))),
        (Some(Err(e)), _) if t.log_archive.is_some() => {
            Some(Err(format!("{e} (drover is copying it from the cluster now)")))
        }
        (Some(Err(e)), _) => Some(Err(e.to_string())),
        (None, ArchivedLog::Missing(why)) => Some(Err(format!("drover's copy has none: {why}"))),
        (None, _) => None,
    }
}

#[utoipa::path(post, path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/kill", tag = "drover", params(("dag_id" = String, Path, description = "DAG id"), ("dag_run_id" = String, Path, description = "run id (URL-encoded)"), ("task_id" = String, Path, description = "task id")), responses((status = 200, description = "the kill was sent; the try ends once the cluster confirms"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn kill_task(
    State(s): State<AppState>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    s.scheduler.kill_task(&dag_id, &run_id, &task_id).await?;
    Ok(Json(serde_json::json!({ "killed": true })))
}

#[utoipa::path(get, path = "/api/v2/importErrors", tag = "ImportError", params(Page), responses((status = 200, body = ImportErrorCollection)))]
async fn import_errors(
    State(s): State<AppState>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ImportErrorCollection>, ApiError> {
    let Query(page) = page?;
    let (rows, total) = s.scheduler.store().import_error_page(page.limit(), page.offset()).await?;
    let first = page.offset() as usize + 1;
    Ok(Json(ImportErrorCollection {
        total_entries: total as usize,
        import_errors: rows
            .into_iter()
            .enumerate()
            .map(|(i, r)| ImportErrorResponse {
                import_error_id: first + i,
                timestamp: r.updated_at,
                filename: r.file,
                bundle_name: "dags-folder".into(),
                stack_trace: r.message,
            })
            .collect(),
    }))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it as pairs, for repeated `order_by`
struct PoolQuery {
    /// Default 50, at most 100.
    limit: Option<i64>,
    offset: Option<i64>,
    /// `name` (or Airflow's `id` and `pool`, which are the name here too),
    /// `-` first for descending; the default is by name.
    order_by: Option<Vec<String>>,
    /// Only pools whose name contains this, ignoring case.
    pool_name_pattern: Option<String>,
    /// Only pools whose name starts with this.
    pool_name_prefix_pattern: Option<String>,
}

/// Every pool with what it holds and what waits for it, as Airflow's.
#[utoipa::path(get, path = "/api/v2/pools", tag = "Pool", params(PoolQuery), responses((status = 200, body = PoolCollection), (status = 400, body = ErrorBody)))]
async fn list_pools(
    State(s): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PoolCollection>, ApiError> {
    let Query(pairs) = query?;
    let mut page = Page { limit: default_limit(), offset: 0 };
    let mut descending = false;
    let mut contains: Option<String> = None;
    let mut prefix: Option<String> = None;
    for (k, v) in &pairs {
        match k.as_str() {
            "limit" => page.limit = whole_number(k, v)?,
            "offset" => page.offset = whole_number(k, v)?,
            "order_by" => {
                for key in v.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                    let (desc, field) = key.strip_prefix('-').map_or((false, key), |f| (true, f));
                    if !matches!(field, "id" | "pool" | "name") {
                        return Err(ApiError::BadRequest(format!(
                            "cannot order pools by `{field}`; order by `name` (or `-name` for descending)"
                        )));
                    }
                    descending = desc;
                }
            }
            "pool_name_pattern" if !v.is_empty() => contains = Some(v.to_lowercase()),
            "pool_name_prefix_pattern" if !v.is_empty() => prefix = Some(v.clone()),
            _ => {}
        }
    }
    let mut pools = s.scheduler.pools().await?;
    pools.retain(|p| {
        contains.as_ref().is_none_or(|c| p.name.to_lowercase().contains(c.as_str()))
            && prefix.as_ref().is_none_or(|x| p.name.starts_with(x.as_str()))
    });
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    if descending {
        pools.reverse();
    }
    let total_entries = pools.len();
    let pools = pools
        .into_iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(usize::try_from(page.limit()).unwrap_or_default())
        .map(PoolResponse::from)
        .collect();
    Ok(Json(PoolCollection { pools, total_entries }))
}

fn no_teams(team_name: Option<&str>) -> Result<(), ApiError> {
    match team_name {
        Some(t) => Err(ApiError::BadRequest(format!("team_name `{t}` cannot be set: drover has no teams"))),
        None => Ok(()),
    }
}

/// Creates a pool; tasks that name it can start as soon as it has room.
#[utoipa::path(post, path = "/api/v2/pools", tag = "Pool", request_body = PoolBody, responses((status = 201, body = PoolResponse), (status = 400, body = ErrorBody, description = "bad JSON, a name with other characters than letters, digits, `_`, `.` and `-`, or slots below -1"), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody, description = "a pool of that name exists")))]
async fn create_pool(
    State(s): State<AppState>,
    Json(body): Json<PoolBody>,
) -> Result<(StatusCode, Json<PoolResponse>), ApiError> {
    no_teams(body.team_name.as_deref())?;
    drover_scheduler::check_pool(&body.name, Some(body.slots)).map_err(ApiError::BadRequest)?;
    let edit = drover_scheduler::PoolEdit::Create { name: body.name, slots: body.slots, description: body.description };
    let pool = s.scheduler.edit_pool(edit).await?;
    let pool = pool.ok_or_else(|| ApiError::Internal("the scheduler returned no pool after creating it".into()))?;
    Ok((StatusCode::CREATED, Json(PoolResponse::from(pool))))
}

/// The store names only what it did not find: say so.
fn pool_error(e: drover_scheduler::ControlError) -> ApiError {
    match e {
        drover_scheduler::ControlError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
        e => e.into(),
    }
}

async fn find_pool(s: &AppState, name: &str) -> Result<drover_scheduler::PoolView, ApiError> {
    s.scheduler.pool(name).await?.ok_or_else(|| ApiError::NotFound(format!("pool `{name}` not found")))
}

#[utoipa::path(get, path = "/api/v2/pools/{pool_name}", tag = "Pool", params(("pool_name" = String, Path, description = "pool name")), responses((status = 200, body = PoolResponse), (status = 404, body = ErrorBody)))]
async fn get_pool(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json<PoolResponse>, ApiError> {
    Ok(Json(PoolResponse::from(find_pool(&s, &name).await?)))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it as pairs, for repeated `update_mask`
struct PoolPatchQuery {
    /// Only these fields of the body are applied (`slots`, `description`,
    /// `include_deferred`, `pool`); repeat it or separate with commas.
    /// Without it, every field the body has.
    update_mask: Option<Vec<String>>,
}

/// Changes a pool's slots or description; the scheduler uses the new size at
/// once (a pool shrunk below what runs lets nothing new start until it has room).
#[utoipa::path(patch, path = "/api/v2/pools/{pool_name}", tag = "Pool", params(("pool_name" = String, Path, description = "pool name"), PoolPatchQuery), request_body = PoolPatchBody, responses((status = 200, body = PoolResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn patch_pool(
    State(s): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
    Json(body): Json<PoolPatchBody>,
) -> Result<Json<PoolResponse>, ApiError> {
    let Query(pairs) = query?;
    let mut mask: Option<Vec<String>> = None;
    for (k, v) in &pairs {
        if k == "update_mask" {
            for field in v.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                if !matches!(field, "slots" | "description" | "include_deferred" | "pool" | "name") {
                    return Err(ApiError::BadRequest(format!(
                        "update_mask names `{field}`; a pool's fields are slots, description and include_deferred"
                    )));
                }
                mask.get_or_insert_with(Vec::new).push(field.to_string());
            }
        }
    }
    let wanted = |field: &str| mask.as_ref().is_none_or(|m| m.iter().any(|f| f == field));
    no_teams(body.team_name.as_deref())?;
    if let Some(new) = body.pool.as_deref().filter(|_| wanted("pool") || wanted("name"))
        && new != name
    {
        return Err(ApiError::BadRequest(format!("pool `{name}` cannot be renamed to `{new}`; create a new pool instead")));
    }
    let slots = body.slots.filter(|_| wanted("slots"));
    if mask.is_some() && wanted("slots") && slots.is_none() {
        return Err(ApiError::BadRequest("update_mask names `slots` but the body has no slots".into()));
    }
    drover_scheduler::check_pool(&name, slots).map_err(ApiError::BadRequest)?;
    let description = match body.description {
        Some(d) if wanted("description") => Some(d),
        // A masked field the body leaves out is cleared, as in Airflow.
        None if mask.is_some() && wanted("description") => Some(None),
        _ => None,
    };
    let edit = drover_scheduler::PoolEdit::Update { name: name.clone(), slots, description };
    let pool = s.scheduler.edit_pool(edit).await.map_err(pool_error)?;
    match pool {
        Some(p) => Ok(Json(PoolResponse::from(p))),
        None => Ok(Json(PoolResponse::from(find_pool(&s, &name).await?))),
    }
}

/// Deletes a pool. `default_pool` stays, as in Airflow; tasks that name a
/// deleted pool wait until it exists again.
#[utoipa::path(delete, path = "/api/v2/pools/{pool_name}", tag = "Pool", params(("pool_name" = String, Path, description = "pool name")), responses((status = 204, description = "deleted"), (status = 400, body = ErrorBody, description = "`default_pool` cannot be deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_pool(State(s): State<AppState>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    s.scheduler.edit_pool(drover_scheduler::PoolEdit::Delete { name }).await.map_err(pool_error)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v2/dags/{dag_id}/clearTaskInstances", tag = "TaskInstance", params(("dag_id" = String, Path, description = "DAG id")), request_body = ClearBody, responses((status = 200, body = TaskInstanceCollection, description = "the cleared (with dry_run: the would-be cleared) task instances"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Airflow's "clear": the task instances run again (drover's retry). The
/// run is required, and Airflow's date-range and upstream/past/future
/// selections are refused; downstream tasks that never ran because of a
/// cleared one are always cleared with it.
async fn clear_task_instances(
    State(s): State<AppState>,
    Path(dag_id): Path<String>,
    Json(body): Json<ClearBody>,
) -> Result<Json<TaskInstanceCollection>, ApiError> {
    let Some(run_id) = body.dag_run_id.clone() else {
        return Err(ApiError::BadRequest(
            "dag_run_id is required: drover clears the task instances of one run".into(),
        ));
    };
    for (set, name) in [
        (body.include_upstream, "include_upstream"),
        (body.include_future, "include_future"),
        (body.include_past, "include_past"),
        (body.only_running, "only_running"),
        (body.start_date.is_some(), "start_date"),
        (body.end_date.is_some(), "end_date"),
    ] {
        if set {
            return Err(ApiError::BadRequest(format!(
                "`{name}` is not supported; name the run with dag_run_id and the tasks with task_ids"
            )));
        }
    }
    let task_ids = body.task_ids.map(|ids| {
        ids.into_iter()
            .map(|t| match t {
                ClearTaskId::Id(id) | ClearTaskId::Mapped(id, _) => id,
            })
            .collect()
    });
    let cleared = s
        .scheduler
        .clear(
            &dag_id,
            drover_scheduler::ClearRequest {
                run_id: run_id.clone(),
                task_ids,
                include_downstream: body.include_downstream,
                only_failed: body.only_failed,
                dry_run: body.dry_run,
            },
        )
        .await?;
    let run = find_run(&s, &dag_id, &run_id).await?;
    ti_collection(&s, &run, |t| cleared.iter().any(|c| c == t)).await
}

/// Recent runs by tasks, newest first: the DAG page's grid in one call.
#[utoipa::path(get, path = "/api/v2/dags/{dag_id}/grid", tag = "drover", params(("dag_id" = String, Path, description = "DAG id"), Page), responses((status = 200, body = GridResponse), (status = 404, body = ErrorBody)))]
async fn grid(
    State(s): State<AppState>,
    Path(dag_id): Path<String>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<GridResponse>, ApiError> {
    let Query(page) = page?;
    dag_row(&s, &dag_id).await?;
    let sched = &s.scheduler;
    let mut runs = Vec::new();
    for r in sched
        .list_runs(&dag_id, page.limit(), page.offset())
        .await?
    {
        let task_instances = sched
            .task_instances(r.id)
            .await?
            .into_iter()
            .map(|ti| {
                let cell = GridCell {
                    state: (ti.state != drover_store::TiState::None).then(|| ti.state.to_string()),
                    try_number: ti.try_number,
                };
                (ti.task_id, cell)
            })
            .collect();
        runs.push(GridRun {
            dag_run_id: r.run_id,
            state: r.state.to_string(),
            run_type: r.run_type,
            logical_date: r.logical_date,
            start_date: r.start_date,
            end_date: r.end_date,
            task_instances,
        });
    }
    Ok(Json(GridResponse { runs }))
}

fn deploy_modes(info: &drover_plugin_host::PluginInfo) -> Vec<String> {
    info.deploy_modes.iter().map(|m| m.as_str().to_string()).collect()
}

/// The configured backends; secret settings are shown as `***`.
#[utoipa::path(get, path = "/api/v2/backends", tag = "drover", responses((status = 200, body = BackendCollection)))]
async fn list_backends(State(s): State<AppState>) -> Json<BackendCollection> {
    let backends: Vec<BackendResponse> = s
        .scheduler
        .backends()
        .into_iter()
        .map(|b| BackendResponse {
            deploy_modes: deploy_modes(&b.plugin),
            plugin: b.plugin.name,
            plugin_version: b.plugin.version,
            name: b.name,
            settings: b.settings.into_iter().collect(),
            allowed_hosts: b.allowed_hosts,
            max_calls_per_second: b.max_calls_per_second,
            memory_mb: b.limits.memory_bytes >> 20,
            memory_peak_mb: b.memory_peak_bytes as f64 / f64::from(1u32 << 20),
            call_timeout: format!("{:?}", b.limits.call_timeout),
            calls: b.calls.iter().map(CallStatsResponse::from).collect(),
            plugin_file: b.plugin_file.map(|f| f.display().to_string()),
            reload_error: b.reload_error.as_ref().map(ReloadErrorResponse::from),
        })
        .collect();
    Json(BackendCollection {
        total_entries: backends.len(),
        backends,
    })
}

/// The loaded backend plugins, one entry per component.
#[utoipa::path(get, path = "/api/v2/plugins", tag = "drover", responses((status = 200, body = PluginCollection)))]
async fn list_plugins(State(s): State<AppState>) -> Json<PluginCollection> {
    let mut plugins: std::collections::BTreeMap<String, PluginResponse> =
        std::collections::BTreeMap::new();
    let mut calls: std::collections::BTreeMap<String, Vec<drover_plugin_host::CallStats>> =
        std::collections::BTreeMap::new();
    for b in s.scheduler.backends() {
        let sum = calls.entry(b.plugin_digest.clone()).or_default();
        if sum.is_empty() {
            sum.clone_from(&b.calls);
        } else {
            for (total, one) in sum.iter_mut().zip(&b.calls) {
                total.merge(one);
            }
        }
        let p = &b.plugin;
        let entry = plugins
            .entry(b.plugin_digest.clone())
            .or_insert_with(|| PluginResponse {
                name: p.name.clone(),
                version: p.version.clone(),
                source: b.plugin_source.clone(),
                digest: b.plugin_digest.clone(),
                contract_version: b.contract_version.clone(),
                size_bytes: b.plugin_size as u64,
                compile_ms: b.compile_time.as_secs_f64() * 1000.0,
                deploy_modes: deploy_modes(p),
                settings: p
                    .config_keys
                    .iter()
                    .map(|k| PluginSetting {
                        name: k.name.clone(),
                        description: k.description.clone(),
                        required: k.required,
                        secret: k.secret,
                    })
                    .collect(),
                backends: Vec::new(),
                calls: Vec::new(),
                reload_error: None,
                airflow: AirflowPluginParts::default(),
            });
        entry.backends.push(b.name.clone());
        if let Some(e) = &b.reload_error {
            entry.reload_error = Some(ReloadErrorResponse::from(e));
        }
    }
    let plugins: Vec<PluginResponse> = plugins
        .into_iter()
        .map(|(digest, mut p)| {
            p.calls = calls[&digest].iter().map(CallStatsResponse::from).collect();
            p
        })
        .collect();
    Json(PluginCollection {
        total_entries: plugins.len(),
        plugins,
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DriverQuery {
    /// Only drivers in this state (pending, submitted, queued, running,
    /// unknown, succeeded, failed, killed, lost, submit_failed).
    state: Option<String>,
    /// Only drivers whose try has not ended: what runs on the clusters now.
    #[serde(default)]
    active: bool,
    dag_id: Option<String>,
    dag_run_id: Option<String>,
    /// Only drivers on this backend.
    backend: Option<String>,
    /// Default 50, at most 100.
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn driver_entry(row: drover_store::DriverRow, events: Vec<drover_store::DriverEventRow>) -> DriverListEntry {
    DriverListEntry {
        try_id: row.attempt.id,
        dag_id: row.dag_id,
        dag_run_id: row.run_id,
        task_id: row.task_id,
        try_number: row.attempt.try_number,
        started_at: row.attempt.started_at,
        ended_at: row.attempt.ended_at,
        driver: DriverResponse::new(&row.attempt, events),
    }
}

/// Every driver drover has submitted, newest first, with its state history:
/// e.g. `?state=running` for what runs on the clusters now.
#[utoipa::path(get, path = "/api/v2/drivers", tag = "drover", params(DriverQuery),
    responses((status = 200, body = DriverCollection), (status = 400, body = ErrorBody)))]
async fn list_drivers(
    State(s): State<AppState>,
    query: Result<Query<DriverQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DriverCollection>, ApiError> {
    let Query(q) = query?;
    let state = q
        .state
        .as_deref()
        .map(str::parse::<drover_store::DriverState>)
        .transpose()
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "{e}; states are pending, submitted, queued, running, unknown, succeeded, failed, killed, lost, submit_failed"
            ))
        })?;
    let sched = &s.scheduler;
    let nonempty = |v: Option<String>| v.filter(|x| !x.is_empty());
    let filter = drover_store::DriverFilter {
        state,
        active: q.active,
        dag_id: nonempty(q.dag_id),
        run_id: nonempty(q.dag_run_id),
        backend: nonempty(q.backend),
    };
    let page = Page { limit: q.limit, offset: q.offset };
    let (rows, total) = sched.store().driver_page(&filter, page.limit(), page.offset()).await?;
    let mut drivers = Vec::new();
    for row in rows {
        let events = sched.driver_events(row.attempt.id).await?;
        drivers.push(driver_entry(row, events));
    }
    Ok(Json(DriverCollection {
        drivers,
        total_entries: total,
    }))
}

/// One driver by its try id (the `try_id` of `driver` events).
#[utoipa::path(get, path = "/api/v2/drivers/{try_id}", tag = "drover", params(("try_id" = i64, Path)),
    responses((status = 200, body = DriverListEntry), (status = 404, body = ErrorBody)))]
async fn get_driver(State(s): State<AppState>, Path(try_id): Path<i64>) -> Result<Json<DriverListEntry>, ApiError> {
    let sched = &s.scheduler;
    let (rows, _) = sched.drivers(None, Some(try_id), 1, 0).await?;
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound(format!("no driver with try id {try_id}")))?;
    let events = sched.driver_events(try_id).await?;
    Ok(Json(driver_entry(row, events)))
}
