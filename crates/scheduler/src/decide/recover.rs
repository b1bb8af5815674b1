//! After a restart: what becomes of each try the last process left open.
//! A cluster-mode driver outlives drover and is followed again; a
//! client-mode one died with it. A stop that was under way is finished,
//! never turned into a retry.

use chrono::{DateTime, Utc};
use drover_store::{DriverState, StopReason};

use super::tries::Resume;

/// What the store says of a try left open.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenTry<'a> {
    /// Its driver ran inside drover's process.
    pub client: bool,
    pub stop_reason: Option<StopReason>,
    pub stop_requested_at: Option<DateTime<Utc>>,
    pub cluster_id: Option<&'a str>,
    pub driver_state: DriverState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reopen {
    /// Hand the try to a driver task again.
    Resume(Resume),
    /// End the try now: record its driver `state` with `why`, then end it
    /// as failed (`final_`: never retried).
    End { state: DriverState, why: &'static str, final_: bool },
}

pub(crate) fn reopen(t: OpenTry<'_>, now: DateTime<Utc>) -> Reopen {
    if !t.client {
        match (t.stop_reason, t.cluster_id, t.driver_state) {
            (Some(reason), cluster_id, _) => {
                return Reopen::Resume(Resume::Stop {
                    cluster_id: cluster_id.map(str::to_string),
                    reason,
                    since: t.stop_requested_at.unwrap_or(now),
                });
            }
            (None, Some(id), _) => return Reopen::Resume(Resume::Attach(id.to_string())),
            (None, None, DriverState::Pending) => return Reopen::Resume(Resume::Find),
            _ => {}
        }
    }
    match t.stop_reason {
        Some(reason) => Reopen::End {
            state: DriverState::Killed,
            why: "drover restarted while stopping it; the client-mode driver died with drover",
            final_: reason.is_final(),
        },
        None if t.client => Reopen::End {
            state: DriverState::Lost,
            why: "drover restarted; the client-mode driver died with it",
            final_: false,
        },
        None => Reopen::End {
            state: DriverState::Unknown,
            why: "drover restarted and the submission's outcome is unknown; the driver may be running",
            final_: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::fixture::at;

    const NOW: &str = "2026-03-01T12:00:00Z";

    fn open(client: bool, driver_state: DriverState) -> OpenTry<'static> {
        OpenTry { client, stop_reason: None, stop_requested_at: None, cluster_id: None, driver_state }
    }

    fn end_of(r: Reopen) -> (DriverState, bool) {
        match r {
            Reopen::End { state, final_, .. } => (state, final_),
            other => panic!("not ended: {other:?}"),
        }
    }

    #[test]
    fn a_cluster_driver_with_a_known_id_is_followed_again() {
        let t = OpenTry { cluster_id: Some("driver-7"), ..open(false, DriverState::Running) };
        assert_eq!(reopen(t, at(NOW)), Reopen::Resume(Resume::Attach("driver-7".into())));
    }

    #[test]
    fn a_submission_cut_off_before_the_clusters_answer_is_looked_up_by_its_key() {
        assert_eq!(reopen(open(false, DriverState::Pending), at(NOW)), Reopen::Resume(Resume::Find));
    }

    #[test]
    fn no_resubmission_while_the_driver_may_run() {
        // Past pending without a cluster id: the cluster may have it.
        for state in [DriverState::Submitted, DriverState::Queued, DriverState::Running] {
            assert_eq!(end_of(reopen(open(false, state), at(NOW))), (DriverState::Unknown, true), "{state}");
        }
    }

    #[test]
    fn a_stop_under_way_on_a_cluster_is_finished_from_when_it_was_asked() {
        let t = OpenTry {
            stop_reason: Some(StopReason::TimedOut),
            stop_requested_at: Some(at("2026-03-01T11:58:00Z")),
            cluster_id: Some("driver-7"),
            ..open(false, DriverState::Running)
        };
        let want = Resume::Stop {
            cluster_id: Some("driver-7".into()),
            reason: StopReason::TimedOut,
            since: at("2026-03-01T11:58:00Z"),
        };
        assert_eq!(reopen(t, at(NOW)), Reopen::Resume(want));
    }

    #[test]
    fn a_stop_under_way_before_the_cluster_answered_is_finished_too() {
        let t = OpenTry { stop_reason: Some(StopReason::Killed), ..open(false, DriverState::Pending) };
        let want = Resume::Stop { cluster_id: None, reason: StopReason::Killed, since: at(NOW) };
        assert_eq!(reopen(t, at(NOW)), Reopen::Resume(want));
    }

    #[test]
    fn a_client_driver_died_with_drover_and_may_be_retried() {
        assert_eq!(end_of(reopen(open(true, DriverState::Running), at(NOW))), (DriverState::Lost, false));
    }

    #[test]
    fn a_client_driver_is_never_followed_even_with_an_id() {
        let t = OpenTry { cluster_id: Some("pid-1"), ..open(true, DriverState::Pending) };
        assert_eq!(end_of(reopen(t, at(NOW))), (DriverState::Lost, false));
    }

    #[test]
    fn a_client_driver_a_person_was_killing_ends_killed_for_good() {
        let t = OpenTry { stop_reason: Some(StopReason::Killed), ..open(true, DriverState::Running) };
        assert_eq!(end_of(reopen(t, at(NOW))), (DriverState::Killed, true));
        let t = OpenTry { stop_reason: Some(StopReason::RunFailed), ..open(true, DriverState::Running) };
        assert_eq!(end_of(reopen(t, at(NOW))), (DriverState::Killed, true));
    }

    #[test]
    fn a_client_driver_drover_was_stopping_on_its_own_may_be_retried() {
        for reason in [StopReason::TimedOut, StopReason::NeverStarted, StopReason::Unreachable] {
            let t = OpenTry { stop_reason: Some(reason), ..open(true, DriverState::Running) };
            assert_eq!(end_of(reopen(t, at(NOW))), (DriverState::Killed, false), "{reason}");
        }
    }
}
