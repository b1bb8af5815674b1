//! One try's life as the loop decides it: when it was ready, when it must
//! end, and what its end means for the task (success, a retry after the
//! task's delay, or failure for good).

use chrono::{DateTime, Utc};
use drover_dag::Task;
use drover_store::{NotifyEvent, StopReason, TaskInstanceRow, TiState, TryState};

/// How a try ended, as the loop needs it to decide what comes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Succeeded,
    /// `final_` failures are not retried: the configuration is wrong, a
    /// person stopped the try, or the old driver may still be running.
    Failed { message: String, final_: bool },
}

/// How a try job begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resume {
    /// A new try: submit.
    Submit,
    /// After a restart, the cluster's id is known: follow it.
    Attach(String),
    /// After a restart between committing the intent and recording the
    /// cluster's answer: ask the cluster for the submission by its key before
    /// submitting, so nothing is submitted twice.
    Find,
    /// After a restart while drover was stopping the try: finish stopping
    /// it (the intent was committed before the kill was sent).
    Stop {
        cluster_id: Option<String>,
        reason: StopReason,
        since: DateTime<Utc>,
    },
}

/// What a try's end makes of the try and its task instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TryEnd {
    pub try_state: TryState,
    pub ti_state: TiState,
    /// When the next try is due; only for `UpForRetry`.
    pub next_try_at: Option<DateTime<Utc>>,
}

/// A failed try is retried after the task's delay while tries are left,
/// unless the failure is final or a person is failing the run (nothing is
/// retried in a run a person marked failed). `task` is `None` when the
/// task is gone from the run's DAG: no delay then.
pub(crate) fn try_ended(
    outcome: &Outcome,
    try_number: i64,
    max_tries: i64,
    run_failing: bool,
    task: Option<&Task>,
    run_id: &str,
    now: DateTime<Utc>,
) -> TryEnd {
    match outcome {
        Outcome::Succeeded => TryEnd {
            try_state: TryState::Success,
            ti_state: TiState::Success,
            next_try_at: None,
        },
        Outcome::Failed { final_, .. } if !final_ && !run_failing && try_number < max_tries => {
            let next = u32::try_from(try_number + 1).unwrap_or(u32::MAX);
            let delay = task.map(|t| t.retry_delay_before(next, run_id)).unwrap_or_default();
            TryEnd {
                try_state: TryState::Failed,
                ti_state: TiState::UpForRetry,
                next_try_at: Some(now + chrono::Duration::from_std(delay).unwrap_or_default()),
            }
        }
        Outcome::Failed { .. } => TryEnd {
            try_state: TryState::Failed,
            ti_state: TiState::Failed,
            next_try_at: None,
        },
    }
}

/// Airflow's task callbacks: on_retry when a try fails and another
/// follows, on_failure when the task ends failed, on_success.
pub(crate) fn task_notifiers(ti_state: TiState, task: Option<&Task>) -> (NotifyEvent, &[String]) {
    match (ti_state, task) {
        (TiState::Success, Some(t)) => (NotifyEvent::OnSuccess, t.on_success.as_slice()),
        (TiState::UpForRetry, Some(t)) => (NotifyEvent::OnRetry, t.on_retry.as_slice()),
        (_, Some(t)) => (NotifyEvent::OnFailure, t.on_failure.as_slice()),
        (_, None) => (NotifyEvent::OnFailure, &[][..]),
    }
}

/// When a task became ready for the try about to start: when its retry
/// fell due, or now (its upstream just ended, or it was cleared).
pub(crate) fn ready_at(ti: &TaskInstanceRow, now: DateTime<Utc>) -> DateTime<Utc> {
    ti.next_try_at.filter(|_| ti.state == TiState::UpForRetry).unwrap_or(now)
}

/// When a try starting now must have ended, from the task's timeout.
pub(crate) fn deadline(task: &Task, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    task.timeout.and_then(|t| chrono::Duration::from_std(t).ok()).map(|t| now + t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::fixture::{at, graph, ti};

    fn failed(final_: bool) -> Outcome {
        Outcome::Failed { message: "boom".into(), final_ }
    }

    fn task(extra: &str) -> Task {
        graph(&[("a", &[])], extra).tasks.remove(0)
    }

    const NOW: &str = "2026-03-01T12:00:00Z";

    #[test]
    fn a_successful_try_ends_the_task_successfully() {
        let end = try_ended(&Outcome::Succeeded, 1, 3, false, Some(&task("")), "r", at(NOW));
        assert_eq!(end, TryEnd { try_state: TryState::Success, ti_state: TiState::Success, next_try_at: None });
    }

    #[test]
    fn a_successful_try_succeeds_even_in_a_failing_run() {
        let end = try_ended(&Outcome::Succeeded, 1, 3, true, None, "r", at(NOW));
        assert_eq!(end.ti_state, TiState::Success);
    }

    #[test]
    fn a_failed_try_with_retries_left_is_retried_after_the_delay() {
        let t = task("retries = 2\nretry_delay = \"30s\"");
        let end = try_ended(&failed(false), 1, 3, false, Some(&t), "r", at(NOW));
        assert_eq!(end.try_state, TryState::Failed);
        assert_eq!(end.ti_state, TiState::UpForRetry);
        assert_eq!(end.next_try_at, Some(at("2026-03-01T12:00:30Z")));
    }

    #[test]
    fn the_last_try_failing_fails_the_task() {
        let t = task("retries = 2\nretry_delay = \"30s\"");
        let end = try_ended(&failed(false), 3, 3, false, Some(&t), "r", at(NOW));
        assert_eq!(end, TryEnd { try_state: TryState::Failed, ti_state: TiState::Failed, next_try_at: None });
    }

    #[test]
    fn a_try_beyond_its_max_tries_is_not_retried() {
        let end = try_ended(&failed(false), 5, 3, false, Some(&task("retries = 2")), "r", at(NOW));
        assert_eq!(end.ti_state, TiState::Failed);
    }

    #[test]
    fn a_final_failure_is_never_retried() {
        let t = task("retries = 5");
        let end = try_ended(&failed(true), 1, 6, false, Some(&t), "r", at(NOW));
        assert_eq!(end.ti_state, TiState::Failed);
        assert_eq!(end.next_try_at, None);
    }

    #[test]
    fn nothing_is_retried_in_a_run_a_person_marked_failed() {
        let t = task("retries = 5");
        let end = try_ended(&failed(false), 1, 6, true, Some(&t), "r", at(NOW));
        assert_eq!(end.ti_state, TiState::Failed);
    }

    #[test]
    fn a_task_gone_from_the_dag_is_retried_at_once() {
        let end = try_ended(&failed(false), 1, 2, false, None, "r", at(NOW));
        assert_eq!(end.ti_state, TiState::UpForRetry);
        assert_eq!(end.next_try_at, Some(at(NOW)));
    }

    #[test]
    fn a_retry_without_a_delay_is_due_now() {
        let t = task("retries = 1\nretry_delay = \"0s\"");
        let end = try_ended(&failed(false), 1, 2, false, Some(&t), "r", at(NOW));
        assert_eq!(end.next_try_at, Some(at(NOW)));
    }

    #[test]
    fn exponential_backoff_doubles_the_delay_per_retry() {
        let t = task("retries = 5\nretry_delay = \"10s\"\nretry_exponential_backoff = true\nretry_jitter = false\nmax_retry_delay = \"1h\"");
        let first = try_ended(&failed(false), 1, 6, false, Some(&t), "r", at(NOW));
        let third = try_ended(&failed(false), 3, 6, false, Some(&t), "r", at(NOW));
        assert_eq!(first.next_try_at, Some(at("2026-03-01T12:00:10Z")));
        assert_eq!(third.next_try_at, Some(at("2026-03-01T12:00:40Z")));
    }

    #[test]
    fn with_backoff_a_retry_is_jittered_by_default_between_its_delay_and_twice_that() {
        let t = task("retries = 5\nretry_delay = \"10s\"\nretry_exponential_backoff = true\nmax_retry_delay = \"1h\"");
        assert!(t.retry_jitter);
        let third = try_ended(&failed(false), 3, 6, false, Some(&t), "r", at(NOW)).next_try_at.unwrap();
        assert!((at("2026-03-01T12:00:40Z")..at("2026-03-01T12:01:20Z")).contains(&third), "{third}");
    }

    #[test]
    fn exponential_backoff_stops_at_the_max_retry_delay() {
        let t = task("retries = 9\nretry_delay = \"10s\"\nretry_exponential_backoff = true\nmax_retry_delay = \"25s\"");
        let end = try_ended(&failed(false), 4, 10, false, Some(&t), "r", at(NOW));
        assert_eq!(end.next_try_at, Some(at("2026-03-01T12:00:25Z")));
    }

    #[test]
    fn a_retry_bumped_by_a_clear_still_waits_the_delay() {
        // After a clear, max_tries grows past the first run's budget.
        let t = task("retries = 1\nretry_delay = \"5s\"");
        let end = try_ended(&failed(false), 2, 4, false, Some(&t), "r", at(NOW));
        assert_eq!(end.next_try_at, Some(at("2026-03-01T12:00:05Z")));
    }

    #[test]
    fn a_success_tells_the_on_success_notifiers() {
        let t = task("on_success = [\"team\"]\non_failure = [\"ops\"]");
        assert_eq!(task_notifiers(TiState::Success, Some(&t)), (NotifyEvent::OnSuccess, &["team".to_string()][..]));
    }

    #[test]
    fn a_retry_tells_the_on_retry_notifiers() {
        let t = task("on_retry = [\"team\"]\non_failure = [\"ops\"]");
        assert_eq!(task_notifiers(TiState::UpForRetry, Some(&t)), (NotifyEvent::OnRetry, &["team".to_string()][..]));
    }

    #[test]
    fn a_failure_for_good_tells_the_on_failure_notifiers() {
        let t = task("on_retry = [\"team\"]\non_failure = [\"ops\"]");
        assert_eq!(task_notifiers(TiState::Failed, Some(&t)), (NotifyEvent::OnFailure, &["ops".to_string()][..]));
    }

    #[test]
    fn a_task_gone_from_the_dag_tells_nobody() {
        assert_eq!(task_notifiers(TiState::Failed, None), (NotifyEvent::OnFailure, &[][..]));
        assert_eq!(task_notifiers(TiState::Success, None).1.len(), 0);
    }

    #[test]
    fn a_due_retry_was_ready_when_it_fell_due() {
        let mut t = ti("a", TiState::UpForRetry, 1);
        t.next_try_at = Some(at("2026-03-01T11:59:00Z"));
        assert_eq!(ready_at(&t, at(NOW)), at("2026-03-01T11:59:00Z"));
    }

    #[test]
    fn a_task_whose_upstream_just_ended_is_ready_now() {
        let mut t = ti("a", TiState::None, 0);
        // A leftover retry time of a cleared task does not count.
        t.next_try_at = Some(at("2026-03-01T11:00:00Z"));
        assert_eq!(ready_at(&t, at(NOW)), at(NOW));
    }

    #[test]
    fn a_retry_without_a_due_time_is_ready_now() {
        assert_eq!(ready_at(&ti("a", TiState::UpForRetry, 1), at(NOW)), at(NOW));
    }

    #[test]
    fn a_try_must_end_within_the_task_timeout() {
        assert_eq!(deadline(&task("timeout = \"10m\""), at(NOW)), Some(at("2026-03-01T12:10:00Z")));
    }

    #[test]
    fn a_task_without_a_timeout_has_no_deadline() {
        assert_eq!(deadline(&task(""), at(NOW)), None);
    }
}
