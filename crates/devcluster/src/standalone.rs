//! A Spark standalone master with one worker, as seen over HTTP.
//!
//! Emulated from Spark's own source (4.x), so that drover's standalone plugin and
//! Spark's own `RestSubmissionClient` cannot tell the difference where it matters:
//!
//! - REST submission server (`deploy/rest/StandaloneRestServer.scala`,
//!   `RestSubmissionServer.scala`, and the replies built in `master/Master.scala`):
//!   `POST /v1/submissions/create`, `GET /v1/submissions/status/{id}`,
//!   `POST /v1/submissions/kill/{id}`, `POST /v1/submissions/killall`,
//!   `POST /v1/submissions/clear`, `GET /v1/submissions/readyz`, and the
//!   ErrorServlet answers for every other path. Bodies are rendered like Spark's
//!   Jackson mapper: alphabetical fields, absent fields omitted, Jackson's default
//!   pretty printer (`"key" : value`, arrays as `[ a, b ]`), content type
//!   `application/json;charset=utf-8`. Unknown or finished ids answer HTTP 200
//!   with `"success" : false`, as the real master does.
//! - Master JSON view `GET /json/` (`deploy/JsonProtocol.scala` `writeMasterState`,
//!   `writeWorkerInfo`, `writeDriverInfo`), content type `text/json;charset=utf-8`.
//! - Worker log page `GET /log/` (`deploy/worker/ui/LogPage.scala` `renderLog`):
//!   `==== Bytes {start}-{end} of {length} of {workDir}/{driverId}/{logType} ====\n`
//!   then the bytes, the last 100 KiB by default.
//!
//! Deliberate differences, each because drover needs it or nothing could notice:
//! Python resources and a missing `mainClass` for non-jar resources are accepted
//! (a real master wants a jar and a main class; drover runs `.py` drivers locally);
//! a supervised driver shows `RELAUNCHING` between attempts and its relaunch count
//! in the status `message` (`Supervised driver: relaunches=N`), where a real
//! worker relaunches silently in `RUNNING`; empty `offset=`/`byteLength=` log
//! parameters mean "absent" instead of a 500.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Local, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::SubmissionRecord;
use crate::stand_in::Drivers;
use crate::process::{self, App, LaunchPlan, Spawner};

/// The Spark version this master claims to be.
pub const SERVER_SPARK_VERSION: &str = "4.0.0";
/// The only REST protocol version Spark has ever had.
pub const PROTOCOL_VERSION: &str = "v1";
/// The Spark property drover puts on a submission to find it again after a restart.
pub const SUBMISSION_KEY_PROPERTY: &str = "spark.drover.submissionKey";

/// Spark's `DriverRunner`: a supervised run that lasted this long resets the back-off.
const SUCCESSFUL_RUN: Duration = Duration::from_secs(5);
const FIRST_RELAUNCH_BACKOFF: Duration = Duration::from_secs(1);
const MAX_RELAUNCH_BACKOFF: Duration = Duration::from_secs(60);
/// Spark's `spark.deploy.retainedDrivers` default.
const RETAINED_DRIVERS: usize = 200;
/// LogPage's `defaultBytes`.
const DEFAULT_LOG_BYTES: u64 = 100 * 1024;

/// Spark's `DriverState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverState {
    Submitted,
    Running,
    Finished,
    Relaunching,
    Unknown,
    Killed,
    Failed,
    Error,
}

impl DriverState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "SUBMITTED",
            Self::Running => "RUNNING",
            Self::Finished => "FINISHED",
            Self::Relaunching => "RELAUNCHING",
            Self::Unknown => "UNKNOWN",
            Self::Killed => "KILLED",
            Self::Failed => "FAILED",
            Self::Error => "ERROR",
        }
    }
}

impl std::fmt::Display for DriverState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`Master::new`] needs from the cluster.
#[derive(Debug, Clone)]
pub(crate) struct MasterConfig {
    pub addr: SocketAddr,
    pub work_dir: PathBuf,
    pub worker_cores: u32,
    pub worker_memory_mb: u32,
}

/// A `DriverDescription`: what a create asked for.
#[derive(Debug)]
struct DriverDesc {
    app_resource: String,
    main_class: Option<String>,
    app_args: Vec<String>,
    spark_properties: BTreeMap<String, String>,
    environment: BTreeMap<String, String>,
    cores: u32,
    memory_mb: u32,
    supervise: bool,
}

#[derive(Debug)]
struct Driver {
    id: String,
    desc: Arc<DriverDesc>,
    state: DriverState,
    /// `Throwable.toString` of what put the driver in ERROR.
    exception: Option<String>,
    relaunches: u32,
    /// Placed on the worker (holds its cores and memory until it ends).
    launched: bool,
    /// The process group of the current attempt, while it runs.
    pid: Option<u32>,
    cancel: CancellationToken,
    start_time_ms: i64,
    submit_date: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct MasterState {
    next_driver_number: u32,
    /// Not yet ended, in submission order (the master's `drivers`).
    active: Vec<Driver>,
    /// Ended, in the order they ended (the master's `completedDrivers`).
    completed: Vec<Driver>,
    cores_used: u32,
    memory_used_mb: u32,
    submissions: Vec<SubmissionRecord>,
}

/// The master and its one worker. Shared by the HTTP handlers and the driver tasks.
pub struct Master {
    cfg: MasterConfig,
    worker_id: String,
    state: Mutex<MasterState>,
    spawner: Arc<Spawner>,
    drivers: Drivers,
}

impl Master {
    pub(crate) fn new(cfg: MasterConfig, spawner: Arc<Spawner>, cancel: CancellationToken) -> Self {
        let worker_id = format!(
            "worker-{}-{}-{}",
            Local::now().format("%Y%m%d%H%M%S"),
            cfg.addr.ip(),
            cfg.addr.port()
        );
        Self {
            cfg,
            worker_id,
            state: Mutex::default(),
            spawner,
            drivers: Drivers::new(cancel),
        }
    }

    pub(crate) fn submissions(&self) -> Vec<SubmissionRecord> {
        self.lock().submissions.clone()
    }

    fn lock(&self) -> MutexGuard<'_, MasterState> {
        // A panic elsewhere must not take the whole stand-in down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn worker_host_port(&self) -> String {
        self.cfg.addr.to_string()
    }

    fn web_ui_url(&self) -> String {
        format!("http://{}", self.cfg.addr)
    }

    fn register(self: &Arc<Self>, desc: DriverDesc) -> String {
        let now = Utc::now();
        let id = {
            let mut st = self.lock();
            let id = format!(
                "driver-{}-{:04}",
                now.with_timezone(&Local).format("%Y%m%d%H%M%S"),
                st.next_driver_number
            );
            st.next_driver_number += 1;
            st.submissions.push(SubmissionRecord {
                manager: "spark-standalone",
                submission_id: id.clone(),
                app_name: desc
                    .spark_properties
                    .get("spark.app.name")
                    .cloned()
                    .unwrap_or_default(),
                submission_key: desc.spark_properties.get(SUBMISSION_KEY_PROPERTY).cloned(),
                received_at: now,
            });
            st.active.push(Driver {
                id: id.clone(),
                desc: Arc::new(desc),
                state: DriverState::Submitted,
                exception: None,
                relaunches: 0,
                launched: false,
                pid: None,
                cancel: self.drivers.cancel.child_token(),
                start_time_ms: now.timestamp_millis(),
                submit_date: now,
            });
            id
        };
        info!(driver_id = %id, "driver submitted");
        self.schedule();
        id
    }

    /// The master's `schedule()`: start, in submission order, every waiting driver
    /// that fits the worker's free cores and memory. One that does not fit waits
    /// (forever, if it never can) without blocking smaller ones behind it.
    fn schedule(self: &Arc<Self>) {
        if self.drivers.cancel.is_cancelled() {
            return;
        }
        let mut to_start = Vec::new();
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            let mut cores_free = self.cfg.worker_cores.saturating_sub(st.cores_used);
            let mut memory_free = self.cfg.worker_memory_mb.saturating_sub(st.memory_used_mb);
            for d in st.active.iter_mut() {
                let waiting = !d.launched && d.state == DriverState::Submitted;
                if waiting && d.desc.cores <= cores_free && d.desc.memory_mb <= memory_free {
                    d.launched = true;
                    cores_free -= d.desc.cores;
                    memory_free -= d.desc.memory_mb;
                    st.cores_used += d.desc.cores;
                    st.memory_used_mb += d.desc.memory_mb;
                    to_start.push((d.id.clone(), d.desc.clone(), d.cancel.clone()));
                }
            }
        }
        for (id, desc, cancel) in to_start {
            let master = self.clone();
            self.drivers.spawn(async move {
                let (state, exception) = master.drive(&id, &desc, &cancel).await;
                master.finish(&id, state, exception);
            });
        }
    }

    /// Spark's `DriverRunner`: run the driver until it ends, relaunching a
    /// supervised one that fails; answers the final state.
    async fn drive(
        &self,
        id: &str,
        desc: &DriverDesc,
        cancel: &CancellationToken,
    ) -> (DriverState, Option<String>) {
        let plan = match LaunchPlan::resolve(&App {
            resource: &desc.app_resource,
            main_class: desc.main_class.as_deref(),
            args: &desc.app_args,
            conf: &desc.spark_properties,
        }) {
            Ok(plan) => plan,
            Err(err) => {
                warn!(driver_id = %id, error = %err, "driver cannot start");
                return (DriverState::Error, Some(err.java_exception()));
            }
        };
        let dir = self.cfg.work_dir.join(id);
        // Spark drops SPARK_LOCAL_IP/HOSTNAME from the submitted environment.
        let mut env: Vec<(String, String)> = desc
            .environment
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "SPARK_LOCAL_IP" | "SPARK_LOCAL_HOSTNAME"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.push(("SPARK_DRIVER_ID".to_owned(), id.to_owned()));
        let mut backoff = FIRST_RELAUNCH_BACKOFF;
        loop {
            if cancel.is_cancelled() {
                return (DriverState::Killed, None);
            }
            let cmd = match process::driver_command(&plan, &dir, &env) {
                Ok(cmd) => cmd,
                Err(err) => {
                    return (
                        DriverState::Error,
                        Some(format!("java.io.IOException: {err}")),
                    );
                }
            };
            let mut child = match self.spawner.spawn(cmd).await {
                Ok(child) => child,
                Err(err) => {
                    warn!(driver_id = %id, error = %err, "driver process did not start");
                    let exception = process::cannot_run_program(&plan, &dir, &err);
                    return (DriverState::Error, Some(exception));
                }
            };
            let pid = child.id();
            self.update(id, |d| {
                d.state = DriverState::Running;
                d.pid = pid;
            });
            info!(driver_id = %id, pid, command = %plan.display(), "driver running");
            let started = Instant::now();
            let status = tokio::select! {
                status = child.wait() => status,
                () = cancel.cancelled() => {
                    if let Err(err) = process::terminate_group(&mut child, process::KILL_GRACE).await {
                        warn!(driver_id = %id, error = %err, "waiting for a killed driver failed");
                    }
                    return (DriverState::Killed, None);
                }
            };
            self.update(id, |d| d.pid = None);
            let status = match status {
                Ok(status) => status,
                Err(err) => {
                    return (
                        DriverState::Error,
                        Some(format!("java.io.IOException: {err}")),
                    );
                }
            };
            if status.success() {
                return (DriverState::Finished, None);
            }
            if !desc.supervise {
                info!(driver_id = %id, exit_code = process::exit_code(status), "driver failed");
                return (DriverState::Failed, None);
            }
            if started.elapsed() > SUCCESSFUL_RUN {
                backoff = FIRST_RELAUNCH_BACKOFF;
            }
            self.update(id, |d| {
                d.state = DriverState::Relaunching;
                d.relaunches += 1;
            });
            info!(
                driver_id = %id,
                exit_code = process::exit_code(status),
                backoff_s = backoff.as_secs(),
                "supervised driver failed, relaunching"
            );
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = cancel.cancelled() => return (DriverState::Killed, None),
            }
            backoff = (backoff * 2).min(MAX_RELAUNCH_BACKOFF);
        }
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut Driver)) {
        if let Some(d) = self.lock().active.iter_mut().find(|d| d.id == id) {
            change(d);
        }
    }

    /// Record a driver's end, give its resources back, and start whatever now fits.
    fn finish(self: &Arc<Self>, id: &str, state: DriverState, exception: Option<String>) {
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            let Some(index) = st.active.iter().position(|d| d.id == id) else {
                return;
            };
            let mut driver = st.active.remove(index);
            driver.state = state;
            driver.exception = exception;
            driver.pid = None;
            if driver.launched {
                st.cores_used = st.cores_used.saturating_sub(driver.desc.cores);
                st.memory_used_mb = st.memory_used_mb.saturating_sub(driver.desc.memory_mb);
            }
            st.completed.push(driver);
            if st.completed.len() > RETAINED_DRIVERS {
                // Like the master, drop the oldest tenth at once.
                let excess = (RETAINED_DRIVERS / 10).max(1);
                st.completed.drain(..excess);
            }
        }
        info!(driver_id = %id, state = %state, "driver ended");
        self.schedule();
    }

    /// The master's `RequestKillDriver`. A waiting driver is KILLED at once; a
    /// placed one is killed by its runner, which then reports KILLED.
    fn kill(&self, id: &str) -> (bool, String) {
        let mut guard = self.lock();
        let st = &mut *guard;
        match st.active.iter().position(|d| d.id == id) {
            Some(index) => {
                if st.active[index].launched {
                    st.active[index].cancel.cancel();
                } else {
                    let mut driver = st.active.remove(index);
                    driver.state = DriverState::Killed;
                    driver.cancel.cancel();
                    st.completed.push(driver);
                }
                info!(driver_id = %id, "kill requested");
                (true, format!("Kill request for {id} submitted"))
            }
            None => (
                false,
                format!("Driver {id} has already finished or does not exist"),
            ),
        }
    }

    fn kill_all(&self) {
        let ids: Vec<String> = self.lock().active.iter().map(|d| d.id.clone()).collect();
        for id in ids {
            self.kill(&id);
        }
    }

    fn status(&self, id: &str) -> RestResponse {
        let st = self.lock();
        let found = st.active.iter().chain(&st.completed).find(|d| d.id == id);
        let mut reply = RestResponse::new("SubmissionStatusResponse");
        reply.submission_id = Some(id.to_owned());
        reply.success = Some(found.is_some());
        if let Some(d) = found {
            reply.driver_state = Some(d.state.to_string());
            if d.launched {
                reply.worker_id = Some(self.worker_id.clone());
                reply.worker_host_port = Some(self.worker_host_port());
            }
            let mut message = Vec::new();
            if let Some(exception) = &d.exception {
                // StatusRequestServlet: "Exception from the cluster:\n" + formatException(e),
                // which is `e.toString` and a stack trace we do not have.
                message.push(format!("Exception from the cluster:\n{exception}\n"));
            }
            if d.desc.supervise && d.relaunches > 0 {
                message.push(format!("Supervised driver: relaunches={}", d.relaunches));
            }
            if !message.is_empty() {
                reply.message = Some(message.concat());
            }
        }
        reply
    }

    fn master_json(&self) -> MasterJson {
        let st = self.lock();
        let now_ms = Utc::now().timestamp_millis();
        let worker = WorkerJson {
            id: self.worker_id.clone(),
            host: self.cfg.addr.ip().to_string(),
            port: self.cfg.addr.port(),
            webuiaddress: self.web_ui_url(),
            cores: self.cfg.worker_cores,
            coresused: st.cores_used,
            coresfree: self.cfg.worker_cores.saturating_sub(st.cores_used),
            memory: self.cfg.worker_memory_mb,
            memoryused: st.memory_used_mb,
            memoryfree: self.cfg.worker_memory_mb.saturating_sub(st.memory_used_mb),
            resources: BTreeMap::new(),
            resourcesused: BTreeMap::new(),
            resourcesfree: BTreeMap::new(),
            state: "ALIVE",
            lastheartbeat: now_ms,
        };
        let driver_json = |d: &Driver| DriverJson {
            id: d.id.clone(),
            starttime: d.start_time_ms.to_string(),
            state: d.state.to_string(),
            cores: d.desc.cores,
            memory: d.desc.memory_mb,
            resources: BTreeMap::new(),
            // java.util.Date.toString in a UTC JVM.
            submitdate: d.submit_date.format("%a %b %d %H:%M:%S UTC %Y").to_string(),
            worker: if d.launched {
                self.worker_id.clone()
            } else {
                "None".to_owned()
            },
            mainclass: d.desc.main_class.clone().unwrap_or_default(),
        };
        MasterJson {
            url: format!("spark://{}", self.cfg.addr),
            aliveworkers: 1,
            cores: worker.cores,
            coresused: worker.coresused,
            memory: worker.memory,
            memoryused: worker.memoryused,
            resources: vec![BTreeMap::new()],
            resourcesused: vec![BTreeMap::new()],
            workers: vec![worker],
            activeapps: Vec::new(),
            completedapps: Vec::new(),
            activedrivers: st.active.iter().map(driver_json).collect(),
            completeddrivers: st.completed.iter().map(driver_json).collect(),
            status: "ALIVE",
        }
    }

    /// LogPage.getLog: the byte range `[start, end)` of `<logDir><logType>` and its length.
    async fn read_log(
        &self,
        log_dir: &str,
        log_type: &str,
        offset: Option<i64>,
        byte_length: i64,
    ) -> (String, u64, u64, u64) {
        if !matches!(log_type, "stdout" | "stderr") {
            return (
                "Error: Log type must be one of stderr, stdout".to_owned(),
                0,
                0,
                0,
            );
        }
        let path = PathBuf::from(format!("{log_dir}{log_type}"));
        let read = async {
            let mut file = tokio::fs::File::open(&path).await?;
            let total = file.metadata().await?.len();
            let byte_length = u64::try_from(byte_length.max(0)).unwrap_or(0);
            let start = match offset {
                Some(offset) => u64::try_from(offset.max(0)).unwrap_or(0).min(total),
                None => total.saturating_sub(byte_length),
            };
            let end = start.saturating_add(byte_length).min(total);
            file.seek(std::io::SeekFrom::Start(start)).await?;
            let mut bytes = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
            file.take(end - start).read_to_end(&mut bytes).await?;
            let end = start + bytes.len() as u64;
            std::io::Result::Ok((
                String::from_utf8_lossy(&bytes).into_owned(),
                start,
                end,
                total,
            ))
        };
        match read.await {
            Ok(log) => log,
            Err(err) => (
                format!(
                    "Error getting logs due to exception: {}: {err}",
                    path.display()
                ),
                0,
                0,
                0,
            ),
        }
    }
}

/// The HTTP surface of the master, its REST server and its worker's log page.
pub(crate) fn router(master: Arc<Master>) -> Router {
    Router::new()
        .route("/v1/submissions/create", post(create))
        .route("/v1/submissions/status/{id}", get(status))
        .route("/v1/submissions/kill/{id}", post(kill))
        .route("/v1/submissions/killall", post(kill_all))
        .route("/v1/submissions/clear", post(clear))
        .route("/v1/submissions/readyz", get(readyz))
        .route("/json", get(master_json))
        .route("/json/", get(master_json))
        .route("/log", get(worker_log))
        .route("/log/", get(worker_log))
        .route("/logPage", get(worker_log_page))
        .route("/logPage/", get(worker_log_page))
        .fallback(rest_fallback)
        .with_state(master)
}

/// Every REST reply Spark sends, as one struct: Jackson writes the fields of a
/// `SubmitRestProtocolResponse` alphabetically and omits unset ones, which is what
/// this field order plus `skip_serializing_if` reproduce.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RestResponse {
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    driver_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    highest_protocol_version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    server_spark_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    submission_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    success: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unknown_fields: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker_host_port: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker_id: Option<String>,
}

impl RestResponse {
    fn new(action: &'static str) -> Self {
        Self {
            action,
            driver_state: None,
            highest_protocol_version: None,
            message: None,
            server_spark_version: SERVER_SPARK_VERSION,
            submission_id: None,
            success: None,
            unknown_fields: None,
            worker_host_port: None,
            worker_id: None,
        }
    }

    fn into_response_with(self, status: StatusCode) -> Response {
        (
            status,
            [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
            jackson::to_string(&self),
        )
            .into_response()
    }
}

impl IntoResponse for RestResponse {
    fn into_response(self) -> Response {
        self.into_response_with(StatusCode::OK)
    }
}

/// The REST layer's one error: an `ErrorResponse` body with a status a client can act on.
#[derive(Debug)]
struct RestError {
    status: StatusCode,
    message: String,
}

impl RestError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// `Malformed request: <exception>`, as SubmitRequestServlet words a bad create.
    fn malformed(exception: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("Malformed request: {exception}"))
    }

    /// A failed `validate()`: Spark's first line, plus the cause it would hide.
    fn invalid(cause: impl std::fmt::Display) -> Self {
        Self::malformed(format!(
            "org.apache.spark.deploy.rest.SubmitRestProtocolException: \
             Validation of message CreateSubmissionRequest failed!\nCaused by: {cause}"
        ))
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let mut body = RestResponse::new("ErrorResponse");
        body.message = Some(self.message);
        body.highest_protocol_version = Some(PROTOCOL_VERSION);
        body.into_response_with(self.status)
    }
}

const CREATE_FIELDS: [&str; 7] = [
    "action",
    "clientSparkVersion",
    "appResource",
    "mainClass",
    "appArgs",
    "sparkProperties",
    "environmentVariables",
];

async fn create(State(master): State<Arc<Master>>, body: Bytes) -> Result<RestResponse, RestError> {
    let json: Value = serde_json::from_slice(&body).map_err(|err| {
        RestError::malformed(format!(
            "com.fasterxml.jackson.core.JsonParseException: {err}"
        ))
    })?;
    let Value::Object(fields) = &json else {
        return Err(RestError::malformed(
            "org.apache.spark.deploy.rest.SubmitRestProtocolException: \
             the request body must be a JSON object",
        ));
    };
    let action = fields
        .get("action")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            RestError::malformed(format!(
                "org.apache.spark.deploy.rest.SubmitRestMissingFieldException: \
             The action field is missing in message: {json}"
            ))
        })?;
    if action != "CreateSubmissionRequest" {
        return Err(RestError::bad_request(format!(
            "Received message of unexpected type {action}."
        )));
    }
    let desc = parse_create(fields)?;
    let unknown: Vec<String> = fields
        .keys()
        .filter(|k| !CREATE_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    let id = master.register(desc);
    let mut reply = RestResponse::new("CreateSubmissionResponse");
    reply.message = Some(format!("Driver successfully submitted as {id}"));
    reply.submission_id = Some(id);
    reply.success = Some(true);
    reply.unknown_fields = (!unknown.is_empty()).then_some(unknown);
    Ok(reply)
}

/// CreateSubmissionRequest.validate plus the master's DriverDescription defaults.
fn parse_create(fields: &serde_json::Map<String, Value>) -> Result<DriverDesc, RestError> {
    let missing = |name: &str| {
        RestError::invalid(format!(
            "org.apache.spark.deploy.rest.SubmitRestMissingFieldException: \
             '{name}' is missing in message CreateSubmissionRequest."
        ))
    };
    json_string(fields, "clientSparkVersion")?.ok_or_else(|| missing("clientSparkVersion"))?;
    let app_resource = json_string(fields, "appResource")?.ok_or_else(|| missing("appResource"))?;
    let main_class = json_string(fields, "mainClass")?.filter(|c| !c.is_empty());
    let app_args = json_string_list(fields, "appArgs")?.unwrap_or_default();
    let spark_properties = json_string_map(fields, "sparkProperties")?.ok_or_else(|| {
        RestError::invalid("java.lang.AssertionError: assertion failed: No Spark properties set!")
    })?;
    let environment = json_string_map(fields, "environmentVariables")?.unwrap_or_default();
    if !spark_properties.contains_key("spark.app.name") {
        return Err(missing("spark.app.name"));
    }
    let property =
        |key: &str, kind: &str, ok: &dyn Fn(&str) -> bool| match spark_properties.get(key) {
            Some(value) if !ok(value) => Err(RestError::invalid(format!(
                "org.apache.spark.deploy.rest.SubmitRestProtocolException: \
                 Property '{key}' expected {kind} value: actual was '{value}'."
            ))),
            _ => Ok(spark_properties.get(key)),
        };
    let supervise = property("spark.driver.supervise", "boolean", &|v| {
        v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")
    })?
    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let cores = property("spark.driver.cores", "numeric", &|v| {
        v.trim().parse::<u32>().is_ok()
    })?
    .map_or(Ok(1), |v| v.trim().parse::<u32>())
    .unwrap_or(1);
    let memory_mb = property("spark.driver.memory", "memory", &|v| {
        process::parse_memory_mb(v).is_some_and(|mb| u32::try_from(mb).is_ok())
    })?
    .and_then(|v| process::parse_memory_mb(v))
    .and_then(|mb| u32::try_from(mb).ok())
    .unwrap_or(1024);
    let is_jar = app_resource
        .rsplit('.')
        .next()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("jar"));
    if is_jar && main_class.is_none() {
        // buildDriverDescription's check; drover only needs it for jars.
        return Err(RestError::malformed(
            "org.apache.spark.deploy.rest.SubmitRestMissingFieldException: Main class is missing.",
        ));
    }
    Ok(DriverDesc {
        app_resource,
        main_class,
        app_args,
        spark_properties,
        environment,
        cores,
        memory_mb,
        supervise,
    })
}

fn mismatched(name: &str, expected: &str) -> RestError {
    RestError::malformed(format!(
        "com.fasterxml.jackson.databind.exc.MismatchedInputException: \
         field '{name}' must be {expected}"
    ))
}

/// A scalar as Jackson would coerce it into a `String` field; `null` is absent.
fn scalar_string(value: &Value) -> Option<Option<String>> {
    match value {
        Value::Null => Some(None),
        Value::String(s) => Some(Some(s.clone())),
        Value::Bool(b) => Some(Some(b.to_string())),
        Value::Number(n) => Some(Some(n.to_string())),
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn json_string(
    fields: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<String>, RestError> {
    match fields.get(name) {
        None => Ok(None),
        Some(value) => scalar_string(value).ok_or_else(|| mismatched(name, "a string")),
    }
}

fn json_string_list(
    fields: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<String>>, RestError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match scalar_string(item) {
                Some(Some(s)) => Ok(s),
                _ => Err(mismatched(name, "an array of strings")),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(mismatched(name, "an array of strings")),
    }
}

fn json_string_map(
    fields: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, RestError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(entries)) => {
            let mut map = BTreeMap::new();
            for (key, value) in entries {
                match scalar_string(value) {
                    Some(Some(s)) => {
                        map.insert(key.clone(), s);
                    }
                    Some(None) => {}
                    None => return Err(mismatched(name, "an object of string values")),
                }
            }
            Ok(Some(map))
        }
        Some(_) => Err(mismatched(name, "an object of string values")),
    }
}

async fn status(State(master): State<Arc<Master>>, UrlPath(id): UrlPath<String>) -> RestResponse {
    master.status(&id)
}

async fn kill(State(master): State<Arc<Master>>, UrlPath(id): UrlPath<String>) -> RestResponse {
    let (success, message) = master.kill(&id);
    let mut reply = RestResponse::new("KillSubmissionResponse");
    reply.message = Some(message);
    reply.submission_id = Some(id);
    reply.success = Some(success);
    reply
}

async fn kill_all(State(master): State<Arc<Master>>) -> RestResponse {
    master.kill_all();
    let mut reply = RestResponse::new("KillAllSubmissionResponse");
    reply.message = Some("Kill request for all drivers submitted".to_owned());
    reply.success = Some(true);
    reply
}

async fn clear(State(master): State<Arc<Master>>) -> RestResponse {
    master.lock().completed.clear();
    let mut reply = RestResponse::new("ClearResponse");
    reply.message = Some(String::new());
    reply.success = Some(true);
    reply
}

async fn readyz() -> RestResponse {
    let mut reply = RestResponse::new("ReadyzResponse");
    reply.message = Some(String::new());
    reply.success = Some(true);
    reply
}

/// RestSubmissionServer's ErrorServlet, plus the servlets' "Submission ID is missing".
async fn rest_fallback(uri: Uri) -> RestError {
    let path = uri.path();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut version_mismatch = false;
    let message = match parts.as_slice() {
        [
            PROTOCOL_VERSION,
            "submissions",
            action @ ("status" | "kill"),
        ] => {
            return RestError::bad_request(format!(
                "Submission ID is missing in {action} request."
            ));
        }
        [] => "Missing protocol version.".to_owned(),
        [PROTOCOL_VERSION] => "Missing the /submissions prefix.".to_owned(),
        [PROTOCOL_VERSION, "submissions", ..] => "Missing an action: please specify one of \
             /create, /kill, /killall, /clear, /status, or /readyz."
            .to_owned(),
        [unknown, ..] => {
            version_mismatch = true;
            format!("Unknown protocol version '{unknown}'.")
        }
    };
    RestError {
        status: if version_mismatch {
            // Spark's SC_UNKNOWN_PROTOCOL_VERSION.
            StatusCode::from_u16(468).unwrap_or(StatusCode::BAD_REQUEST)
        } else {
            StatusCode::BAD_REQUEST
        },
        message: format!(
            "{message} Please submit requests through \
             http://[host]:[port]/{PROTOCOL_VERSION}/submissions/..."
        ),
    }
}

#[derive(Serialize)]
struct MasterJson {
    url: String,
    workers: Vec<WorkerJson>,
    aliveworkers: u32,
    cores: u32,
    coresused: u32,
    memory: u32,
    memoryused: u32,
    resources: Vec<BTreeMap<String, String>>,
    resourcesused: Vec<BTreeMap<String, String>>,
    activeapps: Vec<Value>,
    completedapps: Vec<Value>,
    activedrivers: Vec<DriverJson>,
    completeddrivers: Vec<DriverJson>,
    status: &'static str,
}

#[derive(Serialize)]
struct WorkerJson {
    id: String,
    host: String,
    port: u16,
    webuiaddress: String,
    cores: u32,
    coresused: u32,
    coresfree: u32,
    memory: u32,
    memoryused: u32,
    memoryfree: u32,
    resources: BTreeMap<String, String>,
    resourcesused: BTreeMap<String, String>,
    resourcesfree: BTreeMap<String, String>,
    state: &'static str,
    lastheartbeat: i64,
}

#[derive(Serialize)]
struct DriverJson {
    id: String,
    starttime: String,
    state: String,
    cores: u32,
    memory: u32,
    resources: BTreeMap<String, String>,
    submitdate: String,
    worker: String,
    mainclass: String,
}

async fn master_json(State(master): State<Arc<Master>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/json;charset=utf-8")],
        jackson::to_string(&master.master_json()),
    )
        .into_response()
}

async fn worker_log(
    State(master): State<Arc<Master>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let text = |status: StatusCode, body: String| {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain;charset=utf-8")],
            body,
        )
            .into_response()
    };
    let param = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let number = |name: &str| {
        param(name).map(|v| {
            v.parse::<i64>()
                .map_err(|_| (name.to_owned(), v.to_owned()))
        })
    };
    let offset = match number("offset").transpose() {
        Ok(offset) => offset,
        Err((name, value)) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("Invalid {name}: '{value}'"),
            );
        }
    };
    let byte_length = match number("byteLength").transpose() {
        Ok(length) => length.unwrap_or(DEFAULT_LOG_BYTES as i64),
        Err((name, value)) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("Invalid {name}: '{value}'"),
            );
        }
    };
    // Spark formats a missing logType as "null" and then rejects it.
    let log_type = params.get("logType").map_or("null", String::as_str);
    let relative = match (param("appId"), param("executorId"), param("driverId")) {
        (Some(app), Some(executor), None) => format!("{app}/{executor}"),
        (None, None, Some(driver)) => driver.to_owned(),
        _ => {
            return text(
                StatusCode::BAD_REQUEST,
                "Request must specify either application or driver identifiers".to_owned(),
            );
        }
    };
    let log_dir = format!("{}/{relative}/", master.cfg.work_dir.display());
    let (body, start, end, length) = if relative.split('/').any(|part| part == ".." || part == ".")
    {
        // LogPage refuses directories outside the worker's work dir.
        (format!("Error: invalid log directory {log_dir}"), 0, 0, 0)
    } else {
        master
            .read_log(&log_dir, log_type, offset, byte_length)
            .await
    };
    text(
        StatusCode::OK,
        format!("==== Bytes {start}-{end} of {length} of {log_dir}{log_type} ====\n{body}"),
    )
}

/// The worker's LogPage for a driver (`/logPage/?driverId=…&logType=…`), the
/// page a person opens from the master's UI: the end of the log in HTML.
async fn worker_log_page(
    State(master): State<Arc<Master>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let (Some(driver), Some(log_type)) = (params.get("driverId"), params.get("logType")) else {
        return (StatusCode::BAD_REQUEST, "Request must specify a driverId and a logType").into_response();
    };
    if driver.is_empty() || driver.split('/').any(|part| part == ".." || part == ".") {
        return (StatusCode::BAD_REQUEST, "invalid driverId").into_response();
    }
    let log_dir = format!("{}/{driver}/", master.cfg.work_dir.display());
    let (body, start, end, length) = master.read_log(&log_dir, log_type, None, DEFAULT_LOG_BYTES as i64).await;
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    axum::response::Html(format!(
        "<!doctype html><title>{log_type} log page for {driver}</title><h1>{log_type} log page for {driver}</h1>\
         <p>Showing {start}-{end} of {length} bytes</p><pre>{}</pre>",
        escape(&body),
        log_type = escape(log_type),
        driver = escape(driver),
    ))
    .into_response()
}

/// JSON the way Spark's Jackson `ObjectMapper` with `INDENT_OUTPUT` (and json4s'
/// `pretty`) writes it: `DefaultPrettyPrinter`, i.e. objects one field per line
/// indented by two spaces with `"key" : value`, arrays inline as `[ a, b ]`, empty
/// containers as `{ }` and `[ ]`, no trailing newline.
mod jackson {
    use std::io;

    use serde::Serialize;
    use serde_json::ser::Formatter;

    pub(super) fn to_string(value: &impl Serialize) -> String {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, PrettyPrinter::default());
        // Our own plain structs cannot fail to serialize.
        if value.serialize(&mut ser).is_err() {
            return "{ }".to_owned();
        }
        String::from_utf8(out).unwrap_or_default()
    }

    #[derive(Default)]
    struct PrettyPrinter {
        depth: usize,
        /// Per open object: has it written a field yet?
        object_has_fields: Vec<bool>,
    }

    fn newline<W: ?Sized + io::Write>(w: &mut W, depth: usize) -> io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    impl Formatter for PrettyPrinter {
        fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
            self.depth += 1;
            self.object_has_fields.push(false);
            w.write_all(b"{")
        }

        fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
            self.depth -= 1;
            if self.object_has_fields.pop().unwrap_or(false) {
                newline(w, self.depth)?;
            } else {
                w.write_all(b" ")?;
            }
            w.write_all(b"}")
        }

        fn begin_object_key<W: ?Sized + io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> io::Result<()> {
            if let Some(has_fields) = self.object_has_fields.last_mut() {
                *has_fields = true;
            }
            if !first {
                w.write_all(b",")?;
            }
            newline(w, self.depth)
        }

        fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
            w.write_all(b" : ")
        }

        fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
            w.write_all(b"[")
        }

        fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
            w.write_all(b" ]")
        }

        fn begin_array_value<W: ?Sized + io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> io::Result<()> {
            w.write_all(if first { b" " } else { b", " })
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn writes_like_jackson_default_pretty_printer() {
            let value = serde_json::json!({
                "action": "X",
                "list": [1, 2],
                "empty": [],
                "none": {},
                "objects": [{"a": 1}],
            });
            let expected = "{\n  \"action\" : \"X\",\n  \"empty\" : [ ],\n  \"list\" : [ 1, 2 ],\n  \
                            \"none\" : { },\n  \"objects\" : [ {\n    \"a\" : 1\n  } ]\n}";
            assert_eq!(super::to_string(&value), expected);
        }
    }
}

impl crate::StandIn for Master {
    fn submissions(&self) -> Vec<SubmissionRecord> {
        Master::submissions(self)
    }

    fn drivers(&self) -> &Drivers {
        &self.drivers
    }

    fn running_pids(&self) -> Vec<u32> {
        self.lock().active.iter().filter_map(|d| d.pid).collect()
    }
}
