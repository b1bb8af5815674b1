//! The standalone master's wire shapes, as Spark's Jackson mapper writes and
//! reads them: the REST protocol's one response struct and its
//! `ErrorResponse`, CreateSubmissionRequest's fields (with Jackson's
//! coercions and Spark's validation messages), and the master's JSON view.

use std::collections::BTreeMap;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::jackson;
use super::state::DriverDesc;
use super::{PROTOCOL_VERSION, SERVER_SPARK_VERSION};
use crate::process;

/// Every REST reply Spark sends, as one struct: Jackson writes the fields of a
/// `SubmitRestProtocolResponse` alphabetically and omits unset ones, which is what
/// this field order plus `skip_serializing_if` reproduce.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RestResponse {
    pub(super) action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) driver_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) highest_protocol_version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) message: Option<String>,
    pub(super) server_spark_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) submission_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) success: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) unknown_fields: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) worker_host_port: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) worker_id: Option<String>,
}

impl RestResponse {
    pub(super) fn new(action: &'static str) -> Self {
        Self {
            action,
            driver_state: None,
            highest_protocol_version: None,
            message: None,
            server_spark_version: SERVER_SPARK_VERSION,
            submission_id: None,
            success: None,
            unknown_fields: None,
            worker_host_port: None,
            worker_id: None,
        }
    }

    fn into_response_with(self, status: StatusCode) -> Response {
        (
            status,
            [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
            jackson::to_string(&self),
        )
            .into_response()
    }
}

impl IntoResponse for RestResponse {
    fn into_response(self) -> Response {
        self.into_response_with(StatusCode::OK)
    }
}

/// The REST layer's one error: an `ErrorResponse` body with a status a client can act on.
#[derive(Debug)]
pub(super) struct RestError {
    pub(super) status: StatusCode,
    pub(super) message: String,
}

impl RestError {
    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// `Malformed request: <exception>`, as SubmitRequestServlet words a bad create.
    pub(super) fn malformed(exception: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("Malformed request: {exception}"))
    }

    /// A failed `validate()`: Spark's first line, plus the cause it would hide.
    pub(super) fn invalid(cause: impl std::fmt::Display) -> Self {
        Self::malformed(format!(
            "org.apache.spark.deploy.rest.SubmitRestProtocolException: \
             Validation of message CreateSubmissionRequest failed!\nCaused by: {cause}"
        ))
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let mut body = RestResponse::new("ErrorResponse");
        body.message = Some(self.message);
        body.highest_protocol_version = Some(PROTOCOL_VERSION);
        body.into_response_with(self.status)
    }
}

pub(super) const CREATE_FIELDS: [&str; 7] = [
    "action",
    "clientSparkVersion",
    "appResource",
    "mainClass",
    "appArgs",
    "sparkProperties",
    "environmentVariables",
];


/// CreateSubmissionRequest.validate plus the master's DriverDescription defaults.
pub(super) fn parse_create(fields: &serde_json::Map<String, Value>) -> Result<DriverDesc, RestError> {
    let missing = |name: &str| {
        RestError::invalid(format!(
            "org.apache.spark.deploy.rest.SubmitRestMissingFieldException: \
             '{name}' is missing in message CreateSubmissionRequest."
        ))
    };
    json_string(fields, "clientSparkVersion")?.ok_or_else(|| missing("clientSparkVersion"))?;
    let app_resource = json_string(fields, "appResource")?.ok_or_else(|| missing("appResource"))?;
    let main_class = json_string(fields, "mainClass")?.filter(|c| !c.is_empty());
    let app_args = json_string_list(fields, "appArgs")?.unwrap_or_default();
    let spark_properties = json_string_map(fields, "sparkProperties")?.ok_or_else(|| {
        RestError::invalid("java.lang.AssertionError: assertion failed: No Spark properties set!")
    })?;
    let environment = json_string_map(fields, "environmentVariables")?.unwrap_or_default();
    if !spark_properties.contains_key("spark.app.name") {
        return Err(missing("spark.app.name"));
    }
    let property =
        |key: &str, kind: &str, ok: &dyn Fn(&str) -> bool| match spark_properties.get(key) {
            Some(value) if !ok(value) => Err(RestError::invalid(format!(
                "org.apache.spark.deploy.rest.SubmitRestProtocolException: \
                 Property '{key}' expected {kind} value: actual was '{value}'."
            ))),
            _ => Ok(spark_properties.get(key)),
        };
    let supervise = property("spark.driver.supervise", "boolean", &|v| {
        v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")
    })?
    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let cores = property("spark.driver.cores", "numeric", &|v| {
        v.trim().parse::<u32>().is_ok()
    })?
    .map_or(Ok(1), |v| v.trim().parse::<u32>())
    .unwrap_or(1);
    let memory_mb = property("spark.driver.memory", "memory", &|v| {
        process::parse_memory_mb(v).is_some_and(|mb| u32::try_from(mb).is_ok())
    })?
    .and_then(|v| process::parse_memory_mb(v))
    .and_then(|mb| u32::try_from(mb).ok())
    .unwrap_or(1024);
    let is_jar = app_resource
        .rsplit('.')
        .next()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("jar"));
    if is_jar && main_class.is_none() {
        // buildDriverDescription's check; drover only needs it for jars.
        return Err(RestError::malformed(
            "org.apache.spark.deploy.rest.SubmitRestMissingFieldException: Main class is missing.",
        ));
    }
    Ok(DriverDesc {
        app_resource,
        main_class,
        app_args,
        spark_properties,
        environment,
        cores,
        memory_mb,
        supervise,
    })
}

fn mismatched(name: &str, expected: &str) -> RestError {
    RestError::malformed(format!(
        "com.fasterxml.jackson.databind.exc.MismatchedInputException: \
         field '{name}' must be {expected}"
    ))
}

/// A scalar as Jackson would coerce it into a `String` field; `null` is absent.
fn scalar_string(value: &Value) -> Option<Option<String>> {
    match value {
        Value::Null => Some(None),
        Value::String(s) => Some(Some(s.clone())),
        Value::Bool(b) => Some(Some(b.to_string())),
        Value::Number(n) => Some(Some(n.to_string())),
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn json_string(
    fields: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<String>, RestError> {
    match fields.get(name) {
        None => Ok(None),
        Some(value) => scalar_string(value).ok_or_else(|| mismatched(name, "a string")),
    }
}

fn json_string_list(
    fields: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<String>>, RestError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match scalar_string(item) {
                Some(Some(s)) => Ok(s),
                _ => Err(mismatched(name, "an array of strings")),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(mismatched(name, "an array of strings")),
    }
}

fn json_string_map(
    fields: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, RestError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(entries)) => {
            let mut map = BTreeMap::new();
            for (key, value) in entries {
                match scalar_string(value) {
                    Some(Some(s)) => {
                        map.insert(key.clone(), s);
                    }
                    Some(None) => {}
                    None => return Err(mismatched(name, "an object of string values")),
                }
            }
            Ok(Some(map))
        }
        Some(_) => Err(mismatched(name, "an object of string values")),
    }
}

#[derive(Serialize)]
pub(super) struct MasterJson {
    pub(super) url: String,
    pub(super) workers: Vec<WorkerJson>,
    pub(super) aliveworkers: u32,
    pub(super) cores: u32,
    pub(super) coresused: u32,
    pub(super) memory: u32,
    pub(super) memoryused: u32,
    pub(super) resources: Vec<BTreeMap<String, String>>,
    pub(super) resourcesused: Vec<BTreeMap<String, String>>,
    pub(super) activeapps: Vec<Value>,
    pub(super) completedapps: Vec<Value>,
    pub(super) activedrivers: Vec<DriverJson>,
    pub(super) completeddrivers: Vec<DriverJson>,
    pub(super) status: &'static str,
}

#[derive(Serialize)]
pub(super) struct WorkerJson {
    pub(super) id: String,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) webuiaddress: String,
    pub(super) cores: u32,
    pub(super) coresused: u32,
    pub(super) coresfree: u32,
    pub(super) memory: u32,
    pub(super) memoryused: u32,
    pub(super) memoryfree: u32,
    pub(super) resources: BTreeMap<String, String>,
    pub(super) resourcesused: BTreeMap<String, String>,
    pub(super) resourcesfree: BTreeMap<String, String>,
    pub(super) state: &'static str,
    pub(super) lastheartbeat: i64,
}

#[derive(Serialize)]
pub(super) struct DriverJson {
    pub(super) id: String,
    pub(super) starttime: String,
    pub(super) state: String,
    pub(super) cores: u32,
    pub(super) memory: u32,
    pub(super) resources: BTreeMap<String, String>,
    pub(super) submitdate: String,
    pub(super) worker: String,
    pub(super) mainclass: String,
}

