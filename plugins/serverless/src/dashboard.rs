//! GetDashboardForJobRun: the link to a job run's Spark UI (live while it
//! runs, the persistent UI once it ended), which the service signs for an
//! hour. drover keeps it as the driver's tracking link. No I/O.

use drover_plugin_sdk::http::encode_component;
use drover_plugin_sdk::{DriverPhase, DriverStatus};
use serde::Deserialize;

/// Dashboards `status-many` asks for per call at most (one request each).
pub const MAX_PER_CALL: usize = 8;

/// `GET /applications/{applicationId}/jobruns/{jobRunId}/dashboard`.
pub fn path(application_id: &str, job_run_id: &str) -> String {
    format!(
        "/applications/{}/jobruns/{}/dashboard",
        encode_component(application_id),
        encode_component(job_run_id)
    )
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct GetDashboardForJobRunResponse {
    #[serde(default)]
    pub url: Option<String>,
}

impl GetDashboardForJobRunResponse {
    /// The link, when it is an http(s) URL.
    pub fn link(self) -> Option<String> {
        self.url
            .map(|u| u.trim().to_string())
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
    }
}

/// Whether a run in this phase has a Spark UI to show: it has started.
pub fn has_ui(phase: DriverPhase) -> bool {
    matches!(
        phase,
        DriverPhase::Running | DriverPhase::Succeeded | DriverPhase::Failed | DriverPhase::Killed
    )
}

/// Which statuses of a `status-many` answer get their dashboard asked for:
/// the ended runs without a link, the first `MAX_PER_CALL`. A run's last
/// status is answered once, so each ended run's link is asked once; a
/// running one's is not asked on every poll (the single `status` asks it).
pub fn wanted(statuses: &[Option<DriverStatus>]) -> Vec<usize> {
    statuses
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.as_ref().is_some_and(|s| {
                s.tracking_url.is_none() && has_ui(s.phase) && s.phase != DriverPhase::Running
            })
        })
        .map(|(i, _)| i)
        .take(MAX_PER_CALL)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(phase: DriverPhase) -> Option<DriverStatus> {
        Some(DriverStatus {
            phase,
            raw_state: String::new(),
            attempt: None,
            location: None,
            message: None,
            tracking_url: None,
        })
    }

    #[test]
    fn the_path_and_answer_of_get_dashboard_for_job_run() {
        assert_eq!(path("00f1", "00r2"), "/applications/00f1/jobruns/00r2/dashboard");
        let r: GetDashboardForJobRunResponse =
            serde_json::from_str(r#"{"url": "https://p-00r2.emrappui-prod.us-east-1.amazonaws.com/shs/?authToken=x"}"#)
                .unwrap();
        assert!(r.link().unwrap().starts_with("https://p-00r2."));
        let odd: GetDashboardForJobRunResponse = serde_json::from_str(r#"{"url": "javascript:x"}"#).unwrap();
        assert_eq!(odd.link(), None);
    }

    #[test]
    fn only_ended_runs_get_their_dashboard_in_a_batch() {
        let statuses = vec![
            st(DriverPhase::Submitted),
            st(DriverPhase::Running),
            st(DriverPhase::Succeeded),
            None,
            st(DriverPhase::Failed),
        ];
        assert_eq!(wanted(&statuses), vec![2, 4]);
        let many: Vec<_> = (0..20).map(|_| st(DriverPhase::Killed)).collect();
        assert_eq!(wanted(&many).len(), MAX_PER_CALL);
    }
}
