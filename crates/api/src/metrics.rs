//! `GET /metrics`: Prometheus's text format, outside /api/v2 where scrapers
//! look for it, behind the same read access as the API (open unless the
//! server requires a token for reads; a scraper then sends the Bearer token).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::AppState;
use crate::error::ApiError;

pub(crate) async fn metrics(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let text = s.scheduler.metrics_text().await?;
    Ok(([(header::CONTENT_TYPE, drover_scheduler::METRICS_CONTENT_TYPE)], text))
}
