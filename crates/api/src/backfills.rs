//! Backfills, as Airflow's `/api/v2/backfills`: runs for every schedule
//! tick in a date range, at most `max_active_runs` at a time. Responses
//! add drover's progress (`runs_total`, `runs_done`).

use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use drover_scheduler::{BackfillChange, BackfillRequest};
use drover_store::BackfillRow;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{Json, Path};

/// What a backfill is to run (Airflow's BackfillPostBody).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillPostBody {
    pub dag_id: String,
    pub from_date: DateTime<Utc>,
    pub to_date: DateTime<Utc>,
    #[serde(default)]
    pub run_backwards: bool,
    #[schema(value_type = Option<Object>)]
    pub dag_run_conf: Option<serde_json::Map<String, serde_json::Value>>,
    /// none (default), failed or completed: which ticks that already have a
    /// run get it run again.
    #[serde(default = "reprocess_none")]
    pub reprocess_behavior: String,
    /// Default 10, as Airflow.
    #[serde(default = "ten")]
    pub max_active_runs: i64,
    /// Accepted for Airflow's clients; a backfill's new runs always use the
    /// DAG file as loaded now, and its reruns the version they ran with.
    #[allow(dead_code)]
    pub run_on_latest_version: Option<bool>,
}

fn reprocess_none() -> String {
    "none".into()
}

fn ten() -> i64 {
    10
}

/// A backfill as Airflow's BackfillResponse, with its progress.
#[derive(Serialize, ToSchema)]
pub struct BackfillResponse {
    pub id: i64,
    pub dag_id: String,
    pub from_date: DateTime<Utc>,
    pub to_date: DateTime<Utc>,
    #[schema(value_type = Option<Object>)]
    pub dag_run_conf: serde_json::Value,
    pub is_paused: bool,
    pub reprocess_behavior: String,
    pub max_active_runs: i64,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub dag_display_name: String,
    /// drover: the backfill's runs.
    pub runs_total: i64,
    /// drover: its runs that have ended (success or failed).
    pub runs_done: i64,
}

#[derive(Serialize, ToSchema)]
pub struct BackfillCollectionResponse {
    pub backfills: Vec<BackfillResponse>,
    pub total_entries: i64,
}

#[derive(Serialize, ToSchema)]
pub struct DryRunBackfillResponse {
    pub logical_date: Option<DateTime<Utc>>,
    pub partition_key: Option<String>,
    pub partition_date: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct DryRunBackfillCollectionResponse {
    pub backfills: Vec<DryRunBackfillResponse>,
    pub total_entries: usize,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BackfillQuery {
    /// The DAG whose backfills to list (required, as in Airflow).
    dag_id: String,
    #[serde(default = "fifty")]
    limit: i64,
    #[serde(default)]
    offset: i64,
    /// Accepted; backfills are listed newest first.
    #[allow(dead_code)]
    order_by: Option<String>,
}

fn fifty() -> i64 {
    50
}

async fn respond(s: &AppState, row: BackfillRow) -> Result<BackfillResponse, ApiError> {
    let (runs_total, runs_done) = s.scheduler.store().backfill_progress(row.id).await?;
    Ok(BackfillResponse {
        id: row.id,
        dag_display_name: row.dag_id.clone(),
        dag_id: row.dag_id,
        from_date: row.from_date,
        to_date: row.to_date,
        dag_run_conf: row.dag_run_conf.0,
        is_paused: row.is_paused,
        reprocess_behavior: row.reprocess_behavior,
        max_active_runs: row.max_active_runs,
        created_at: row.created_at,
        completed_at: row.completed_at,
        updated_at: row.updated_at,
        runs_total,
        runs_done,
    })
}

fn request(body: BackfillPostBody, dry_run: bool) -> BackfillRequest {
    BackfillRequest {
        dag_id: body.dag_id,
        from_date: body.from_date,
        to_date: body.to_date,
        reprocess_behavior: body.reprocess_behavior,
        max_active_runs: body.max_active_runs,
        run_backwards: body.run_backwards,
        conf: body.dag_run_conf.unwrap_or_default(),
        dry_run,
    }
}

/// A DAG's backfills, newest first.
#[utoipa::path(get, path = "/api/v2/backfills", tag = "Backfill", params(BackfillQuery), responses((status = 200, body = BackfillCollectionResponse), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_backfills(State(s): State<AppState>, Query(q): Query<BackfillQuery>) -> Result<Json<BackfillCollectionResponse>, ApiError> {
    if !(1..=100).contains(&q.limit) || q.offset < 0 {
        return Err(ApiError::BadRequest("limit must be 1 to 100 and offset not negative".into()));
    }
    let (rows, total_entries) = s.scheduler.store().backfills(&q.dag_id, q.limit, q.offset).await?;
    let mut backfills = Vec::new();
    for row in rows {
        backfills.push(respond(&s, row).await?);
    }
    Ok(Json(BackfillCollectionResponse { backfills, total_entries }))
}

/// Creates a backfill: a run for every tick of the DAG's schedule from
/// `from_date` to `to_date` (both included), started `max_active_runs` at
/// a time, oldest first (newest with `run_backwards`).
#[utoipa::path(post, path = "/api/v2/backfills", tag = "Backfill", request_body = BackfillPostBody, responses((status = 200, body = BackfillResponse), (status = 400, body = ErrorBody, description = "a DAG without a schedule, an empty or reversed range, conf that does not fit the params"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "the DAG already has a backfill going")))]
pub(crate) async fn create_backfill(State(s): State<AppState>, Json(body): Json<BackfillPostBody>) -> Result<Json<BackfillResponse>, ApiError> {
    let made = s.scheduler.backfill(request(body, false)).await?;
    let row = made.backfill.ok_or_else(|| ApiError::Internal("the scheduler made no backfill".into()))?;
    Ok(Json(respond(&s, row).await?))
}

/// The logical dates a backfill would run, in the order they would start;
/// nothing is created.
#[utoipa::path(post, path = "/api/v2/backfills/dry_run", tag = "Backfill", request_body = BackfillPostBody, responses((status = 200, body = DryRunBackfillCollectionResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn dry_run_backfill(State(s): State<AppState>, Json(body): Json<BackfillPostBody>) -> Result<Json<DryRunBackfillCollectionResponse>, ApiError> {
    let made = s.scheduler.backfill(request(body, true)).await?;
    let backfills: Vec<DryRunBackfillResponse> = made
        .logical_dates
        .into_iter()
        .map(|d| DryRunBackfillResponse { logical_date: Some(d), partition_key: None, partition_date: None })
        .collect();
    Ok(Json(DryRunBackfillCollectionResponse { total_entries: backfills.len(), backfills }))
}

#[utoipa::path(get, path = "/api/v2/backfills/{backfill_id}", tag = "Backfill", params(("backfill_id" = i64, Path, description = "backfill id")), responses((status = 200, body = BackfillResponse), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_backfill(State(s): State<AppState>, Path(id): Path<i64>) -> Result<Json<BackfillResponse>, ApiError> {
    let row = s.scheduler.store().get_backfill(id).await?.ok_or_else(|| ApiError::NotFound(format!("backfill {id}")))?;
    Ok(Json(respond(&s, row).await?))
}

async fn change(s: AppState, id: i64, change: BackfillChange) -> Result<Json<BackfillResponse>, ApiError> {
    let row = s.scheduler.change_backfill(id, change).await?;
    Ok(Json(respond(&s, row).await?))
}

/// Pauses a backfill: none of its runs start until it is unpaused.
#[utoipa::path(put, path = "/api/v2/backfills/{backfill_id}/pause", tag = "Backfill", params(("backfill_id" = i64, Path, description = "backfill id")), responses((status = 200, body = BackfillResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn pause_backfill(State(s): State<AppState>, Path(id): Path<i64>) -> Result<Json<BackfillResponse>, ApiError> {
    change(s, id, BackfillChange::Pause).await
}

#[utoipa::path(put, path = "/api/v2/backfills/{backfill_id}/unpause", tag = "Backfill", params(("backfill_id" = i64, Path, description = "backfill id")), responses((status = 200, body = BackfillResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn unpause_backfill(State(s): State<AppState>, Path(id): Path<i64>) -> Result<Json<BackfillResponse>, ApiError> {
    change(s, id, BackfillChange::Unpause).await
}

/// Cancels a backfill: its runs that have not started end failed; the
/// running ones go on.
#[utoipa::path(put, path = "/api/v2/backfills/{backfill_id}/cancel", tag = "Backfill", params(("backfill_id" = i64, Path, description = "backfill id")), responses((status = 200, body = BackfillResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn cancel_backfill(State(s): State<AppState>, Path(id): Path<i64>) -> Result<Json<BackfillResponse>, ApiError> {
    change(s, id, BackfillChange::Cancel).await
}
