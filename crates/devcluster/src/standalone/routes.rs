//! The standalone master's HTTP surface: the REST submission server (with
//! Spark's ErrorServlet answers for every other path), the master's JSON
//! view, and the worker's log endpoints.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::PROTOCOL_VERSION;
use super::jackson;
use super::state::Master;
use super::wire::{CREATE_FIELDS, RestError, RestResponse, parse_create};
use crate::http::escape_html;

/// LogPage's `defaultBytes`.
const DEFAULT_LOG_BYTES: u64 = 100 * 1024;

/// The HTTP surface of the master, its REST server and its worker's log page.
pub(crate) fn router(master: Arc<Master>) -> Router {
    Router::new()
        .route("/v1/submissions/create", post(create))
        .route("/v1/submissions/status/{id}", get(status))
        .route("/v1/submissions/kill/{id}", post(kill))
        .route("/v1/submissions/killall", post(kill_all))
        .route("/v1/submissions/clear", post(clear))
        .route("/v1/submissions/readyz", get(readyz))
        .route("/json", get(master_json))
        .route("/json/", get(master_json))
        .route("/log", get(worker_log))
        .route("/log/", get(worker_log))
        .route("/logPage", get(worker_log_page))
        .route("/logPage/", get(worker_log_page))
        .fallback(rest_fallback)
        .with_state(master)
}

async fn create(State(master): State<Arc<Master>>, body: Bytes) -> Result<RestResponse, RestError> {
    let json: Value = serde_json::from_slice(&body).map_err(|err| {
        RestError::malformed(format!(
            "com.fasterxml.jackson.core.JsonParseException: {err}"
        ))
    })?;
    let Value::Object(fields) = &json else {
        return Err(RestError::malformed(
            "org.apache.spark.deploy.rest.SubmitRestProtocolException: \
             the request body must be a JSON object",
        ));
    };
    let action = fields
        .get("action")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            RestError::malformed(format!(
                "org.apache.spark.deploy.rest.SubmitRestMissingFieldException: \
             The action field is missing in message: {json}"
            ))
        })?;
    if action != "CreateSubmissionRequest" {
        return Err(RestError::bad_request(format!(
            "Received message of unexpected type {action}."
        )));
    }
    let desc = parse_create(fields)?;
    let unknown: Vec<String> = fields
        .keys()
        .filter(|k| !CREATE_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    let id = master.register(desc);
    let mut reply = RestResponse::new("CreateSubmissionResponse");
    reply.message = Some(format!("Driver successfully submitted as {id}"));
    reply.submission_id = Some(id);
    reply.success = Some(true);
    reply.unknown_fields = (!unknown.is_empty()).then_some(unknown);
    Ok(reply)
}

async fn status(State(master): State<Arc<Master>>, UrlPath(id): UrlPath<String>) -> RestResponse {
    master.status(&id)
}

async fn kill(State(master): State<Arc<Master>>, UrlPath(id): UrlPath<String>) -> RestResponse {
    let (success, message) = master.kill(&id);
    let mut reply = RestResponse::new("KillSubmissionResponse");
    reply.message = Some(message);
    reply.submission_id = Some(id);
    reply.success = Some(success);
    reply
}

async fn kill_all(State(master): State<Arc<Master>>) -> RestResponse {
    master.kill_all();
    let mut reply = RestResponse::new("KillAllSubmissionResponse");
    reply.message = Some("Kill request for all drivers submitted".to_owned());
    reply.success = Some(true);
    reply
}

async fn clear(State(master): State<Arc<Master>>) -> RestResponse {
    master.lock().completed.clear();
    let mut reply = RestResponse::new("ClearResponse");
    reply.message = Some(String::new());
    reply.success = Some(true);
    reply
}

async fn readyz() -> RestResponse {
    let mut reply = RestResponse::new("ReadyzResponse");
    reply.message = Some(String::new());
    reply.success = Some(true);
    reply
}

/// RestSubmissionServer's ErrorServlet, plus the servlets' "Submission ID is missing".
async fn rest_fallback(uri: Uri) -> RestError {
    let path = uri.path();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut version_mismatch = false;
    let message = match parts.as_slice() {
        [
            PROTOCOL_VERSION,
            "submissions",
            action @ ("status" | "kill"),
        ] => {
            return RestError::bad_request(format!(
                "Submission ID is missing in {action} request."
            ));
        }
        [] => "Missing protocol version.".to_owned(),
        [PROTOCOL_VERSION] => "Missing the /submissions prefix.".to_owned(),
        [PROTOCOL_VERSION, "submissions", ..] => "Missing an action: please specify one of \
             /create, /kill, /killall, /clear, /status, or /readyz."
            .to_owned(),
        [unknown, ..] => {
            version_mismatch = true;
            format!("Unknown protocol version '{unknown}'.")
        }
    };
    RestError {
        status: if version_mismatch {
            // Spark's SC_UNKNOWN_PROTOCOL_VERSION.
            StatusCode::from_u16(468).unwrap_or(StatusCode::BAD_REQUEST)
        } else {
            StatusCode::BAD_REQUEST
        },
        message: format!(
            "{message} Please submit requests through \
             http://[host]:[port]/{PROTOCOL_VERSION}/submissions/..."
        ),
    }
}

async fn master_json(State(master): State<Arc<Master>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/json;charset=utf-8")],
        jackson::to_string(&master.master_json()),
    )
        .into_response()
}

async fn worker_log(
    State(master): State<Arc<Master>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let text = |status: StatusCode, body: String| {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain;charset=utf-8")],
            body,
        )
            .into_response()
    };
    let param = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let number = |name: &str| {
        param(name).map(|v| {
            v.parse::<i64>()
                .map_err(|_| (name.to_owned(), v.to_owned()))
        })
    };
    let offset = match number("offset").transpose() {
        Ok(offset) => offset,
        Err((name, value)) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("Invalid {name}: '{value}'"),
            );
        }
    };
    let byte_length = match number("byteLength").transpose() {
        Ok(length) => length.unwrap_or(DEFAULT_LOG_BYTES as i64),
        Err((name, value)) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("Invalid {name}: '{value}'"),
            );
        }
    };
    // Spark formats a missing logType as "null" and then rejects it.
    let log_type = params.get("logType").map_or("null", String::as_str);
    let relative = match (param("appId"), param("executorId"), param("driverId")) {
        (Some(app), Some(executor), None) => format!("{app}/{executor}"),
        (None, None, Some(driver)) => driver.to_owned(),
        _ => {
            return text(
                StatusCode::BAD_REQUEST,
                "Request must specify either application or driver identifiers".to_owned(),
            );
        }
    };
    let log_dir = format!("{}/{relative}/", master.cfg.work_dir.display());
    let (body, start, end, length) = if relative.split('/').any(|part| part == ".." || part == ".")
    {
        // LogPage refuses directories outside the worker's work dir.
        (format!("Error: invalid log directory {log_dir}"), 0, 0, 0)
    } else {
        master
            .read_log(&log_dir, log_type, offset, byte_length)
            .await
    };
    text(
        StatusCode::OK,
        format!("==== Bytes {start}-{end} of {length} of {log_dir}{log_type} ====\n{body}"),
    )
}

/// The worker's LogPage for a driver (`/logPage/?driverId=…&logType=…`), the
/// page a person opens from the master's UI: the end of the log in HTML.
async fn worker_log_page(
    State(master): State<Arc<Master>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let (Some(driver), Some(log_type)) = (params.get("driverId"), params.get("logType")) else {
        return (StatusCode::BAD_REQUEST, "Request must specify a driverId and a logType").into_response();
    };
    if driver.is_empty() || driver.split('/').any(|part| part == ".." || part == ".") {
        return (StatusCode::BAD_REQUEST, "invalid driverId").into_response();
    }
    let log_dir = format!("{}/{driver}/", master.cfg.work_dir.display());
    let (body, start, end, length) = master.read_log(&log_dir, log_type, None, DEFAULT_LOG_BYTES as i64).await;
    axum::response::Html(format!(
        "<!doctype html><title>{log_type} log page for {driver}</title><h1>{log_type} log page for {driver}</h1>\
         <p>Showing {start}-{end} of {length} bytes</p><pre>{}</pre>",
        escape_html(&body),
        log_type = escape_html(log_type),
        driver = escape_html(driver),
    ))
    .into_response()
}

