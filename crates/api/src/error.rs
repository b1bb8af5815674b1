//! The one error type of the HTTP layer: 4xx with a message a user can act
//! on, 5xx opaque to the client and logged in full.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// A trigger's conf that does not fit the DAG's params: one entry a field.
    #[error("{detail}")]
    InvalidConf { detail: String, errors: Vec<FieldError> },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// The active scheduler (another drover) did not answer; the detail
    /// says whether the request may still take effect.
    #[error("{0}")]
    Unavailable(String),
}

/// Every error answer: Airflow's `{"detail": ...}`, plus the status and,
/// for a bad trigger conf, the problem of each field.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub detail: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The param's name, as in the DAG file's [params].
    pub field: String,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut errors = Vec::new();
        let (status, detail) = match &self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            ApiError::InvalidConf { detail, errors: e } => {
                errors = e.clone();
                (StatusCode::BAD_REQUEST, detail.clone())
            }
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.clone()),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m.clone()),
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the drover log".to_string(),
                )
            }
        };
        // Airflow's API answers errors as {"detail": ...}.
        let body = ErrorBody {
            detail,
            status: status.as_u16(),
            errors,
        };
        (status, axum::Json(body)).into_response()
    }
}

/// Errors made outside the handlers (axum's rejections, the body limit, a
/// method a path does not take) arrive as plain text or an empty body; this
/// layer gives every error response the documented JSON body instead.
/// hyper's own answers to requests it cannot parse (400, 414 for a URI over
/// 64 KiB, 431 for oversized headers) are written before any layer runs and
/// keep their empty body.
pub(crate) async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let detail = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("request body too large: at most {} bytes are accepted", crate::routes::MAX_BODY)
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            // axum sets Allow only on a router without layers.
            match parts.headers.get(axum::http::header::ALLOW).and_then(|v| v.to_str().ok()) {
                Some(allowed) if !allowed.is_empty() => format!("{path} does not take {method}; it takes {allowed}"),
                _ => format!("{path} does not take {method}; /api/v2/openapi.json lists the methods of each path"),
            }
        }
        s if s.is_server_error() => {
            tracing::error!(%status, %path, body = %text, "request failed");
            "internal error; see the drover log".to_string()
        }
        _ if !text.is_empty() => text,
        _ => status.canonical_reason().unwrap_or("request refused").to_string(),
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    let body = ErrorBody {
        detail,
        status: status.as_u16(),
        errors: Vec::new(),
    };
    let json = axum::Json(body).into_response();
    parts.headers.extend(json.headers().clone());
    Response::from_parts(parts, json.into_body())
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError::BadRequest(format!("invalid JSON body: {}", r.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest(format!("invalid path: {}", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(format!("invalid query string: {}", r.body_text()))
    }
}

impl From<drover_store::StoreError> for ApiError {
    fn from(e: drover_store::StoreError) -> Self {
        match e {
            drover_store::StoreError::NotFound(m) => ApiError::NotFound(m),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<drover_scheduler::TriggerError> for ApiError {
    fn from(e: drover_scheduler::TriggerError) -> Self {
        use drover_scheduler::TriggerError as T;
        match e {
            T::UnknownDag(_) => ApiError::NotFound(e.to_string()),
            T::BadRunId(m) => ApiError::BadRequest(m),
            T::BadConf(ref problems) => ApiError::InvalidConf {
                errors: problems
                    .iter()
                    .map(|p| FieldError {
                        field: p.field.clone(),
                        message: p.message.clone(),
                    })
                    .collect(),
                detail: e.to_string(),
            },
            T::Exists { .. } => ApiError::Conflict(e.to_string()),
            T::Internal(m) => ApiError::Internal(m),
            T::Unavailable(m) => ApiError::Unavailable(m),
        }
    }
}

impl From<drover_scheduler::ControlError> for ApiError {
    fn from(e: drover_scheduler::ControlError) -> Self {
        use drover_scheduler::ControlError as C;
        match e {
            C::NotFound(m) => ApiError::NotFound(m),
            C::Conflict(m) => ApiError::Conflict(m),
            C::Invalid(m) => ApiError::BadRequest(m),
            C::Internal(m) => ApiError::Internal(m),
            C::Unavailable(m) => ApiError::Unavailable(m),
        }
    }
}
