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
        }
    }
}

impl From<drover_scheduler::ControlError> for ApiError {
    fn from(e: drover_scheduler::ControlError) -> Self {
        use drover_scheduler::ControlError as C;
        match e {
            C::NotFound(m) => ApiError::NotFound(m),
            C::Conflict(m) => ApiError::Conflict(m),
            C::Internal(m) => ApiError::Internal(m),
        }
    }
}
