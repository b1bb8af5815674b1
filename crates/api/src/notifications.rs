//! `GET /api/v2/notifications`: the notification outbox, so a delivery that
//! failed is visible (its attempts and last error) without reading logs.
//! drover's own endpoint: Airflow has no notification history.

use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ErrorBody};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct NotificationQuery {
    /// Only notifications in this state: pending (not sent yet, or being
    /// retried), sent, or failed (given up after the notifier's max_attempts).
    state: Option<String>,
    /// Only notifications of this DAG.
    dag_id: Option<String>,
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn default_limit() -> i64 {
    50
}

/// drover: one notification, as the outbox holds it. Which receiver it went
/// to is named by its notifier; URLs and passwords never appear.
#[derive(Serialize, ToSchema)]
pub struct NotificationResponse {
    pub id: i64,
    /// Also sent to the receiver (body and Idempotency-Key header) so it
    /// can drop a repeat after a restart.
    pub idempotency_key: String,
    pub notifier: String,
    /// on_failure, on_retry, on_success, on_run_failure or on_run_success.
    pub event: String,
    pub dag_id: String,
    pub dag_run_id: String,
    pub task_id: Option<String>,
    pub try_number: Option<i64>,
    /// The task instance's or run's state the event reports.
    pub event_state: String,
    /// pending, sent or failed.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct NotificationCollection {
    pub notifications: Vec<NotificationResponse>,
    pub total_entries: i64,
}

/// Notifications newest first: `?state=failed` for deliveries drover gave
/// up on, `?state=pending` for those still being retried (with last_error).
#[utoipa::path(get, path = "/api/v2/notifications", tag = "drover", params(NotificationQuery),
    responses((status = 200, body = NotificationCollection), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_notifications(
    State(s): State<AppState>,
    query: Result<Query<NotificationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<NotificationCollection>, ApiError> {
    let Query(q) = query?;
    let status = q
        .state
        .as_deref()
        .map(str::parse::<drover_store::NotificationStatus>)
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("{e}; states are pending, sent, failed")))?;
    let (rows, total) = s
        .scheduler
        .notifications(status, q.dag_id.as_deref(), q.limit.clamp(1, crate::routes::MAX_PAGE), q.offset.max(0))
        .await?;
    let notifications = rows
        .into_iter()
        .map(|r| NotificationResponse {
            id: r.id,
            idempotency_key: r.key,
            notifier: r.notifier,
            event: r.event.to_string(),
            dag_id: r.dag_id,
            dag_run_id: r.run_id,
            task_id: r.task_id,
            try_number: r.try_number,
            event_state: r.state,
            next_attempt_at: (r.status == drover_store::NotificationStatus::Pending).then_some(r.next_attempt_at),
            state: r.status.to_string(),
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
        })
        .collect();
    Ok(Json(NotificationCollection { notifications, total_entries: total }))
}
