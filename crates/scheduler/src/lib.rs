//! The scheduler: turns DAG files into runs, runs into tries, tries into
//! drivers on clusters, and follows every driver to its end.
//!
//! Shaped as decide, then act. [`decide`] holds every scheduling rule (what
//! is ready, what is retried and when, what a failure skips, which cron
//! ticks are due, what a clear resets, what a restart makes of an open try)
//! as functions from state and an event to decisions, with no I/O and `now`
//! as an argument, so they are tested without a runtime. Around it, one
//! loop ([`core`]) is woken by events (a trigger, a driver's end, a changed
//! DAG file, the next due time; nothing in it sleeps-and-polls), asks the
//! rules, commits their decisions and acts on them. Each try's driver is its
//! own task ([`driver`]) that submits through the backend's plugin and
//! tracks the driver ([`tracker`]), committing what it learns before
//! reporting back.
//!
//! What it must not do: act before committing. Every transition is
//! committed to the [`drover_store`] before it is acted on, so a restarted
//! scheduler reads the open runs and tries back and re-attaches to
//! cluster-mode drivers by the id it stored, never submitting twice. Nor
//! does it deliver notifications (it writes them to the store's outbox) or
//! serve HTTP; the API and CLI reach it through [`SchedulerHandle`].
//!
//! Modules, each importing only from those above it:
//! - [`decide`]: the rules (pure); [`control`]: requests, errors and
//!   changes (data); [`paths`], [`input`], [`metrics`], [`process`];
//!   [`tracker`]: polling, and its [`PollPolicy`]
//! - [`config`]: [`Config`]; [`msg`]: the loop's messages
//! - [`loader`]: DAG files; [`driver`]: one try's driver; [`archive`]:
//!   copies of cluster drivers' logs; [`handle`]: the loop as callers see it
//! - [`relay`]: requests and changes between drovers on one PostgreSQL
//!   database (the standby's side and the active scheduler's)
//! - [`core`]: the loop and its effects (runs, tries, cron, clear, recover)
//! - [`standby`]: a drover that serves while another schedules, until it
//!   takes over

mod archive;
mod config;
mod control;
mod core;
mod decide;
mod driver;
mod handle;
mod input;
mod loader;
mod metrics;
mod msg;
mod paths;
mod pools;
mod process;
mod relay;
mod standby;
mod tracker;

pub use archive::{ArchivedLog, DEFAULT_MAX_BYTES as DEFAULT_LOG_ARCHIVE_MAX_BYTES, STREAMS as LOG_STREAMS, read_archived_log};
pub use config::Config;
pub use decide::dependency_name;
pub use paths::run_dir as run_log_dir;
pub use control::{BackfillChange, BackfillMade, BackfillRequest, ClearRequest, Change, ControlError, TriggerError, TriggerRequest};
pub use pools::{PoolEdit, PoolSpec, PoolUsage, PoolView, check_pool};
pub use handle::{BackendSummary, SchedulerHandle, SchedulerHealth};
pub use metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;
pub use tracker::PollPolicy;

pub use crate::core::start;
pub use standby::{Standby, stand_by};
