//! How the binary configures the scheduler.

use std::path::PathBuf;

use crate::tracker::PollPolicy;

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
    /// The config file's pools, written to the store at each start (the
    /// API's edits to them last until then).
    pub pools: Vec<crate::PoolSpec>,
    /// Per backend, at most this many drivers at once across every DAG and
    /// deploy mode (the cluster's own capacity); a backend not named here
    /// has no cap.
    pub max_running_drivers: std::collections::BTreeMap<String, u32>,
}
