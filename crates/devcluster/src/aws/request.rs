//! Reading restJson1 requests the way the EMR services do: a body that must
//! be a JSON object, typed fields with AWS's validation messages, and
//! timestamps as epoch seconds (or RFC 3339 in query parameters).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::AwsError;

/// restJson1 timestamps: epoch seconds, fractional.
pub fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

pub fn time_param(v: Option<&str>, name: &str) -> Result<Option<DateTime<Utc>>, AwsError> {
    let Some(v) = v else { return Ok(None) };
    if let Ok(secs) = v.parse::<f64>() {
        return Ok(DateTime::from_timestamp_millis((secs * 1000.0) as i64));
    }
    DateTime::parse_from_rfc3339(v)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| AwsError::validation(format!("{name} is not a valid timestamp.")))
}

pub fn parse_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, AwsError> {
    if body.is_empty() {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(AwsError::validation(
            "The request body is not a JSON object.",
        )),
    }
}

pub fn string_field(
    req: &serde_json::Map<String, Value>,
    name: &str,
    required: bool,
) -> Result<Option<String>, AwsError> {
    match req.get(name) {
        None | Some(Value::Null) if required => {
            Err(AwsError::validation(format!("{name} is required.")))
        }
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AwsError::validation(format!("{name} must be a string."))),
    }
}

pub fn string_map(v: Option<&Value>, name: &str) -> Result<BTreeMap<String, String>, AwsError> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
            .collect::<Option<_>>()
            .ok_or_else(|| AwsError::validation(format!("{name} must map strings to strings."))),
        Some(_) => Err(AwsError::validation(format!(
            "{name} must map strings to strings."
        ))),
    }
}
