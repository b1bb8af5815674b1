//! Rows and the state enums stored in them (TEXT columns, snake_case).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($v:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($v),* }

        // Stored as TEXT on every database: the same impls as `str`.
        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            &'q str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&'q str as sqlx::Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(value: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                text.parse().map_err(Into::into)
            }
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok(Self::$v),)*
                    _ => Err(format!("unknown {} `{s}`", stringify!($name))),
                }
            }
        }
    };
}

text_enum!(
    /// A DAG run's state, as Airflow names it.
    RunState { Queued = "queued", Running = "running", Success = "success", Failed = "failed" }
);

text_enum!(
    /// A task instance's state, as Airflow names it (skipped: never ran, its run was marked failed first).
    TiState {
        None = "none",
        Queued = "queued",
        Running = "running",
        UpForRetry = "up_for_retry",
        Success = "success",
        Failed = "failed",
        UpstreamFailed = "upstream_failed",
        Skipped = "skipped",
    }
);

text_enum!(
    /// One try's outcome.
    TryState { Running = "running", Success = "success", Failed = "failed" }
);

text_enum!(
    /// drover's driver state model, the same for every backend.
    DriverState {
        Pending = "pending",
        Submitted = "submitted",
        Queued = "queued",
        Running = "running",
        Unknown = "unknown",
        Succeeded = "succeeded",
        Failed = "failed",
        Killed = "killed",
        Lost = "lost",
        SubmitFailed = "submit_failed",
    }
);

text_enum!(
    /// Why drover stops a try. A try stopped for `killed` or `run_failed` is
    /// never retried; after the others a new try may follow, but only once
    /// the cluster has confirmed the old driver ended.
    StopReason {
        Killed = "killed",
        RunFailed = "run_failed",
        TimedOut = "timed_out",
        NeverStarted = "never_started",
        Unreachable = "unreachable",
    }
);

impl StopReason {
    /// A person asked for it: the try must not run again on its own.
    pub fn is_final(self) -> bool {
        matches!(self, StopReason::Killed | StopReason::RunFailed)
    }
}

impl RunState {
    pub fn is_terminal(self) -> bool {
        matches!(self, RunState::Success | RunState::Failed)
    }
}

impl TiState {
    pub fn is_terminal(self) -> bool {
        matches!(self, TiState::Success | TiState::Failed | TiState::UpstreamFailed | TiState::Skipped)
    }
}

impl DriverState {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DriverState::Succeeded
                | DriverState::Failed
                | DriverState::Killed
                | DriverState::Lost
                | DriverState::SubmitFailed
        )
    }
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct DagRow {
    pub dag_id: String,
    pub file: String,
    pub source_hash: String,
    pub description: Option<String>,
    pub schedule: Option<String>,
    pub is_paused: bool,
    pub is_active: bool,
    pub last_scheduled_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct ImportErrorRow {
    pub file: String,
    pub message: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub dag_id: String,
    pub run_id: String,
    pub run_type: String,
    pub logical_date: DateTime<Utc>,
    pub state: RunState,
    pub conf: Json<serde_json::Value>,
    pub params: Json<serde_json::Value>,
    pub dag_hash: String,
    #[serde(skip)]
    pub dag_snapshot: String,
    pub created_at: DateTime<Utc>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    /// Marked failed by a user: nothing more starts or is retried in it;
    /// it ends once its kills are confirmed.
    pub failing: bool,
    /// The backfill that created (or re-ran) the run.
    pub backfill_id: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct TaskInstanceRow {
    pub id: i64,
    pub run: i64,
    pub task_id: String,
    pub state: TiState,
    pub try_number: i64,
    pub max_tries: i64,
    pub next_try_at: Option<DateTime<Utc>>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    /// Why a queued task waits (a full pool, its DAG's or backend's cap).
    pub queued_reason: Option<String>,
    pub queued_at: Option<DateTime<Utc>>,
}

/// A pool: `slots` task slots (-1: no limit) shared by every DAG.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct PoolRow {
    pub name: String,
    pub slots: i64,
    pub description: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct TryRow {
    pub id: i64,
    pub ti: i64,
    pub try_number: i64,
    pub state: TryState,
    pub backend: String,
    pub deploy_mode: String,
    pub submission_key: String,
    pub application: Option<Json<serde_json::Value>>,
    pub driver_state: DriverState,
    pub raw_state: Option<String>,
    pub cluster_id: Option<String>,
    pub cluster_attempt: Option<i64>,
    pub location: Option<String>,
    pub tracking_url: Option<String>,
    pub pid: Option<i64>,
    pub log_path: Option<String>,
    pub message: Option<String>,
    pub started_at: DateTime<Utc>,
    pub deadline_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Why drover is stopping this try, committed before the kill is sent.
    pub stop_reason: Option<StopReason>,
    pub stop_requested_at: Option<DateTime<Utc>>,
    /// Whether the driver's log is copied into drover's log store (cluster
    /// mode, once the try ended): `None` when there is nothing to copy.
    pub log_archive: Option<crate::LogArchive>,
    /// The copy of each stream, once `log_archive` is done.
    pub log_archive_streams: Option<Json<crate::ArchivedStreams>>,
    pub log_archived_at: Option<DateTime<Utc>>,
    /// The scheduler lease's epoch when the try began (on PostgreSQL):
    /// which drover started it, and so holds a client-mode driver's log.
    pub epoch: Option<i64>,
}

/// A try with the DAG, run and task it belongs to: one driver, as the
/// drivers listing shows it.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct DriverRow {
    #[sqlx(flatten)]
    pub attempt: TryRow,
    pub dag_id: String,
    pub run_id: String,
    pub task_id: String,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct DriverEventRow {
    pub id: i64,
    #[sqlx(rename = "try")]
    #[serde(rename = "try")]
    pub try_id: i64,
    pub at: DateTime<Utc>,
    pub state: DriverState,
    pub raw_state: Option<String>,
    pub attempt: Option<i64>,
    pub message: Option<String>,
}

pub struct DagUpsert<'a> {
    pub dag_id: &'a str,
    pub file: &'a str,
    pub source_hash: &'a str,
    pub description: Option<&'a str>,
    pub schedule: Option<&'a str>,
}

pub struct NewRun<'a> {
    pub dag_id: &'a str,
    pub run_id: &'a str,
    /// `scheduled` or `manual`.
    pub run_type: &'a str,
    pub logical_date: DateTime<Utc>,
    pub conf: &'a serde_json::Value,
    pub params: &'a serde_json::Value,
    pub dag_hash: &'a str,
    pub dag_snapshot: &'a str,
    /// Task ids with their maximum number of tries.
    pub tasks: Vec<(String, i64)>,
    /// For scheduled runs: the DAG's new schedule position.
    pub schedule_position: Option<DateTime<Utc>>,
}

pub struct NewTry<'a> {
    pub ti: i64,
    pub try_number: i64,
    pub backend: &'a str,
    pub deploy_mode: &'a str,
    pub submission_key: &'a str,
    pub application: Option<&'a serde_json::Value>,
    pub deadline_at: Option<DateTime<Utc>>,
    pub message: Option<&'a str>,
}

/// What a poll or a launch learned about a driver; `None` keeps the old value.
#[derive(Debug, Clone)]
pub struct DriverUpdate {
    pub state: DriverState,
    pub raw_state: Option<String>,
    pub cluster_id: Option<String>,
    pub attempt: Option<i64>,
    pub location: Option<String>,
    pub tracking_url: Option<String>,
    pub pid: Option<i64>,
    pub log_path: Option<String>,
    pub message: Option<String>,
}

impl DriverUpdate {
    pub fn state(state: DriverState) -> DriverUpdate {
        DriverUpdate {
            state,
            raw_state: None,
            cluster_id: None,
            attempt: None,
            location: None,
            tracking_url: None,
            pid: None,
            log_path: None,
            message: None,
        }
    }

    pub fn message(mut self, m: impl Into<String>) -> DriverUpdate {
        self.message = Some(m.into());
        self
    }
}

pub struct FinishTry<'a> {
    pub try_id: i64,
    pub ti: i64,
    pub try_state: TryState,
    pub ti_state: TiState,
    pub next_try_at: Option<DateTime<Utc>>,
    pub message: Option<&'a str>,
}
