//! Reading the API server's answers: a pod's phase as drover's driver phase,
//! `Status` error objects as [`PluginError`]s, and log byte ranges. No I/O.

use std::collections::HashMap;

use drover_plugin_sdk::http::Response;
use drover_plugin_sdk::{DriverPhase, DriverStatus, LogChunk, PluginError, excerpt};
use serde_json::Value;

use crate::pod::{DRIVER_CONTAINER, DriverId, ROLE_LABEL, SUBMISSION_KEY_LABEL};

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

/// What a 404 on the driver pod means, `now_ms - submitted_ms` after it was
/// submitted (see [`DriverId`] for where that time comes from):
/// within the grace period it cannot be told (the pod may not be visible yet,
/// or a kill may already have deleted it), so the phase is `unknown`, which
/// is not terminal; later it was deleted (by a kill, or by someone else),
/// which ends the driver.
pub fn not_found_status(id: &str, submitted_ms: Option<u64>, now_ms: u64) -> DriverStatus {
    let recent = submitted_ms.is_some_and(|c| now_ms.saturating_sub(c) < NOT_FOUND_GRACE_MS);
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
            let id = DriverId::parse(id, ns).ok()?;
            if id.namespace != ns {
                return None;
            }
            match listed.get(id.name) {
                Some(status) => Some(status.clone()),
                None if complete => Some(not_found_status(&id.pod(), id.submitted_ms, now_ms)),
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

/// Whether a reply is the API server refusing a create because an object of
/// that name exists: 409 with a `Status` whose reason is `AlreadyExists`
/// (409 `Conflict` is another thing: a stale resourceVersion on an update).
pub fn already_exists(reply: &Response) -> bool {
    reply.status == 409
        && serde_json::from_slice::<Value>(&reply.body)
            .is_ok_and(|s| s["kind"] == "Status" && s["reason"] == "AlreadyExists")
}

/// When a pod was created, from its `metadata.creationTimestamp`.
pub fn created_ms(pod: &Value) -> Option<u64> {
    pod.pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(rfc3339_ms)
}

/// The submission time a driver id carries: the pod's creationTimestamp,
/// whether drover created it, adopted it or found it, so every way to the
/// same pod gives the same id; `now_ms` when the pod says nothing. (An API
/// server whose clock runs ahead of the plugin's only makes the 404 grace
/// last that much longer.)
pub fn seen_at(pod: &Value, now_ms: u64) -> u64 {
    created_ms(pod).unwrap_or(now_ms)
}

/// Milliseconds since the epoch of a UTC RFC 3339 time as the API server
/// writes them (`2026-01-01T00:00:00Z`, with or without a fraction); `None`
/// for anything else.
pub fn rfc3339_ms(t: &str) -> Option<u64> {
    let t = t.strip_suffix('Z').or_else(|| t.strip_suffix('z'))?;
    let (date, time) = t.split_once(['T', 't'])?;
    let num = |s: &str, len: usize| -> Option<i64> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?, 4)?, num(d.next()?, 2)?, num(d.next()?, 2)?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut c = hms.split(':');
    let (h, min, sec) = (num(c.next()?, 2)?, num(c.next()?, 2)?, num(c.next()?, 2)?);
    let in_range = (1..=12).contains(&m)
        && (1..=31).contains(&day)
        && h < 24
        && min < 60
        && sec <= 60;
    if d.next().is_some() || c.next().is_some() || !in_range {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis = num(&format!("{frac:0<3}")[..3], 3)?;
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
    // `days_from_civil`).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + h * 3_600 + min * 60 + sec;
    u64::try_from(secs * 1_000 + millis).ok()
}

/// The driver pod's key against the key of the submission whose create it
/// refused: a pod carrying that key is the submission, sent before (the
/// reply to that send was lost, or drover restarted before it was kept), and
/// is followed as it is. Any other pod of that name is someone else's: an
/// error, never a second driver.
pub fn adopt(pod: &Value, key: &str, id: &str) -> Result<(), PluginError> {
    let label = pod
        .pointer("/metadata/labels")
        .and_then(|l| l.get(SUBMISSION_KEY_LABEL))
        .and_then(Value::as_str);
    match label {
        Some(k) if k == key => Ok(()),
        other => Err(PluginError::Rejected(format!(
            "pod {id} already exists and is not this submission's: its {SUBMISSION_KEY_LABEL} \
             label is {}, not {key:?}; delete or rename that pod",
            other.map_or_else(|| "missing".to_string(), |k| format!("{k:?}"))
        ))),
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
        // A driver id carries its submission time in milliseconds.
        let created = 1_767_225_600_000_u64;
        let fresh = "etl-x3bxbq5cebboqvh7-driver";
        let listed: HashMap<String, DriverStatus> = [(
            "a-driver".to_string(),
            driver_status(&listed_pod("a-driver", "Running", json!({"running": {}}))),
        )]
        .into_iter()
        .collect();
        let ids: Vec<String> = [
            "ns/a-driver".to_string(),
            format!("ns/{fresh}@{created}"),
            "ns/old-driver".to_string(),
            "elsewhere/a-driver".to_string(),
            "a-driver".to_string(),
            "bad//id".to_string(),
            // As older versions kept them: the time in the name, in hex.
            format!("ns/etl-{created:x}-89abcdef-driver"),
            "ns/old-driver@1000".to_string(),
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
        assert_eq!(out[6].as_ref().unwrap().phase, DriverPhase::Unknown, "an older id, within the grace");
        assert_eq!(out[7].as_ref().unwrap().phase, DriverPhase::Killed, "submitted long ago");
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
    fn only_a_status_saying_already_exists_is_one() {
        let reply = |status: u16, body: Value| Response {
            status,
            headers: vec![],
            body: body.to_string().into_bytes(),
        };
        let status = |code: u16, reason: &str| {
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "pods \"p\" already exists", "reason": reason, "code": code,
                   "details": {"name": "p", "kind": "pods"}})
        };
        assert!(already_exists(&reply(409, status(409, "AlreadyExists"))));
        assert!(!already_exists(&reply(409, status(409, "Conflict"))));
        assert!(!already_exists(&reply(422, status(422, "AlreadyExists"))));
        assert!(!already_exists(&reply(409, json!({"reason": "AlreadyExists"}))));
    }

    #[test]
    fn a_refused_create_is_ours_only_when_the_pod_carries_our_key() {
        let pod = |labels: Value| json!({"metadata": {"name": "p", "labels": labels}});
        let ours = pod(json!({SUBMISSION_KEY_LABEL: "drover-k1"}));
        assert!(adopt(&ours, "drover-k1", "ns/p").is_ok());
        let err = adopt(&pod(json!({SUBMISSION_KEY_LABEL: "drover-k2"})), "drover-k1", "ns/p");
        assert!(
            matches!(&err, Err(PluginError::Rejected(m))
                if m.contains("ns/p") && m.contains("\"drover-k2\"")),
            "{err:?}"
        );
        let err = adopt(&pod(json!({})), "drover-k1", "ns/p");
        assert!(matches!(&err, Err(PluginError::Rejected(m)) if m.contains("missing")), "{err:?}");
    }

    #[test]
    fn creation_timestamps_read_as_epoch_milliseconds() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_ms("2026-01-01T00:00:00Z"), Some(1_767_225_600_000));
        assert_eq!(rfc3339_ms("2024-02-29T23:59:59.5Z"), Some(1_709_251_199_500));
        assert_eq!(rfc3339_ms("2000-03-01T12:34:56.789123Z"), Some(951_914_096_789));
        for bad in [
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00+01:00",
            "2026-13-01T00:00:00Z",
            "2026-1-01T00:00:00Z",
            "yesterday",
            "2026-01-01T00:00:00.ÿZ",
        ] {
            assert_eq!(rfc3339_ms(bad), None, "{bad}");
        }
        let pod = json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}});
        assert_eq!(created_ms(&pod), Some(1_767_225_600_000));
        // Never later than the plugin's clock; the clock when the pod says nothing.
        assert_eq!(seen_at(&pod, 1_767_225_700_000), 1_767_225_600_000);
        assert_eq!(seen_at(&pod, 1_767_225_500_000), 1_767_225_600_000, "the pod's time, whatever the plugin's clock says");
        assert_eq!(seen_at(&json!({}), 42), 42);
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
