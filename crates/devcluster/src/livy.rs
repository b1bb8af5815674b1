//! An Apache Livy server's batch API, served under `/livy`.
//!
//! Emulated from Livy 0.8's `SessionServlet`, `BatchSessionServlet`,
//! `SessionManager` and `BatchSession`, so that drover's livy plugin and the
//! PyPI `livy` client cannot tell the difference where it matters:
//!
//! - `POST /batches` (`CreateBatchRequest`: unknown fields refused) answers 201
//!   with the batch and a `Location`; a name held by a batch that is still
//!   registered answers 400 `Rejected, Reason: Duplicate session name: …`, as
//!   newer Livy does. Every create takes the next id, even a refused one.
//! - `GET /batches?from&size` -> `{from, total, sessions}` (size defaults to
//!   100), `GET /batches/{id}` (the id or the batch's name), `GET
//!   /batches/{id}/state` -> `{id, state}`, `GET /batches/{id}/log?from&size`
//!   -> `{id, from, total, log}` (lines; by default the last 100), `DELETE
//!   /batches/{id}` kills the batch, waits until it is stopped, removes it and
//!   answers `{"msg":"deleted"}`; a later GET is 404 `{"msg":"Session '7' not
//!   found."}`. `GET /version` answers like Livy's.
//! - A batch's log is `SparkProcApp.log()`: `"stdout: "`, the driver's stdout
//!   lines, `"\nstderr: "`, its stderr lines; the batch object carries the last 10.
//! - States move `starting` -> `running` -> `success` | `dead` (a driver that
//!   cannot start is `dead` with the reason in its stderr). A finished batch
//!   stays listed for `livy.server.session.state-retain.sec` (600 s), then goes.
//!
//! The batch's `file` runs as a local process through [`process::LaunchPlan`]
//! (python3 for `.py`, `java -cp` with `className` for `.jar`, anything else
//! exec'd), with the request's fields turned into the Spark properties Livy's
//! `SparkProcessBuilder` would pass (`spark.jars`, `spark.submit.pyFiles`,
//! `spark.driver.memory`, …). `appId` is a YARN-style id, known once the
//! driver runs.
//!
//! Deliberate differences: every local path may be used (real Livy refuses
//! local files outside `livy.file.local-dir-whitelist`); `files` and
//! `archives` are passed on as properties, not localized; no CSRF check, no
//! authentication, no interactive sessions. It is mounted under `/livy` (like a
//! Livy behind a gateway such as Knox) because Livy's own paths (`/batches`,
//! `/sessions`, `/version`, `/ui`) are too generic to share the root with the
//! other stand-ins.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::process::{self, App, LaunchPlan, Spawner};
use crate::standalone::SUBMISSION_KEY_PROPERTY;
use crate::SubmissionRecord;
use crate::stand_in::{Context, Drivers, StandIn};

/// The path every Livy route is nested under on the stand-in's port.
pub const PREFIX: &str = "/livy";
/// The Livy version this server claims to be.
pub const LIVY_VERSION: &str = "0.8.0-incubating";
/// `livy.server.session.state-retain.sec`: how long a finished batch stays listed.
pub const STATE_RETAIN: Duration = Duration::from_secs(600);
/// How many recent log lines the batch object carries (`BatchSessionServlet`).
const VIEW_LOG_LINES: usize = 10;

/// Livy's `SessionState` names, as a batch goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchState {
    Starting,
    Running,
    Success,
    Dead,
    Killed,
}

impl BatchState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Success => "success",
            Self::Dead => "dead",
            Self::Killed => "killed",
        }
    }
}

/// `CreateBatchRequest`; Jackson refuses fields it does not know.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBatchRequest {
    file: Option<String>,
    proxy_user: Option<String>,
    args: Option<Vec<String>>,
    class_name: Option<String>,
    jars: Option<Vec<String>>,
    py_files: Option<Vec<String>>,
    files: Option<Vec<String>>,
    driver_memory: Option<String>,
    driver_cores: Option<i32>,
    executor_memory: Option<String>,
    executor_cores: Option<i32>,
    num_executors: Option<i32>,
    archives: Option<Vec<String>>,
    queue: Option<String>,
    name: Option<String>,
    conf: Option<BTreeMap<String, String>>,
}

impl CreateBatchRequest {
    /// The Spark properties `SparkProcessBuilder` and `prepareConf` derive from the request.
    fn spark_conf(&self, app_tag: &str) -> BTreeMap<String, String> {
        let mut conf = self.conf.clone().unwrap_or_default();
        let mut set = |key: &str, value: Option<String>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                conf.insert(key.to_owned(), v);
            }
        };
        let list = |l: &Option<Vec<String>>| l.as_ref().map(|l| l.join(","));
        set("spark.jars", list(&self.jars));
        set("spark.submit.pyFiles", list(&self.py_files));
        set("spark.files", list(&self.files));
        set("spark.yarn.dist.archives", list(&self.archives));
        set("spark.driver.memory", self.driver_memory.clone());
        set(
            "spark.driver.cores",
            self.driver_cores.map(|n| n.to_string()),
        );
        set("spark.executor.memory", self.executor_memory.clone());
        set(
            "spark.executor.cores",
            self.executor_cores.map(|n| n.to_string()),
        );
        set(
            "spark.executor.instances",
            self.num_executors.map(|n| n.to_string()),
        );
        set("spark.yarn.queue", self.queue.clone());
        set("spark.app.name", self.name.clone());
        set("spark.yarn.tags", Some(app_tag.to_owned()));
        conf
    }
}

#[derive(Debug)]
struct Batch {
    id: u32,
    name: Option<String>,
    proxy_user: Option<String>,
    state: BatchState,
    app_id: Option<String>,
    /// Holds the driver's `stdout` and `stderr`.
    dir: PathBuf,
    /// The driver's process group, while it runs.
    pid: Option<u32>,
    finished_at: Option<Instant>,
    cancel: CancellationToken,
    /// Turns true once the driver is gone (or never started).
    ended: watch::Receiver<bool>,
}

#[derive(Debug, Default)]
struct LivyState {
    next_id: u32,
    /// By id, oldest first, like `SessionManager.sessions` (a LinkedHashMap).
    batches: Vec<Batch>,
    submissions: Vec<SubmissionRecord>,
}

impl LivyState {
    /// `SessionManager.get`: by id when the parameter is all digits, else by name.
    fn find(&self, id_or_name: &str) -> Result<&Batch, LivyError> {
        let found = if !id_or_name.is_empty() && id_or_name.bytes().all(|b| b.is_ascii_digit()) {
            let id: Option<u32> = id_or_name.parse().ok();
            self.batches.iter().find(|b| Some(b.id) == id)
        } else {
            self.batches
                .iter()
                .find(|b| b.name.as_deref() == Some(id_or_name))
        };
        found.ok_or_else(|| LivyError::not_found(id_or_name))
    }

    /// The garbage collector's pass: finished batches older than the retain time go.
    fn collect_garbage(&mut self) {
        self.batches
            .retain(|b| b.finished_at.is_none_or(|t| t.elapsed() < STATE_RETAIN));
    }
}

/// The Livy server.
pub(crate) struct Livy {
    addr: std::net::SocketAddr,
    work_dir: PathBuf,
    cluster_ts: i64,
    state: Mutex<LivyState>,
    spawner: Arc<Spawner>,
    drivers: Drivers,
}

pub(crate) fn start(ctx: &Context) -> anyhow::Result<(Arc<dyn StandIn>, Router)> {
    std::fs::create_dir_all(&ctx.work_dir)?;
    let livy = Arc::new(Livy {
        addr: ctx.addr,
        work_dir: ctx.work_dir.clone(),
        cluster_ts: Utc::now().timestamp_millis(),
        state: Mutex::default(),
        spawner: ctx.spawner.clone(),
        drivers: Drivers::new(ctx.cancel.clone()),
    });
    let routes = Router::new().nest(PREFIX, router(livy.clone()));
    Ok((livy, routes))
}

impl Livy {
    fn lock(&self) -> MutexGuard<'_, LivyState> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.collect_garbage();
        st
    }

    fn base_url(&self) -> String {
        format!("http://{}{PREFIX}", self.addr)
    }

    fn update(&self, id: u32, change: impl FnOnce(&mut Batch)) {
        if let Some(b) = self.lock().batches.iter_mut().find(|b| b.id == id) {
            change(b);
        }
    }

    /// `SessionServlet` POST: take an id, register the batch, start its driver.
    fn create(self: &Arc<Self>, req: CreateBatchRequest) -> Result<Value, LivyError> {
        let app_cancel = self.drivers.cancel.child_token();
        let (ended_tx, ended) = watch::channel(false);
        let id;
        let dir;
        {
            let mut st = self.lock();
            id = st.next_id;
            st.next_id += 1;
            let file = req.file.clone().unwrap_or_default();
            if file.is_empty() {
                return Err(LivyError::rejected("requirement failed: File is required."));
            }
            if let Some(name) = &req.name
                && st.batches.iter().any(|b| b.name.as_ref() == Some(name))
            {
                return Err(LivyError::rejected(format!(
                    "Duplicate session name: Some({name}) for session {id}"
                )));
            }
            dir = self.work_dir.join(format!("batch-{id}"));
            st.submissions.push(SubmissionRecord {
                manager: "livy",
                submission_id: id.to_string(),
                app_name: req.name.clone().unwrap_or_default(),
                submission_key: req
                    .conf
                    .as_ref()
                    .and_then(|c| c.get(SUBMISSION_KEY_PROPERTY).cloned())
                    .or_else(|| req.name.clone()),
                received_at: Utc::now(),
            });
            st.batches.push(Batch {
                id,
                name: req.name.clone(),
                proxy_user: req.proxy_user.clone(),
                state: BatchState::Starting,
                app_id: None,
                dir: dir.clone(),
                pid: None,
                finished_at: None,
                cancel: app_cancel.clone(),
                ended,
            });
        }
        info!(batch_id = id, name = ?req.name, file = ?req.file, "batch created");
        let livy = self.clone();
        self.drivers.spawn(async move {
            let state = livy.run_driver(id, &req, &dir, &app_cancel).await;
            livy.update(id, |b| {
                b.state = state;
                b.pid = None;
                b.finished_at = Some(Instant::now());
            });
            info!(batch_id = id, state = state.as_str(), "batch ended");
            let _ = ended_tx.send(true);
        });
        let st = self.lock();
        Ok(self.view(st.find(&id.to_string())?))
    }

    async fn run_driver(
        &self,
        id: u32,
        req: &CreateBatchRequest,
        dir: &Path,
        cancel: &CancellationToken,
    ) -> BatchState {
        let app_tag = format!("livy-batch-{id}-{:08x}", rand_suffix());
        let conf = req.spark_conf(&app_tag);
        let file = req.file.clone().unwrap_or_default();
        let args = req.args.clone().unwrap_or_default();
        let plan = LaunchPlan::resolve(&App {
            resource: &file,
            main_class: req.class_name.as_deref(),
            args: &args,
            conf: &conf,
        });
        let cmd = plan.map_err(|e| e.java_exception()).and_then(|plan| {
            process::driver_command(&plan, dir, &[])
                .map(|cmd| (plan, cmd))
                .map_err(|e| format!("java.io.IOException: {e}"))
        });
        let (plan, cmd) = match cmd {
            Ok(ok) => ok,
            Err(why) => return self.failed_to_start(id, dir, &why),
        };
        if cancel.is_cancelled() {
            return BatchState::Killed;
        }
        let mut child = match self.spawner.spawn(cmd).await {
            Ok(child) => child,
            Err(e) => {
                let why = process::cannot_run_program(&plan, dir, &e);
                return self.failed_to_start(id, dir, &why);
            }
        };
        let pid = child.id();
        let app_id = format!("application_{}_{:04}", self.cluster_ts, id + 1);
        self.update(id, |b| {
            b.pid = pid;
            b.app_id = Some(app_id.clone());
            b.state = BatchState::Running;
        });
        info!(batch_id = id, app_id, pid, command = %plan.display(), "batch driver running");
        let status = tokio::select! {
            status = child.wait() => status,
            () = cancel.cancelled() => {
                if let Err(err) = process::terminate_group(&mut child, process::KILL_GRACE).await {
                    warn!(batch_id = id, error = %err, "waiting for a killed batch driver failed");
                }
                return BatchState::Killed;
            }
        };
        match status {
            Ok(s) if s.success() => BatchState::Success,
            Ok(s) => {
                warn!(
                    batch_id = id,
                    exit_code = process::exit_code(s),
                    "batch driver failed"
                );
                BatchState::Dead
            }
            Err(err) => {
                warn!(batch_id = id, error = %err, "waiting for a batch driver failed");
                BatchState::Dead
            }
        }
    }

    /// What spark-submit would print before exiting non-zero: the reason, in stderr.
    fn failed_to_start(&self, id: u32, dir: &Path, why: &str) -> BatchState {
        warn!(batch_id = id, reason = %why, "batch driver could not start");
        let written = std::fs::create_dir_all(dir).and_then(|()| {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("stderr"))?;
            writeln!(f, "Exception in thread \"main\" {why}")
        });
        if let Err(err) = written {
            warn!(batch_id = id, error = %err, "writing a batch's stderr failed");
        }
        BatchState::Dead
    }

    /// The batch object (`BatchSessionView`), with its last log lines.
    fn view(&self, b: &Batch) -> Value {
        let lines = log_lines(&b.dir);
        let recent = &lines[lines.len().saturating_sub(VIEW_LOG_LINES)..];
        let (driver_log, ui) = match &b.app_id {
            Some(_) => (
                Value::from(format!("{}/ui/batch/{}/log", self.base_url(), b.id)),
                Value::Null,
            ),
            None => (Value::Null, Value::Null),
        };
        json!({
            "id": b.id,
            "name": b.name,
            "owner": null,
            "proxyUser": b.proxy_user,
            "state": b.state.as_str(),
            "appId": b.app_id,
            "appInfo": {"driverLogUrl": driver_log, "sparkUiUrl": ui, "executorLogUrls": null},
            "log": recent,
        })
    }

    /// `SessionManager.delete`: stop the driver, wait for it, then forget the batch.
    async fn delete(&self, id_or_name: &str) -> Result<(), LivyError> {
        let (id, mut ended) = {
            let st = self.lock();
            let b = st.find(id_or_name)?;
            b.cancel.cancel();
            (b.id, b.ended.clone())
        };
        info!(batch_id = id, "deleting batch");
        // The sender lives in the driver task; it is dropped only after sending.
        let _ = ended.wait_for(|done| *done).await;
        self.lock().batches.retain(|b| b.id != id);
        Ok(())
    }

}

impl StandIn for Livy {
    fn submissions(&self) -> Vec<SubmissionRecord> {
        self.lock().submissions.clone()
    }

    fn drivers(&self) -> &Drivers {
        &self.drivers
    }

    fn running_pids(&self) -> Vec<u32> {
        self.lock().batches.iter().filter_map(|b| b.pid).collect()
    }
}

/// Eight random hex digits for the YARN tag, from the clock and the process (no RNG crate).
fn rand_suffix() -> u32 {
    let nanos = Utc::now().timestamp_subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}

/// `SparkProcApp.log()`: a `stdout: ` marker, stdout's lines, a `\nstderr: `
/// marker, stderr's lines. Missing files (not started yet) read as empty.
fn log_lines(dir: &Path) -> Vec<String> {
    let read = |name: &str| -> Vec<String> {
        std::fs::read(dir.join(name))
            .map(|bytes| {
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut lines = vec!["stdout: ".to_owned()];
    lines.extend(read("stdout"));
    lines.push("\nstderr: ".to_owned());
    lines.extend(read("stderr"));
    lines
}

// ---- HTTP ----

fn router(livy: Arc<Livy>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/batches", get(list_batches).post(create_batch))
        .route("/batches/{id}", get(get_batch).delete(delete_batch))
        .route("/batches/{id}/state", get(get_state))
        .route("/batches/{id}/log", get(get_log))
        .route("/ui/batch/{id}/log", get(log_page))
        .with_state(livy)
}

/// Livy's error answers: a status and `{"msg": …}` (`ResponseMessage`).
#[derive(Debug)]
struct LivyError {
    status: StatusCode,
    msg: String,
}

impl LivyError {
    fn bad_request(msg: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            msg: msg.into(),
        }
    }

    /// What the POST handler answers for an `IllegalArgumentException`.
    fn rejected(reason: impl AsRef<str>) -> Self {
        Self::bad_request(format!("Rejected, Reason: {}", reason.as_ref()))
    }

    fn not_found(id_or_name: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            msg: format!("Session '{id_or_name}' not found."),
        }
    }

    /// `params("from").toInt` failing: Scalatra's error handler answers 500.
    fn not_a_number(value: &str) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            msg: format!("java.lang.NumberFormatException: For input string: \"{value}\""),
        }
    }
}

impl IntoResponse for LivyError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"msg": self.msg}))).into_response()
    }
}

/// An optional integer query parameter, parsed like Scala's `toInt`.
fn int_param(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, LivyError> {
    q.get(key)
        .map(|v| {
            v.parse::<i32>()
                .map(i64::from)
                .map_err(|_| LivyError::not_a_number(v))
        })
        .transpose()
}

/// Scala's `seq.view(from, until)`: both ends clamped into the sequence.
fn slice<T>(items: &[T], from: i64, until: i64) -> &[T] {
    let len = items.len() as i64;
    let from = from.clamp(0, len) as usize;
    let until = until.clamp(0, len) as usize;
    &items[from..until.max(from)]
}

async fn version() -> axum::Json<Value> {
    axum::Json(json!({
        "version": LIVY_VERSION,
        "user": "drover",
        "revision": "drover-devcluster",
        "branch": "",
        "date": "",
        "url": "",
    }))
}

async fn create_batch(State(livy): State<Arc<Livy>>, body: Bytes) -> Result<Response, LivyError> {
    let req: CreateBatchRequest =
        serde_json::from_slice(&body).map_err(|e| LivyError::bad_request(e.to_string()))?;
    let batch = livy.create(req)?;
    let location = format!("{PREFIX}/batches/{}", batch["id"]);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(batch),
    )
        .into_response())
}

async fn list_batches(
    State(livy): State<Arc<Livy>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, LivyError> {
    let from = int_param(&q, "from")?.unwrap_or(0);
    let size = int_param(&q, "size")?.unwrap_or(100);
    let st = livy.lock();
    let sessions: Vec<Value> = slice(&st.batches, from, from + size)
        .iter()
        .map(|b| livy.view(b))
        .collect();
    Ok(axum::Json(json!({
        "from": from,
        "total": st.batches.len(),
        "sessions": sessions,
    })))
}

async fn get_batch(
    State(livy): State<Arc<Livy>>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<Value>, LivyError> {
    let st = livy.lock();
    Ok(axum::Json(livy.view(st.find(&id)?)))
}

async fn get_state(
    State(livy): State<Arc<Livy>>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<Value>, LivyError> {
    let st = livy.lock();
    let b = st.find(&id)?;
    Ok(axum::Json(json!({"id": b.id, "state": b.state.as_str()})))
}

/// `SessionServlet.serializeLogs`: `size` lines (100; negative: all) from
/// `from` (default: the last `size` lines).
async fn get_log(
    State(livy): State<Arc<Livy>>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, LivyError> {
    let from = int_param(&q, "from")?;
    let size = int_param(&q, "size")?;
    let (id, dir) = {
        let st = livy.lock();
        let b = st.find(&id)?;
        (b.id, b.dir.clone())
    };
    let lines = log_lines(&dir);
    let mut size = size.unwrap_or(100);
    if size < 0 {
        size = lines.len() as i64;
    }
    let mut from = from.unwrap_or(-1);
    if from < 0 {
        from = (lines.len() as i64 - size).max(0);
    }
    Ok(axum::Json(json!({
        "id": id,
        "from": from,
        "total": lines.len(),
        "log": slice(&lines, from, from + size),
    })))
}

/// The driver log page `appInfo.driverLogUrl` points at, as plain text.
async fn log_page(
    State(livy): State<Arc<Livy>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, LivyError> {
    let dir = livy.lock().find(&id)?.dir.clone();
    Ok((
        [(header::CONTENT_TYPE, "text/plain;charset=utf-8")],
        log_lines(&dir).join("\n"),
    )
        .into_response())
}

async fn delete_batch(
    State(livy): State<Arc<Livy>>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<Value>, LivyError> {
    livy.delete(&id).await?;
    Ok(axum::Json(json!({"msg": "deleted"})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_clamp_like_scala_views() {
        let items = [0, 1, 2, 3, 4];
        assert_eq!(slice(&items, 1, 3), [1, 2]);
        assert_eq!(slice(&items, 3, 100), [3, 4]);
        assert_eq!(slice(&items, 7, 9), [] as [i32; 0]);
        assert_eq!(slice(&items, -2, 2), [0, 1]);
    }

    #[test]
    fn request_fields_become_the_spark_properties_livy_passes() {
        let req: CreateBatchRequest = serde_json::from_value(json!({
            "file": "/a/app.py",
            "pyFiles": ["/a/dep.py", "/a/lib.zip"],
            "driverMemory": "1g",
            "numExecutors": 2,
            "name": "n",
            "conf": {"spark.x": "y"},
        }))
        .unwrap();
        let conf = req.spark_conf("livy-batch-0-abc");
        assert_eq!(conf["spark.submit.pyFiles"], "/a/dep.py,/a/lib.zip");
        assert_eq!(conf["spark.driver.memory"], "1g");
        assert_eq!(conf["spark.executor.instances"], "2");
        assert_eq!(conf["spark.app.name"], "n");
        assert_eq!(conf["spark.yarn.tags"], "livy-batch-0-abc");
        assert_eq!(conf["spark.x"], "y");
    }

    #[test]
    fn unknown_request_fields_are_refused() {
        let err = serde_json::from_value::<CreateBatchRequest>(json!({"file": "x", "klass": "y"}))
            .unwrap_err();
        assert!(err.to_string().contains("klass"), "{err}");
    }
}
