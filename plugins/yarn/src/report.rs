//! Reading the ResourceManager's replies: application reports, attempts,
//! tag searches and `RemoteException` errors, with no I/O.

use drover_plugin_sdk::http::Response;
use drover_plugin_sdk::{DriverPhase, DriverStatus, PluginError, excerpt};
use serde::{Deserialize, Deserializer};

/// `GET /ws/v1/cluster/apps/{id}` → `{"app": AppInfo}`.
#[derive(Debug, Clone, Deserialize)]
pub struct AppReply {
    pub app: AppInfo,
}

/// The fields of the RM's `AppInfo` drover reads; the rest are ignored.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AppInfo {
    pub id: String,
    pub name: String,
    pub state: String,
    pub final_status: String,
    pub diagnostics: Option<String>,
    pub tracking_url: Option<String>,
    pub queue: Option<String>,
    pub am_container_logs: Option<String>,
    pub am_host_http_address: Option<String>,
    /// The AM's NodeManager id (host:port), Hadoop 3's `masterNodeId`.
    pub master_node_id: Option<String>,
    /// Comma-separated, lowercased by YARN.
    pub application_tags: Option<String>,
    #[serde(deserialize_with = "lenient_u64")]
    pub started_time: Option<u64>,
}

impl AppInfo {
    pub fn has_tag(&self, tag: &str) -> bool {
        self.application_tags
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case(tag))
    }
}

/// `GET /ws/v1/cluster/apps?…` → `{"apps": {"app": [...]}}`, or `{"apps": null}` when none match.
#[derive(Debug, Clone, Deserialize)]
pub struct AppsReply {
    pub apps: Option<AppList>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AppList {
    #[serde(default)]
    pub app: Vec<AppInfo>,
}

/// `GET /ws/v1/cluster/apps/{id}/appattempts` → `{"appAttempts": {"appAttempt": [...]}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct AttemptsReply {
    #[serde(rename = "appAttempts")]
    pub app_attempts: Option<AttemptList>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AttemptList {
    #[serde(rename = "appAttempt", default)]
    pub app_attempt: Vec<Attempt>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Attempt {
    #[serde(deserialize_with = "lenient_u64")]
    pub id: Option<u64>,
    pub node_id: Option<String>,
    pub node_http_address: Option<String>,
    pub container_id: Option<String>,
    pub logs_link: Option<String>,
}

/// The latest attempt: the highest id (the RM lists them in order, but do not rely on it).
pub fn latest(attempts: &AttemptsReply) -> Option<&Attempt> {
    attempts
        .app_attempts
        .as_ref()?
        .app_attempt
        .iter()
        .max_by_key(|a| a.id.unwrap_or(0))
}

/// Numbers as JSON numbers or strings (older RMs and docs quote them).
pub fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(u64),
        Str(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Option::<N>::deserialize(d)? {
        Some(N::Num(n)) => Some(n),
        Some(N::Str(s)) => s.trim().parse().ok(),
        Some(N::Other(_)) | None => None,
    })
}

/// The RM's error body: `{"RemoteException":{"exception","message","javaClassName"}}`.
#[derive(Debug, Clone, Default, Deserialize)]
struct ErrorReply {
    #[serde(rename = "RemoteException")]
    remote_exception: Option<RemoteException>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct RemoteException {
    exception: String,
    message: String,
}

/// A non-2xx reply as a [`PluginError`], with the RM's own message when it sent one.
pub fn error_from(reply: &Response, url: &str) -> PluginError {
    let remote = serde_json::from_slice::<ErrorReply>(&reply.body)
        .ok()
        .and_then(|e| e.remote_exception);
    let Some(remote) = remote else {
        return reply.unparsed_error(url, "not a RemoteException");
    };
    let message = format!(
        "{url} answered HTTP {}: {}: {}",
        reply.status,
        remote.exception,
        excerpt(&remote.message, 500)
    );
    match reply.status {
        404 => PluginError::NotFound(message),
        429 | 500..=599 => PluginError::Unavailable(message),
        _ => PluginError::Rejected(message),
    }
}

/// The driver's state from the (state, finalStatus) pair and the attempts.
///
/// `finalStatus` is what the AM reported when it unregistered; `state` is the
/// RM's own view. Neither alone is enough: (RUNNING, SUCCEEDED) is an AM that
/// unregistered but has not exited yet, and (FINISHED, FAILED) is a failure.
pub fn driver_status(
    app: &AppInfo,
    attempts: Option<&AttemptsReply>,
) -> Result<DriverStatus, PluginError> {
    let state = app.state.as_str();
    let final_status = app.final_status.as_str();
    let phase = match (state, final_status) {
        ("NEW" | "NEW_SAVING" | "SUBMITTED", _) => DriverPhase::Submitted,
        ("ACCEPTED", _) => DriverPhase::Queued,
        ("RUNNING", _) => DriverPhase::Running,
        ("FINISHED", "SUCCEEDED") => DriverPhase::Succeeded,
        ("FINISHED", "KILLED") | ("KILLED", _) => DriverPhase::Killed,
        // An AM that exits without unregistering ends FINISHED/UNDEFINED: not a success.
        ("FINISHED", "FAILED" | "UNDEFINED" | "") | ("FAILED", _) => DriverPhase::Failed,
        _ => {
            return Err(PluginError::Protocol(format!(
                "application {} is in state {state:?} with final status {final_status:?}, \
                 which YARN does not define",
                app.id
            )));
        }
    };
    let nonempty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let latest = attempts.and_then(latest);
    let location = latest
        .and_then(|a| nonempty(&a.node_id).or_else(|| nonempty(&a.node_http_address)))
        .or_else(|| nonempty(&app.master_node_id))
        .or_else(|| nonempty(&app.am_host_http_address));
    let mut message = nonempty(&app.diagnostics);
    if phase == DriverPhase::Running && final_status != "UNDEFINED" && !final_status.is_empty() {
        message.get_or_insert_with(|| {
            format!(
                "the ApplicationMaster unregistered with {final_status}; waiting for it to exit"
            )
        });
    }
    Ok(DriverStatus {
        phase,
        raw_state: if final_status.is_empty() {
            state.to_string()
        } else {
            format!("{state}/{final_status}")
        },
        attempt: latest
            .and_then(|a| a.id)
            .or_else(|| am_container_attempt(app))
            .and_then(|n| u32::try_from(n).ok()),
        location,
        message,
        tracking_url: nonempty(&app.tracking_url),
    })
}

/// The attempt the current AM container belongs to, from the container id in
/// `amContainerLogs` (`…/containerlogs/container_[e<epoch>_]<clusterTimestamp>_<app>_<attempt>_<container>/<user>`):
/// a list of applications has no attempts, but this link names the AM's
/// container once it is allocated.
pub fn am_container_attempt(app: &AppInfo) -> Option<u64> {
    let logs = app.am_container_logs.as_deref()?;
    let container = logs
        .split(['/', '?'])
        .find(|part| part.starts_with("container_"))?;
    let fields: Vec<&str> = container["container_".len()..].split('_').collect();
    let fields = match fields.first() {
        Some(epoch) if epoch.starts_with('e') => &fields[1..],
        _ => &fields[..],
    };
    match fields {
        [cluster_ts, app_num, attempt, container_num]
            if [cluster_ts, app_num, container_num]
                .iter()
                .all(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())) =>
        {
            attempt.parse().ok()
        }
        _ => None,
    }
}

/// One entry per id from a tag search (`apps?applicationTags=drover`),
/// mapped by [`driver_status`] like `status` does but without the attempts
/// (the list does not have them: the attempt comes from the AM container's
/// id, see [`am_container_attempt`], or is `None`). `None` where the
/// list has no such application (submitted without the common tag, or gone)
/// or [`driver_status`] cannot map it: the caller asks those one by one.
pub fn listed_statuses(reply: &AppsReply, ids: &[String]) -> Vec<Option<DriverStatus>> {
    let apps = reply.apps.as_ref().map_or(&[][..], |l| l.app.as_slice());
    ids.iter()
        .map(|id| {
            let app = apps.iter().find(|a| a.id == *id)?;
            driver_status(app, None).ok()
        })
        .collect()
}

/// The newest application carrying `tag`, from a tag search.
pub fn find_by_tag(reply: AppsReply, tag: &str) -> Option<String> {
    reply
        .apps
        .unwrap_or_default()
        .app
        .into_iter()
        .filter(|a| a.has_tag(tag))
        .max_by_key(|a| (a.started_time.unwrap_or(0), a.id.clone()))
        .map(|a| a.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(state: &str, final_status: &str) -> AppInfo {
        serde_json::from_value(json!({
            "id": "application_1_0001", "name": "etl", "state": state, "finalStatus": final_status,
            "diagnostics": "", "trackingUrl": "http://rm:8088/proxy/application_1_0001/",
            "amHostHttpAddress": "nm1:8042", "applicationTags": "drover-key:drover-abc,other",
            "startedTime": 1700000000000u64, "progress": 0.0, "user": "me"
        }))
        .unwrap()
    }

    fn attempts(n: u64) -> AttemptsReply {
        let list: Vec<_> = (1..=n)
            .map(|i| json!({"id": i, "nodeId": format!("nm{i}:45454"), "nodeHttpAddress": format!("nm{i}:8042"),
                "containerId": format!("container_1_0001_{i:02}_000001"), "startTime": 1, "finishedTime": 0}))
            .collect();
        serde_json::from_value(json!({"appAttempts": {"appAttempt": list}})).unwrap()
    }

    #[test]
    fn maps_the_state_and_final_status_pair() {
        let cases = [
            ("NEW", "UNDEFINED", DriverPhase::Submitted),
            ("NEW_SAVING", "UNDEFINED", DriverPhase::Submitted),
            ("SUBMITTED", "UNDEFINED", DriverPhase::Submitted),
            ("ACCEPTED", "UNDEFINED", DriverPhase::Queued),
            ("RUNNING", "UNDEFINED", DriverPhase::Running),
            // Unregistered but not exited: not success yet.
            ("RUNNING", "SUCCEEDED", DriverPhase::Running),
            ("RUNNING", "FAILED", DriverPhase::Running),
            ("FINISHED", "SUCCEEDED", DriverPhase::Succeeded),
            ("FINISHED", "FAILED", DriverPhase::Failed),
            ("FINISHED", "KILLED", DriverPhase::Killed),
            ("FINISHED", "UNDEFINED", DriverPhase::Failed),
            ("FAILED", "FAILED", DriverPhase::Failed),
            ("FAILED", "UNDEFINED", DriverPhase::Failed),
            ("KILLED", "KILLED", DriverPhase::Killed),
            ("KILLED", "UNDEFINED", DriverPhase::Killed),
        ];
        for (state, fs, phase) in cases {
            let s = driver_status(&app(state, fs), None).unwrap();
            assert_eq!(s.phase, phase, "{state}/{fs}");
            assert_eq!(s.raw_state, format!("{state}/{fs}"));
        }
        assert!(
            driver_status(&app("RUNNING", "SUCCEEDED"), None)
                .unwrap()
                .message
                .unwrap()
                .contains("unregistered")
        );
        assert!(
            matches!(driver_status(&app("EXPLODED", "UNDEFINED"), None), Err(PluginError::Protocol(m)) if m.contains("EXPLODED"))
        );
    }

    #[test]
    fn the_attempt_and_node_come_from_the_latest_attempt() {
        let s = driver_status(&app("RUNNING", "UNDEFINED"), Some(&attempts(2))).unwrap();
        assert_eq!(s.attempt, Some(2));
        assert_eq!(s.location.as_deref(), Some("nm2:45454"));
        assert_eq!(
            s.tracking_url.as_deref(),
            Some("http://rm:8088/proxy/application_1_0001/")
        );
        assert_eq!(s.message, None);
        let s = driver_status(&app("ACCEPTED", "UNDEFINED"), None).unwrap();
        assert_eq!((s.attempt, s.location.as_deref()), (None, Some("nm1:8042")));
    }

    #[test]
    fn diagnostics_become_the_message() {
        let mut a = app("FAILED", "FAILED");
        a.diagnostics = Some("Application application_1_0001 failed 2 times due to AM Container exited with exitCode: 1".into());
        assert!(
            driver_status(&a, None)
                .unwrap()
                .message
                .unwrap()
                .contains("failed 2 times")
        );
    }

    #[test]
    fn string_numbers_and_unknown_fields_parse() {
        let a: AttemptsReply = serde_json::from_value(
            json!({"appAttempts": {"appAttempt": [{"id": "3", "extra": true}]}}),
        )
        .unwrap();
        assert_eq!(latest(&a).unwrap().id, Some(3));
        let none: AttemptsReply = serde_json::from_value(json!({"appAttempts": null})).unwrap();
        assert_eq!(latest(&none), None);
    }

    #[test]
    fn finds_the_newest_app_with_the_exact_tag() {
        let reply: AppsReply = serde_json::from_value(json!({"apps": {"app": [
            {"id": "application_1_0001", "applicationTags": "drover-key:drover-abc", "startedTime": 1},
            {"id": "application_1_0003", "applicationTags": "drover-key:drover-abcd", "startedTime": 9},
            {"id": "application_1_0002", "applicationTags": "x,drover-key:drover-abc", "startedTime": 5},
        ]}}))
        .unwrap();
        assert_eq!(
            find_by_tag(reply, "drover-key:drover-abc").as_deref(),
            Some("application_1_0002")
        );
        let empty: AppsReply = serde_json::from_value(json!({"apps": null})).unwrap();
        assert_eq!(find_by_tag(empty, "drover-key:drover-abc"), None);
    }

    #[test]
    fn listed_apps_map_like_status_in_request_order() {
        let reply: AppsReply = serde_json::from_value(json!({"apps": {"app": [
            {"id": "application_1_0001", "state": "RUNNING", "finalStatus": "UNDEFINED",
             "applicationTags": "drover-key:a,drover", "masterNodeId": "nm1:45454",
             "amHostHttpAddress": "nm1:8042", "trackingUrl": "http://rm/proxy/application_1_0001/"},
            {"id": "application_1_0002", "state": "FINISHED", "finalStatus": "FAILED",
             "diagnostics": "AM exited with 1", "applicationTags": "drover-key:b,drover"},
            {"id": "application_1_0003", "state": "RUNNING", "finalStatus": "SUCCEEDED"},
            {"id": "application_1_0004", "state": "EXPLODED", "finalStatus": "UNDEFINED"},
        ]}}))
        .unwrap();
        let ids: Vec<String> = [
            "application_1_0002",
            "application_1_0009",
            "application_1_0001",
            "application_1_0003",
            "application_1_0004",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = listed_statuses(&reply, &ids);
        let failed = out[0].as_ref().unwrap();
        assert_eq!(
            (failed.phase, failed.raw_state.as_str()),
            (DriverPhase::Failed, "FINISHED/FAILED")
        );
        assert_eq!(failed.message.as_deref(), Some("AM exited with 1"));
        assert_eq!(out[1], None, "not listed: asked one by one");
        let running = out[2].as_ref().unwrap();
        assert_eq!(running.phase, DriverPhase::Running);
        // No attempts in the list, nor an AM container link: the attempt is
        // left to drover's last known.
        assert_eq!(running.attempt, None);
        // The AM's node, as `status` reports it from the latest attempt.
        assert_eq!(running.location.as_deref(), Some("nm1:45454"));
        assert_eq!(
            out[3].as_ref().unwrap().phase,
            DriverPhase::Running,
            "(RUNNING, SUCCEEDED)"
        );
        assert_eq!(
            out[4], None,
            "an undefined pair is left to `status` to report"
        );
        // The very same mapping as `status` for the same report.
        let app = &reply.apps.as_ref().unwrap().app[1];
        assert_eq!(out[0].as_ref(), Some(&driver_status(app, None).unwrap()));

        let none: AppsReply = serde_json::from_value(json!({"apps": null})).unwrap();
        assert_eq!(listed_statuses(&none, &ids[..1]), vec![None]);
    }

    #[test]
    fn the_attempt_comes_from_the_am_container_without_attempts() {
        let with_logs = |logs: &str| AppInfo {
            am_container_logs: Some(logs.into()),
            ..app("RUNNING", "UNDEFINED")
        };
        let a = with_logs(
            "http://nm1:8042/node/containerlogs/container_1700000000000_0001_02_000001/me",
        );
        assert_eq!(am_container_attempt(&a), Some(2));
        assert_eq!(driver_status(&a, None).unwrap().attempt, Some(2));
        // The latest attempt of the attempts call wins when there is one.
        assert_eq!(
            driver_status(&a, Some(&attempts(3))).unwrap().attempt,
            Some(3)
        );
        let epoch = with_logs(
            "http://nm:8042/node/containerlogs/container_e17_1410901177871_0001_01_000005/u",
        );
        assert_eq!(am_container_attempt(&epoch), Some(1));
        for odd in [
            "",
            "http://nm/node/containerlogs/",
            "http://nm/x/container_a_b_c_d/u",
            "container_1_2_3",
        ] {
            assert_eq!(am_container_attempt(&with_logs(odd)), None, "{odd}");
        }
    }

    #[test]
    fn remote_exceptions_map_by_status() {
        let body = br#"{"RemoteException":{"exception":"NotFoundException","message":"java.lang.Exception: app with id: application_1_0009 not found","javaClassName":"org.apache.hadoop.yarn.webapp.NotFoundException"}}"#;
        let reply = |status| Response {
            status,
            headers: vec![],
            body: body.to_vec(),
        };
        assert!(
            matches!(error_from(&reply(404), "u"), PluginError::NotFound(m) if m.contains("not found"))
        );
        assert!(matches!(
            error_from(&reply(400), "u"),
            PluginError::Rejected(_)
        ));
        assert!(matches!(
            error_from(&reply(503), "u"),
            PluginError::Unavailable(_)
        ));
        let html = Response {
            status: 502,
            headers: vec![],
            body: b"<html>bad gateway</html>".to_vec(),
        };
        assert!(matches!(
            error_from(&html, "u"),
            PluginError::Unavailable(_)
        ));
    }
}
