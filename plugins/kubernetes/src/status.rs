//! Reading the API server's answers: a pod's phase as drover's driver phase,
//! `Status` error objects as [`PluginError`]s, and log byte ranges. No I/O.

use std::collections::HashMap;

use drover_plugin_sdk::http::Response;
use drover_plugin_sdk::{DriverPhase, DriverStatus, LogChunk, PluginError, excerpt};
use serde_json::Value;

use crate::pod::{self, DRIVER_CONTAINER, ROLE_LABEL, SUBMISSION_KEY_LABEL};

/// How long after create a 404 is taken for the API server not having caught
/// up (a stale cache or replica) rather than for a deleted pod.
pub const NOT_FOUND_GRACE_MS: u64 = 10_000;

/// The driver's status from a Pod object, as the Spark operator maps it:
/// Pending → queued; Running → running unless the driver container already
/// terminated; Succeeded → succeeded; Failed → failed (succeeded when the
/// driver exited 0); anything else unknown. A pod being deleted whose
/// containers stopped was killed.
pub fn driver_status(pod: &Value) -> DriverStatus {
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    let deleting = pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    let driver = driver_container_status(pod);
    let terminated = driver.and_then(|c| c.pointer("/state/terminated"));
    let waiting = driver.and_then(|c| c.pointer("/state/waiting"));
    let exit_code = terminated.and_then(|t| t["exitCode"].as_i64());
    let reason = terminated
        .or(waiting)
        .and_then(|s| s["reason"].as_str())
        .or_else(|| pod.pointer("/status/reason").and_then(Value::as_str));

    let mut drover_phase = match phase {
        "Pending" => DriverPhase::Queued,
        "Running" => match exit_code {
            Some(0) => DriverPhase::Succeeded,
            Some(_) => DriverPhase::Failed,
            None => DriverPhase::Running,
        },
        "Succeeded" => DriverPhase::Succeeded,
        "Failed" if exit_code == Some(0) => DriverPhase::Succeeded,
        "Failed" => DriverPhase::Failed,
        _ => DriverPhase::Unknown,
    };
    if deleting && drover_phase == DriverPhase::Failed {
        // Deleted before it could finish: the pod was killed, not the app failing.
        drover_phase = DriverPhase::Killed;
    }
    let mut raw_state = phase.to_string();
    if let Some(r) = reason {
        raw_state = format!("{raw_state}/{r}");
    }
    if deleting {
        raw_state.push_str(" (terminating)");
    }
    let mut message = Vec::new();
    if let Some(code) = exit_code {
        message.push(format!("driver container exited with code {code}"));
    }
    for m in [
        terminated.and_then(|t| t["message"].as_str()),
        waiting.and_then(|w| w["message"].as_str()),
        pod.pointer("/status/message").and_then(Value::as_str),
    ]
    .into_iter()
    .flatten()
    {
        message.push(m.trim().to_string());
    }
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let location = match pod.pointer("/spec/nodeName").and_then(Value::as_str) {
        Some(node) => format!("pod {ns}/{name} on node {node}"),
        None => format!("pod {ns}/{name}"),
    };
    DriverStatus {
        phase: drover_phase,
        raw_state,
        attempt: None,
        location: Some(location),
        message: (!message.is_empty()).then(|| message.join("; ")),
        tracking_url: None,
    }
}

/// The driver container's entry in `status.containerStatuses`: the one named
/// `spark-kubernetes-driver`, or the first.
fn driver_container_status(pod: &Value) -> Option<&Value> {
    let all = pod.pointer("/status/containerStatuses")?.as_array()?;
    all.iter()
        .find(|c| c["name"] == DRIVER_CONTAINER)
        .or_else(|| all.first())
}

/// What a 404 on the driver pod means, `now_ms - created_ms` after create:
/// within the grace period it cannot be told (the pod may not be visible yet,
/// or a kill may already have deleted it), so the phase is `unknown`, which
/// is not terminal; later it was deleted (by a kill, or by someone else),
/// which ends the driver.
pub fn not_found_status(id: &str, created_ms: Option<u64>, now_ms: u64) -> DriverStatus {
    let recent = created_ms.is_some_and(|c| now_ms.saturating_sub(c) < NOT_FOUND_GRACE_MS);
    if recent {
        DriverStatus {
            phase: DriverPhase::Unknown,
            raw_state: "NotFound".into(),
            attempt: None,
            location: None,
            message: Some(format!(
                "pod {id} is not found: it was just created and is not visible yet, or it was already deleted"
            )),
            tracking_url: None,
        }
    } else {
        DriverStatus {
            phase: DriverPhase::Killed,
            raw_state: "NotFound".into(),
            attempt: None,
            location: None,
            message: Some(format!("pod {id} no longer exists: it was deleted")),
            tracking_url: None,
        }
    }
}

/// The label selector of every drover driver pod: Spark's driver role and
/// drover's submission-key label (an "exists" requirement).
pub fn drivers_selector() -> String {
    format!("{ROLE_LABEL}=driver,{SUBMISSION_KEY_LABEL}")
}

/// The wanted pods' statuses by pod name, and the next page's token.
pub type ListPage = (Vec<(String, DriverStatus)>, Option<String>);

/// One page of a pod list (`{"items": [...], "metadata": {"continue": …}}`):
/// the status of each pod whose name is in `wanted`, mapped by
/// [`driver_status`], and the token of the next page, if any.
pub fn list_page(
    list: &Value,
    wanted: &dyn Fn(&str) -> bool,
    url: &str,
) -> Result<ListPage, PluginError> {
    let items = list["items"]
        .as_array()
        .ok_or_else(|| PluginError::Protocol(format!("{url} answered no items list")))?;
    let found = items
        .iter()
        .filter_map(|p| {
            let name = p.pointer("/metadata/name").and_then(Value::as_str)?;
            wanted(name).then(|| (name.to_string(), driver_status(p)))
        })
        .collect();
    let next = list
        .pointer("/metadata/continue")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    Ok((found, next))
}

/// One entry per id from the listed driver pods of namespace `ns` (by name).
/// An id of `ns` the list does not have is what `status` makes of a 404
/// ([`not_found_status`]: just created, or deleted) when the list is
/// `complete`; `None` otherwise, and for ids of another namespace or that do
/// not parse: the caller asks `status` for those one by one.
pub fn listed_statuses(
    listed: &HashMap<String, DriverStatus>,
    ids: &[String],
    ns: &str,
    complete: bool,
    now_ms: u64,
) -> Vec<Option<DriverStatus>> {
    ids.iter()
        .map(|id| {
            let (id_ns, name) = pod::parse_id(id, ns).ok()?;
            if id_ns != ns {
                return None;
            }
            match listed.get(name) {
                Some(status) => Some(status.clone()),
                None if complete => Some(not_found_status(
                    &format!("{ns}/{name}"),
                    pod::created_ms(name),
                    now_ms,
                )),
                None => None,
            }
        })
        .collect()
}

/// The error for a reply that is not 2xx: the `Status` object's reason and
/// message when there is one. A refused token is a settings problem.
pub fn api_error(reply: &Response, url: &str) -> PluginError {
    let status: Option<Value> = serde_json::from_slice(&reply.body).ok();
    let status = status.filter(|s| s["kind"] == "Status");
    let Some(s) = status else {
        return reply.unparsed_error(url, "not a Kubernetes Status object");
    };
    let reason = s["reason"].as_str().unwrap_or_default();
    let message = s["message"].as_str().map_or_else(
        || excerpt(&String::from_utf8_lossy(&reply.body), 200),
        str::to_string,
    );
    let text = format!("{url}: HTTP {} {reason}: {message}", reply.status);
    match reply.status {
        401 => PluginError::Invalid(format!("{text} (check the backend's token setting)")),
        403 => PluginError::Invalid(format!(
            "{text} (the token's service account needs RBAC rights on pods)"
        )),
        404 => PluginError::NotFound(text),
        409 => PluginError::Rejected(text),
        400 | 422 => PluginError::Invalid(text),
        429 | 500..=599 => PluginError::Unavailable(text),
        _ => PluginError::Rejected(text),
    }
}

/// The `limitBytes` to ask for to read `max` bytes from `offset`: the log
/// endpoint counts from the start and has no offset, so drover asks for
/// everything up to `offset + max` and keeps the tail.
pub fn log_limit(offset: u64, max: u32) -> u64 {
    offset.saturating_add(u64::from(max.max(1)))
}

/// The chunk of a log body read with [`log_limit`].
pub fn log_chunk(body: &[u8], offset: u64) -> LogChunk {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(body.len());
    let data = body[start..].to_vec();
    LogChunk {
        next_offset: offset + data.len() as u64,
        data,
        total: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(phase: &str, state: Value) -> Value {
        json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"nodeName": "node-1"},
            "status": {"phase": phase, "containerStatuses": [
                {"name": "sidecar", "state": {"running": {}}},
                {"name": DRIVER_CONTAINER, "state": state},
            ]},
        })
    }

    #[test]
    fn phases_map_like_the_spark_operator() {
        let cases = [
            (
                "Pending",
                json!({"waiting": {"reason": "ContainerCreating"}}),
                DriverPhase::Queued,
                "Pending/ContainerCreating",
            ),
            (
                "Running",
                json!({"running": {}}),
                DriverPhase::Running,
                "Running",
            ),
            (
                "Running",
                json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
                DriverPhase::Succeeded,
                "Running/Completed",
            ),
            (
                "Running",
                json!({"terminated": {"exitCode": 1, "reason": "Error"}}),
                DriverPhase::Failed,
                "Running/Error",
            ),
            (
                "Succeeded",
                json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
                DriverPhase::Succeeded,
                "Succeeded/Completed",
            ),
            (
                "Failed",
                json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
                DriverPhase::Succeeded,
                "Failed/Completed",
            ),
            (
                "Failed",
                json!({"terminated": {"exitCode": 3, "reason": "Error"}}),
                DriverPhase::Failed,
                "Failed/Error",
            ),
            ("Unknown", json!({}), DriverPhase::Unknown, "Unknown"),
        ];
        for (phase, state, want, raw) in cases {
            let st = driver_status(&pod(phase, state));
            assert_eq!((st.phase, st.raw_state.as_str()), (want, raw), "{phase}");
            assert_eq!(st.location.as_deref(), Some("pod ns/p on node node-1"));
        }
        let st = driver_status(&pod(
            "Failed",
            json!({"terminated": {"exitCode": 3, "message": "boom"}}),
        ));
        assert_eq!(
            st.message.as_deref(),
            Some("driver container exited with code 3; boom")
        );
    }

    #[test]
    fn a_deleted_pod_that_stopped_was_killed_not_failed() {
        let mut p = pod(
            "Failed",
            json!({"terminated": {"exitCode": 143, "reason": "Error"}}),
        );
        p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let st = driver_status(&p);
        assert_eq!(st.phase, DriverPhase::Killed);
        assert_eq!(st.raw_state, "Failed/Error (terminating)");
        let mut p = pod("Running", json!({"running": {}}));
        p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(
            driver_status(&p).phase,
            DriverPhase::Running,
            "still stopping"
        );
    }

    #[test]
    fn a_404_right_after_create_is_a_race_and_later_a_deletion() {
        let st = not_found_status("ns/p", Some(1_000), 1_000 + NOT_FOUND_GRACE_MS - 1);
        assert_eq!(st.phase, DriverPhase::Unknown);
        let st = not_found_status("ns/p", Some(1_000), 1_000 + NOT_FOUND_GRACE_MS);
        assert_eq!(st.phase, DriverPhase::Killed);
        assert!(st.message.unwrap().contains("deleted"));
        assert_eq!(not_found_status("ns/p", None, 5).phase, DriverPhase::Killed);
    }

    fn listed_pod(name: &str, phase: &str, state: Value) -> Value {
        let mut p = pod(phase, state);
        p["metadata"]["name"] = json!(name);
        p
    }

    #[test]
    fn a_list_page_maps_the_wanted_pods_and_gives_the_next_token() {
        let list = json!({"kind": "PodList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "9", "continue": "tok"},
        "items": [
            listed_pod("a-driver", "Running", json!({"running": {}})),
            listed_pod("b-driver", "Failed", json!({"terminated": {"exitCode": 0}})),
            listed_pod("other-driver", "Running", json!({"running": {}})),
        ]});
        let wanted = |n: &str| n != "other-driver";
        let (found, next) = list_page(&list, &wanted, "u").unwrap();
        assert_eq!(next.as_deref(), Some("tok"));
        let found: HashMap<_, _> = found.into_iter().collect();
        assert_eq!(found.len(), 2);
        assert_eq!(found["a-driver"], driver_status(&list["items"][0]));
        assert_eq!(
            found["b-driver"].phase,
            DriverPhase::Succeeded,
            "exit code 0"
        );
        let last = json!({"metadata": {"continue": ""}, "items": []});
        assert_eq!(list_page(&last, &wanted, "u").unwrap().1, None);
        assert!(matches!(
            list_page(&json!({}), &wanted, "u"),
            Err(PluginError::Protocol(_))
        ));
    }

    #[test]
    fn unlisted_ids_follow_the_404_rule_and_other_namespaces_are_asked() {
        // A drover pod name carries its creation time in hex milliseconds.
        let created = 0x019b_76da_a800_u64;
        let fresh = format!("etl-{created:x}-89abcdef-driver");
        let listed: HashMap<String, DriverStatus> = [(
            "a-driver".to_string(),
            driver_status(&listed_pod("a-driver", "Running", json!({"running": {}}))),
        )]
        .into_iter()
        .collect();
        let ids: Vec<String> = [
            "ns/a-driver".to_string(),
            format!("ns/{fresh}"),
            "ns/old-driver".to_string(),
            "elsewhere/a-driver".to_string(),
            "a-driver".to_string(),
            "bad//id".to_string(),
        ]
        .into();
        let out = listed_statuses(&listed, &ids, "ns", true, created + 1_000);
        assert_eq!(out[0].as_ref().unwrap().phase, DriverPhase::Running);
        let fresh_st = out[1].as_ref().unwrap();
        assert_eq!(
            fresh_st,
            &not_found_status(&format!("ns/{fresh}"), Some(created), created + 1_000)
        );
        assert_eq!(fresh_st.phase, DriverPhase::Unknown, "within the grace");
        assert_eq!(
            out[2].as_ref().unwrap().phase,
            DriverPhase::Killed,
            "deleted"
        );
        assert_eq!(out[3], None, "another namespace: asked one by one");
        assert_eq!(
            out[4].as_ref().unwrap().phase,
            DriverPhase::Running,
            "bare name"
        );
        assert_eq!(out[5], None);
        // Past the grace, the same pod name means deleted.
        let later = listed_statuses(
            &listed,
            &ids[1..2],
            "ns",
            true,
            created + NOT_FOUND_GRACE_MS,
        );
        assert_eq!(later[0].as_ref().unwrap().phase, DriverPhase::Killed);
        // An incomplete list proves nothing about the missing ones.
        let partial = listed_statuses(&listed, &ids[..3], "ns", false, created + 1_000);
        assert!(partial[0].is_some() && partial[1].is_none() && partial[2].is_none());
    }

    #[test]
    fn the_selector_is_the_driver_role_and_the_key_label() {
        assert_eq!(
            drivers_selector(),
            "spark-role=driver,drover.dev/submission-key"
        );
    }

    #[test]
    fn status_objects_become_errors_by_code() {
        let reply = |status: u16, reason: &str| Response {
            status,
            headers: vec![],
            body: json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                         "message": "pods \"p\" not found", "reason": reason, "code": status})
            .to_string()
            .into_bytes(),
        };
        assert!(
            matches!(api_error(&reply(404, "NotFound"), "u"), PluginError::NotFound(m) if m.contains("pods \"p\" not found"))
        );
        assert!(
            matches!(api_error(&reply(401, "Unauthorized"), "u"), PluginError::Invalid(m) if m.contains("token"))
        );
        assert!(matches!(
            api_error(&reply(422, "Invalid"), "u"),
            PluginError::Invalid(_)
        ));
        assert!(matches!(
            api_error(&reply(409, "AlreadyExists"), "u"),
            PluginError::Rejected(_)
        ));
        assert!(matches!(
            api_error(&reply(503, "ServiceUnavailable"), "u"),
            PluginError::Unavailable(_)
        ));
        let html = Response {
            status: 502,
            headers: vec![],
            body: b"<html>".to_vec(),
        };
        assert!(matches!(api_error(&html, "u"), PluginError::Unavailable(_)));
    }

    #[test]
    fn log_offsets_read_the_tail_of_a_limited_log() {
        assert_eq!(log_limit(10, 5), 15);
        let chunk = log_chunk(b"0123456789abcde", 10);
        assert_eq!(chunk.data, b"abcde");
        assert_eq!(chunk.next_offset, 15);
        let chunk = log_chunk(b"0123", 10);
        assert!(chunk.data.is_empty());
        assert_eq!(chunk.next_offset, 10);
    }
}
