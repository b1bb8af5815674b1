//! The Spark standalone master and its one worker: drivers and their
//! `DriverState`s, the master's scheduling onto the worker's cores and
//! memory, Spark's `DriverRunner` (supervised relaunch with back-off), and
//! the worker's log files.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local, Utc};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::SUBMISSION_KEY_PROPERTY;
use super::wire::{DriverJson, MasterJson, RestResponse, WorkerJson};
use crate::SubmissionRecord;
use crate::process::{self, App, LaunchPlan, Spawner};
use crate::stand_in::{Drivers, StandIn};

/// Spark's `DriverRunner`: a supervised run that lasted this long resets the back-off.
const SUCCESSFUL_RUN: Duration = Duration::from_secs(5);
const FIRST_RELAUNCH_BACKOFF: Duration = Duration::from_secs(1);
const MAX_RELAUNCH_BACKOFF: Duration = Duration::from_secs(60);
/// Spark's `spark.deploy.retainedDrivers` default.
const RETAINED_DRIVERS: usize = 200;

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
pub(super) struct DriverDesc {
    pub(super) app_resource: String,
    pub(super) main_class: Option<String>,
    pub(super) app_args: Vec<String>,
    pub(super) spark_properties: BTreeMap<String, String>,
    pub(super) environment: BTreeMap<String, String>,
    pub(super) cores: u32,
    pub(super) memory_mb: u32,
    pub(super) supervise: bool,
}

#[derive(Debug)]
pub(super) struct Driver {
    pub(super) id: String,
    pub(super) desc: Arc<DriverDesc>,
    pub(super) state: DriverState,
    /// `Throwable.toString` of what put the driver in ERROR.
    pub(super) exception: Option<String>,
    pub(super) relaunches: u32,
    /// Placed on the worker (holds its cores and memory until it ends).
    pub(super) launched: bool,
    /// The process group of the current attempt, while it runs.
    pub(super) pid: Option<u32>,
    pub(super) cancel: CancellationToken,
    pub(super) start_time_ms: i64,
    pub(super) submit_date: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub(super) struct MasterState {
    pub(super) next_driver_number: u32,
    /// Not yet ended, in submission order (the master's `drivers`).
    pub(super) active: Vec<Driver>,
    /// Ended, in the order they ended (the master's `completedDrivers`).
    pub(super) completed: Vec<Driver>,
    pub(super) cores_used: u32,
    pub(super) memory_used_mb: u32,
    pub(super) submissions: Vec<SubmissionRecord>,
}

/// The master and its one worker. Shared by the HTTP handlers and the driver tasks.
pub struct Master {
    pub(super) cfg: MasterConfig,
    pub(super) worker_id: String,
    pub(super) state: Mutex<MasterState>,
    pub(super) spawner: Arc<Spawner>,
    pub(super) drivers: Drivers,
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

    pub(super) fn lock(&self) -> MutexGuard<'_, MasterState> {
        // A panic elsewhere must not take the whole stand-in down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn worker_host_port(&self) -> String {
        self.cfg.addr.to_string()
    }

    fn web_ui_url(&self) -> String {
        format!("http://{}", self.cfg.addr)
    }

    pub(super) fn register(self: &Arc<Self>, desc: DriverDesc) -> String {
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
    pub(super) fn kill(&self, id: &str) -> (bool, String) {
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

    pub(super) fn kill_all(&self) {
        let ids: Vec<String> = self.lock().active.iter().map(|d| d.id.clone()).collect();
        for id in ids {
            self.kill(&id);
        }
    }

    pub(super) fn status(&self, id: &str) -> RestResponse {
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

    pub(super) fn master_json(&self) -> MasterJson {
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
    pub(super) async fn read_log(
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

impl StandIn for Master {
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

