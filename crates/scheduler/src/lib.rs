//! The scheduler: turns DAG files into runs, runs into tries, tries into
//! drivers on clusters, and follows every driver to its end.
//!
//! One loop ([`core`]) owns all scheduling decisions and is woken by events:
//! a trigger, a driver's end, a changed DAG file, or the next due time (a
//! cron tick or a retry). Nothing in it sleeps-and-polls. Each try's driver is
//! its own task ([`driver`]) that submits through the backend's plugin and
//! tracks the driver, committing what it learns before reporting back.
//!
//! Durability rule: every transition is committed to the [`drover_store`]
//! before it is acted on. A restarted scheduler reads the open runs and tries
//! back and re-attaches to cluster-mode drivers by the id it stored.

mod archive;
mod core;
mod driver;
mod handle;
mod input;
mod loader;
mod metrics;
mod process;
mod tracker;

pub use archive::{ArchivedLog, DEFAULT_MAX_BYTES as DEFAULT_LOG_ARCHIVE_MAX_BYTES, STREAMS as LOG_STREAMS, read_archived_log};
pub use driver::PollPolicy;
pub use handle::{
    BackendSummary, Change, ClearRequest, ControlError, SchedulerHandle, SchedulerHealth, TriggerError,
    TriggerRequest,
};
pub use metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;

use std::path::PathBuf;

/// Where the scheduler finds DAGs and puts driver logs.
#[derive(Debug, Clone)]
pub struct Config {
    pub dags_dir: PathBuf,
    /// Client-mode driver output: `<logs_dir>/<dag>/<run>/<task>/try-<n>.log`;
    /// archived cluster-mode logs beside it, `try-<n>.stdout.log` and `.stderr.log`.
    pub logs_dir: PathBuf,
    /// Pick up changed, added and removed DAG files without a restart.
    pub watch: bool,
    pub poll: PollPolicy,
    /// A loop whose last turn is older than this is stalled (unhealthy in
    /// /api/v2/monitor/health); it turns at least six times as often.
    pub health_threshold: std::time::Duration,
    /// The most of each stream of a cluster-mode driver's log that drover
    /// keeps (its end) when it copies the log at the try's end.
    pub log_archive_max_bytes: u64,
    /// The config file's notifier names, which DAGs may name in
    /// `on_failure` and the like. The scheduler only writes notifications
    /// to the store's outbox; drover-notify delivers them.
    pub notifiers: Vec<String>,
}

pub use crate::core::start;
