//! Airflow's "clear": which task instances of a run run again, and with how
//! many tries.

use std::collections::{BTreeMap, BTreeSet};

use drover_dag::{Dag, Task};
use drover_store::{TaskInstanceRow, TiState};

/// Why a clear is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The run has no such task.
    UnknownTask(String),
    /// These chosen tasks have not ended: kill them first.
    Busy(Vec<String>),
}

/// The tasks a clear resets, in task id order: those requested (every task
/// when `task_ids` is `None` or empty), only the failed ones with
/// `only_failed`; then, to a fixed point, their downstream: all of it with
/// `include_downstream`, else only what never ran because of them
/// (upstream-failed or skipped). Tasks that never ran are left out, as
/// there is nothing to reset.
pub(crate) fn clear_selection(
    dag: &Dag,
    tis: &BTreeMap<String, TaskInstanceRow>,
    task_ids: Option<&[String]>,
    only_failed: bool,
    include_downstream: bool,
) -> Result<Vec<String>, Refusal> {
    let requested: Vec<String> = match task_ids {
        Some(ids) if !ids.is_empty() => ids.to_vec(),
        _ => dag.tasks.iter().map(|t| t.id.clone()).collect(),
    };
    if let Some(unknown) = requested.iter().find(|t| !tis.contains_key(*t)) {
        return Err(Refusal::UnknownTask(unknown.clone()));
    }
    let state = |t: &str| tis.get(t).map_or(TiState::None, |ti| ti.state);
    let mut chosen: BTreeSet<String> = requested
        .into_iter()
        .filter(|t| !only_failed || matches!(state(t), TiState::Failed | TiState::UpstreamFailed))
        .collect();
    loop {
        let more: Vec<String> = dag
            .tasks
            .iter()
            .filter(|t| !chosen.contains(&t.id))
            .filter(|t| t.depends_on.iter().any(|d| chosen.contains(d)))
            .filter(|t| include_downstream || matches!(state(&t.id), TiState::UpstreamFailed | TiState::Skipped))
            .map(|t| t.id.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        chosen.extend(more);
    }
    let busy: Vec<String> = chosen
        .iter()
        .filter(|t| !state(t).is_terminal() && state(t) != TiState::None)
        .cloned()
        .collect();
    if !busy.is_empty() {
        return Err(Refusal::Busy(busy));
    }
    Ok(chosen.into_iter().filter(|t| state(t) != TiState::None).collect())
}

/// A cleared task gets its retries afresh, counted on from the tries it
/// already made. `task` is `None` when the task is gone from the DAG: one
/// try then.
pub(crate) fn max_tries_after_clear(task: Option<&Task>, try_number: i64) -> i64 {
    try_number + task.map_or(0, |t| i64::from(t.retries)) + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::fixture::{graph, tis};
    use TiState::*;

    /// a -> b -> c, a -> d.
    fn dag() -> Dag {
        graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("d", &["a"])], "retries = 2")
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// A request naming these tasks.
    fn only(list: &[&str]) -> Option<Vec<String>> {
        Some(ids(list))
    }

    fn select(
        states: &[(&str, TiState)],
        task_ids: Option<Vec<String>>,
        only_failed: bool,
        include_downstream: bool,
    ) -> Result<Vec<String>, Refusal> {
        clear_selection(&dag(), &tis(states), task_ids.as_deref(), only_failed, include_downstream)
    }

    #[test]
    fn clearing_without_task_ids_clears_every_task_that_ran() {
        let states = [("a", Success), ("b", Failed), ("c", UpstreamFailed), ("d", Success)];
        assert_eq!(select(&states, Option::None, false, false), Ok(ids(&["a", "b", "c", "d"])));
        assert_eq!(select(&states, only(&[]), false, false), Ok(ids(&["a", "b", "c", "d"])));
    }

    #[test]
    fn clearing_a_task_takes_along_the_downstream_that_never_ran_because_of_it() {
        let states = [("a", Success), ("b", Failed), ("c", UpstreamFailed), ("d", Success)];
        assert_eq!(select(&states, only(&["b"]), false, false), Ok(ids(&["b", "c"])));
    }

    #[test]
    fn clearing_a_task_leaves_its_successful_downstream_alone() {
        let states = [("a", Success), ("b", Success), ("c", Success), ("d", Success)];
        assert_eq!(select(&states, only(&["a"]), false, false), Ok(ids(&["a"])));
    }

    #[test]
    fn include_downstream_clears_everything_after_the_task() {
        let states = [("a", Success), ("b", Success), ("c", Success), ("d", Failed)];
        assert_eq!(select(&states, only(&["a"]), false, true), Ok(ids(&["a", "b", "c", "d"])));
    }

    #[test]
    fn the_downstream_is_followed_to_its_end() {
        let states = [("a", Failed), ("b", UpstreamFailed), ("c", UpstreamFailed), ("d", UpstreamFailed)];
        assert_eq!(select(&states, only(&["a"]), false, false), Ok(ids(&["a", "b", "c", "d"])));
    }

    #[test]
    fn skipped_downstream_is_cleared_with_its_upstream() {
        let states = [("a", Failed), ("b", Skipped), ("c", Skipped), ("d", Skipped)];
        assert_eq!(select(&states, only(&["a"]), false, false), Ok(ids(&["a", "b", "c", "d"])));
    }

    #[test]
    fn only_failed_clears_just_the_failed_and_upstream_failed_tasks() {
        let states = [("a", Success), ("b", Failed), ("c", UpstreamFailed), ("d", Success)];
        assert_eq!(select(&states, Option::None, true, false), Ok(ids(&["b", "c"])));
    }

    #[test]
    fn only_failed_with_nothing_failed_clears_nothing() {
        let states = [("a", Success), ("b", Success), ("c", Success), ("d", Success)];
        assert_eq!(select(&states, Option::None, true, false), Ok(vec![]));
    }

    #[test]
    fn an_unknown_task_is_refused() {
        let states = [("a", Success), ("b", Success), ("c", Success), ("d", Success)];
        assert_eq!(select(&states, only(&["a", "zz"]), false, false), Err(Refusal::UnknownTask("zz".into())));
    }

    #[test]
    fn a_running_task_is_refused_until_killed() {
        let states = [("a", Success), ("b", Running), ("c", None), ("d", Success)];
        assert_eq!(select(&states, only(&["b"]), false, false), Err(Refusal::Busy(ids(&["b"]))));
    }

    #[test]
    fn a_running_downstream_is_refused_too() {
        let states = [("a", Success), ("b", Success), ("c", Running), ("d", UpForRetry)];
        assert_eq!(select(&states, only(&["a"]), false, true), Err(Refusal::Busy(ids(&["c", "d"]))));
    }

    #[test]
    fn a_task_that_never_ran_has_nothing_to_clear() {
        let states = [("a", Success), ("b", Running), ("c", None), ("d", None)];
        assert_eq!(select(&states, only(&["c", "d"]), false, false), Ok(vec![]));
    }

    #[test]
    fn a_cleared_task_gets_its_retries_afresh() {
        let dag = dag();
        assert_eq!(max_tries_after_clear(dag.task("a"), 3), 6);
        assert_eq!(max_tries_after_clear(dag.task("a"), 0), 3);
    }

    #[test]
    fn a_cleared_task_gone_from_the_dag_gets_one_more_try() {
        assert_eq!(max_tries_after_clear(Option::None, 2), 3);
    }
}
