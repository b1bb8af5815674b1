//! A YARN ResourceManager (and its one NodeManager) as seen over HTTP.
//!
//! Emulated from Hadoop 3's `RMWebServices`, `NMWebServices` and the DAO
//! classes they serialize, so that drover's yarn plugin and the PyPI
//! `yarn-api-client` cannot tell the difference where it matters:
//!
//! - `GET /cluster` (the web UI's page, which clients probe to find the active
//!   RM), `GET /ws/v1/cluster` and `/ws/v1/cluster/info` (`clusterInfo`).
//! - `POST /ws/v1/cluster/apps/new-application`, `POST /ws/v1/cluster/apps`
//!   (202 Accepted with a `Location` header; a repeated application id is
//!   accepted again without a second application, as `ClientRMService` does),
//!   `GET /ws/v1/cluster/apps` (filters `applicationTags`, `states`, `queue`,
//!   `applicationTypes`; `{"apps":null}` when none match), `GET …/apps/{id}`,
//!   `GET|PUT …/apps/{id}/state` (kill: 202 while under way, 200 when done or
//!   already ended), `GET …/apps/{id}/appattempts`.
//! - The NodeManager's `GET /ws/v1/node/containerlogs/{container}/{file}?size=N`,
//!   framed like `LogToolUtils.outputContainerLog`; `amContainerLogs` points at
//!   the web page `/node/containerlogs/{container}/{user}`, served as plain text.
//! - Errors are `{"RemoteException":{exception,message,javaClassName}}`.
//!
//! Each application's AM container runs as a local process. The stand-in
//! reads the Spark ApplicationMaster's launch command (`-Dspark.*` system
//! properties, `--class`, `--jar`, `--primary-py-file`, `--arg`,
//! `--properties-file`) and runs the user application through
//! [`process::LaunchPlan`], so cluster mode runs exactly what client mode runs.
//! States move NEW → NEW_SAVING → SUBMITTED → ACCEPTED → RUNNING → FINISHED;
//! a failed AM is retried as a new attempt (new container, app back to
//! ACCEPTED) while `max-app-attempts` allows.
//!
//! Deliberate differences: only Spark AM commands run (anything else fails its
//! attempts with a diagnostic); local resources are not localized (their
//! size/timestamp are not checked); the RM-wide attempt cap
//! (`yarn.resourcemanager.am.max-attempts`) is 4 rather than 2, so DAGs can
//! try more attempts locally; an AM that exits 0 goes straight to
//! FINISHED/SUCCEEDED (the real (RUNNING, SUCCEEDED) window is not emulated).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::process::{self, App, LaunchPlan, Spawner};
use crate::SubmissionRecord;
use crate::stand_in::{Context, Drivers, StandIn};

/// The Hadoop version this ResourceManager claims to be.
pub const HADOOP_VERSION: &str = "3.4.1";
/// The application tag prefix drover's plugin puts its submission key under.
pub const KEY_TAG_PREFIX: &str = "drover-key:";
/// `yarn.resourcemanager.am.max-attempts` of this stand-in.
pub const RM_MAX_ATTEMPTS: u32 = 4;
/// `yarn.scheduler.maximum-allocation-mb` / `-vcores`.
pub const MAX_MEMORY_MB: u64 = 16384;
pub const MAX_VCORES: u64 = 8;
/// `YarnConfiguration.APPLICATION_MAX_TAG_LENGTH` and `…_MAX_TAGS`.
const MAX_TAG_LENGTH: usize = 100;
const MAX_TAGS: usize = 10;
const SPARK_AM_CLASS: &str = "org.apache.spark.deploy.yarn.ApplicationMaster";
const PYTHON_RUNNER: &str = "org.apache.spark.deploy.PythonRunner";
/// The user when a request names none (`hadoop.http.staticuser.user`).
const STATIC_USER: &str = "dr.who";

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

    fn is_final(self) -> bool {
        matches!(self, Self::Finished | Self::Failed | Self::Killed)
    }
}

/// What the AM command asks for, once parsed.
#[derive(Debug, Clone)]
struct AmLaunch {
    resource: String,
    main_class: Option<String>,
    args: Vec<String>,
    conf: BTreeMap<String, String>,
    /// The command with `{{PWD}}`/`<LOG_DIR>` still in it, expanded per container.
    environment: Vec<(String, String)>,
}

#[derive(Debug)]
struct Attempt {
    number: u32,
    container_id: String,
    dir: PathBuf,
    start_ms: i64,
    finished_ms: i64,
    state: &'static str,
}

#[derive(Debug)]
struct YarnApp {
    number: u32,
    id: String,
    name: String,
    user: String,
    queue: String,
    application_type: String,
    tags: Vec<String>,
    priority: i64,
    memory_mb: u64,
    vcores: u64,
    state: AppState,
    final_status: &'static str,
    diagnostics: String,
    started_ms: i64,
    launch_ms: i64,
    finished_ms: i64,
    attempts: Vec<Attempt>,
    /// The AM container's process group, while it runs.
    pid: Option<u32>,
    cancel: CancellationToken,
}

#[derive(Debug, Default)]
struct RmState {
    next_app: u32,
    apps: Vec<YarnApp>,
    submissions: Vec<SubmissionRecord>,
}

impl RmState {
    /// The application with this id, or the RM's NotFoundException.
    fn app(&self, id: &str) -> Result<&YarnApp, RmError> {
        self.apps.iter().find(|a| a.id == id).ok_or_else(|| RmError::no_app(id))
    }
}

/// The ResourceManager and its one NodeManager.
pub(crate) struct ResourceManager {
    addr: std::net::SocketAddr,
    work_dir: PathBuf,
    cluster_ts: i64,
    state: Mutex<RmState>,
    spawner: Arc<Spawner>,
    ams: Drivers,
}

pub(crate) fn start(ctx: &Context) -> anyhow::Result<(Arc<dyn StandIn>, Router)> {
    std::fs::create_dir_all(&ctx.work_dir)?;
    let rm = Arc::new(ResourceManager {
        addr: ctx.addr,
        work_dir: ctx.work_dir.clone(),
        cluster_ts: Utc::now().timestamp_millis(),
        state: Mutex::default(),
        spawner: ctx.spawner.clone(),
        ams: Drivers::new(ctx.cancel.clone()),
    });
    let routes = router(rm.clone());
    Ok((rm, routes))
}

impl ResourceManager {
    fn lock(&self) -> MutexGuard<'_, RmState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn node_id(&self) -> String {
        self.addr.to_string()
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn app_id(&self, number: u32) -> String {
        format!("application_{}_{number:04}", self.cluster_ts)
    }

    fn new_application(&self) -> String {
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
    fn submit(self: &Arc<Self>, ctx: Submission, user: String) -> Result<bool, RmError> {
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
        let expand = |s: &str| expand_container_vars(s, dir);
        let mut conf = launch.conf.clone();
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
    fn kill(&self, id: &str) -> Option<(bool, AppState)> {
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

    fn app_json(&self, a: &YarnApp) -> Value {
        let now = Utc::now().timestamp_millis();
        let end = if a.finished_ms > 0 {
            a.finished_ms
        } else {
            now
        };
        let container = a.attempts.last().map(|at| at.container_id.as_str());
        let running = a.state == AppState::Running;
        json!({
            "id": a.id,
            "user": a.user,
            "name": a.name,
            "queue": a.queue,
            "state": a.state.as_str(),
            "finalStatus": a.final_status,
            "progress": if a.state.is_final() { 100.0 } else { 0.0 },
            "trackingUI": if a.state.is_final() { "History" } else if running { "ApplicationMaster" } else { "UNASSIGNED" },
            "trackingUrl": if a.state.is_final() {
                format!("{}/cluster/app/{}", self.base_url(), a.id)
            } else {
                format!("{}/proxy/{}/", self.base_url(), a.id)
            },
            "diagnostics": a.diagnostics,
            "clusterId": self.cluster_ts,
            "applicationType": a.application_type,
            "applicationTags": a.tags.join(","),
            "priority": a.priority,
            "startedTime": a.started_ms,
            "launchTime": a.launch_ms,
            "finishedTime": a.finished_ms,
            "elapsedTime": end - a.started_ms,
            "amContainerLogs": container.map(|c| format!("{}/node/containerlogs/{c}/{}", self.base_url(), a.user)),
            "amHostHttpAddress": container.map(|_| self.addr.to_string()),
            "masterNodeId": container.map(|_| self.node_id()),
            "allocatedMB": if running { a.memory_mb as i64 } else { -1 },
            "allocatedVCores": if running { a.vcores as i64 } else { -1 },
            "runningContainers": if running { 1 } else { -1 },
            "numAMContainerPreempted": 0,
            "logAggregationStatus": "DISABLED",
            "unmanagedApplication": false,
            "amNodeLabelExpression": "",
            "appNodeLabelExpression": "",
        })
    }

    fn attempt_json(&self, a: &YarnApp, at: &Attempt) -> Value {
        json!({
            "id": at.number,
            "startTime": at.start_ms,
            "finishedTime": at.finished_ms,
            "containerId": at.container_id,
            "nodeHttpAddress": self.addr.to_string(),
            "nodeId": self.node_id(),
            "logsLink": format!("{}/node/containerlogs/{}/{}", self.base_url(), at.container_id, a.user),
            "blacklistedNodes": "",
            "nodesBlacklistedBySystem": "",
            "appAttemptId": format!("appattempt_{}_{:04}_{:06}", self.cluster_ts, a.number, at.number),
            "appAttemptState": at.state,
        })
    }

    fn container_dir(&self, container_id: &str) -> Option<PathBuf> {
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

/// What the NodeManager substitutes in a container's command and environment.
fn expand_container_vars(s: &str, dir: &std::path::Path) -> String {
    let dir = dir.display().to_string();
    let java_home = std::env::var("JAVA_HOME").unwrap_or_default();
    s.replace("{{PWD}}", &dir)
        .replace("<LOG_DIR>", &dir)
        .replace("{{JAVA_HOME}}", &java_home)
        .replace("<CPS>", ":")
}

/// `java.util.Properties` lines (`k=v`, `k: v`, `k v`; `#`/`!` comments).
fn parse_properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .map(|line| {
            let split = line
                .find(|c: char| c == '=' || c == ':' || c.is_whitespace())
                .unwrap_or(line.len());
            let (k, rest) = line.split_at(split);
            let v = rest
                .trim_start()
                .strip_prefix(['=', ':'])
                .unwrap_or(rest)
                .trim();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Splits a command line the way bash would for plain words: whitespace
/// separates, single quotes are literal, double quotes and backslashes escape.
fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The user application a Spark ApplicationMaster command would start.
fn parse_am_command(command: &str, environment: Vec<(String, String)>) -> Result<AmLaunch, String> {
    let words = shell_words(command).map_err(|e| format!("cannot parse the AM command: {e}"))?;
    let am = words.iter().position(|w| w == SPARK_AM_CLASS).ok_or_else(|| {
        format!(
            "the stand-in runs only Spark ApplicationMasters ({SPARK_AM_CLASS}); the AM command was: {command}"
        )
    })?;
    let mut conf = BTreeMap::new();
    for w in &words[..am] {
        if let Some((k, v)) = w.strip_prefix("-D").and_then(|kv| kv.split_once('='))
            && k.starts_with("spark.")
        {
            conf.insert(k.to_owned(), v.to_owned());
        }
    }
    let (mut class, mut jar, mut py, mut args) = (None, None, None, Vec::new());
    let mut rest = words[am + 1..].iter();
    while let Some(flag) = rest.next() {
        if flag.starts_with('1') && flag.contains('>')
            || flag.starts_with('2') && flag.contains('>')
        {
            continue;
        }
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("AM option {flag} needs a value"))
        };
        match flag.as_str() {
            "--class" => class = Some(value()?),
            "--jar" => jar = Some(value()?),
            "--primary-py-file" => py = Some(value()?),
            "--arg" => args.push(value()?),
            "--properties-file" => {
                conf.insert("__properties_file__".to_owned(), value()?);
            }
            "--primary-r-file" | "--dist-cache-conf" => {
                value()?;
            }
            other => return Err(format!("unknown ApplicationMaster option {other}")),
        }
    }
    let (resource, main_class) = match (py, jar) {
        (Some(py), _) => (py, None),
        (None, Some(jar)) => (jar, class.filter(|c| c != PYTHON_RUNNER)),
        (None, None) => return Err("the AM command names no --jar or --primary-py-file".into()),
    };
    Ok(AmLaunch {
        resource,
        main_class,
        args,
        conf,
        environment,
    })
}

/// The parts of `ApplicationSubmissionContextInfo` the stand-in uses.
#[derive(Debug, Clone)]
struct Submission {
    id: String,
    number: u32,
    name: String,
    queue: String,
    application_type: String,
    priority: i64,
    tags: Vec<String>,
    max_attempts: u32,
    memory_mb: u64,
    vcores: u64,
    /// The AM to run, or why it cannot run (each attempt then fails with it).
    launch: Result<AmLaunch, String>,
}

/// JAXB/Jersey's view of a repeated element: one value, a list, or `{name: …}` around either.
fn list_of<'a>(v: Option<&'a Value>, element: &str) -> Vec<&'a Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Object(o)) if o.contains_key(element) => list_of(o.get(element), element),
        Some(other) => vec![other],
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_submission(body: &Value) -> Result<Submission, RmError> {
    let field = |name: &str| body.get(name);
    let id = text(field("application-id"))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            RmError::bad_request("Application id is missing from the submission context")
        })?;
    let app_number = id
        .rsplit('_')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut tags = Vec::new();
    for t in list_of(field("application-tags"), "tag") {
        let tag = text(Some(t))
            .ok_or_else(|| RmError::bad_request("application tags must be strings"))?;
        let tag = tag.trim().to_lowercase();
        if tag.len() > MAX_TAG_LENGTH || !tag.is_ascii() {
            return Err(RmError::bad_request(format!(
                "Tag {tag} is too long, maximum allowed length of a tag is {MAX_TAG_LENGTH}, \
                 or it contains non-ASCII characters"
            )));
        }
        if !tag.is_empty() && !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(RmError::bad_request(format!(
            "Too many applicationTags, a maximum of only {MAX_TAGS} are allowed!"
        )));
    }
    let resource = field("resource");
    let memory_mb = number(resource.and_then(|r| r.get("memory")))
        .unwrap_or(1024)
        .max(0) as u64;
    let vcores = number(resource.and_then(|r| r.get("vCores")))
        .unwrap_or(1)
        .max(0) as u64;
    if memory_mb > MAX_MEMORY_MB || vcores > MAX_VCORES {
        return Err(RmError::bad_request(format!(
            "org.apache.hadoop.yarn.exceptions.InvalidResourceRequestException: Invalid resource \
             request! Cannot allocate containers as requested resource is greater than maximum \
             allowed allocation. Requested resource=<memory:{memory_mb}, vCores:{vcores}>, \
             maximum allowed allocation=<memory:{MAX_MEMORY_MB}, vCores:{MAX_VCORES}>"
        )));
    }
    // RMAppImpl: a value outside 1..=global max means the global max.
    let max_attempts = match number(field("max-app-attempts")) {
        Some(n) if n >= 1 && n <= i64::from(RM_MAX_ATTEMPTS) => n as u32,
        _ => RM_MAX_ATTEMPTS,
    };
    let spec = field("am-container-spec");
    let command = list_of(
        spec.and_then(|s| s.get("commands"))
            .and_then(|c| c.get("command")),
        "command",
    )
    .into_iter()
    .filter_map(|c| text(Some(c)))
    .collect::<Vec<_>>()
    .join(" ");
    let environment = list_of(spec.and_then(|s| s.get("environment")), "entry")
        .into_iter()
        .filter_map(|e| {
            Some((
                text(e.get("key"))?,
                text(e.get("value")).unwrap_or_default(),
            ))
        })
        .collect();
    let launch = if command.trim().is_empty() {
        Err("the submission context has no am-container-spec commands".to_owned())
    } else {
        parse_am_command(&command, environment)
    };
    Ok(Submission {
        id,
        number: app_number,
        name: text(field("application-name")).unwrap_or_else(|| "N/A".to_owned()),
        queue: text(field("queue")).unwrap_or_else(|| "default".to_owned()),
        application_type: text(field("application-type")).unwrap_or_else(|| "YARN".to_owned()),
        priority: number(field("priority")).unwrap_or(0),
        tags,
        max_attempts,
        memory_mb,
        vcores,
        launch,
    })
}

// ---- HTTP ----

fn router(rm: Arc<ResourceManager>) -> Router {
    Router::new()
        .route("/cluster", get(cluster_page))
        .route("/ws/v1/cluster", get(cluster_info))
        .route("/ws/v1/cluster/info", get(cluster_info))
        .route("/ws/v1/cluster/apps/new-application", post(new_application))
        .route("/ws/v1/cluster/apps", get(list_apps).post(submit))
        .route("/ws/v1/cluster/apps/{id}", get(get_app))
        .route(
            "/ws/v1/cluster/apps/{id}/state",
            get(get_state).put(put_state),
        )
        .route("/ws/v1/cluster/apps/{id}/appattempts", get(get_attempts))
        .route(
            "/ws/v1/node/containerlogs/{container}/{file}",
            get(container_log),
        )
        .route(
            "/node/containerlogs/{container}/{user}/{file}",
            get(container_log_page),
        )
        .with_state(rm)
}

/// The RM web services' one error: a `RemoteException` body.
#[derive(Debug)]
struct RmError {
    status: StatusCode,
    exception: &'static str,
    class: &'static str,
    message: String,
}

impl RmError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            exception: "BadRequestException",
            class: "org.apache.hadoop.yarn.webapp.BadRequestException",
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            exception: "NotFoundException",
            class: "org.apache.hadoop.yarn.webapp.NotFoundException",
            message: message.into(),
        }
    }

    fn no_app(id: &str) -> Self {
        Self::not_found(format!("java.lang.Exception: app with id: {id} not found"))
    }
}

impl IntoResponse for RmError {
    fn into_response(self) -> Response {
        let body = json!({"RemoteException": {
            "exception": self.exception, "message": self.message, "javaClassName": self.class}});
        (self.status, axum::Json(body)).into_response()
    }
}

#[derive(Debug, serde::Deserialize)]
struct UserQuery {
    #[serde(rename = "user.name")]
    user: Option<String>,
}

async fn cluster_page() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html;charset=utf-8")],
        "<html><head><title>All Applications</title></head><body>drover devcluster ResourceManager</body></html>",
    )
}

async fn cluster_info(State(rm): State<Arc<ResourceManager>>) -> axum::Json<Value> {
    axum::Json(json!({"clusterInfo": {
        "id": rm.cluster_ts,
        "startedOn": rm.cluster_ts,
        "state": "STARTED",
        "haState": "ACTIVE",
        "rmStateStoreName": "org.apache.hadoop.yarn.server.resourcemanager.recovery.NullRMStateStore",
        "resourceManagerVersion": HADOOP_VERSION,
        "resourceManagerBuildVersion": format!("{HADOOP_VERSION} from drover-devcluster"),
        "resourceManagerVersionBuiltOn": "",
        "hadoopVersion": HADOOP_VERSION,
        "hadoopBuildVersion": format!("{HADOOP_VERSION} from drover-devcluster"),
        "hadoopVersionBuiltOn": "",
        "haZooKeeperConnectionState": "ResourceManager HA is not enabled.",
    }}))
}

async fn new_application(State(rm): State<Arc<ResourceManager>>) -> axum::Json<Value> {
    let id = rm.new_application();
    axum::Json(json!({
        "application-id": id,
        "maximum-resource-capability": {"memory": MAX_MEMORY_MB, "vCores": MAX_VCORES},
    }))
}

async fn submit(
    State(rm): State<Arc<ResourceManager>>,
    Query(q): Query<UserQuery>,
    body: Bytes,
) -> Result<Response, RmError> {
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        RmError::bad_request(format!("Unable to parse the submission context: {e}"))
    })?;
    let ctx = parse_submission(&body)?;
    let id = ctx.id.clone();
    rm.submit(ctx, q.user.unwrap_or_else(|| STATIC_USER.to_owned()))?;
    let location = format!("{}/ws/v1/cluster/apps/{id}", rm.base_url());
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)]).into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AppsQuery {
    application_tags: Option<String>,
    states: Option<String>,
    state: Option<String>,
    queue: Option<String>,
    application_types: Option<String>,
    user: Option<String>,
}

fn csv_upper(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|t| t.trim().to_uppercase())
        .filter(|t| !t.is_empty())
        .collect()
}

async fn list_apps(
    State(rm): State<Arc<ResourceManager>>,
    Query(q): Query<AppsQuery>,
) -> axum::Json<Value> {
    let tags: Vec<String> = q
        .application_tags
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut states = csv_upper(&q.states);
    states.extend(csv_upper(&q.state));
    let types = csv_upper(&q.application_types);
    let st = rm.lock();
    let apps: Vec<Value> = st
        .apps
        .iter()
        .filter(|a| tags.is_empty() || a.tags.iter().any(|t| tags.contains(t)))
        .filter(|a| states.is_empty() || states.iter().any(|s| s == a.state.as_str()))
        .filter(|a| types.is_empty() || types.contains(&a.application_type.to_uppercase()))
        .filter(|a| q.queue.as_ref().is_none_or(|queue| queue == &a.queue))
        .filter(|a| q.user.as_ref().is_none_or(|u| u == &a.user))
        .map(|a| rm.app_json(a))
        .collect();
    if apps.is_empty() {
        axum::Json(json!({"apps": null}))
    } else {
        axum::Json(json!({"apps": {"app": apps}}))
    }
}

async fn get_app(
    State(rm): State<Arc<ResourceManager>>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<Value>, RmError> {
    let st = rm.lock();
    let app = st.app(&id)?;
    Ok(axum::Json(json!({"app": rm.app_json(app)})))
}

async fn get_state(
    State(rm): State<Arc<ResourceManager>>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<Value>, RmError> {
    let st = rm.lock();
    let app = st.app(&id)?;
    Ok(axum::Json(json!({"state": app.state.as_str()})))
}

async fn put_state(
    State(rm): State<Arc<ResourceManager>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Result<Response, RmError> {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| RmError::bad_request(format!("Unable to parse the target state: {e}")))?;
    let target = text(body.get("state")).unwrap_or_default();
    if target != "KILLED" {
        return Err(RmError::bad_request(
            "Only 'KILLED' is allowed as a target state.",
        ));
    }
    let (done, state) = rm.kill(&id).ok_or_else(|| RmError::no_app(&id))?;
    let body = axum::Json(json!({"state": state.as_str()}));
    if done {
        Ok((StatusCode::OK, body).into_response())
    } else {
        let location = format!("{}/ws/v1/cluster/apps/{id}/state", rm.base_url());
        Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], body).into_response())
    }
}

async fn get_attempts(
    State(rm): State<Arc<ResourceManager>>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<Value>, RmError> {
    let st = rm.lock();
    let app = st.app(&id)?;
    let attempts: Vec<Value> = app
        .attempts
        .iter()
        .map(|at| rm.attempt_json(app, at))
        .collect();
    Ok(axum::Json(json!({"appAttempts": {"appAttempt": attempts}})))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct LogQuery {
    size: Option<i64>,
}

/// Reads `size` bytes of a log (negative: the last bytes), and its length.
async fn read_log(
    path: &std::path::Path,
    size: Option<i64>,
) -> std::io::Result<(Vec<u8>, u64, String)> {
    let mut file = tokio::fs::File::open(path).await?;
    let meta = file.metadata().await?;
    let total = meta.len();
    let modified: chrono::DateTime<Utc> = meta
        .modified()
        .map(Into::into)
        .unwrap_or_else(|_| Utc::now());
    let (skip, take) = match size {
        None => (0, total),
        Some(n) if n < 0 => {
            let n = n.unsigned_abs().min(total);
            (total - n, n)
        }
        Some(n) => (0, (n as u64).min(total)),
    };
    file.seek(std::io::SeekFrom::Start(skip)).await?;
    let mut bytes = Vec::with_capacity(usize::try_from(take).unwrap_or(0));
    file.take(take).read_to_end(&mut bytes).await?;
    Ok((
        bytes,
        total,
        modified.format("%a %b %d %H:%M:%S %z %Y").to_string(),
    ))
}

/// `NMWebServices.getContainerLogFile`: the log framed as `LogToolUtils.outputContainerLog` writes it.
async fn container_log(
    State(rm): State<Arc<ResourceManager>>,
    UrlPath((container, file)): UrlPath<(String, String)>,
    Query(q): Query<LogQuery>,
) -> Result<Response, RmError> {
    let path = log_path(&rm, &container, &file)?;
    let (bytes, total, modified) = read_log(&path, q.size).await.map_err(|e| {
        RmError::not_found(format!(
            "Can not find the log file:{file} for the container:{container}: {e}"
        ))
    })?;
    let header = format!("Container: {container} on {}", rm.node_id());
    let mut body = format!(
        "{header}\nLogAggregationType: LOCAL\n{}\nLogType:{file}\nLogLastModifiedTime:{modified}\n\
         LogLength:{total}\nLogContents:\n",
        "=".repeat(header.len())
    )
    .into_bytes();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(format!("\nEnd of LogType:{file}\n{}\n\n", "*".repeat(92)).as_bytes());
    Ok(([(header::CONTENT_TYPE, "text/plain;charset=utf-8")], body).into_response())
}

/// The NodeManager web UI's log page, as plain text (the real one wraps it in HTML).
async fn container_log_page(
    State(rm): State<Arc<ResourceManager>>,
    UrlPath((container, _user, file)): UrlPath<(String, String, String)>,
) -> Result<Response, RmError> {
    let path = log_path(&rm, &container, &file)?;
    let (bytes, _, _) = read_log(&path, None)
        .await
        .map_err(|e| RmError::not_found(format!("{file} for {container}: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "text/plain;charset=utf-8")], bytes).into_response())
}

fn log_path(rm: &ResourceManager, container: &str, file: &str) -> Result<PathBuf, RmError> {
    if file.contains('/') || file.contains("..") || file.is_empty() {
        return Err(RmError::bad_request(format!(
            "Invalid log file name: {file}"
        )));
    }
    let dir = rm
        .container_dir(container)
        .ok_or_else(|| RmError::not_found(format!("Unknown container. Container either has not started or has already completed or doesn't belong to this node at all. Container: {container}")))?;
    Ok(dir.join(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commands_like_bash() {
        assert_eq!(
            shell_words(
                r#"java -Xmx1m '-Dspark.a=b c' --arg 'it'\''s' --arg "x \"y\"" 1><LOG_DIR>/stdout"#
            )
            .unwrap(),
            [
                "java",
                "-Xmx1m",
                "-Dspark.a=b c",
                "--arg",
                "it's",
                "--arg",
                "x \"y\"",
                "1><LOG_DIR>/stdout"
            ]
        );
        assert!(shell_words("'open").is_err());
    }

    #[test]
    fn reads_the_user_application_from_a_spark_am_command() {
        let cmd = "{{JAVA_HOME}}/bin/java -server -Xmx512m '-Dspark.app.name=x y' \
                   org.apache.spark.deploy.yarn.ApplicationMaster --class 'com.example.Main' \
                   --jar 'file:/a/app.jar' --arg 'one' --arg 'two words' 1><LOG_DIR>/stdout 2><LOG_DIR>/stderr";
        let am = parse_am_command(cmd, vec![]).unwrap();
        assert_eq!(am.resource, "file:/a/app.jar");
        assert_eq!(am.main_class.as_deref(), Some("com.example.Main"));
        assert_eq!(am.args, ["one", "two words"]);
        assert_eq!(am.conf["spark.app.name"], "x y");

        let py = "java org.apache.spark.deploy.yarn.ApplicationMaster --class org.apache.spark.deploy.PythonRunner \
                  --primary-py-file /a/job.py --arg 1";
        let am = parse_am_command(py, vec![]).unwrap();
        assert_eq!((am.resource.as_str(), am.main_class), ("/a/job.py", None));

        assert!(
            parse_am_command("sleep 10", vec![])
                .unwrap_err()
                .contains("only Spark")
        );
    }

    #[test]
    fn tags_are_lowercased_and_accepted_in_every_json_shape() {
        for tags in [
            json!({"tag": ["Drover-Key:ABC"]}),
            json!({"tag": "drover-key:abc"}),
            json!(["drover-key:abc"]),
        ] {
            let s = parse_submission(
                &json!({"application-id": "application_1_0001", "application-tags": tags}),
            )
            .unwrap();
            assert_eq!(s.tags, ["drover-key:abc"]);
        }
        let long = "x".repeat(101);
        assert!(
            parse_submission(&json!({"application-id": "a", "application-tags": [long]})).is_err()
        );
    }
}
