//! The error every AWS-shaped stand-in answers with: AWS's restJson1 shape
//! (status, `x-amzn-ErrorType`, `{"message"}`), and the one way a handler
//! turns its result into a response.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::http::json_response;

/// An AWS restJson1 error: status, `x-amzn-ErrorType`, `{"message"}`.
#[derive(Debug)]
pub struct AwsError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

impl AwsError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    pub fn forbidden(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, kind, message)
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        (
            self.status,
            [
                ("x-amzn-errortype", self.kind),
                (header::CONTENT_TYPE.as_str(), "application/json"),
            ],
            json!({"message": self.message}).to_string(),
        )
            .into_response()
    }
}

/// A handler's answer: the JSON value with 200, or the error.
pub fn reply(result: Result<Value, AwsError>) -> Response {
    match result {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}
