//! A run's course: whether it may start, which of its tasks start or are
//! marked upstream-failed on this turn, and how it ends.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use drover_dag::Dag;
use drover_store::{NotifyEvent, RunRow, RunState, TaskInstanceRow, TiState};

use super::trigger::{Verdict, verdict};

/// A queued run starts while its DAG has fewer than `max_active_runs`
/// runs running.
pub(crate) fn has_room(running: usize, max_active_runs: u32) -> bool {
    running < max_active_runs as usize
}

/// One thing to do for a task of a running run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Start try `try_number` of the task.
    Start { task_id: String, try_number: i64 },
    /// An upstream task failed: this one never runs.
    UpstreamFailed { task_id: String },
    /// The task's trigger rule can no longer be met: it never runs.
    Skip { task_id: String },
}

/// What a running run's tasks call for at `now`, in the DAG's
/// (topological) order: a task starts when its trigger rule is met (by
/// default: every upstream task succeeded); one whose rule can no longer be
/// met is marked upstream-failed or skipped as the rule says (and its own
/// downstream follows on the same turn); a retry starts once due; a task
/// already queued for room stays ready, and comes back as a `Start` unless
/// it is already `waiting` in the queue (by task instance id: after a
/// restart or a clear it is not). A task with `depends_on_past` also
/// waits until its instance in the DAG's previous run (`past`, by task id;
/// `None` when there is none) succeeded or was skipped, as in Airflow. A
/// cleared task goes on counting tries where it was. Nothing starts in a
/// run a person is failing. A `Start` says the task is ready: whether there
/// is room for it now is [`super::admit`]'s call.
pub(crate) fn next_steps(
    dag: &Dag,
    tis: &BTreeMap<String, TaskInstanceRow>,
    failing: bool,
    now: DateTime<Utc>,
    past: &dyn Fn(&str) -> Option<TiState>,
    waiting: &dyn Fn(i64) -> bool,
) -> Vec<Step> {
    if failing {
        return Vec::new();
    }
    // States as they will be once the earlier steps are done.
    let mut after: HashMap<&str, TiState> = HashMap::new();
    let state = |after: &HashMap<&str, TiState>, id: &str| after.get(id).copied().or(tis.get(id).map(|t| t.state));
    let mut steps = Vec::new();
    for task in &dag.tasks {
        let Some(ti) = tis.get(&task.id) else { continue };
        match ti.state {
            TiState::None => {
                let deps: Vec<Option<TiState>> = task.depends_on.iter().map(|d| state(&after, d)).collect();
                match verdict(task.trigger_rule, &deps) {
                    Verdict::Wait => {}
                    Verdict::UpstreamFailed => {
                        after.insert(&task.id, TiState::UpstreamFailed);
                        steps.push(Step::UpstreamFailed { task_id: task.id.clone() });
                    }
                    Verdict::Skip => {
                        after.insert(&task.id, TiState::Skipped);
                        steps.push(Step::Skip { task_id: task.id.clone() });
                    }
                    Verdict::Run if task.depends_on_past && past(&task.id).is_some_and(|s| !past_allows(s)) => {}
                    Verdict::Run => {
                        after.insert(&task.id, TiState::Running);
                        steps.push(Step::Start { task_id: task.id.clone(), try_number: ti.try_number + 1 });
                    }
                }
            }
            TiState::Queued if waiting(ti.id) => {}
            TiState::Queued => {
                after.insert(&task.id, TiState::Running);
                steps.push(Step::Start { task_id: task.id.clone(), try_number: ti.try_number + 1 });
            }
            TiState::UpForRetry if ti.next_try_at.is_none_or(|t| t <= now) => {
                after.insert(&task.id, TiState::Running);
                steps.push(Step::Start { task_id: task.id.clone(), try_number: ti.try_number + 1 });
            }
            _ => {}
        }
    }
    steps
}

/// A run ends once every task has ended: failed if a person is failing it
/// or any task failed or was upstream-failed, successful otherwise (a task
/// its trigger rule skipped, like an alert that only runs on failure, does
/// not fail the run). Stricter than Airflow, which looks only at the leaf
/// tasks: a cleanup task that runs after a failure does not hide it.
/// `None` while a task has not ended.
pub(crate) fn run_end<'a>(tis: impl IntoIterator<Item = &'a TaskInstanceRow> + Clone, failing: bool) -> Option<RunState> {
    if !tis.clone().into_iter().all(|t| t.state.is_terminal()) {
        return None;
    }
    if failing || tis.into_iter().any(|t| matches!(t.state, TiState::Failed | TiState::UpstreamFailed)) {
        Some(RunState::Failed)
    } else {
        Some(RunState::Success)
    }
}

/// Airflow's on_success_callback / on_failure_callback of a DAG.
pub(crate) fn run_notifiers(state: RunState, dag: &Dag) -> (NotifyEvent, &[String]) {
    match state {
        RunState::Success => (NotifyEvent::OnRunSuccess, &dag.on_run_success),
        _ => (NotifyEvent::OnRunFailure, &dag.on_run_failure),
    }
}

/// Whether a `depends_on_past` task may start after its previous instance
/// ended so: Airflow lets success and skipped through.
fn past_allows(state: TiState) -> bool {
    matches!(state, TiState::Success | TiState::Skipped)
}

/// The tasks a run marked failed skips: those not started yet, those
/// queued for room and those waiting for a retry. Running ones are killed
/// instead.
pub(crate) fn skipped_by_fail<'a>(tis: impl IntoIterator<Item = &'a TaskInstanceRow>) -> Vec<String> {
    tis.into_iter()
        .filter(|t| matches!(t.state, TiState::None | TiState::Queued | TiState::UpForRetry))
        .map(|t| t.task_id.clone())
        .collect()
}

/// When a running run times out (the DAG's `dagrun_timeout` after the run
/// started); `None` without a timeout, before the run started, and once a
/// person or a timeout is failing it.
pub(crate) fn run_deadline(run: &RunRow, dag: &Dag) -> Option<DateTime<Utc>> {
    deadline_of(run.state, run.failing, run.start_date, dag.dagrun_timeout)
}

fn deadline_of(
    state: RunState,
    failing: bool,
    started: Option<DateTime<Utc>>,
    timeout: Option<std::time::Duration>,
) -> Option<DateTime<Utc>> {
    if state != RunState::Running || failing {
        return None;
    }
    let timeout = chrono::Duration::from_std(timeout?).unwrap_or(chrono::Duration::MAX);
    started?.checked_add_signed(timeout)
}

/// When the loop must wake on its own: the earliest retry, cron tick or
/// run deadline (`others`).
pub(crate) fn next_wake<'a>(
    tis: impl IntoIterator<Item = &'a TaskInstanceRow>,
    cron: impl IntoIterator<Item = DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let retries = tis
        .into_iter()
        .filter(|ti| ti.state == TiState::UpForRetry)
        .filter_map(|ti| ti.next_try_at);
    retries.chain(cron).min()
}

/// The run id of a manual trigger that names none.
pub(crate) fn manual_run_id(logical_date: DateTime<Utc>) -> String {
    format!("manual__{}", logical_date.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::fixture::{at, dag, graph, ti, tis};
    use TiState::*;

    const NOW: &str = "2026-03-01T12:00:00Z";

    /// No previous run.
    fn no_past(_: &str) -> Option<TiState> {
        Option::None
    }

    /// Nothing in the queue yet.
    fn none_waiting(_: i64) -> bool {
        false
    }

    fn start(task_id: &str, try_number: i64) -> Step {
        Step::Start { task_id: task_id.into(), try_number }
    }

    fn upstream_failed(task_id: &str) -> Step {
        Step::UpstreamFailed { task_id: task_id.into() }
    }

    fn skip(task_id: &str) -> Step {
        Step::Skip { task_id: task_id.into() }
    }

    /// a -> b -> c, and d alone.
    fn chain() -> Dag {
        graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("d", &[])], "")
    }

    #[test]
    fn a_queued_run_starts_while_its_dag_has_room() {
        assert!(has_room(0, 1));
        assert!(has_room(2, 3));
    }

    #[test]
    fn a_queued_run_waits_when_its_dag_is_at_max_active_runs() {
        assert!(!has_room(1, 1));
        assert!(!has_room(4, 3));
        assert!(!has_room(0, 0));
    }

    #[test]
    fn a_new_run_starts_every_task_without_upstream() {
        let steps = next_steps(&chain(), &tis(&[("a", None), ("b", None), ("c", None), ("d", None)]), false, at(NOW), &no_past, &none_waiting);
        assert_eq!(steps, [start("a", 1), start("d", 1)]);
    }

    #[test]
    fn a_task_starts_once_its_upstream_succeeded() {
        let steps = next_steps(&chain(), &tis(&[("a", Success), ("b", None), ("c", None), ("d", Running)]), false, at(NOW), &no_past, &none_waiting);
        assert_eq!(steps, [start("b", 1)]);
    }

    #[test]
    fn a_task_waits_while_its_upstream_runs() {
        let steps = next_steps(&chain(), &tis(&[("a", Running), ("b", None), ("c", None), ("d", Success)]), false, at(NOW), &no_past, &none_waiting);
        assert!(steps.is_empty());
    }

    #[test]
    fn a_task_waits_while_its_upstream_waits_for_a_retry() {
        let mut tis = tis(&[("a", UpForRetry), ("b", None), ("c", None), ("d", Success)]);
        tis.get_mut("a").unwrap().next_try_at = Some(at("2026-03-01T13:00:00Z"));
        assert!(next_steps(&chain(), &tis, false, at(NOW), &no_past, &none_waiting).is_empty());
    }

    #[test]
    fn a_task_with_several_upstream_waits_for_all_of_them() {
        let dag = graph(&[("a", &[]), ("b", &[]), ("join", &["a", "b"])], "");
        let steps = next_steps(&dag, &tis(&[("a", Success), ("b", Running), ("join", None)]), false, at(NOW), &no_past, &none_waiting);
        assert!(steps.is_empty());
        let steps = next_steps(&dag, &tis(&[("a", Success), ("b", Success), ("join", None)]), false, at(NOW), &no_past, &none_waiting);
        assert_eq!(steps, [start("join", 1)]);
    }

    #[test]
    fn a_failed_upstream_marks_the_whole_downstream_on_one_turn() {
        let steps = next_steps(&chain(), &tis(&[("a", Failed), ("b", None), ("c", None), ("d", Success)]), false, at(NOW), &no_past, &none_waiting);
        assert_eq!(steps, [upstream_failed("b"), upstream_failed("c")]);
    }

    #[test]
    fn one_failed_upstream_is_enough_even_while_another_runs() {
        let dag = graph(&[("a", &[]), ("b", &[]), ("join", &["a", "b"])], "");
        let steps = next_steps(&dag, &tis(&[("a", Failed), ("b", Running), ("join", None)]), false, at(NOW), &no_past, &none_waiting);
        assert_eq!(steps, [upstream_failed("join")]);
    }

    #[test]
    fn an_upstream_failed_upstream_passes_the_mark_on() {
        let steps = next_steps(&chain(), &tis(&[("a", Failed), ("b", UpstreamFailed), ("c", None), ("d", Success)]), false, at(NOW), &no_past, &none_waiting);
        assert_eq!(steps, [upstream_failed("c")]);
    }

    #[test]
    fn a_skipped_upstream_skips_the_downstream_under_all_success() {
        let steps = next_steps(&chain(), &tis(&[("a", Skipped), ("b", None), ("c", None), ("d", Success)]), false, at(NOW), &no_past, &none_waiting);
        assert_eq!(steps, [skip("b"), skip("c")]);
    }

    /// extract -> cleanup (all_done), and alert (one_failed) on both.
    fn cleanup_and_alert() -> Dag {
        dag(concat!(
            "id = \"t\"\n[defaults]\nbackend = \"local\"\n",
            "[[tasks]]\nid = \"extract\"\napplication = { resource = \"app.jar\" }\n",
            "[[tasks]]\nid = \"cleanup\"\ndepends_on = [\"extract\"]\ntrigger_rule = \"all_done\"\napplication = { resource = \"app.jar\" }\n",
            "[[tasks]]\nid = \"alert\"\ndepends_on = [\"extract\", \"cleanup\"]\ntrigger_rule = \"one_failed\"\napplication = { resource = \"app.jar\" }\n",
        ))
    }

    #[test]
    fn a_cleanup_task_runs_after_its_upstream_failed_and_the_alert_with_it() {
        let steps = next_steps(&cleanup_and_alert(), &tis(&[("extract", Failed), ("cleanup", None), ("alert", None)]), false, at(NOW), &no_past, &none_waiting);
        assert_eq!(steps, [start("cleanup", 1), start("alert", 1)], "one_failed does not wait for the cleanup");
    }

    #[test]
    fn an_alert_on_failure_is_skipped_when_everything_succeeded_and_the_run_succeeds() {
        let dag = cleanup_and_alert();
        let steps = next_steps(&dag, &tis(&[("extract", Success), ("cleanup", Success), ("alert", None)]), false, at(NOW), &no_past, &none_waiting);
        assert_eq!(steps, [skip("alert")]);
        let ended = tis(&[("extract", Success), ("cleanup", Success), ("alert", Skipped)]);
        assert_eq!(run_end(ended.values(), false), Some(RunState::Success));
    }

    #[test]
    fn a_queued_task_stays_ready_until_it_gets_room() {
        let mut tis = tis(&[("a", Queued), ("b", None), ("c", None), ("d", Running)]);
        tis.get_mut("a").unwrap().try_number = 0;
        tis.get_mut("a").unwrap().id = 7;
        assert_eq!(next_steps(&chain(), &tis, false, at(NOW), &no_past, &none_waiting), [start("a", 1)]);
        assert!(next_steps(&chain(), &tis, false, at(NOW), &no_past, &|ti| ti == 7).is_empty(), "already in the queue");
    }

    /// a (depends_on_past) -> b.
    fn past_bound() -> Dag {
        dag(concat!(
            "id = \"t\"\n[defaults]\nbackend = \"local\"\n",
            "[[tasks]]\nid = \"a\"\ndepends_on_past = true\napplication = { resource = \"app.jar\" }\n",
            "[[tasks]]\nid = \"b\"\ndepends_on = [\"a\"]\napplication = { resource = \"app.jar\" }\n",
        ))
    }

    #[test]
    fn depends_on_past_waits_for_the_previous_runs_instance_to_succeed_or_skip() {
        let new = tis(&[("a", None), ("b", None)]);
        for (before, starts) in [(Running, false), (Failed, false), (UpstreamFailed, false), (UpForRetry, false), (None, false), (Success, true), (Skipped, true)] {
            let steps = next_steps(&past_bound(), &new, false, at(NOW), &|id| (id == "a").then_some(before), &none_waiting);
            assert_eq!(steps.contains(&start("a", 1)), starts, "previous instance {before}");
        }
    }

    #[test]
    fn depends_on_past_lets_the_first_run_through() {
        let steps = next_steps(&past_bound(), &tis(&[("a", None), ("b", None)]), false, at(NOW), &no_past, &none_waiting);
        assert_eq!(steps, [start("a", 1)]);
    }

    #[test]
    fn only_tasks_with_depends_on_past_look_at_the_previous_run() {
        let steps = next_steps(&past_bound(), &tis(&[("a", Success), ("b", None)]), false, at(NOW), &|_| Some(Failed), &none_waiting);
        assert_eq!(steps, [start("b", 1)]);
    }

    #[test]
    fn a_due_retry_starts_the_next_try() {
        let mut tis = tis(&[("a", UpForRetry), ("b", None), ("c", None), ("d", Success)]);
        let a = tis.get_mut("a").unwrap();
        a.try_number = 2;
        a.next_try_at = Some(at("2026-03-01T11:59:59Z"));
        assert_eq!(next_steps(&chain(), &tis, false, at(NOW), &no_past, &none_waiting), [start("a", 3)]);
    }

    #[test]
    fn a_retry_falling_due_exactly_now_starts() {
        let mut tis = tis(&[("a", UpForRetry), ("b", None), ("c", None), ("d", Success)]);
        tis.get_mut("a").unwrap().next_try_at = Some(at(NOW));
        assert_eq!(next_steps(&chain(), &tis, false, at(NOW), &no_past, &none_waiting), [start("a", 2)]);
    }

    #[test]
    fn a_retry_not_yet_due_waits() {
        let mut tis = tis(&[("a", UpForRetry), ("b", None), ("c", None), ("d", Success)]);
        tis.get_mut("a").unwrap().next_try_at = Some(at("2026-03-01T12:00:01Z"));
        assert!(next_steps(&chain(), &tis, false, at(NOW), &no_past, &none_waiting).is_empty());
    }

    #[test]
    fn a_retry_without_a_due_time_starts_at_once() {
        let tis = tis(&[("a", UpForRetry), ("b", None), ("c", None), ("d", Success)]);
        assert_eq!(next_steps(&chain(), &tis, false, at(NOW), &no_past, &none_waiting), [start("a", 2)]);
    }

    #[test]
    fn a_cleared_task_goes_on_counting_tries_where_it_was() {
        let mut tis = tis(&[("a", None), ("b", None), ("c", None), ("d", Success)]);
        tis.get_mut("a").unwrap().try_number = 3;
        assert_eq!(next_steps(&chain(), &tis, false, at(NOW), &no_past, &none_waiting), [start("a", 4)]);
    }

    #[test]
    fn nothing_starts_in_a_run_a_person_is_failing() {
        let tis = tis(&[("a", None), ("b", None), ("c", None), ("d", UpForRetry)]);
        assert!(next_steps(&chain(), &tis, true, at(NOW), &no_past, &none_waiting).is_empty());
    }

    #[test]
    fn nothing_more_happens_in_a_run_whose_tasks_all_ended() {
        let tis = tis(&[("a", Success), ("b", Failed), ("c", UpstreamFailed), ("d", Skipped)]);
        assert!(next_steps(&chain(), &tis, false, at(NOW), &no_past, &none_waiting).is_empty());
    }

    #[test]
    fn running_tasks_are_left_alone() {
        let tis = tis(&[("a", Running), ("b", None), ("c", None), ("d", Running)]);
        assert!(next_steps(&chain(), &tis, false, at(NOW), &no_past, &none_waiting).is_empty());
    }

    #[test]
    fn tasks_start_in_the_dags_topological_order() {
        let dag = graph(&[("z", &[]), ("m", &[]), ("a", &[])], "");
        let steps = next_steps(&dag, &tis(&[("z", None), ("m", None), ("a", None)]), false, at(NOW), &no_past, &none_waiting);
        assert_eq!(steps, [start("z", 1), start("m", 1), start("a", 1)]);
    }

    #[test]
    fn a_task_without_a_task_instance_is_passed_over() {
        // A run keeps the DAG it started with; its task instances are the
        // truth when the two disagree.
        let steps = next_steps(&chain(), &tis(&[("a", Success), ("b", None)]), false, at(NOW), &no_past, &none_waiting);
        assert_eq!(steps, [start("b", 1)]);
    }

    #[test]
    fn a_run_whose_tasks_all_succeeded_succeeds() {
        let tis = tis(&[("a", Success), ("b", Success)]);
        assert_eq!(run_end(tis.values(), false), Some(RunState::Success));
    }

    #[test]
    fn a_run_with_a_failed_task_fails() {
        let tis = tis(&[("a", Success), ("b", Failed)]);
        assert_eq!(run_end(tis.values(), false), Some(RunState::Failed));
    }

    #[test]
    fn a_run_with_an_upstream_failed_task_fails() {
        assert_eq!(run_end(tis(&[("a", Success), ("b", UpstreamFailed)]).values(), false), Some(RunState::Failed));
    }

    #[test]
    fn a_task_its_trigger_rule_skipped_does_not_fail_the_run() {
        assert_eq!(run_end(tis(&[("a", Success), ("b", Skipped)]).values(), false), Some(RunState::Success));
    }

    #[test]
    fn a_run_a_person_is_failing_fails_even_if_its_tasks_succeeded() {
        assert_eq!(run_end(tis(&[("a", Success), ("b", Skipped)]).values(), true), Some(RunState::Failed));
    }

    #[test]
    fn a_run_goes_on_while_a_task_has_not_ended() {
        for open in [None, Queued, Running, UpForRetry] {
            assert_eq!(run_end(tis(&[("a", Failed), ("b", open)]).values(), false), Option::None, "{open}");
        }
    }

    #[test]
    fn a_run_without_tasks_succeeds() {
        assert_eq!(run_end(tis(&[]).values(), false), Some(RunState::Success));
    }

    #[test]
    fn a_run_tells_its_dags_notifiers_how_it_ended() {
        let dag = dag(concat!(
            "id = \"t\"\non_run_success = [\"team\"]\non_run_failure = [\"ops\"]\n",
            "[[tasks]]\nid = \"a\"\nbackend = \"local\"\napplication = { resource = \"app.jar\" }\n"
        ));
        assert_eq!(run_notifiers(RunState::Success, &dag), (NotifyEvent::OnRunSuccess, &["team".to_string()][..]));
        assert_eq!(run_notifiers(RunState::Failed, &dag), (NotifyEvent::OnRunFailure, &["ops".to_string()][..]));
    }

    #[test]
    fn failing_a_run_skips_the_waiting_tasks_and_not_the_running_ones() {
        let tis = tis(&[("a", Success), ("b", Running), ("c", None), ("d", UpForRetry), ("e", Failed), ("f", Queued)]);
        assert_eq!(skipped_by_fail(tis.values()), ["c", "d", "f"]);
    }

    #[test]
    fn the_loop_wakes_for_the_earliest_retry_or_cron_tick() {
        let mut waiting = ti("a", UpForRetry, 1);
        waiting.next_try_at = Some(at("2026-03-01T12:05:00Z"));
        let mut stale = ti("b", Running, 1);
        // Only a task waiting for a retry counts.
        stale.next_try_at = Some(at("2026-03-01T12:01:00Z"));
        let tis = [waiting, stale];
        assert_eq!(next_wake(&tis, [at("2026-03-01T12:10:00Z")]), Some(at("2026-03-01T12:05:00Z")));
        assert_eq!(next_wake(&tis, [at("2026-03-01T12:02:00Z")]), Some(at("2026-03-01T12:02:00Z")));
    }

    #[test]
    fn a_running_run_times_out_its_dagrun_timeout_after_it_started() {
        let dag = dag("id = \"t\"\ndagrun_timeout = \"90m\"\n[[tasks]]\nid = \"a\"\nbackend = \"local\"\napplication = { resource = \"a.jar\" }\n");
        let timeout = dag.dagrun_timeout;
        assert_eq!(timeout, Some(std::time::Duration::from_secs(90 * 60)));
        let started = Some(at("2026-03-01T12:00:00Z"));
        assert_eq!(deadline_of(RunState::Running, false, started, timeout), Some(at("2026-03-01T13:30:00Z")));
        assert_eq!(deadline_of(RunState::Queued, false, Option::None, timeout), Option::None, "not started");
        assert_eq!(deadline_of(RunState::Running, true, started, timeout), Option::None, "already failing");
        assert_eq!(deadline_of(RunState::Running, false, started, chain().dagrun_timeout), Option::None, "no dagrun_timeout");
    }

    #[test]
    fn an_idle_loop_has_no_wake_up_of_its_own() {
        assert_eq!(next_wake(&[ti("a", Success, 1)], []), Option::None);
    }

    #[test]
    fn a_manual_run_is_named_after_its_logical_date() {
        assert_eq!(manual_run_id(at(NOW)), "manual__2026-03-01T12:00:00+00:00");
    }
}
