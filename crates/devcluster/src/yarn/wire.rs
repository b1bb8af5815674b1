//! The ResourceManager's wire shapes: the submission context (as Jersey
//! reads JAXB-shaped JSON), the query parameters its endpoints take, the
//! `RemoteException` error, and the app and app-attempt DAOs.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::am_command::{AmLaunch, parse_am_command};
use super::state::{AppState, Attempt, ResourceManager, YarnApp};
use super::{MAX_MEMORY_MB, MAX_VCORES, RM_MAX_ATTEMPTS};

/// `YarnConfiguration.APPLICATION_MAX_TAG_LENGTH` and `…_MAX_TAGS`.
const MAX_TAG_LENGTH: usize = 100;
const MAX_TAGS: usize = 10;

/// The parts of `ApplicationSubmissionContextInfo` the stand-in uses.
#[derive(Debug, Clone)]
pub(super) struct Submission {
    pub(super) id: String,
    pub(super) number: u32,
    pub(super) name: String,
    pub(super) queue: String,
    pub(super) application_type: String,
    pub(super) priority: i64,
    pub(super) tags: Vec<String>,
    pub(super) max_attempts: u32,
    pub(super) memory_mb: u64,
    pub(super) vcores: u64,
    /// The AM to run, or why it cannot run (each attempt then fails with it).
    pub(super) launch: Result<AmLaunch, String>,
    /// The AM container's local resources (`am-container-spec.local-resources`).
    pub(super) local_resources: Vec<LocalResource>,
}

/// One entry of a container's local resources: the file the NodeManager
/// copies into the container's directory as `name` (or, for an archive,
/// unpacks into a directory `name`), if its size and modification time
/// still match.
#[derive(Debug, Clone)]
pub(super) struct LocalResource {
    pub(super) name: String,
    pub(super) resource: String,
    pub(super) size: i64,
    pub(super) timestamp: i64,
    /// `type` is `ARCHIVE` (`FILE` and `PATTERN` are copied as they are).
    pub(super) archive: bool,
}

/// JAXB/Jersey's view of a repeated element: one value, a list, or `{name: …}` around either.
fn list_of<'a>(v: Option<&'a Value>, element: &str) -> Vec<&'a Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Object(o)) if o.contains_key(element) => list_of(o.get(element), element),
        Some(other) => vec![other],
    }
}

pub(super) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn parse_submission(body: &Value) -> Result<Submission, RmError> {
    let field = |name: &str| body.get(name);
    let id = text(field("application-id"))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            RmError::bad_request("Application id is missing from the submission context")
        })?;
    let app_number = id
        .rsplit('_')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut tags = Vec::new();
    for t in list_of(field("application-tags"), "tag") {
        let tag = text(Some(t))
            .ok_or_else(|| RmError::bad_request("application tags must be strings"))?;
        let tag = tag.trim().to_lowercase();
        if tag.len() > MAX_TAG_LENGTH || !tag.is_ascii() {
            return Err(RmError::bad_request(format!(
                "Tag {tag} is too long, maximum allowed length of a tag is {MAX_TAG_LENGTH}, \
                 or it contains non-ASCII characters"
            )));
        }
        if !tag.is_empty() && !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(RmError::bad_request(format!(
            "Too many applicationTags, a maximum of only {MAX_TAGS} are allowed!"
        )));
    }
    let resource = field("resource");
    let memory_mb = number(resource.and_then(|r| r.get("memory")))
        .unwrap_or(1024)
        .max(0) as u64;
    let vcores = number(resource.and_then(|r| r.get("vCores")))
        .unwrap_or(1)
        .max(0) as u64;
    if memory_mb > MAX_MEMORY_MB || vcores > MAX_VCORES {
        return Err(RmError::bad_request(format!(
            "org.apache.hadoop.yarn.exceptions.InvalidResourceRequestException: Invalid resource \
             request! Cannot allocate containers as requested resource is greater than maximum \
             allowed allocation. Requested resource=<memory:{memory_mb}, vCores:{vcores}>, \
             maximum allowed allocation=<memory:{MAX_MEMORY_MB}, vCores:{MAX_VCORES}>"
        )));
    }
    // RMAppImpl: a value outside 1..=global max means the global max.
    let max_attempts = match number(field("max-app-attempts")) {
        Some(n) if n >= 1 && n <= i64::from(RM_MAX_ATTEMPTS) => n as u32,
        _ => RM_MAX_ATTEMPTS,
    };
    let spec = field("am-container-spec");
    let command = list_of(
        spec.and_then(|s| s.get("commands"))
            .and_then(|c| c.get("command")),
        "command",
    )
    .into_iter()
    .filter_map(|c| text(Some(c)))
    .collect::<Vec<_>>()
    .join(" ");
    let environment = list_of(spec.and_then(|s| s.get("environment")), "entry")
        .into_iter()
        .filter_map(|e| {
            Some((
                text(e.get("key"))?,
                text(e.get("value")).unwrap_or_default(),
            ))
        })
        .collect();
    let local_resources = list_of(spec.and_then(|s| s.get("local-resources")), "entry")
        .into_iter()
        .filter_map(|e| {
            let v = e.get("value")?;
            Some(LocalResource {
                name: text(e.get("key"))?,
                resource: text(v.get("resource"))?,
                size: number(v.get("size")).unwrap_or(0),
                timestamp: number(v.get("timestamp")).unwrap_or(0),
                archive: text(v.get("type")).as_deref() == Some("ARCHIVE"),
            })
        })
        .collect();
    let launch = if command.trim().is_empty() {
        Err("the submission context has no am-container-spec commands".to_owned())
    } else {
        parse_am_command(&command, environment)
    };
    Ok(Submission {
        id,
        number: app_number,
        name: text(field("application-name")).unwrap_or_else(|| "N/A".to_owned()),
        queue: text(field("queue")).unwrap_or_else(|| "default".to_owned()),
        application_type: text(field("application-type")).unwrap_or_else(|| "YARN".to_owned()),
        priority: number(field("priority")).unwrap_or(0),
        tags,
        max_attempts,
        memory_mb,
        vcores,
        launch,
        local_resources,
    })
}


/// The RM web services' one error: a `RemoteException` body.
#[derive(Debug)]
pub(super) struct RmError {
    status: StatusCode,
    exception: &'static str,
    class: &'static str,
    message: String,
}

impl RmError {
    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            exception: "BadRequestException",
            class: "org.apache.hadoop.yarn.webapp.BadRequestException",
            message: message.into(),
        }
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            exception: "NotFoundException",
            class: "org.apache.hadoop.yarn.webapp.NotFoundException",
            message: message.into(),
        }
    }

    pub(super) fn no_app(id: &str) -> Self {
        Self::not_found(format!("java.lang.Exception: app with id: {id} not found"))
    }
}

impl IntoResponse for RmError {
    fn into_response(self) -> Response {
        let body = json!({"RemoteException": {
            "exception": self.exception, "message": self.message, "javaClassName": self.class}});
        (self.status, axum::Json(body)).into_response()
    }
}


#[derive(Debug, serde::Deserialize)]
pub(super) struct UserQuery {
    #[serde(rename = "user.name")]
    pub(super) user: Option<String>,
    /// Hadoop's proxy-user impersonation (`doAs`, read case-insensitively
    /// by its authentication filter). The stand-in lets any user act for
    /// any other, as a cluster whose `hadoop.proxyuser.*` allow everyone.
    #[serde(rename = "doAs", alias = "doas", alias = "DOAS")]
    pub(super) do_as: Option<String>,
}


#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct AppsQuery {
    pub(super) application_tags: Option<String>,
    pub(super) states: Option<String>,
    pub(super) state: Option<String>,
    pub(super) queue: Option<String>,
    pub(super) application_types: Option<String>,
    pub(super) user: Option<String>,
}


#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct LogQuery {
    pub(super) size: Option<i64>,
}


impl ResourceManager {
    pub(super) fn app_json(&self, a: &YarnApp) -> Value {
        let now = Utc::now().timestamp_millis();
        let end = if a.finished_ms > 0 {
            a.finished_ms
        } else {
            now
        };
        let container = a.attempts.last().map(|at| at.container_id.as_str());
        let running = a.state == AppState::Running;
        json!({
            "id": a.id,
            "user": a.user,
            "name": a.name,
            "queue": a.queue,
            "state": a.state.as_str(),
            "finalStatus": a.final_status,
            "progress": if a.state.is_final() { 100.0 } else { 0.0 },
            "trackingUI": if a.state.is_final() { "History" } else if running { "ApplicationMaster" } else { "UNASSIGNED" },
            "trackingUrl": if a.state.is_final() {
                format!("{}/cluster/app/{}", self.base_url(), a.id)
            } else {
                format!("{}/proxy/{}/", self.base_url(), a.id)
            },
            "diagnostics": a.diagnostics,
            "clusterId": self.cluster_ts,
            "applicationType": a.application_type,
            "applicationTags": a.tags.join(","),
            "priority": a.priority,
            "startedTime": a.started_ms,
            "launchTime": a.launch_ms,
            "finishedTime": a.finished_ms,
            "elapsedTime": end - a.started_ms,
            "amContainerLogs": container.map(|c| format!("{}/node/containerlogs/{c}/{}", self.base_url(), a.user)),
            "amHostHttpAddress": container.map(|_| self.addr.to_string()),
            "masterNodeId": container.map(|_| self.node_id()),
            "allocatedMB": if running { a.memory_mb as i64 } else { -1 },
            "allocatedVCores": if running { a.vcores as i64 } else { -1 },
            "runningContainers": if running { 1 } else { -1 },
            "numAMContainerPreempted": 0,
            "logAggregationStatus": "DISABLED",
            "unmanagedApplication": false,
            "amNodeLabelExpression": "",
            "appNodeLabelExpression": "",
        })
    }

    pub(super) fn attempt_json(&self, a: &YarnApp, at: &Attempt) -> Value {
        json!({
            "id": at.number,
            "startTime": at.start_ms,
            "finishedTime": at.finished_ms,
            "containerId": at.container_id,
            "nodeHttpAddress": self.addr.to_string(),
            "nodeId": self.node_id(),
            "logsLink": format!("{}/node/containerlogs/{}/{}", self.base_url(), at.container_id, a.user),
            "blacklistedNodes": "",
            "nodesBlacklistedBySystem": "",
            "appAttemptId": format!("appattempt_{}_{:04}_{:06}", self.cluster_ts, a.number, at.number),
            "appAttemptState": at.state,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tags_are_lowercased_and_accepted_in_every_json_shape() {
        for tags in [
            json!({"tag": ["Drover-Key:ABC"]}),
            json!({"tag": "drover-key:abc"}),
            json!(["drover-key:abc"]),
        ] {
            let s = parse_submission(
                &json!({"application-id": "application_1_0001", "application-tags": tags}),
            )
            .unwrap();
            assert_eq!(s.tags, ["drover-key:abc"]);
        }
        let long = "x".repeat(101);
        assert!(
            parse_submission(&json!({"application-id": "a", "application-tags": [long]})).is_err()
        );
    }
}

