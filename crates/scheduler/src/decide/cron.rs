//! Cron: which ticks of a DAG's schedule are due now, and when to look
//! again. With catch-up every missed tick gets a run (in batches); without
//! it only the latest missed one does.

use chrono::{DateTime, Utc};
use drover_dag::Dag;

/// At most this many catch-up runs are created per DAG per wake-up.
pub(crate) const CATCHUP_BATCH: usize = 1000;

/// What a DAG's schedule calls for on this turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CronStep {
    /// Manual, not due yet, or no start date: leave its wake-up as it is.
    Wait,
    /// Paused: no wake-up for it until it is resumed.
    Paused,
    /// Create a run for each tick of `due`, in order; then wake at `next`
    /// (`None`: the schedule has ended).
    Due { due: Vec<DateTime<Utc>>, next: Option<DateTime<Utc>> },
}

/// The schedule's position is the last tick a run was created for
/// (`last_scheduled_at`); `next_wake` is when the loop planned to look at
/// this DAG again, if it did.
pub(crate) fn cron_step(
    dag: &Dag,
    paused: bool,
    last_scheduled_at: Option<DateTime<Utc>>,
    next_wake: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> CronStep {
    if dag.schedule.is_manual() || next_wake.is_some_and(|t| t > now) {
        return CronStep::Wait;
    }
    if paused {
        return CronStep::Paused;
    }
    let Some(start) = dag.start_date else { return CronStep::Wait };
    // A tick at the start date itself counts.
    let base = last_scheduled_at.unwrap_or(start - chrono::Duration::nanoseconds(1));
    // Without catch-up only the latest missed tick runs: look for it near
    // now instead of walking (and batching) every tick since the schedule
    // position, which picked a stale tick once more than CATCHUP_BATCH
    // ticks had passed.
    let from = if dag.catchup { base } else { latest_tick_window(dag, base, now) };
    let mut due = Vec::new();
    let mut t = dag.schedule.next_after(from, dag.timezone);
    while let Some(at) = t {
        if at > now || dag.end_date.is_some_and(|e| at > e) || (dag.catchup && due.len() >= CATCHUP_BATCH) {
            break;
        }
        due.push(at);
        t = dag.schedule.next_after(at, dag.timezone);
    }
    if !dag.catchup && due.len() > 1 {
        due = vec![*due.last().expect("non-empty")];
    }
    let next = t.filter(|next| dag.end_date.is_none_or(|e| *next <= e));
    CronStep::Due { due, next }
}

/// Where to start looking for the latest tick after `base` and at or before
/// `now` (and the end date): the shortest window back from there, doubling
/// from one second, that holds a tick; `base` if none is shorter.
fn latest_tick_window(dag: &Dag, base: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let horizon = dag.end_date.map_or(now, |e| e.min(now));
    let mut window = chrono::Duration::seconds(1);
    loop {
        let from = horizon - window;
        if from <= base {
            return base;
        }
        if dag.schedule.next_after(from, dag.timezone).is_some_and(|t| t <= horizon) {
            return from;
        }
        window = window * 2;
    }
}

/// The run id of a scheduled run: unique per tick, so a tick runs once
/// however often it is looked at.
pub(crate) fn scheduled_run_id(tick: DateTime<Utc>) -> String {
    format!("scheduled__{}", tick.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::fixture::{at, dag};

    const TASK: &str = "[[tasks]]\nid = \"a\"\nbackend = \"local\"\napplication = { resource = \"app.jar\" }\n";

    fn scheduled(header: &str) -> Dag {
        dag(&format!("id = \"t\"\n{header}\n{TASK}"))
    }

    fn hourly(extra: &str) -> Dag {
        scheduled(&format!("schedule = \"0 * * * *\"\nstart_date = \"2026-03-01T00:00:00Z\"\n{extra}"))
    }

    fn due(step: CronStep) -> (Vec<DateTime<Utc>>, Option<DateTime<Utc>>) {
        match step {
            CronStep::Due { due, next } => (due, next),
            other => panic!("not due: {other:?}"),
        }
    }

    #[test]
    fn a_manual_dag_is_never_scheduled() {
        let dag = scheduled("start_date = \"2026-03-01T00:00:00Z\"");
        assert_eq!(cron_step(&dag, false, None, None, at("2026-03-02T00:00:00Z")), CronStep::Wait);
    }

    #[test]
    fn a_dag_is_not_looked_at_before_its_planned_wake_up() {
        let step = cron_step(&hourly(""), false, None, Some(at("2026-03-01T03:00:00Z")), at("2026-03-01T02:30:00Z"));
        assert_eq!(step, CronStep::Wait);
    }

    #[test]
    fn a_dag_is_looked_at_once_its_wake_up_is_due() {
        let now = at("2026-03-01T03:00:00Z");
        let (ticks, _) = due(cron_step(&hourly(""), false, Some(at("2026-03-01T02:00:00Z")), Some(now), now));
        assert_eq!(ticks, [now]);
    }

    #[test]
    fn a_paused_dag_forgets_its_wake_up() {
        let step = cron_step(&hourly(""), true, None, None, at("2026-03-01T05:00:00Z"));
        assert_eq!(step, CronStep::Paused);
    }

    #[test]
    fn a_paused_dag_keeps_a_wake_up_not_yet_due() {
        let step = cron_step(&hourly(""), true, None, Some(at("2026-03-01T06:00:00Z")), at("2026-03-01T05:00:00Z"));
        assert_eq!(step, CronStep::Wait);
    }

    #[test]
    fn a_dag_without_a_start_date_is_not_scheduled() {
        // drover-dag refuses such a file; a rule must not rely on that.
        let mut dag = hourly("");
        dag.start_date = Option::None;
        assert_eq!(cron_step(&dag, false, None, None, at("2026-03-01T05:00:00Z")), CronStep::Wait);
    }

    #[test]
    fn the_start_date_itself_is_the_first_tick() {
        let (ticks, next) = due(cron_step(&hourly("catchup = true"), false, None, None, at("2026-03-01T00:30:00Z")));
        assert_eq!(ticks, [at("2026-03-01T00:00:00Z")]);
        assert_eq!(next, Some(at("2026-03-01T01:00:00Z")));
    }

    #[test]
    fn before_the_start_date_nothing_is_due_and_the_start_is_the_wake_up() {
        let (ticks, next) = due(cron_step(&hourly(""), false, None, None, at("2026-02-28T12:00:00Z")));
        assert!(ticks.is_empty());
        assert_eq!(next, Some(at("2026-03-01T00:00:00Z")));
    }

    #[test]
    fn catchup_creates_a_run_for_every_missed_tick() {
        let now = at("2026-03-01T03:30:00Z");
        let (ticks, next) = due(cron_step(&hourly("catchup = true"), false, None, None, now));
        let hours: Vec<_> = (0..=3).map(|h| at(&format!("2026-03-01T0{h}:00:00Z"))).collect();
        assert_eq!(ticks, hours);
        assert_eq!(next, Some(at("2026-03-01T04:00:00Z")));
    }

    #[test]
    fn catchup_resumes_after_the_last_scheduled_tick() {
        let now = at("2026-03-01T03:30:00Z");
        let (ticks, _) = due(cron_step(&hourly("catchup = true"), false, Some(at("2026-03-01T01:00:00Z")), None, now));
        assert_eq!(ticks, [at("2026-03-01T02:00:00Z"), at("2026-03-01T03:00:00Z")]);
    }

    #[test]
    fn catchup_creates_at_most_a_batch_per_wake_up_and_wakes_at_once_for_the_rest() {
        // Every minute for several days: far more than a batch.
        let dag = scheduled("schedule = \"* * * * *\"\nstart_date = \"2026-03-01T00:00:00Z\"\ncatchup = true");
        let now = at("2026-03-05T00:00:00Z");
        let (ticks, next) = due(cron_step(&dag, false, None, None, now));
        assert_eq!(ticks.len(), CATCHUP_BATCH);
        assert_eq!(ticks[0], at("2026-03-01T00:00:00Z"));
        let last = *ticks.last().unwrap();
        assert_eq!(next, Some(last + chrono::Duration::minutes(1)));
        assert!(next.unwrap() < now);
    }

    #[test]
    fn without_catchup_only_the_latest_missed_tick_runs() {
        let now = at("2026-03-01T05:10:00Z");
        let (ticks, next) = due(cron_step(&hourly(""), false, None, None, now));
        assert_eq!(ticks, [at("2026-03-01T05:00:00Z")]);
        assert_eq!(next, Some(at("2026-03-01T06:00:00Z")));
    }

    #[test]
    fn without_catchup_the_latest_tick_is_found_after_more_than_a_batch_of_ticks() {
        // The bug this pins: walking from the schedule position stopped after
        // CATCHUP_BATCH ticks and ran a stale one.
        let dag = scheduled("schedule = \"* * * * *\"\nstart_date = \"2026-01-01T00:00:00Z\"");
        let now = at("2026-03-01T12:34:56Z");
        let (ticks, next) = due(cron_step(&dag, false, None, None, now));
        assert_eq!(ticks, [at("2026-03-01T12:34:00Z")]);
        assert_eq!(next, Some(at("2026-03-01T12:35:00Z")));
    }

    #[test]
    fn without_catchup_a_tick_already_scheduled_does_not_run_again() {
        let now = at("2026-03-01T05:10:00Z");
        let (ticks, next) = due(cron_step(&hourly(""), false, Some(at("2026-03-01T05:00:00Z")), None, now));
        assert!(ticks.is_empty());
        assert_eq!(next, Some(at("2026-03-01T06:00:00Z")));
    }

    #[test]
    fn a_tick_exactly_now_is_due() {
        let now = at("2026-03-01T02:00:00Z");
        let (ticks, _) = due(cron_step(&hourly(""), false, Some(at("2026-03-01T01:00:00Z")), None, now));
        assert_eq!(ticks, [now]);
    }

    #[test]
    fn no_tick_after_the_end_date_runs() {
        let dag = hourly("catchup = true\nend_date = \"2026-03-01T02:30:00Z\"");
        let (ticks, next) = due(cron_step(&dag, false, None, None, at("2026-03-01T10:00:00Z")));
        assert_eq!(ticks.last(), Some(&at("2026-03-01T02:00:00Z")));
        assert_eq!(ticks.len(), 3);
        assert_eq!(next, Option::None);
    }

    #[test]
    fn without_catchup_the_latest_tick_before_the_end_date_runs() {
        let dag = hourly("end_date = \"2026-03-01T02:30:00Z\"");
        let (ticks, next) = due(cron_step(&dag, false, None, None, at("2026-03-01T10:00:00Z")));
        assert_eq!(ticks, [at("2026-03-01T02:00:00Z")]);
        assert_eq!(next, Option::None);
    }

    #[test]
    fn a_schedule_that_ended_before_its_last_run_has_nothing_due_and_no_wake_up() {
        let dag = hourly("end_date = \"2026-03-01T02:30:00Z\"");
        let step = cron_step(&dag, false, Some(at("2026-03-01T02:00:00Z")), None, at("2026-03-01T10:00:00Z"));
        assert_eq!(step, CronStep::Due { due: vec![], next: Option::None });
    }

    #[test]
    fn a_schedule_is_read_in_the_dags_timezone() {
        let dag = scheduled(
            "schedule = \"0 6 * * *\"\ntimezone = \"Europe/Paris\"\nstart_date = \"2026-03-01T00:00:00Z\"",
        );
        let (ticks, next) = due(cron_step(&dag, false, None, None, at("2026-03-02T12:00:00Z")));
        assert_eq!(ticks, [at("2026-03-02T05:00:00Z")]);
        assert_eq!(next, Some(at("2026-03-03T05:00:00Z")));
    }

    #[test]
    fn a_six_field_schedule_ticks_in_seconds() {
        let dag = scheduled("schedule = \"*/10 * * * * *\"\nstart_date = \"2026-03-01T00:00:00Z\"\ncatchup = true");
        let (ticks, next) = due(cron_step(&dag, false, None, None, at("2026-03-01T00:00:25Z")));
        assert_eq!(ticks, [at("2026-03-01T00:00:00Z"), at("2026-03-01T00:00:10Z"), at("2026-03-01T00:00:20Z")]);
        assert_eq!(next, Some(at("2026-03-01T00:00:30Z")));
    }

    #[test]
    fn a_scheduled_run_is_named_after_its_tick() {
        assert_eq!(scheduled_run_id(at("2026-03-01T02:00:00Z")), "scheduled__2026-03-01T02:00:00+00:00");
    }
}
