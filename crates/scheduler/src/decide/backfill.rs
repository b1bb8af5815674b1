//! Backfills: which schedule ticks of a date range get a new run, which
//! existing runs run again (`reprocess`), in what order they start, and
//! when a backfill's run may start.

use chrono::{DateTime, Utc};
use drover_dag::Dag;
use drover_store::{RunRow, RunState};

/// At most this many runs per backfill, so a typo in a date cannot flood
/// the database.
pub(crate) const MAX_BACKFILL_RUNS: usize = 10_000;

/// Which ticks that already have a run are run again (Airflow's
/// `reprocess_behavior`): none, those whose run failed, or every ended one.
/// A tick whose run is still queued or running is never touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reprocess {
    None,
    Failed,
    Completed,
}

impl Reprocess {
    pub(crate) fn parse(s: &str) -> Option<Reprocess> {
        match s {
            "none" => Some(Reprocess::None),
            "failed" => Some(Reprocess::Failed),
            "completed" => Some(Reprocess::Completed),
            _ => None,
        }
    }

    fn reruns(self, state: RunState) -> bool {
        match self {
            Reprocess::None => false,
            Reprocess::Failed => state == RunState::Failed,
            Reprocess::Completed => state.is_terminal(),
        }
    }
}

/// What a backfill does for one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tick {
    /// A new run at this logical date.
    New(DateTime<Utc>),
    /// The existing run (by primary key) runs again.
    Rerun { logical_date: DateTime<Utc>, run_pk: i64 },
}

impl Tick {
    pub(crate) fn logical_date(&self) -> DateTime<Utc> {
        match self {
            Tick::New(at) | Tick::Rerun { logical_date: at, .. } => *at,
        }
    }
}

/// Why a backfill cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    NoSchedule,
    Backwards,
    TooMany,
    /// A date before 1970 or after 2200: a typo, not history.
    OutOfRange,
}

/// The ticks of the DAG's schedule in `[from, to]`, each as a new run or a
/// rerun of the run it has (`existing`, any order), skipping those
/// `reprocess` leaves alone, in the order they start: oldest first, or
/// newest first with `backwards`.
pub(crate) fn plan(
    dag: &Dag,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    reprocess: Reprocess,
    backwards: bool,
    existing: &[RunRow],
) -> Result<Vec<Tick>, Refused> {
    if dag.schedule.is_manual() {
        return Err(Refused::NoSchedule);
    }
    let earliest = DateTime::<Utc>::UNIX_EPOCH;
    let latest = earliest + chrono::Duration::days(230 * 365);
    if [from, to].iter().any(|d| *d < earliest || *d > latest) {
        return Err(Refused::OutOfRange);
    }
    if to < from {
        return Err(Refused::Backwards);
    }
    let mut ticks = Vec::new();
    let mut t = dag.schedule.next_after(from - chrono::Duration::nanoseconds(1), dag.timezone);
    while let Some(at) = t.filter(|at| *at <= to) {
        if ticks.len() >= MAX_BACKFILL_RUNS {
            return Err(Refused::TooMany);
        }
        // The newest run at the tick decides.
        match existing.iter().filter(|r| r.logical_date == at).max_by_key(|r| r.id) {
            None => ticks.push(Tick::New(at)),
            Some(r) if reprocess.reruns(r.state) => ticks.push(Tick::Rerun { logical_date: at, run_pk: r.id }),
            Some(_) => {}
        }
        t = dag.schedule.next_after(at, dag.timezone);
    }
    if backwards {
        ticks.reverse();
    }
    Ok(ticks)
}

/// The run id of a backfill's new run.
pub(crate) fn backfill_run_id(tick: DateTime<Utc>) -> String {
    format!("backfill__{}", tick.to_rfc3339())
}

/// A queued run of a backfill starts while the backfill is not paused and
/// fewer than its `max_active_runs` of its runs run. The DAG's own
/// `max_active_runs` does not apply to it, as in Airflow.
pub(crate) fn backfill_has_room(paused: bool, running: usize, max_active_runs: i64) -> bool {
    !paused && (running as i64) < max_active_runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::fixture::{at, dag};

    fn daily() -> Dag {
        dag("id = \"d\"\nschedule = \"@daily\"\nstart_date = \"2026-01-01\"\n[[tasks]]\nid = \"a\"\nbackend = \"local\"\napplication = { resource = \"a.jar\" }\n")
    }

    fn run(id: i64, date: &str, state: RunState) -> RunRow {
        RunRow {
            id,
            dag_id: "d".into(),
            run_id: format!("r{id}"),
            run_type: "scheduled".into(),
            logical_date: at(date),
            state,
            conf: empty_object(),
            params: empty_object(),
            dag_hash: String::new(),
            dag_snapshot: String::new(),
            created_at: at(date),
            start_date: None,
            end_date: None,
            failing: false,
            backfill_id: None,
        }
    }

    fn empty_object() -> drover_store::Json<serde_json::Value> {
        drover_store::Json(serde_json::json!({}))
    }

    fn dates(ticks: &[Tick]) -> Vec<String> {
        ticks.iter().map(|t| t.logical_date().format("%m-%d").to_string()).collect()
    }

    #[test]
    fn every_tick_in_the_range_gets_a_run_both_ends_included() {
        let ticks = plan(&daily(), at("2026-01-01T00:00:00Z"), at("2026-01-10T00:00:00Z"), Reprocess::None, false, &[]).unwrap();
        assert_eq!(ticks.len(), 10);
        assert!(ticks.iter().all(|t| matches!(t, Tick::New(_))));
        assert_eq!(dates(&ticks)[0], "01-01");
        assert_eq!(dates(&ticks)[9], "01-10");
    }

    #[test]
    fn backwards_starts_with_the_newest() {
        let ticks = plan(&daily(), at("2026-01-01T00:00:00Z"), at("2026-01-03T00:00:00Z"), Reprocess::None, true, &[]).unwrap();
        assert_eq!(dates(&ticks), ["01-03", "01-02", "01-01"]);
    }

    #[test]
    fn reprocess_decides_what_happens_to_ticks_that_have_a_run() {
        let existing = [
            run(1, "2026-01-01T00:00:00Z", RunState::Success),
            run(2, "2026-01-02T00:00:00Z", RunState::Failed),
            run(3, "2026-01-03T00:00:00Z", RunState::Running),
            run(4, "2026-01-04T00:00:00Z", RunState::Queued),
        ];
        let (from, to) = (at("2026-01-01T00:00:00Z"), at("2026-01-05T00:00:00Z"));
        let none = plan(&daily(), from, to, Reprocess::None, false, &existing).unwrap();
        assert_eq!(none, [Tick::New(at("2026-01-05T00:00:00Z"))]);
        let failed = plan(&daily(), from, to, Reprocess::Failed, false, &existing).unwrap();
        assert_eq!(failed, [Tick::Rerun { logical_date: at("2026-01-02T00:00:00Z"), run_pk: 2 }, Tick::New(at("2026-01-05T00:00:00Z"))]);
        let completed = plan(&daily(), from, to, Reprocess::Completed, false, &existing).unwrap();
        assert_eq!(dates(&completed), ["01-01", "01-02", "01-05"], "never a running or queued run");
    }

    #[test]
    fn the_newest_run_of_a_tick_decides() {
        let existing = [run(1, "2026-01-01T00:00:00Z", RunState::Failed), run(5, "2026-01-01T00:00:00Z", RunState::Success)];
        let ticks = plan(&daily(), at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z"), Reprocess::Failed, false, &existing).unwrap();
        assert!(ticks.is_empty());
    }

    #[test]
    fn a_backfill_needs_a_schedule_and_a_forward_range() {
        let manual = dag("id = \"m\"\n[[tasks]]\nid = \"a\"\nbackend = \"local\"\napplication = { resource = \"a.jar\" }\n");
        let (from, to) = (at("2026-01-01T00:00:00Z"), at("2026-01-02T00:00:00Z"));
        assert_eq!(plan(&manual, from, to, Reprocess::None, false, &[]), Err(Refused::NoSchedule));
        assert_eq!(plan(&daily(), to, from, Reprocess::None, false, &[]), Err(Refused::Backwards));
        let far = at("2100-01-01T00:00:00Z");
        assert_eq!(plan(&daily(), from, far, Reprocess::None, false, &[]), Err(Refused::TooMany));
        let typo = at("0026-01-01T00:00:00Z");
        assert_eq!(plan(&daily(), typo, to, Reprocess::None, false, &[]), Err(Refused::OutOfRange));
    }

    #[test]
    fn a_backfill_run_starts_while_its_backfill_has_room_and_is_not_paused() {
        assert!(backfill_has_room(false, 1, 2));
        assert!(!backfill_has_room(false, 2, 2));
        assert!(!backfill_has_room(true, 0, 2));
    }

    #[test]
    fn reprocess_names_are_airflows() {
        assert_eq!(Reprocess::parse("failed"), Some(Reprocess::Failed));
        assert_eq!(Reprocess::parse("completed"), Some(Reprocess::Completed));
        assert_eq!(Reprocess::parse("none"), Some(Reprocess::None));
        assert_eq!(Reprocess::parse("all"), Option::None);
    }
}
