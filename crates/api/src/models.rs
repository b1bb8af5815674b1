//! Response bodies, shaped like Airflow's REST API v2.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use drover_dag::Dag;
use drover_store::{DagRow, DriverEventRow, RunRow, TaskInstanceRow, TryRow};

#[derive(Serialize, ToSchema)]
pub struct Tag {
    pub name: String,
    pub dag_id: String,
    pub dag_display_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct DagResponse {
    pub dag_id: String,
    pub dag_display_name: String,
    pub description: Option<String>,
    pub fileloc: String,
    pub is_paused: bool,
    pub is_stale: bool,
    pub has_import_errors: bool,
    pub timetable_summary: Option<String>,
    pub timetable_description: Option<String>,
    pub max_active_runs: Option<u32>,
    /// The most task instances of this DAG that can run at once: the DAG's
    /// `max_active_tasks` when it sets one, else what drover's rules imply,
    /// `max_active_runs` times the number of tasks (one live try per task
    /// instance). 0 when the DAG's file is gone: drover starts no new run
    /// of it.
    pub max_active_tasks: u32,
    pub max_consecutive_failed_dag_runs: u32,
    pub has_task_concurrency_limits: bool,
    pub is_backfillable: bool,
    pub timetable_partitioned: bool,
    pub timetable_periodic: bool,
    pub next_dagrun_logical_date: Option<DateTime<Utc>>,
    /// drover's runs have no data interval of their own: like its runs',
    /// both ends are the logical date.
    pub next_dagrun_data_interval_start: Option<DateTime<Utc>>,
    pub next_dagrun_data_interval_end: Option<DateTime<Utc>>,
    pub next_dagrun_run_after: Option<DateTime<Utc>>,
    /// `manual`, and `scheduled` when the DAG has a schedule.
    pub allowed_run_types: Option<Vec<String>>,
    pub last_parsed_time: Option<DateTime<Utc>>,
    /// drover does not time its parses.
    pub last_parse_duration: Option<f64>,
    pub last_expired: Option<DateTime<Utc>>,
    pub bundle_name: Option<String>,
    pub bundle_version: Option<String>,
    pub relative_fileloc: Option<String>,
    pub file_token: String,
    pub owners: Vec<String>,
    pub tags: Vec<Tag>,
    /// drover: the task ids in order, with their dependencies and backends.
    pub tasks: Vec<TaskSummary>,
    /// drover: the DAG's params by name (default, kind, description,
    /// required, enum_values, minimum, maximum); a trigger's conf is checked
    /// against them.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct TaskSummary {
    pub task_id: String,
    pub backend: String,
    pub deploy_mode: String,
    pub depends_on: Vec<String>,
    /// Airflow's trigger rule (`all_success` unless the DAG says otherwise).
    pub trigger_rule: String,
}

impl DagResponse {
    pub fn new(row: &DagRow, dag: Option<&Dag>) -> DagResponse {
        let next = dag.and_then(|d| {
            let base = row.last_scheduled_at.unwrap_or_else(Utc::now).max(Utc::now());
            // Not before the start date (a tick at it counts), nor after the end date.
            let base = d.start_date.map_or(base, |s| base.max(s - chrono::Duration::nanoseconds(1)));
            d.schedule.next_after(base, d.timezone).filter(|t| d.end_date.is_none_or(|e| *t <= e))
        });
        DagResponse {
            dag_id: row.dag_id.clone(),
            dag_display_name: row.dag_id.clone(),
            description: row.description.clone(),
            fileloc: row.file.clone(),
            is_paused: row.is_paused,
            is_stale: !row.is_active,
            has_import_errors: false,
            timetable_summary: row.schedule.clone(),
            timetable_description: row.schedule.clone(),
            max_active_runs: dag.map(|d| d.max_active_runs),
            max_active_tasks: dag.map_or(0, |d| {
                d.max_active_tasks.unwrap_or_else(|| {
                    d.max_active_runs
                        .saturating_mul(u32::try_from(d.tasks.len()).unwrap_or(u32::MAX))
                })
            }),
            max_consecutive_failed_dag_runs: 0,
            has_task_concurrency_limits: false,
            is_backfillable: false,
            timetable_partitioned: false,
            timetable_periodic: row.schedule.is_some(),
            next_dagrun_logical_date: next,
            next_dagrun_data_interval_start: next,
            next_dagrun_data_interval_end: next,
            next_dagrun_run_after: next,
            allowed_run_types: Some(
                std::iter::once("manual")
                    .chain(row.schedule.is_some().then_some("scheduled"))
                    .chain(row.schedule.is_some().then_some("backfill"))
                    .map(String::from)
                    .collect(),
            ),
            last_parsed_time: Some(row.updated_at),
            last_parse_duration: None,
            last_expired: None,
            bundle_name: Some("dags-folder".into()),
            bundle_version: None,
            relative_fileloc: std::path::Path::new(&row.file)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned()),
            file_token: row.source_hash.clone(),
            owners: vec!["drover".into()],
            tags: dag
                .map(|d| {
                    d.tags
                        .iter()
                        .map(|t| Tag {
                            name: t.clone(),
                            dag_id: d.id.clone(),
                            dag_display_name: d.id.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            tasks: dag
                .map(|d| {
                    d.tasks
                        .iter()
                        .map(|t| TaskSummary {
                            task_id: t.id.clone(),
                            backend: t.backend.clone(),
                            deploy_mode: t.application.deploy_mode.to_string(),
                            depends_on: t.depends_on.clone(),
                            trigger_rule: t.trigger_rule.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            params: dag
                .map(|d| serde_json::to_value(&d.params).unwrap_or_default())
                .unwrap_or_default(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DagCollection {
    pub dags: Vec<DagResponse>,
    pub total_entries: usize,
}

#[derive(Serialize, ToSchema)]
pub struct DagRunResponse {
    pub dag_run_id: String,
    pub dag_id: String,
    pub dag_display_name: String,
    pub logical_date: Option<DateTime<Utc>>,
    pub queued_at: Option<DateTime<Utc>>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub duration: Option<f64>,
    pub data_interval_start: Option<DateTime<Utc>>,
    pub data_interval_end: Option<DateTime<Utc>>,
    pub run_after: DateTime<Utc>,
    pub last_scheduling_decision: Option<DateTime<Utc>>,
    pub run_type: String,
    pub state: String,
    pub triggered_by: Option<String>,
    /// drover's tokens and sessions name no user.
    pub triggering_user_name: Option<String>,
    #[schema(value_type = Object)]
    pub conf: serde_json::Value,
    pub note: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub dag_versions: Vec<serde_json::Value>,
    pub bundle_version: Option<String>,
    /// drover has no partitioned timetables.
    pub partition_key: Option<String>,
    pub partition_date: Option<DateTime<Utc>>,
    /// drover: the params the run resolved from defaults and conf.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
}

impl From<&RunRow> for DagRunResponse {
    fn from(r: &RunRow) -> Self {
        DagRunResponse {
            dag_run_id: r.run_id.clone(),
            dag_id: r.dag_id.clone(),
            dag_display_name: r.dag_id.clone(),
            logical_date: Some(r.logical_date),
            queued_at: Some(r.created_at),
            start_date: r.start_date,
            end_date: r.end_date,
            duration: duration(r.start_date, r.end_date),
            data_interval_start: Some(r.logical_date),
            data_interval_end: Some(r.logical_date),
            run_after: r.logical_date,
            last_scheduling_decision: None,
            run_type: r.run_type.clone(),
            state: r.state.to_string(),
            triggered_by: Some(
                match r.run_type.as_str() {
                    "manual" => "rest_api",
                    "backfill" => "backfill",
                    _ => "timetable",
                }
                .into(),
            ),
            triggering_user_name: None,
            conf: r.conf.0.clone(),
            note: None,
            dag_versions: Vec::new(),
            bundle_version: None,
            partition_key: None,
            partition_date: None,
            params: r.params.0.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DagRunCollection {
    pub dag_runs: Vec<DagRunResponse>,
    pub total_entries: i64,
}

/// POST /api/v2/dags/{dag_id}/dagRuns, as Airflow's TriggerDAGRunPostBody.
/// The data interval, run_after and note are accepted for compatibility with
/// Airflow clients; drover's runs have no data interval of their own.
#[derive(Deserialize, Default, ToSchema)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
pub struct TriggerBody {
    #[serde(default)]
    pub dag_run_id: Option<String>,
    #[serde(default)]
    pub logical_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub data_interval_start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub data_interval_end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub run_after: Option<DateTime<Utc>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub conf: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub partition_key: Option<String>,
}

/// PATCH of a DAG run, as Airflow's DAGRunPatchBody.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunPatchBody {
    pub state: String,
    #[serde(default)]
    #[allow(dead_code)]
    pub note: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DagPatchBody {
    pub is_paused: bool,
}

#[derive(Serialize, ToSchema)]
pub struct TaskInstanceResponse {
    pub id: String,
    pub task_id: String,
    pub dag_id: String,
    pub dag_run_id: String,
    pub dag_display_name: String,
    pub map_index: i64,
    pub logical_date: Option<DateTime<Utc>>,
    pub run_after: DateTime<Utc>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub duration: Option<f64>,
    pub state: Option<String>,
    pub try_number: i64,
    pub max_tries: i64,
    pub task_display_name: String,
    pub hostname: Option<String>,
    pub unixname: Option<String>,
    pub pool: String,
    pub pool_slots: i64,
    pub queue: Option<String>,
    pub priority_weight: Option<i64>,
    pub operator: Option<String>,
    pub operator_name: Option<String>,
    pub queued_when: Option<DateTime<Utc>>,
    pub scheduled_when: Option<DateTime<Utc>>,
    pub pid: Option<i64>,
    pub executor: Option<String>,
    pub executor_config: String,
    pub note: Option<String>,
    pub rendered_map_index: Option<String>,
    #[schema(value_type = Object)]
    pub rendered_fields: serde_json::Value,
    #[schema(value_type = Option<Object>)]
    pub trigger: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub triggerer_job: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub dag_version: Option<serde_json::Value>,
    /// drover: the latest try's driver.
    pub driver: Option<DriverResponse>,
}

/// The pool, its slots and the priority weight of `task`, as Airflow shows
/// them on a task instance (`default_pool`, 1 and none when the DAG's file
/// no longer has the task).
fn pool_of(task: Option<&drover_dag::Task>) -> (String, i64, Option<i64>) {
    match task {
        Some(t) => (t.pool.clone(), i64::from(t.pool_slots), Some(t.effective_priority)),
        None => (drover_dag::DEFAULT_POOL.into(), 1, None),
    }
}

impl TaskInstanceResponse {
    /// `task` is the task as the run's DAG now defines it, when it still does.
    pub fn new(run: &RunRow, ti: &TaskInstanceRow, last: Option<&TryRow>, task: Option<&drover_dag::Task>) -> Self {
        let (pool, pool_slots, priority_weight) = pool_of(task);
        TaskInstanceResponse {
            id: ti_uuid(ti.id),
            task_id: ti.task_id.clone(),
            dag_id: run.dag_id.clone(),
            dag_run_id: run.run_id.clone(),
            dag_display_name: run.dag_id.clone(),
            map_index: -1,
            logical_date: Some(run.logical_date),
            run_after: run.logical_date,
            start_date: ti.start_date,
            end_date: ti.end_date,
            duration: duration(ti.start_date, ti.end_date),
            state: (ti.state != drover_store::TiState::None).then(|| ti.state.to_string()),
            try_number: ti.try_number,
            // Airflow counts retries, not tries.
            max_tries: ti.max_tries - 1,
            task_display_name: ti.task_id.clone(),
            hostname: None,
            unixname: None,
            pool,
            pool_slots,
            queue: None,
            priority_weight,
            operator: Some("SparkApplication".into()),
            operator_name: Some("SparkApplication".into()),
            queued_when: ti.queued_at,
            scheduled_when: None,
            pid: last.and_then(|t| t.pid),
            executor: last.map(|t| t.backend.clone()),
            executor_config: "{}".into(),
            note: None,
            rendered_map_index: None,
            rendered_fields: last
                .and_then(|t| t.application.as_ref().map(|a| a.0.clone()))
                .unwrap_or_else(|| serde_json::json!({})),
            trigger: None,
            triggerer_job: None,
            dag_version: None,
            driver: last.map(|t| DriverResponse::new(t, Vec::new())),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TaskInstanceCollection {
    pub task_instances: Vec<TaskInstanceResponse>,
    pub total_entries: usize,
}

/// drover: one try's driver record.
#[derive(Serialize, ToSchema)]
pub struct DriverResponse {
    pub state: String,
    pub raw_state: Option<String>,
    pub deploy_mode: String,
    pub backend: String,
    pub cluster_id: Option<String>,
    pub cluster_attempt: Option<i64>,
    pub location: Option<String>,
    pub tracking_url: Option<String>,
    pub submission_key: String,
    pub message: Option<String>,
    /// Why drover is stopping (or stopped) this driver: killed, run_failed,
    /// timed_out, never_started or unreachable; committed before the kill.
    pub stop_reason: Option<String>,
    pub stop_requested_at: Option<DateTime<Utc>>,
    /// The try ended with the driver's fate unknown (state `unknown`): it may
    /// still run, so drover does not retry it; a person checks the cluster
    /// and clears it. (While a try is followed, `unknown` is only the
    /// cluster not being able to say right now.)
    pub needs_decision: bool,
    /// The copy of the driver's log drover keeps (cluster mode, once the
    /// try ended with the driver's fate known); `null` when there is none.
    pub log_archive: Option<LogArchiveResponse>,
    pub history: Vec<DriverEventResponse>,
}

/// drover: the archived copy of a cluster-mode driver's log.
#[derive(Serialize, ToSchema)]
pub struct LogArchiveResponse {
    /// `pending` (being copied from the cluster) or `done`.
    pub state: String,
    pub archived_at: Option<DateTime<Utc>>,
    /// Each stream's copy (`stdout`, `stderr`), once done.
    pub streams: std::collections::BTreeMap<String, ArchivedStreamResponse>,
}

#[derive(Serialize, ToSchema)]
pub struct ArchivedStreamResponse {
    /// Whether drover has a copy of this stream.
    pub archived: bool,
    /// Bytes of the driver's log in the copy.
    pub kept_bytes: u64,
    /// The log's length on the cluster, as far as it was read.
    pub total_bytes: u64,
    /// The copy lacks the start of the log (it was longer than the archive keeps).
    pub cut: bool,
    /// Why there is no copy or it is incomplete (e.g. `unsupported: …` where
    /// the cluster keeps stdout and stderr together).
    pub error: Option<String>,
}

impl LogArchiveResponse {
    fn new(t: &TryRow) -> Option<Self> {
        let state = t.log_archive?;
        let streams = t
            .log_archive_streams
            .as_ref()
            .map(|s| {
                s.0.iter()
                    .map(|(name, c)| {
                        let stream = ArchivedStreamResponse {
                            archived: c.file.is_some(),
                            kept_bytes: c.kept,
                            total_bytes: c.total,
                            cut: c.kept < c.total,
                            error: c.error.clone(),
                        };
                        (name.clone(), stream)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(LogArchiveResponse { state: state.to_string(), archived_at: t.log_archived_at, streams })
    }
}

#[derive(Serialize, ToSchema)]
pub struct DriverEventResponse {
    pub at: DateTime<Utc>,
    pub state: String,
    pub raw_state: Option<String>,
    pub attempt: Option<i64>,
    pub message: Option<String>,
}

impl DriverResponse {
    pub fn new(t: &TryRow, events: Vec<DriverEventRow>) -> Self {
        DriverResponse {
            state: t.driver_state.to_string(),
            raw_state: t.raw_state.clone(),
            deploy_mode: t.deploy_mode.clone(),
            backend: t.backend.clone(),
            cluster_id: t.cluster_id.clone(),
            cluster_attempt: t.cluster_attempt,
            location: t.location.clone(),
            tracking_url: t.tracking_url.clone(),
            submission_key: t.submission_key.clone(),
            message: t.message.clone(),
            stop_reason: t.stop_reason.map(|r| r.to_string()),
            stop_requested_at: t.stop_requested_at,
            needs_decision: t.driver_state == drover_store::DriverState::Unknown && t.ended_at.is_some(),
            log_archive: LogArchiveResponse::new(t),
            history: events
                .into_iter()
                .map(|e| DriverEventResponse {
                    at: e.at,
                    state: e.state.to_string(),
                    raw_state: e.raw_state,
                    attempt: e.attempt,
                    message: e.message,
                })
                .collect(),
        }
    }
}

/// One try, as Airflow's TaskInstanceHistoryResponse plus the driver.
#[derive(Serialize, ToSchema)]
pub struct TryResponse {
    pub task_id: String,
    pub dag_id: String,
    pub dag_run_id: String,
    pub map_index: i64,
    pub try_number: i64,
    pub max_tries: i64,
    pub state: String,
    pub start_date: DateTime<Utc>,
    pub end_date: Option<DateTime<Utc>>,
    pub duration: Option<f64>,
    pub task_display_name: String,
    pub dag_display_name: String,
    pub hostname: Option<String>,
    pub unixname: Option<String>,
    pub pool: String,
    pub pool_slots: i64,
    pub queue: Option<String>,
    pub priority_weight: Option<i64>,
    pub operator: Option<String>,
    pub operator_name: Option<String>,
    pub queued_when: Option<DateTime<Utc>>,
    pub scheduled_when: Option<DateTime<Utc>>,
    pub pid: Option<i64>,
    pub executor: String,
    pub executor_config: String,
    #[schema(value_type = Option<Object>)]
    pub dag_version: Option<serde_json::Value>,
    pub driver: DriverResponse,
}

impl TryResponse {
    /// The task instance's fields that do not vary by try are its own, as in
    /// [`TaskInstanceResponse::new`].
    pub fn new(
        run: &RunRow,
        ti: &TaskInstanceRow,
        t: &TryRow,
        events: Vec<DriverEventRow>,
        task: Option<&drover_dag::Task>,
    ) -> Self {
        let (pool, pool_slots, priority_weight) = pool_of(task);
        TryResponse {
            task_id: ti.task_id.clone(),
            dag_id: run.dag_id.clone(),
            dag_run_id: run.run_id.clone(),
            map_index: -1,
            try_number: t.try_number,
            // Airflow counts retries, not tries.
            max_tries: ti.max_tries - 1,
            state: t.state.to_string(),
            start_date: t.started_at,
            end_date: t.ended_at,
            duration: duration(Some(t.started_at), t.ended_at),
            task_display_name: ti.task_id.clone(),
            dag_display_name: run.dag_id.clone(),
            hostname: None,
            unixname: None,
            pool,
            pool_slots,
            queue: None,
            priority_weight,
            operator: Some("SparkApplication".into()),
            operator_name: Some("SparkApplication".into()),
            queued_when: None,
            scheduled_when: None,
            pid: t.pid,
            executor: t.backend.clone(),
            executor_config: "{}".into(),
            dag_version: None,
            driver: DriverResponse::new(t, events),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TryCollection {
    pub task_instances: Vec<TryResponse>,
    pub total_entries: usize,
}

#[derive(Serialize, ToSchema)]
pub struct ImportErrorResponse {
    pub import_error_id: usize,
    pub timestamp: DateTime<Utc>,
    pub filename: String,
    pub bundle_name: String,
    pub stack_trace: String,
}

#[derive(Serialize, ToSchema)]
pub struct ImportErrorCollection {
    pub import_errors: Vec<ImportErrorResponse>,
    pub total_entries: usize,
}

/// A piece of a driver's log, as Airflow's TaskInstancesLogResponse in its
/// plain-text form: `content` is the text's lines, each with its line end,
/// so joining them without a separator gives the bytes back (the last line
/// may be cut where a byte range ends).
///
/// drover adds `source`: where the text comes from. `file`: the output of a
/// client-mode driver, as drover captured it; `cluster`: read from the
/// cluster now; `archive`: drover's copy of a cluster-mode driver's log,
/// made when the try ended (served once it exists, so a log outlives the
/// pod, the NodeManager or the worker; a copy of a longer log than the
/// archive keeps starts with a line saying what was cut); `null`: no driver
/// log exists yet.
#[derive(Serialize, ToSchema)]
pub struct LogResponse {
    pub content: Vec<String>,
    pub continuation_token: Option<String>,
    /// drover: `file`, `cluster`, `archive` or `peer` (see above).
    pub source: Option<String>,
}

impl LogResponse {
    pub fn new(text: &str, continuation_token: Option<String>) -> Self {
        LogResponse {
            content: text.split_inclusive('\n').map(String::from).collect(),
            continuation_token,
            source: None,
        }
    }

    pub fn from(mut self, source: &str) -> Self {
        self.source = Some(source.to_string());
        self
    }
}

/// Airflow identifies task instances by UUID; drover's is its row id.
pub fn ti_uuid(id: i64) -> String {
    format!("00000000-0000-4000-8000-{:012x}", id.max(0))
}

pub fn duration(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Option<f64> {
    match (start, end) {
        (Some(s), Some(e)) => Some((e - s).num_milliseconds() as f64 / 1000.0),
        _ => None,
    }
}

/// POST /api/v2/dags/{dag_id}/clearTaskInstances, as Airflow's
/// ClearTaskInstancesBody. Date ranges and upstream/past/future selection
/// are not supported and are refused when set.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // accepted for Airflow clients; drover never resets differently
pub struct ClearBody {
    pub dag_run_id: Option<String>,
    #[serde(default)]
    pub task_ids: Option<Vec<ClearTaskId>>,
    #[serde(default = "yes")]
    pub dry_run: bool,
    #[serde(default = "yes")]
    pub only_failed: bool,
    #[serde(default)]
    pub only_running: bool,
    #[serde(default)]
    pub include_downstream: bool,
    #[serde(default)]
    pub include_upstream: bool,
    #[serde(default)]
    pub include_future: bool,
    #[serde(default)]
    pub include_past: bool,
    #[serde(default = "yes")]
    pub reset_dag_runs: bool,
    #[serde(default)]
    pub prevent_running_task: bool,
    pub run_on_latest_version: Option<bool>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

fn yes() -> bool {
    true
}

/// A task id, or Airflow's `[task_id, map_index]` (drover has no mapped tasks).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ClearTaskId {
    Id(String),
    Mapped(String, i64),
}

/// drover: recent runs by tasks, for the DAG page's grid.
#[derive(Serialize, ToSchema)]
pub struct GridResponse {
    pub runs: Vec<GridRun>,
}

#[derive(Serialize, ToSchema)]
pub struct GridRun {
    pub dag_run_id: String,
    pub state: String,
    pub run_type: String,
    pub logical_date: DateTime<Utc>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub task_instances: std::collections::BTreeMap<String, GridCell>,
}

#[derive(Serialize, ToSchema)]
pub struct GridCell {
    /// None: not started.
    pub state: Option<String>,
    pub try_number: i64,
}

/// drover: one driver (one try's application on its cluster), where it
/// belongs, and its state history.
#[derive(Serialize, ToSchema)]
pub struct DriverListEntry {
    pub try_id: i64,
    pub dag_id: String,
    pub dag_run_id: String,
    pub task_id: String,
    pub try_number: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub driver: DriverResponse,
}

#[derive(Serialize, ToSchema)]
pub struct DriverCollection {
    pub drivers: Vec<DriverListEntry>,
    pub total_entries: i64,
}

/// drover: a configured backend. Secret settings are shown as `***`.
#[derive(Serialize, ToSchema)]
pub struct BackendResponse {
    pub name: String,
    pub plugin: String,
    pub plugin_version: String,
    pub deploy_modes: Vec<String>,
    pub settings: std::collections::BTreeMap<String, String>,
    pub allowed_hosts: Vec<String>,
    /// 0: no limit.
    pub max_calls_per_second: u32,
    /// Memory cap of each call's sandbox, in MiB.
    pub memory_mb: usize,
    /// The most memory one call took so far, in MiB (to size `memory_mb`).
    pub memory_peak_mb: f64,
    /// Deadline of each call, as humantime text ("30s").
    pub call_timeout: String,
    /// The backend's calls so far, by call name.
    pub calls: Vec<CallStatsResponse>,
    /// The `.wasm` file the plugin is read from, and read again when it
    /// changes; null for a bundled plugin.
    pub plugin_file: Option<String>,
    /// Set when the plugin file's last change was refused: the backend keeps
    /// the component it had.
    pub reload_error: Option<ReloadErrorResponse>,
}

/// drover: a changed plugin file that was refused, and why.
#[derive(Serialize, ToSchema, Clone)]
pub struct ReloadErrorResponse {
    pub file: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

impl From<&drover_plugin_host::ReloadError> for ReloadErrorResponse {
    fn from(e: &drover_plugin_host::ReloadError) -> Self {
        ReloadErrorResponse {
            file: e.file.display().to_string(),
            message: e.message.clone(),
            at: e.at.into(),
        }
    }
}

/// drover: the calls of one name a backend (or every backend of a plugin) made.
#[derive(Serialize, ToSchema)]
pub struct CallStatsResponse {
    /// validate, submit, find, status, status-many, kill or logs.
    pub call: String,
    pub count: u64,
    /// Calls that returned an error of any kind.
    pub errors: u64,
    /// Mean time in the plugin, in milliseconds (rate-limit waits excluded).
    pub mean_ms: f64,
    pub max_ms: f64,
}

impl From<&drover_plugin_host::CallStats> for CallStatsResponse {
    fn from(s: &drover_plugin_host::CallStats) -> Self {
        CallStatsResponse {
            call: s.call.to_string(),
            count: s.count,
            errors: s.errors,
            mean_ms: s.mean().as_secs_f64() * 1000.0,
            max_ms: s.max.as_secs_f64() * 1000.0,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BackendCollection {
    pub backends: Vec<BackendResponse>,
    pub total_entries: usize,
}

/// drover: a loaded backend plugin (a WebAssembly component).
#[derive(Serialize, ToSchema)]
pub struct PluginResponse {
    pub name: String,
    pub version: String,
    /// A bundled plugin's name, or the component file it was loaded from.
    pub source: String,
    /// sha256 of the component.
    pub digest: String,
    /// The plugin contract version the component was built for.
    pub contract_version: String,
    /// Size of the component, in bytes.
    pub size_bytes: u64,
    /// How long compiling it (or loading its cached artifact) took, in milliseconds.
    pub compile_ms: f64,
    pub deploy_modes: Vec<String>,
    pub settings: Vec<PluginSetting>,
    /// The backends that use it.
    pub backends: Vec<String>,
    /// The calls of all those backends so far, by call name.
    pub calls: Vec<CallStatsResponse>,
    /// Set when a change of the component's file was refused: its backends
    /// keep this component.
    pub reload_error: Option<ReloadErrorResponse>,
    /// `/api/v2/plugins` is Airflow's path too, where a plugin lists what it
    /// adds to Airflow; a drover plugin adds none of it.
    #[serde(flatten)]
    pub airflow: AirflowPluginParts,
}

/// The parts of Airflow's PluginResponse, all empty for drover's plugins.
#[derive(Serialize, ToSchema, Default)]
pub struct AirflowPluginParts {
    pub macros: Vec<String>,
    pub flask_blueprints: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub fastapi_apps: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub fastapi_root_middlewares: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub external_views: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub react_apps: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub appbuilder_views: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub appbuilder_menu_items: Vec<serde_json::Value>,
    pub global_operator_extra_links: Vec<String>,
    pub operator_extra_links: Vec<String>,
    pub listeners: Vec<String>,
    pub timetables: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PluginSetting {
    pub name: String,
    pub description: String,
    pub required: bool,
    pub secret: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PluginCollection {
    pub plugins: Vec<PluginResponse>,
    pub total_entries: usize,
}

/// A pool, as Airflow's PoolResponse. drover defers no task, so
/// `include_deferred` is false and `deferred_slots` 0; a task holds its
/// slots from submission on, so `scheduled_slots` is 0 too.
#[derive(Serialize, ToSchema)]
pub struct PoolResponse {
    pub name: String,
    /// -1: no limit.
    pub slots: i64,
    pub description: Option<String>,
    pub include_deferred: bool,
    /// Slots held by running drivers (as `running_slots`).
    pub occupied_slots: i64,
    pub running_slots: i64,
    /// Slots that queued tasks waiting for this pool would take.
    pub queued_slots: i64,
    pub scheduled_slots: i64,
    /// Slots free now; -1 for a pool without a limit.
    pub open_slots: i64,
    pub deferred_slots: i64,
    /// drover has no teams.
    pub team_name: Option<String>,
}

impl From<drover_scheduler::PoolView> for PoolResponse {
    fn from(p: drover_scheduler::PoolView) -> Self {
        PoolResponse {
            name: p.name,
            slots: p.slots,
            description: p.description,
            include_deferred: false,
            occupied_slots: p.occupied_slots,
            running_slots: p.running_slots,
            queued_slots: p.queued_slots,
            scheduled_slots: 0,
            open_slots: p.open_slots,
            deferred_slots: 0,
            team_name: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PoolCollection {
    pub pools: Vec<PoolResponse>,
    pub total_entries: usize,
}

/// POST /api/v2/pools, as Airflow's PoolBody. `include_deferred` is
/// accepted and has no effect: drover defers no task.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolBody {
    pub name: String,
    /// -1: no limit.
    pub slots: i64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub include_deferred: bool,
    /// Refused when set: drover has no teams.
    #[serde(default)]
    pub team_name: Option<String>,
}

/// PATCH /api/v2/pools/{pool_name}, as Airflow's PoolPatchBody: what is
/// absent stays; a `null` description clears it. A pool keeps its name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolPatchBody {
    /// The pool's name; only its current name is accepted.
    #[serde(default, alias = "name")]
    pub pool: Option<String>,
    #[serde(default)]
    pub slots: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    pub include_deferred: Option<bool>,
    /// Refused when set: drover has no teams.
    #[serde(default)]
    pub team_name: Option<String>,
}

/// A field that is present, even as `null`, is `Some`; an absent one stays
/// `None` (through `#[serde(default)]`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// What keeps a task instance from starting, as Airflow's TaskDependencyResponse.
#[derive(Serialize, ToSchema)]
pub struct TaskDependencyResponse {
    pub name: String,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct TaskDependencyCollection {
    pub dependencies: Vec<TaskDependencyResponse>,
}
