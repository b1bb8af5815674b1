//! What the scheduler's callers send it and hear back: requests, their
//! errors, and the stream of state changes. Plain data, so the handle, the
//! loop and the driver tasks can share it without knowing each other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use drover_dag::ParamError;

/// What a trigger asks for; everything optional, as in Airflow's API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TriggerRequest {
    pub conf: serde_json::Map<String, serde_json::Value>,
    pub logical_date: Option<DateTime<Utc>>,
    pub run_id: Option<String>,
}

/// What a clear (retry) asks for, as Airflow's clearTaskInstances body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClearRequest {
    pub run_id: String,
    /// None or empty: every task of the run.
    pub task_ids: Option<Vec<String>>,
    pub include_downstream: bool,
    pub only_failed: bool,
    pub dry_run: bool,
}

/// A backfill to make (Airflow's BackfillPostBody).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackfillRequest {
    pub dag_id: String,
    pub from_date: DateTime<Utc>,
    pub to_date: DateTime<Utc>,
    /// none | failed | completed.
    pub reprocess_behavior: String,
    pub max_active_runs: i64,
    pub run_backwards: bool,
    pub conf: serde_json::Map<String, serde_json::Value>,
    /// Only say which logical dates would run.
    pub dry_run: bool,
}

/// What a backfill request made: the backfill (none for a dry run) and the
/// logical dates it runs, in the order they start.
#[derive(Debug, Clone)]
pub struct BackfillMade {
    pub backfill: Option<drover_store::BackfillRow>,
    pub logical_dates: Vec<DateTime<Utc>>,
}

/// A change to an existing backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackfillChange {
    Pause,
    Unpause,
    /// Its runs that have not started end failed; running ones go on.
    Cancel,
}

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("DAG `{0}` not found")]
    UnknownDag(String),
    #[error("{0}")]
    BadRunId(String),
    #[error("conf does not match the DAG's params: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    BadConf(Vec<ParamError>),
    #[error("a run `{run_id}` already exists for DAG `{dag_id}`")]
    Exists { dag_id: String, run_id: String },
    #[error("scheduler unavailable: {0}")]
    Internal(String),
    /// The active scheduler (another drover) could not answer; the detail
    /// says whether the request may still take effect.
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong (a bad pool name, say).
    #[error("{0}")]
    Invalid(String),
    #[error("scheduler unavailable: {0}")]
    Internal(String),
    /// The active scheduler (another drover) could not answer; the detail
    /// says whether the request may still take effect.
    #[error("{0}")]
    Unavailable(String),
}

/// A state change, for live views and waiting clients.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Run {
        dag_id: String,
        run_id: String,
        state: String,
    },
    Task {
        dag_id: String,
        run_id: String,
        task_id: String,
        state: String,
        try_number: i64,
    },
    /// A driver's state, raw cluster state or attempt changed.
    Driver {
        dag_id: String,
        run_id: String,
        task_id: String,
        try_number: i64,
        try_id: i64,
        state: String,
    },
    Dags,
    /// What the pools hold and what waits for them changed (each pool's
    /// counts, as the scheduler last made them).
    Pools {
        usage: std::collections::BTreeMap<String, crate::PoolUsage>,
    },
}

impl Change {
    /// The `kind` tag it serializes with.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Run { .. } => "run",
            Change::Task { .. } => "task",
            Change::Driver { .. } => "driver",
            Change::Dags => "dags",
            Change::Pools { .. } => "pools",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Change;

    #[test]
    fn kind_is_the_serialized_tag() {
        let s = || "x".to_string();
        let all = [
            Change::Run { dag_id: s(), run_id: s(), state: s() },
            Change::Task { dag_id: s(), run_id: s(), task_id: s(), state: s(), try_number: 1 },
            Change::Driver { dag_id: s(), run_id: s(), task_id: s(), try_number: 1, try_id: 1, state: s() },
            Change::Dags,
            Change::Pools { usage: Default::default() },
        ];
        for c in all {
            assert_eq!(serde_json::to_value(&c).unwrap()["kind"], c.kind(), "{c:?}");
        }
    }
}
