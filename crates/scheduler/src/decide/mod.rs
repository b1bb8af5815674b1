//! The scheduler's rules, with no I/O: functions from a run's state and an
//! event (a try ended, a turn of the loop, a clear, a cron tick, a restart)
//! to decisions (start, retry, fail, skip, finish, and when).
//!
//! Nothing here touches tokio, the store or a plugin, and `now` is always an
//! argument, so every rule is tested by the hundred without a runtime. The
//! loop (`core`) gathers the state, calls these, commits what they
//! decide and feeds the results back as the next event. Types of the store
//! and of the DAG appear here only as data.

mod admit;
mod backfill;
mod clear;
mod cron;
mod recover;
mod run;
mod tries;
mod trigger;

#[cfg(test)]
mod fixture;

pub(crate) use admit::{Blocked, Caps, Queue, Room, Waiting, admit, reason};
pub use admit::dependency_name;
pub(crate) use backfill::{MAX_BACKFILL_RUNS, Refused, Reprocess, Tick, backfill_has_room, backfill_run_id, plan};
pub(crate) use clear::{Refusal, clear_selection, max_tries_after_clear};
pub(crate) use cron::{CronStep, cron_step, scheduled_run_id};
pub(crate) use recover::{OpenTry, Reopen, reopen};
pub(crate) use run::{Step, has_room, manual_run_id, next_steps, next_wake, run_deadline, run_end, run_notifiers, skipped_by_fail};
pub(crate) use tries::{Outcome, Resume, deadline, ready_at, task_notifiers, try_ended};

#[cfg(test)]
mod tests {
    /// The rules' sources, tests included.
    const RULES: [(&str, &str); 8] = [
        ("admit.rs", include_str!("admit.rs")),
        ("backfill.rs", include_str!("backfill.rs")),
        ("clear.rs", include_str!("clear.rs")),
        ("cron.rs", include_str!("cron.rs")),
        ("recover.rs", include_str!("recover.rs")),
        ("run.rs", include_str!("run.rs")),
        ("tries.rs", include_str!("tries.rs")),
        ("trigger.rs", include_str!("trigger.rs")),
    ];

    #[test]
    fn the_rules_do_no_io_and_read_no_clock() {
        let forbidden = ["tokio", "sqlx", "drover_plugin_host", "Store,", "Store}", "std::fs", "std::net", "Utc::now", "SystemTime", "Instant"];
        for (file, text) in RULES {
            for word in forbidden {
                assert!(!text.contains(word), "decide/{file} mentions `{word}`");
            }
        }
    }

    #[test]
    fn the_rules_import_nothing_of_the_crate_outside_decide() {
        for (file, text) in RULES {
            for (at, _) in text.match_indices("crate::") {
                let rest = &text[at..];
                assert!(rest.starts_with("crate::decide::"), "decide/{file} imports {}", rest.lines().next().unwrap_or(""));
            }
        }
    }
}
