//! Livy's batches: their `SessionState`s, the ids and names they are found
//! by, the driver each runs as a local process, its log as `SparkProcApp`
//! shows it, and the garbage collection of finished batches.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::Router;
use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::wire::{CreateBatchRequest, LivyError};
use super::{PREFIX, STATE_RETAIN};
use crate::SubmissionRecord;
use crate::process::{self, App, LaunchPlan, Spawner};
use crate::stand_in::{Context, Drivers, StandIn};
use crate::standalone::SUBMISSION_KEY_PROPERTY;

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


#[derive(Debug)]
pub(super) struct Batch {
    pub(super) id: u32,
    pub(super) name: Option<String>,
    pub(super) proxy_user: Option<String>,
    pub(super) state: BatchState,
    pub(super) app_id: Option<String>,
    /// Holds the driver's `stdout` and `stderr`.
    pub(super) dir: PathBuf,
    /// The driver's process group, while it runs.
    pub(super) pid: Option<u32>,
    pub(super) finished_at: Option<Instant>,
    pub(super) cancel: CancellationToken,
    /// Turns true once the driver is gone (or never started).
    pub(super) ended: watch::Receiver<bool>,
}

#[derive(Debug, Default)]
pub(super) struct LivyState {
    pub(super) next_id: u32,
    /// By id, oldest first, like `SessionManager.sessions` (a LinkedHashMap).
    pub(super) batches: Vec<Batch>,
    pub(super) submissions: Vec<SubmissionRecord>,
}

impl LivyState {
    /// `SessionManager.get`: by id when the parameter is all digits, else by name.
    pub(super) fn find(&self, id_or_name: &str) -> Result<&Batch, LivyError> {
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
    let routes = Router::new().nest(PREFIX, super::routes::router(livy.clone()));
    Ok((livy, routes))
}


impl Livy {
    pub(super) fn lock(&self) -> MutexGuard<'_, LivyState> {
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
    pub(super) fn create(self: &Arc<Self>, req: CreateBatchRequest) -> Result<Value, LivyError> {
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
    pub(super) fn view(&self, b: &Batch) -> Value {
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
    pub(super) async fn delete(&self, id_or_name: &str) -> Result<(), LivyError> {
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
pub(super) fn log_lines(dir: &Path) -> Vec<String> {
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

