//! drover's side of the port: what a [`crate::Backend`] takes and returns.
//! None of these is a WIT type; [`crate::convert`] translates at the border,
//! so a new contract version changes that one module, not the scheduler.

pub use drover_dag::{AppProblem as Problem, Application, DeployMode};

/// What a plugin says about itself when it is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub deploy_modes: Vec<DeployMode>,
    pub config_keys: Vec<ConfigKey>,
}

/// One settings key a plugin reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKey {
    pub name: String,
    pub description: String,
    pub required: bool,
    /// Secret values are read from the environment and never shown.
    pub secret: bool,
}

/// A local driver process for client mode, run and supervised by drover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalLaunch {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// What a submission started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Cluster mode: the cluster's id for the driver.
    Cluster(String),
    /// Client mode: what drover runs.
    Local(LocalLaunch),
}

/// drover's driver state model, the same for every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverPhase {
    Submitted,
    Queued,
    Running,
    Succeeded,
    Failed,
    Killed,
    /// The cluster no longer knows the driver.
    Lost,
    /// The cluster cannot say right now; not terminal.
    Unknown,
}

/// A driver's status as the cluster reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverStatus {
    pub phase: DriverPhase,
    /// The cluster's own state name(s), verbatim.
    pub raw_state: String,
    /// The cluster's own attempt number, where it re-runs drivers itself.
    pub attempt: Option<u32>,
    /// Where the driver runs (worker, node, pod).
    pub location: Option<String>,
    pub message: Option<String>,
    pub tracking_url: Option<String>,
}

/// A piece of a driver's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub data: Vec<u8>,
    /// Offset to ask for next.
    pub next_offset: u64,
    /// Total size, where the cluster says.
    pub total: Option<u64>,
}
