//! What the API server answers besides pods themselves: `Status` errors
//! with the apiserver's reasons and codes, and the server-side `Table`
//! kubectl asks for.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::http::json_response;

/// A Kubernetes `Status` error.
#[derive(Debug)]
pub(super) struct ApiError {
    code: StatusCode,
    reason: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    pub(super) fn new(code: StatusCode, reason: &'static str, message: String, name: Option<&str>) -> Self {
        let details = name.map(|n| json!({"name": n, "kind": "pods"}));
        Self {
            code,
            reason,
            message,
            details,
        }
    }
    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message.into(), None)
    }
    pub(super) fn not_found(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("pods {name:?} not found"),
            Some(name),
        )
    }
    pub(super) fn invalid(name: &str, field: &str, what: &str) -> Self {
        Self {
            code: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "Invalid",
            message: format!("Pod {name:?} is invalid: {field}: {what}"),
            details: Some(json!({"name": name, "kind": "Pod", "causes": [
                {"reason": "FieldValueRequired", "message": what, "field": field}
            ]})),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some(d) = self.details {
            body["details"] = d;
        }
        json_response(self.code, &body)
    }
}


pub(super) fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

fn age(created: Option<&str>) -> String {
    let Some(t) = created.and_then(|c| DateTime::parse_from_rfc3339(c).ok()) else {
        return "<unknown>".into();
    };
    let s = (Utc::now() - t.with_timezone(&Utc)).num_seconds().max(0);
    match s {
        0..120 => format!("{s}s"),
        120..3600 => format!("{}m", s / 60),
        3600..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

pub(super) fn table(rv: u64, pods: &[Value]) -> Value {
    let column = |name: &str, kind: &str, priority: u32, description: &str| json!({"name": name, "type": kind, "format": if name == "Name" { "name" } else { "" }, "description": description, "priority": priority});
    let rows: Vec<Value> = pods
        .iter()
        .map(|p| {
            let statuses = p["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
            let total = p["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = statuses.iter().filter(|c| c["ready"] == true).count();
            let restarts: u64 = statuses.iter().filter_map(|c| c["restartCount"].as_u64()).sum();
            let reason = statuses.iter().find_map(|c| {
                c.pointer("/state/waiting/reason").or_else(|| c.pointer("/state/terminated/reason")).and_then(Value::as_str)
            });
            let phase = p["status"]["phase"].as_str().unwrap_or("Unknown");
            let status = if p.pointer("/metadata/deletionTimestamp").is_some() {
                "Terminating"
            } else {
                match (phase, reason) {
                    ("Running", _) if ready == total => "Running",
                    (_, Some(r)) => r,
                    (p, None) => p,
                }
            };
            let mut meta = Map::new();
            for k in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels", "annotations", "deletionTimestamp"] {
                if let Some(v) = p["metadata"].get(k) {
                    meta.insert(k.into(), v.clone());
                }
            }
            json!({
                "cells": [
                    p["metadata"]["name"], format!("{ready}/{total}"), status, restarts,
                    age(p["metadata"]["creationTimestamp"].as_str()),
                    p["status"]["podIP"].as_str().unwrap_or("<none>"),
                    p["spec"]["nodeName"].as_str().unwrap_or("<none>"), "<none>", "<none>",
                ],
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta},
            })
        })
        .collect();
    json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": [
            column("Name", "string", 0, "Name must be unique within a namespace."),
            column("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
            column("Status", "string", 0, "The aggregate status of the containers in this pod."),
            column("Restarts", "string", 0, "The number of times the containers in this pod have been restarted."),
            column("Age", "string", 0, "CreationTimestamp of the pod."),
            column("IP", "string", 1, "IP address allocated to the pod."),
            column("Node", "string", 1, "Name of the node the pod is assigned to."),
            column("Nominated Node", "string", 1, "Name of the node where the pod is nominated."),
            column("Readiness Gates", "string", 1, "The readiness gates of the pod."),
        ],
        "rows": rows,
    })
}

