//! The ResourceManager's applications and their attempts: the RMApp's
//! states, one AM container per attempt run as a local process, retries
//! while `max-app-attempts` allows, and kill.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::KEY_TAG_PREFIX;
use super::am_command::{expand_container_vars, parse_properties};
use super::wire::{RmError, Submission};
use crate::SubmissionRecord;
use crate::process::{self, App, LaunchPlan, Spawner};
use crate::stand_in::{Context, Drivers, StandIn};

/// `YarnApplicationState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppState {
    New,
    NewSaving,
    Submitted,
    Accepted,
    Running,
    Finished,
    Failed,
    Killed,
}

impl AppState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::NewSaving => "NEW_SAVING",
            Self::Submitted => "SUBMITTED",
            Self::Accepted => "ACCEPTED",
            Self::Running => "RUNNING",
            Self::Finished => "FINISHED",
            Self::Failed => "FAILED",
            Self::Killed => "KILLED",
        }
    }

    pub(super) fn is_final(self) -> bool {
        matches!(self, Self::Finished | Self::Failed | Self::Killed)
    }
}


#[derive(Debug)]
pub(super) struct Attempt {
    pub(super) number: u32,
    pub(super) container_id: String,
    pub(super) dir: PathBuf,
    pub(super) start_ms: i64,
    pub(super) finished_ms: i64,
    pub(super) state: &'static str,
}

#[derive(Debug)]
pub(super) struct YarnApp {
    pub(super) number: u32,
    pub(super) id: String,
    pub(super) name: String,
    pub(super) user: String,
    pub(super) queue: String,
    pub(super) application_type: String,
    pub(super) tags: Vec<String>,
    pub(super) priority: i64,
    pub(super) memory_mb: u64,
    pub(super) vcores: u64,
    pub(super) state: AppState,
    pub(super) final_status: &'static str,
    pub(super) diagnostics: String,
    pub(super) started_ms: i64,
    pub(super) launch_ms: i64,
    pub(super) finished_ms: i64,
    pub(super) attempts: Vec<Attempt>,
    /// The AM container's process group, while it runs.
    pub(super) pid: Option<u32>,
    pub(super) cancel: CancellationToken,
}

#[derive(Debug, Default)]
pub(super) struct RmState {
    pub(super) next_app: u32,
    pub(super) apps: Vec<YarnApp>,
    pub(super) submissions: Vec<SubmissionRecord>,
}

impl RmState {
    /// The application with this id, or the RM's NotFoundException.
    pub(super) fn app(&self, id: &str) -> Result<&YarnApp, RmError> {
        self.apps.iter().find(|a| a.id == id).ok_or_else(|| RmError::no_app(id))
    }
}

/// The ResourceManager and its one NodeManager.
pub(crate) struct ResourceManager {
    pub(super) addr: std::net::SocketAddr,
    pub(super) work_dir: PathBuf,
    /// The stand-in HDFS that `hdfs:` local resources are localized from.
    pub(super) hdfs: PathBuf,
    pub(super) cluster_ts: i64,
    pub(super) state: Mutex<RmState>,
    pub(super) spawner: Arc<Spawner>,
    pub(super) ams: Drivers,
}


pub(crate) fn start(ctx: &Context) -> anyhow::Result<(Arc<dyn StandIn>, Router)> {
    std::fs::create_dir_all(&ctx.work_dir)?;
    let rm = Arc::new(ResourceManager {
        addr: ctx.addr,
        work_dir: ctx.work_dir.clone(),
        hdfs: ctx.hdfs.clone(),
        cluster_ts: Utc::now().timestamp_millis(),
        state: Mutex::default(),
        spawner: ctx.spawner.clone(),
        ams: Drivers::new(ctx.cancel.clone()),
    });
    let routes = super::routes::router(rm.clone());
    Ok((rm, routes))
}


impl ResourceManager {
    pub(super) fn lock(&self) -> MutexGuard<'_, RmState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn node_id(&self) -> String {
        self.addr.to_string()
    }

    pub(super) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn app_id(&self, number: u32) -> String {
        format!("application_{}_{number:04}", self.cluster_ts)
    }

    pub(super) fn new_application(&self) -> String {
        let mut st = self.lock();
        st.next_app += 1;
        self.app_id(st.next_app)
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut YarnApp)) {
        if let Some(app) = self.lock().apps.iter_mut().find(|a| a.id == id) {
            change(app);
        }
    }

    /// `ClientRMService.submitApplication` and the RMApp's first transitions.
    pub(super) fn submit(self: &Arc<Self>, ctx: Submission, user: String) -> Result<bool, RmError> {
        let number = ctx
            .id
            .strip_prefix(&format!("application_{}_", self.cluster_ts))
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| {
                RmError::bad_request(format!(
                    "Invalid ApplicationId prefix: {}. The valid ApplicationId should start with \
                     prefix application_{}",
                    ctx.id, self.cluster_ts
                ))
            })?;
        let now = Utc::now();
        let app_cancel = self.ams.cancel.child_token();
        {
            let mut st = self.lock();
            if st.apps.iter().any(|a| a.id == ctx.id) {
                info!(app_id = %ctx.id, "application submitted again; keeping the first");
                return Ok(false);
            }
            st.next_app = st.next_app.max(number);
            st.submissions.push(SubmissionRecord {
                manager: "yarn",
                submission_id: ctx.id.clone(),
                app_name: ctx.name.clone(),
                submission_key: ctx
                    .tags
                    .iter()
                    .find_map(|t| t.strip_prefix(KEY_TAG_PREFIX))
                    .map(str::to_owned),
                received_at: now,
            });
            st.apps.push(YarnApp {
                number,
                id: ctx.id.clone(),
                name: ctx.name.clone(),
                user,
                queue: ctx.queue.clone(),
                application_type: ctx.application_type.clone(),
                tags: ctx.tags.clone(),
                priority: ctx.priority,
                memory_mb: ctx.memory_mb,
                vcores: ctx.vcores,
                state: AppState::New,
                final_status: "UNDEFINED",
                diagnostics: String::new(),
                started_ms: now.timestamp_millis(),
                launch_ms: 0,
                finished_ms: 0,
                attempts: Vec::new(),
                pid: None,
                cancel: app_cancel.clone(),
            });
        }
        info!(app_id = %ctx.id, name = %ctx.name, max_attempts = ctx.max_attempts, "application submitted");
        // The state store save and the scheduler's acceptance are immediate here.
        for state in [AppState::NewSaving, AppState::Submitted, AppState::Accepted] {
            self.update(&ctx.id, |a| a.state = state);
        }
        let rm = self.clone();
        self.ams.spawn(async move {
            let id = ctx.id.clone();
            let (state, final_status, diagnostics) = rm.run_attempts(&ctx, &app_cancel).await;
            rm.update(&id, |a| {
                a.state = state;
                a.final_status = final_status;
                if !diagnostics.is_empty() {
                    a.diagnostics = diagnostics;
                }
                a.finished_ms = Utc::now().timestamp_millis();
                a.pid = None;
            });
            info!(app_id = %id, state = state.as_str(), final_status, "application ended");
        });
        Ok(true)
    }

    /// The RMApp's attempt loop: one AM container per attempt until one
    /// succeeds, the attempts run out, or the app is killed.
    async fn run_attempts(
        &self,
        ctx: &Submission,
        cancel: &CancellationToken,
    ) -> (AppState, &'static str, String) {
        let killed = || {
            (
                AppState::Killed,
                "KILLED",
                "Application killed by user.".to_owned(),
            )
        };
        let mut last_failure = String::new();
        for n in 1..=ctx.max_attempts {
            if cancel.is_cancelled() {
                return killed();
            }
            let container_id = format!(
                "container_{}_{:04}_{n:02}_000001",
                self.cluster_ts, ctx.number
            );
            let dir = self.work_dir.join(&ctx.id).join(&container_id);
            let now = Utc::now().timestamp_millis();
            self.update(&ctx.id, |a| {
                if !a.state.is_final() {
                    a.state = AppState::Accepted;
                }
                a.attempts.push(Attempt {
                    number: n,
                    container_id: container_id.clone(),
                    dir: dir.clone(),
                    start_ms: now,
                    finished_ms: 0,
                    state: "ALLOCATED",
                });
            });
            let outcome = self.run_attempt(ctx, &container_id, &dir, cancel).await;
            let end = Utc::now().timestamp_millis();
            let attempt_state = match &outcome {
                Ok(()) => "FINISHED",
                Err(AttemptEnd::Killed) => "KILLED",
                Err(_) => "FAILED",
            };
            self.update(&ctx.id, |a| {
                a.pid = None;
                if let Some(at) = a.attempts.iter_mut().find(|at| at.number == n) {
                    at.finished_ms = end;
                    at.state = attempt_state;
                }
            });
            let appattempt = format!("appattempt_{}_{:04}_{n:06}", self.cluster_ts, ctx.number);
            match outcome {
                Ok(()) => return (AppState::Finished, "SUCCEEDED", String::new()),
                Err(AttemptEnd::Killed) => return killed(),
                // Spark's AM unregisters FAILED on its last attempt: the RM reports FINISHED/FAILED.
                Err(AttemptEnd::UserFailed(code)) if n == ctx.max_attempts => {
                    return (
                        AppState::Finished,
                        "FAILED",
                        format!("User application exited with status {code}"),
                    );
                }
                Err(AttemptEnd::UserFailed(code)) => {
                    last_failure = format!(
                        "AM Container for {appattempt} exited with exitCode: {code}\n\
                         Failing this attempt.Diagnostics: User application exited with status {code}"
                    );
                }
                Err(AttemptEnd::LaunchFailed(why)) => {
                    last_failure = format!(
                        "AM Container for {appattempt} exited with exitCode: -1000\n\
                         Failing this attempt.Diagnostics: {why}"
                    );
                }
            }
            warn!(app_id = %ctx.id, attempt = n, diagnostics = %last_failure, "AM attempt failed");
            self.update(&ctx.id, |a| a.diagnostics = last_failure.clone());
        }
        (
            AppState::Failed,
            "FAILED",
            format!(
                "Application {} failed {} times due to {last_failure}. Failing the application.",
                ctx.id, ctx.max_attempts
            ),
        )
    }

    async fn run_attempt(
        &self,
        ctx: &Submission,
        container_id: &str,
        dir: &std::path::Path,
        cancel: &CancellationToken,
    ) -> Result<(), AttemptEnd> {
        let launch = ctx
            .launch
            .as_ref()
            .map_err(|why| AttemptEnd::LaunchFailed(why.clone()))?;
        let localized = localize(&self.hdfs, &ctx.local_resources, dir).map_err(AttemptEnd::LaunchFailed)?;
        // The AM reads its localized copies where the command names the URIs.
        let local = |s: &str| -> String {
            s.split(',')
                .map(|item| {
                    let (path, _) = item.split_once('#').unwrap_or((item, ""));
                    localized.get(path.trim()).cloned().unwrap_or_else(|| item.to_owned())
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let expand = |s: &str| local(&expand_container_vars(s, dir));
        let mut conf = launch.conf.clone();
        for v in conf.values_mut() {
            *v = local(v);
        }
        if let Some(file) = conf.remove("__properties_file__")
            && let Ok(text) = std::fs::read_to_string(expand(&file))
        {
            for (k, v) in parse_properties(&text) {
                conf.entry(k).or_insert(v);
            }
        }
        let resource = expand(&launch.resource);
        let args: Vec<String> = launch.args.iter().map(|a| expand(a)).collect();
        let plan = LaunchPlan::resolve(&App {
            resource: &resource,
            main_class: launch.main_class.as_deref(),
            args: &args,
            conf: &conf,
        })
        .map_err(|e| AttemptEnd::LaunchFailed(e.java_exception()))?;
        let mut env: Vec<(String, String)> = launch
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), expand(v)))
            .collect();
        env.extend([
            ("CONTAINER_ID".to_owned(), container_id.to_owned()),
            (
                "APP_SUBMIT_TIME_ENV".to_owned(),
                Utc::now().timestamp_millis().to_string(),
            ),
            ("LOG_DIRS".to_owned(), dir.display().to_string()),
            ("PWD".to_owned(), dir.display().to_string()),
        ]);
        let cmd = process::driver_command(&plan, dir, &env)
            .map_err(|e| AttemptEnd::LaunchFailed(format!("java.io.IOException: {e}")))?;
        if cancel.is_cancelled() {
            return Err(AttemptEnd::Killed);
        }
        let mut child =
            self.spawner.spawn(cmd).await.map_err(|e| {
                AttemptEnd::LaunchFailed(process::cannot_run_program(&plan, dir, &e))
            })?;
        let pid = child.id();
        let now = Utc::now().timestamp_millis();
        self.update(&ctx.id, |a| {
            a.pid = pid;
            if a.state.is_final() {
                // Killed while the container was starting; the select below stops it.
                return;
            }
            a.state = AppState::Running;
            if a.launch_ms == 0 {
                a.launch_ms = now;
            }
            if let Some(at) = a.attempts.last_mut() {
                at.state = "RUNNING";
            }
        });
        info!(app_id = %ctx.id, container_id, pid, command = %plan.display(), "AM container running");
        let status = tokio::select! {
            status = child.wait() => status,
            () = cancel.cancelled() => {
                if let Err(err) = process::terminate_group(&mut child, process::KILL_GRACE).await {
                    warn!(app_id = %ctx.id, error = %err, "waiting for a killed AM failed");
                }
                return Err(AttemptEnd::Killed);
            }
        };
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(AttemptEnd::UserFailed(process::exit_code(s))),
            Err(e) => Err(AttemptEnd::LaunchFailed(format!(
                "java.io.IOException: {e}"
            ))),
        }
    }

    /// `RMWebServices.updateAppState` to KILLED: (done, the state to report).
    pub(super) fn kill(&self, id: &str) -> Option<(bool, AppState)> {
        let mut st = self.lock();
        let app = st.apps.iter_mut().find(|a| a.id == id)?;
        if app.state.is_final() {
            return Some((true, app.state));
        }
        app.cancel.cancel();
        if app.pid.is_none() && app.state != AppState::Running {
            // No AM container running: nothing to wait for.
            app.state = AppState::Killed;
            app.final_status = "KILLED";
            app.diagnostics = "Application killed by user.".to_owned();
            app.finished_ms = Utc::now().timestamp_millis();
            info!(app_id = %id, "application killed before its AM ran");
            return Some((true, AppState::Killed));
        }
        info!(app_id = %id, "kill requested");
        Some((false, app.state))
    }

    pub(super) fn container_dir(&self, container_id: &str) -> Option<PathBuf> {
        self.lock()
            .apps
            .iter()
            .flat_map(|a| &a.attempts)
            .find(|at| at.container_id == container_id)
            .map(|at| at.dir.clone())
    }

}


impl StandIn for ResourceManager {
    fn submissions(&self) -> Vec<SubmissionRecord> {
        self.lock().submissions.clone()
    }

    fn drivers(&self) -> &Drivers {
        &self.ams
    }

    fn running_pids(&self) -> Vec<u32> {
        self.lock().apps.iter().filter_map(|a| a.pid).collect()
    }
}


enum AttemptEnd {
    Killed,
    UserFailed(i32),
    LaunchFailed(String),
}


/// The NodeManager's localization of a container's `hdfs:` resources (others
/// are left where they are): each file is copied into the container's
/// directory under its name (an `ARCHIVE` unpacked into a directory of that
/// name), after checking that its size and modification time are the ones
/// the submission recorded, as `FSDownload` does. Returns each localized URI
/// with the path of its copy.
fn localize(
    hdfs: &std::path::Path,
    resources: &[super::wire::LocalResource],
    dir: &std::path::Path,
) -> Result<std::collections::HashMap<String, String>, String> {
    let mut out = std::collections::HashMap::new();
    for r in resources {
        let Some(src) = crate::webhdfs::local_file(hdfs, &r.resource) else { continue };
        let meta = std::fs::metadata(&src)
            .map_err(|_| format!("java.io.FileNotFoundException: File does not exist: {}", r.resource))?;
        let (size, modified) = (meta.len() as i64, crate::webhdfs::modified_ms(&meta));
        if size != r.size || modified != r.timestamp {
            return Err(format!(
                "java.io.IOException: Resource {} changed on src filesystem - expected: \"{}\" ({} bytes), was: \"{}\" ({} bytes)",
                r.resource, r.timestamp, r.size, modified, size
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("java.io.IOException: {e}"))?;
        // The stand-in runs scripts as well as jars (as client mode does): a
        // script staged as Spark's `__app__.jar` keeps its own name, or it
        // would be run as a jar.
        let base = r.resource.rsplit('/').next().unwrap_or_default();
        if r.archive {
            let dst = dir.join(&r.name);
            crate::archive::unpack(&src, base, &dst)?;
            out.insert(r.resource.clone(), dst.display().to_string());
            continue;
        }
        let name = if r.name == "__app__.jar" && !base.ends_with(".jar") { base } else { r.name.as_str() };
        let dst = dir.join(name);
        std::fs::copy(&src, &dst).map_err(|e| format!("java.io.IOException: localizing {}: {e}", r.resource))?;
        // FSDownload's PRIVATE_FILE_PERMS: read and execute for the user.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o500))
                .map_err(|e| format!("java.io.IOException: localizing {}: {e}", r.resource))?;
        }
        out.insert(r.resource.clone(), dst.display().to_string());
    }
    Ok(out)
}
