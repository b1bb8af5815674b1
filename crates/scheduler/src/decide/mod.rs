//! The scheduler's rules, with no I/O: functions from a run's state and an
//! event (a try ended, a turn of the loop, a clear, a cron tick, a restart)
//! to decisions (start, retry, fail, skip, finish, and when).
//!
//! Nothing here touches tokio, the store or a plugin, and `now` is always an
//! argument, so every rule is tested by the hundred without a runtime. The
//! loop (`core`) gathers the state, calls these, commits what they
//! decide and feeds the results back as the next event. Types of the store
//! and of the DAG appear here only as data.

mod clear;
mod cron;
mod recover;
mod run;
mod tries;

#[cfg(test)]
mod fixture;

pub(crate) use clear::{Refusal, clear_selection, max_tries_after_clear};
pub(crate) use cron::{CronStep, cron_step, scheduled_run_id};
pub(crate) use recover::{OpenTry, Reopen, reopen};
pub(crate) use run::{Step, has_room, manual_run_id, next_steps, next_wake, run_end, run_notifiers, skipped_by_fail};
pub(crate) use tries::{Outcome, Resume, deadline, ready_at, task_notifiers, try_ended};
