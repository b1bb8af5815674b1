//! `drover plugins check`: a conformance run for a plugin component, the
//! bundled ones and third-party `.wasm` files alike.
//!
//! Without `--against` it only talks to the plugin: it loads and describes
//! itself, its contract version is one this drover supports, its settings keys
//! are sane, `validate` answers for sample applications in each deploy mode it
//! claims and refuses the modes it does not claim.
//!
//! With `--against URL` it also runs a real lifecycle on that cluster (in
//! cluster mode, or service mode if the plugin has no cluster mode): a short
//! application, a failing one and a long one that it kills, each a small shell
//! script written to a temporary folder (the stand-in cluster of
//! `drover devcluster` runs resources as local programs). Every setting the
//! plugin declares whose name ends in `url` and that `--settings` does not give
//! takes URL; give the others (and any URL that differs, e.g. a path prefix)
//! with `--settings KEY=VALUE`.
//!
//! A lifecycle call the plugin answers with `unsupported` (status-many, logs,
//! find) is reported as skipped, not failed: the contract allows it.
//!
//! The checks are data ([`Check`]); printing them is [`render`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_dag::{Application, DeployMode, Resources};
use drover_plugin_host::{
    Backend, CallError, ConfigKey, DriverPhase, ErrorKind, HostError, Limits, Plugin, PluginHost,
    SUPPORTED_CONTRACTS, Submitted,
};

/// `drover plugins check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// A plugin component (`.wasm`), or the name of a bundled plugin.
    pub plugin: String,
    /// Plugin settings, KEY=VALUE; repeat the flag or give several after it.
    #[arg(long = "settings", value_name = "KEY=VALUE", num_args = 1.., value_parser = parse_pair)]
    pub settings: Vec<(String, String)>,
    /// A setting read from an environment variable, KEY=VAR (for secrets).
    #[arg(long = "secret-env", value_name = "KEY=VAR", value_parser = parse_pair)]
    pub secret_env: Vec<(String, String)>,
    /// A live cluster to run a real lifecycle on. Settings whose name ends in
    /// `url` and that --settings does not give take this value.
    #[arg(long, value_name = "URL")]
    pub against: Option<String>,
    /// How long each lifecycle application may take to reach its end.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Keep compiled plugins in this folder (e.g. drover's `.drover/plugin-cache`).
    #[arg(long, env = "DROVER_PLUGIN_CACHE")]
    pub plugin_cache: Option<PathBuf>,
    /// The sandbox's memory cap per call, in MiB, as a backend's `memory_mb`
    /// (default 64; a Python or JavaScript component needs more).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u32).range(1..))]
    pub memory_mb: Option<u32>,
    /// The deadline of one plugin call, as a backend's `call_timeout`.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub call_timeout: Duration,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed; the text says what was seen (may be empty).
    Ok(String),
    /// Failed, and why.
    Fail(String),
    /// Not run because the plugin answered `unsupported`; the text says what.
    Skipped(String),
}

impl Check {
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Fail(_))
    }
}

/// The checklist collected so far.
#[derive(Default)]
struct List(Vec<Check>);

impl List {
    fn push(&mut self, name: impl Into<String>, outcome: Outcome) {
        self.0.push(Check {
            name: name.into(),
            outcome,
        });
    }
    fn ok(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, Outcome::Ok(detail.into()));
    }
    fn fail(&mut self, name: impl Into<String>, reason: impl Into<String>) {
        self.push(name, Outcome::Fail(reason.into()));
    }
    /// `Ok` when `problems` is empty, else one `Fail` naming them all.
    fn expect(&mut self, name: impl Into<String>, detail: impl Into<String>, problems: Vec<String>) {
        if problems.is_empty() {
            self.ok(name, detail);
        } else {
            self.fail(name, problems.join("; "));
        }
    }
    /// For a lifecycle call's error: skipped when the plugin says unsupported.
    fn call_error(&mut self, name: impl Into<String>, call: &str, e: &CallError) {
        if e.kind() == Some(ErrorKind::Unsupported) {
            self.push(name, Outcome::Skipped(format!("the plugin does not support {call}: {e}")));
        } else {
            self.fail(name, format!("{call} failed: {e}"));
        }
    }
}

/// The checklist as printed: one line per check, then a summary.
pub fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let line = match &c.outcome {
            Outcome::Ok(d) if d.is_empty() => format!("ok   {}", c.name),
            Outcome::Ok(d) => format!("ok   {} ({d})", c.name),
            Outcome::Fail(why) => format!("FAIL {}: {why}", c.name),
            Outcome::Skipped(why) => format!("skip {}: skipped: {why}", c.name),
        };
        out.push_str(&line);
        out.push('\n');
    }
    let count = |f: fn(&Outcome) -> bool| checks.iter().filter(|c| f(&c.outcome)).count();
    out.push_str(&format!(
        "{} checks: {} ok, {} failed, {} skipped\n",
        checks.len(),
        count(|o| matches!(o, Outcome::Ok(_))),
        count(|o| matches!(o, Outcome::Fail(_))),
        count(|o| matches!(o, Outcome::Skipped(_))),
    ));
    out
}

/// `drover plugins check`: prints the checklist; exit 1 if any check failed.
pub async fn run_check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let checks = check(args).await?;
    print!("{}", render(&checks));
    Ok(if checks.iter().any(Check::failed) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Runs every check that applies. An error is a problem of this drover
/// (the engine would not start), never of the plugin.
pub async fn check(args: &CheckArgs) -> anyhow::Result<Vec<Check>> {
    let mut limits = Limits { call_timeout: args.call_timeout, ..Limits::default() };
    if let Some(mb) = args.memory_mb {
        limits.memory_bytes = (mb as usize) << 20;
    }
    let host = PluginHost::new(limits, args.plugin_cache.clone())?;
    let mut list = List::default();
    let Some(plugin) = load(&host, &args.plugin, &mut list).await else {
        return Ok(list.0);
    };
    let keys = &plugin.info().config_keys;
    list.expect("settings keys are sane", format!("{} keys", keys.len()), key_problems(keys));

    let settings = match settings(args, keys) {
        Ok(s) => {
            list.ok("the given settings fit the plugin", "");
            s
        }
        Err(problems) => {
            list.fail("the given settings fit the plugin", problems.join("; "));
            return Ok(list.0);
        }
    };
    let allowed: Vec<&str> = settings
        .iter()
        .map(|(_, v)| v.as_str())
        .filter(|v| v.starts_with("http://") || v.starts_with("https://"))
        .collect();
    let backend = match host.backend("plugins-check", plugin.clone(), settings.clone(), &allowed) {
        Ok(b) => b,
        Err(e) => {
            list.fail("the given settings fit the plugin", format!("cannot allow the hosts of the URL settings: {e}"));
            return Ok(list.0);
        }
    };
    validate_checks(&backend, &plugin, &mut list).await;
    if args.against.is_some() {
        lifecycle(&backend, &plugin, args.timeout, &mut list).await;
    }
    Ok(list.0)
}

async fn load(host: &PluginHost, name: &str, list: &mut List) -> Option<Arc<Plugin>> {
    const LOADS: &str = "loads and describes itself";
    const CONTRACT: &str = "its contract version is supported";
    let loaded = if name == "misbehave" {
        // The host's test plugin, bundled but not offered to backends.
        host.load(name, drover_plugin_host::bundled::MISBEHAVE).await
    } else {
        host.load_named(name).await
    };
    let plugin = match loaded {
        Ok(p) => p,
        Err(e @ HostError::UnsupportedContract { .. }) => {
            list.fail(CONTRACT, e.to_string());
            return None;
        }
        Err(e) => {
            list.fail(LOADS, e.to_string());
            return None;
        }
    };
    let info = plugin.info();
    let mut problems = Vec::new();
    if info.name.trim().is_empty() {
        problems.push("its name is empty".to_string());
    }
    if info.version.trim().is_empty() {
        problems.push("its version is empty".to_string());
    }
    if info.deploy_modes.is_empty() {
        problems.push("it claims no deploy mode".to_string());
    }
    for (i, m) in info.deploy_modes.iter().enumerate() {
        if info.deploy_modes[..i].contains(m) {
            problems.push(format!("it lists deploy mode {m} twice"));
        }
    }
    let modes: Vec<&str> = info.deploy_modes.iter().map(|m| m.as_str()).collect();
    list.expect(
        LOADS,
        format!("{} {}, deploy modes: {}", info.name, info.version, modes.join(", ")),
        problems,
    );
    let contract = plugin.contract_version();
    if SUPPORTED_CONTRACTS.contains(&contract) {
        list.ok(CONTRACT, contract);
    } else {
        list.fail(
            CONTRACT,
            format!("built for contract {contract}; this drover supports {}", SUPPORTED_CONTRACTS.join(", ")),
        );
    }
    Some(plugin)
}

/// Settings names are snake_case or kebab-case, unique, described, and the
/// ones that look like credentials are marked secret (so drover never shows
/// them and only reads them from the environment).
fn key_problems(keys: &[ConfigKey]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let n = &k.name;
        if n.is_empty() {
            problems.push(format!("key #{} has an empty name", i + 1));
            continue;
        }
        let shape = n.starts_with(|c: char| c.is_ascii_lowercase())
            && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            && !(n.contains('_') && n.contains('-'));
        if !shape {
            problems.push(format!("`{n}` is not snake_case or kebab-case (lowercase letters, digits, _ or -)"));
        }
        if keys[..i].iter().any(|o| &o.name == n) {
            problems.push(format!("`{n}` is declared twice"));
        }
        if k.description.trim().is_empty() {
            problems.push(format!("`{n}` has no description"));
        }
        let credential = ["secret", "password", "passwd", "token", "credential", "private_key"]
            .iter()
            .any(|w| n.replace('-', "_").contains(w));
        if credential && !k.secret {
            problems.push(format!("`{n}` looks like a credential but is not marked secret"));
        }
    }
    problems
}

/// The settings the backend gets: --settings, --secret-env, and with
/// --against every `*url` key not given otherwise.
fn settings(args: &CheckArgs, keys: &[ConfigKey]) -> Result<Vec<(String, String)>, Vec<String>> {
    let known: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    let mut problems = Vec::new();
    let mut out: Vec<(String, String)> = Vec::new();
    fn put(out: &mut Vec<(String, String)>, k: &str, v: String) {
        out.retain(|(o, _)| o != k);
        out.push((k.to_string(), v));
    }
    for (k, v) in &args.settings {
        put(&mut out, k, v.clone());
    }
    for (k, var) in &args.secret_env {
        match crate::config::env_with_stand_in(var) {
            Some(v) => put(&mut out, k, v),
            None => problems.push(format!("environment variable `{var}` (for setting `{k}`) is not set")),
        }
    }
    for (k, _) in &out {
        if !known.contains(&k.as_str()) {
            problems.push(format!("the plugin has no setting `{k}` (it has: {})", known.join(", ")));
        }
    }
    if let Some(url) = &args.against {
        for k in keys.iter().filter(|k| k.name.ends_with("url")) {
            if !out.iter().any(|(o, _)| o == &k.name) {
                out.push((k.name.clone(), url.clone()));
            }
        }
        for k in keys.iter().filter(|k| k.required) {
            if !out.iter().any(|(o, _)| o == &k.name) {
                problems.push(format!(
                    "the lifecycle needs required setting `{}` ({}): give --settings {}=...",
                    k.name, k.description, k.name
                ));
            }
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

/// Sample applications for validate, in `mode`.
fn samples(mode: DeployMode) -> Vec<(&'static str, Application)> {
    let base = |resource: &str| Application {
        name: "drover-check".into(),
        resource: resource.into(),
        main_class: None,
        args: vec![],
        conf: Default::default(),
        deploy_mode: mode,
        driver: Resources::default(),
        executor: Resources::default(),
        jars: vec![],
        files: vec![],
        py_files: vec![],
        env: Default::default(),
        proxy_user: None,
    };
    let jar = Application {
        main_class: Some("com.example.Main".into()),
        args: vec!["--day".into(), "2026-01-01".into()],
        conf: [("spark.sql.shuffle.partitions".to_string(), "4".to_string())].into(),
        driver: Resources { memory_mb: Some(1024), cores: Some(1), instances: None },
        executor: Resources { memory_mb: Some(2048), cores: Some(2), instances: Some(2) },
        jars: vec!["/opt/drover-check/dep.jar".into()],
        env: [("TZ".to_string(), "UTC".to_string())].into(),
        ..base("/opt/drover-check/app.jar")
    };
    let python = Application {
        py_files: vec!["/opt/drover-check/lib.zip".into()],
        files: vec!["/opt/drover-check/lookup.csv".into()],
        ..base("/opt/drover-check/job.py")
    };
    vec![("a jar with a main class", jar), ("a Python script", python), ("a bare application", base("/opt/drover-check/run.sh"))]
}

async fn validate_checks(backend: &Backend, plugin: &Plugin, list: &mut List) {
    let claimed = &plugin.info().deploy_modes;
    for mode in DeployMode::ALL {
        if claimed.contains(&mode) {
            let name = format!("validate answers in {mode} mode");
            let mut problems = Vec::new();
            let mut found = 0;
            for (what, app) in samples(mode) {
                match backend.validate(&app).await {
                    Ok(answer) => {
                        found += answer.len();
                        for p in answer.iter().filter(|p| p.field.trim().is_empty() || p.message.trim().is_empty()) {
                            problems.push(format!("for {what}, a problem without field or message: {p:?}"));
                        }
                    }
                    Err(e) => problems.push(format!("for {what}: {e}")),
                }
            }
            list.expect(name, format!("3 sample applications, {found} problems found"), problems);
        } else {
            let name = format!("validate refuses {mode} mode, which the plugin does not claim");
            let (_, app) = samples(mode).remove(0);
            match backend.validate(&app).await {
                Err(e) => list.fail(name, format!("validate failed: {e}")),
                Ok(problems) => {
                    let about_mode = problems.iter().any(|p| {
                        let text = format!("{} {}", p.field, p.message).to_lowercase();
                        text.contains("deploy") || text.contains(mode.as_str())
                    });
                    if about_mode {
                        list.ok(name, "");
                    } else if problems.is_empty() {
                        list.fail(name, format!("validate found no problem with a {mode}-mode application"));
                    } else {
                        let said: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect();
                        list.fail(name, format!("no problem names the deploy mode (it said: {})", said.join("; ")));
                    }
                }
            }
        }
    }
}

/// Phases in the order a driver may go through them; terminal ones share a rank.
fn rank(p: DriverPhase) -> Option<u8> {
    match p {
        DriverPhase::Submitted => Some(0),
        DriverPhase::Queued => Some(1),
        DriverPhase::Running => Some(2),
        DriverPhase::Succeeded | DriverPhase::Failed | DriverPhase::Killed | DriverPhase::Lost => Some(3),
        DriverPhase::Unknown => None,
    }
}

fn terminal(p: DriverPhase) -> bool {
    rank(p) == Some(3)
}

/// A driver's status, followed until `stop` says so or the deadline.
struct Follow {
    /// Every phase seen, consecutive repeats folded.
    seen: Vec<DriverPhase>,
    /// After a kill, a cluster may forget the driver (Livy deletes the
    /// batch): "not found" then counts as Lost.
    gone_ok: bool,
}

impl Follow {
    fn new() -> Self {
        Follow { seen: Vec::new(), gone_ok: false }
    }

    fn last(&self) -> Option<DriverPhase> {
        self.seen.last().copied()
    }

    /// Polls until `stop(phase)` or a terminal phase; errors on a call
    /// failure (retryable ones are tried again), a phase moving backwards,
    /// or the deadline.
    async fn until(
        &mut self,
        backend: &Backend,
        id: &str,
        timeout: Duration,
        stop: impl Fn(DriverPhase) -> bool,
    ) -> Result<DriverPhase, String> {
        let start = Instant::now();
        loop {
            match backend.status(id).await {
                Ok(st) => {
                    let p = st.phase;
                    if self.last() != Some(p) {
                        if let (Some(r), Some(prev)) = (rank(p), self.seen.iter().filter_map(|s| rank(*s)).max())
                            && (r < prev || (r == 3 && self.seen.iter().any(|s| terminal(*s))))
                        {
                            return Err(format!("the phase moved backwards: {} then {p:?}", self.path()));
                        }
                        self.seen.push(p);
                    }
                    if stop(p) || terminal(p) {
                        return Ok(p);
                    }
                }
                Err(e) if e.is_not_found() && self.gone_ok => {
                    self.seen.push(DriverPhase::Lost);
                    return Ok(DriverPhase::Lost);
                }
                Err(e) if e.is_retryable() => {}
                Err(e) => return Err(format!("status failed: {e}")),
            }
            if start.elapsed() > timeout {
                return Err(format!("no end after {timeout:?} (phases seen: {})", self.path()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn path(&self) -> String {
        let names: Vec<String> = self.seen.iter().map(|p| format!("{p:?}")).collect();
        if names.is_empty() { "none".into() } else { names.join(" -> ") }
    }
}

/// Marker the short application prints, looked for in its log.
const MARKER: &str = "drover plugins check: hello";

/// The three lifecycle applications: a script each, in a folder of their own.
struct Scripts {
    dir: PathBuf,
}

impl Scripts {
    fn write() -> std::io::Result<Scripts> {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("drover-plugins-check-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir)?;
        for (name, text) in [
            ("short.sh", format!("#!/bin/sh\necho \"{MARKER}\"\n")),
            ("failing.sh", "#!/bin/sh\necho \"drover plugins check: failing on purpose\" >&2\nexit 3\n".into()),
            ("long.sh", "#!/bin/sh\nexec sleep 300\n".into()),
        ] {
            let p = dir.join(name);
            std::fs::write(&p, text)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(Scripts { dir })
    }

    fn app(&self, script: &str, mode: DeployMode) -> Application {
        let path: &Path = &self.dir.join(script);
        Application {
            name: format!("drover-check-{}", script.trim_end_matches(".sh")),
            resource: path.display().to_string(),
            main_class: Some("drover.Check".into()),
            args: vec![],
            conf: Default::default(),
            deploy_mode: mode,
            driver: Resources { memory_mb: Some(512), cores: Some(1), instances: None },
            executor: Resources { memory_mb: Some(512), cores: Some(1), instances: Some(1) },
            jars: vec![],
            files: vec![],
            py_files: vec![],
            env: Default::default(),
            proxy_user: None,
        }
    }
}

impl Drop for Scripts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn new_key() -> String {
    format!("drover-{:032x}", rand::random::<u128>())
}

/// Submits `app` under a fresh key; the cluster's id, or a failed check.
async fn submit(backend: &Backend, app: &Application, name: &str, list: &mut List) -> Option<(String, String)> {
    let key = new_key();
    match backend.submit(&key, app).await {
        Ok(Submitted::Cluster(id)) if !id.trim().is_empty() => Some((key, id)),
        Ok(Submitted::Cluster(_)) => {
            list.fail(name, "submit returned an empty id");
            None
        }
        Ok(Submitted::Local(l)) => {
            list.fail(name, format!("a {} submission returned a local launch ({})", app.deploy_mode, l.program));
            None
        }
        Err(e) => {
            list.fail(name, format!("submit failed: {e}"));
            None
        }
    }
}

/// Submits and follows one application to its end, expecting `want`.
async fn run_to_end(
    backend: &Backend,
    app: &Application,
    want: DriverPhase,
    name: &str,
    timeout: Duration,
    list: &mut List,
) -> Option<(String, String)> {
    let (key, id) = submit(backend, app, name, list).await?;
    let mut f = Follow::new();
    match f.until(backend, &id, timeout, |_| false).await {
        Ok(p) if p == want => list.ok(name, format!("id {id}: {}", f.path())),
        Ok(p) => list.fail(name, format!("id {id} ended {p:?}, expected {want:?} ({})", f.path())),
        Err(e) => list.fail(name, format!("id {id}: {e}")),
    }
    Some((key, id))
}

async fn lifecycle(backend: &Backend, plugin: &Plugin, timeout: Duration, list: &mut List) {
    let claimed = &plugin.info().deploy_modes;
    let Some(mode) = [DeployMode::Cluster, DeployMode::Service].into_iter().find(|m| claimed.contains(m)) else {
        list.push(
            "lifecycle on the cluster",
            Outcome::Skipped("the plugin claims only client mode, where drover runs the driver itself".into()),
        );
        return;
    };
    let scripts = match Scripts::write() {
        Ok(s) => s,
        Err(e) => {
            list.fail("lifecycle on the cluster", format!("cannot write the sample scripts: {e}"));
            return;
        }
    };
    let (short, failing, long) = (
        scripts.app("short.sh", mode),
        scripts.app("failing.sh", mode),
        scripts.app("long.sh", mode),
    );

    const VALID: &str = "the lifecycle's applications pass validate";
    let mut problems = Vec::new();
    for app in [&short, &failing, &long] {
        match backend.validate(app).await {
            Ok(ps) => problems.extend(ps.iter().map(|p| format!("{}: {}: {}", app.name, p.field, p.message))),
            Err(e) => problems.push(format!("{}: validate failed: {e}", app.name)),
        }
    }
    if !problems.is_empty() {
        list.fail(VALID, problems.join("; "));
        return;
    }
    list.ok(VALID, format!("{mode} mode, scripts in {}", scripts.dir.display()));

    // The short one: submit, find by key, follow to success.
    const SHORT: &str = "a short application ends succeeded";
    let Some(short_id) = submit(backend, &short, SHORT, list).await else {
        return;
    };
    const FIND: &str = "find returns the submission's id by its key";
    match backend.find(&short_id.0).await {
        Ok(Some(id)) if id == short_id.1 => list.ok(FIND, ""),
        Ok(Some(id)) => list.fail(FIND, format!("find returned {id}, submit returned {}", short_id.1)),
        Ok(None) => list.fail(FIND, format!("find returned nothing for the key of submission {}", short_id.1)),
        Err(e) => list.call_error(FIND, "find", &e),
    }
    let mut f = Follow::new();
    match f.until(backend, &short_id.1, timeout, |_| false).await {
        Ok(DriverPhase::Succeeded) => list.ok(SHORT, format!("id {}: {}", short_id.1, f.path())),
        Ok(p) => list.fail(SHORT, format!("id {} ended {p:?}, expected Succeeded ({})", short_id.1, f.path())),
        Err(e) => list.fail(SHORT, format!("id {}: {e}", short_id.1)),
    }

    let failing_id = run_to_end(backend, &failing, DriverPhase::Failed, "a failing application ends failed", timeout, list).await;
    let long_id = kill_long(backend, &long, timeout, list).await;

    const LOGS: &str = "the short application's log is readable";
    match backend.logs(&short_id.1, "stdout", 0, 1 << 16).await {
        Ok(chunk) => {
            let mut problems = Vec::new();
            let text = String::from_utf8_lossy(&chunk.data);
            if !text.contains(MARKER) {
                problems.push(format!("its stdout does not hold what it printed ({MARKER:?}); got {:?}", tail(&text)));
            }
            if chunk.next_offset < chunk.data.len() as u64 {
                problems.push(format!("next_offset {} is before the end of the {} bytes read", chunk.next_offset, chunk.data.len()));
            }
            if let Some(total) = chunk.total.filter(|t| *t < chunk.next_offset) {
                problems.push(format!("total {total} is less than next_offset {}", chunk.next_offset));
            }
            list.expect(LOGS, format!("{} bytes", chunk.data.len()), problems);
        }
        Err(e) => list.call_error(LOGS, "logs", &e),
    }

    let all: Vec<(String, String, DriverPhase)> = [
        Some((short_id.0.clone(), short_id.1.clone(), DriverPhase::Succeeded)),
        failing_id.map(|(k, i)| (k, i, DriverPhase::Failed)),
        long_id.map(|(k, i)| (k, i, DriverPhase::Killed)),
    ]
    .into_iter()
    .flatten()
    .collect();
    const MANY: &str = "status-many answers for every driver, in order";
    let ids: Vec<String> = all.iter().map(|(_, id, _)| id.clone()).collect();
    match backend.status_many(&ids).await {
        Ok(answers) if answers.len() != ids.len() => {
            list.fail(MANY, format!("asked for {} ids, got {} answers", ids.len(), answers.len()));
        }
        Ok(answers) => {
            let problems = all
                .iter()
                .zip(&answers)
                .filter_map(|((_, id, want), got)| match got {
                    Some(st) if st.phase == *want => None,
                    // A killed driver the cluster forgot.
                    Some(st) if *want == DriverPhase::Killed && st.phase == DriverPhase::Lost => None,
                    None if *want == DriverPhase::Killed => None,
                    Some(st) => Some(format!("{id} is {:?}, status said {want:?}", st.phase)),
                    None => Some(format!("{id} is missing")),
                })
                .collect();
            list.expect(MANY, format!("{} drivers", ids.len()), problems);
        }
        Err(e) => list.call_error(MANY, "status-many", &e),
    }

    const STABLE: &str = "ids are stable: find returns the same id after the end";
    let mut problems = Vec::new();
    let mut unsupported = None;
    // A killed driver may be deleted by the kill (Livy, Kubernetes).
    for (key, id, _) in all.iter().filter(|(_, _, want)| *want != DriverPhase::Killed) {
        match backend.find(key).await {
            Ok(Some(found)) if &found == id => {}
            Ok(Some(found)) => problems.push(format!("key of {id} now finds {found}")),
            Ok(None) => problems.push(format!("key of {id} now finds nothing")),
            Err(e) if e.kind() == Some(ErrorKind::Unsupported) => unsupported = Some(e),
            Err(e) => problems.push(format!("find failed: {e}")),
        }
    }
    match unsupported {
        Some(e) if problems.is_empty() => list.call_error(STABLE, "find", &e),
        _ => list.expect(STABLE, format!("{} drivers", all.len()), problems),
    }

    const UNKNOWN: &str = "an unknown key finds nothing";
    match backend.find(&new_key()).await {
        Ok(None) => list.ok(UNKNOWN, ""),
        Ok(Some(id)) => list.fail(UNKNOWN, format!("find returned {id} for a key never submitted")),
        Err(e) => list.call_error(UNKNOWN, "find", &e),
    }
}

/// Submits the long application, waits until it runs, kills it and
/// follows it to its end, which must be Killed.
async fn kill_long(backend: &Backend, app: &Application, timeout: Duration, list: &mut List) -> Option<(String, String)> {
    const NAME: &str = "a long application, killed, ends killed";
    let (key, id) = submit(backend, app, NAME, list).await?;
    let mut f = Follow::new();
    match f.until(backend, &id, timeout, |p| p == DriverPhase::Running).await {
        Ok(DriverPhase::Running) => {}
        Ok(p) => {
            list.fail(NAME, format!("id {id} ended {p:?} before it could be killed ({})", f.path()));
            return Some((key, id));
        }
        Err(e) => {
            let _ = backend.kill(&id).await;
            list.fail(NAME, format!("id {id} never ran: {e}"));
            return Some((key, id));
        }
    }
    if let Err(e) = backend.kill(&id).await {
        list.fail(NAME, format!("kill of running id {id} failed: {e}"));
        return Some((key, id));
    }
    f.gone_ok = true;
    match f.until(backend, &id, timeout, |_| false).await {
        Ok(DriverPhase::Killed | DriverPhase::Lost) => list.ok(NAME, format!("id {id}: {}", f.path())),
        Ok(p) => list.fail(NAME, format!("id {id} ended {p:?} after kill, expected Killed ({})", f.path())),
        Err(e) => list.fail(NAME, format!("id {id} after kill: {e}")),
    }
    Some((key, id))
}

/// The end of a text, for messages.
fn tail(s: &str) -> &str {
    let start = s.len().saturating_sub(200);
    let start = (start..=s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(s.len());
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, secret: bool) -> ConfigKey {
        ConfigKey {
            name: name.into(),
            description: "d".into(),
            required: false,
            secret,
        }
    }

    #[test]
    fn settings_keys_are_checked_for_shape_duplicates_and_secrets() {
        assert!(key_problems(&[key("rest_url", false), key("api-token", true)]).is_empty());
        let p = key_problems(&[key("Rest URL", false), key("a", false), key("a", false), key("api_token", false)]);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("snake_case") && p[1].contains("twice") && p[2].contains("secret"), "{p:?}");
    }

    #[test]
    fn phases_only_move_forward() {
        assert!(rank(DriverPhase::Queued) < rank(DriverPhase::Running));
        assert!(terminal(DriverPhase::Killed) && !terminal(DriverPhase::Unknown));
    }

    #[test]
    fn the_checklist_reads_one_line_per_check() {
        let checks = vec![
            Check { name: "a".into(), outcome: Outcome::Ok("x".into()) },
            Check { name: "b".into(), outcome: Outcome::Fail("why".into()) },
            Check { name: "c".into(), outcome: Outcome::Skipped("no logs".into()) },
        ];
        assert_eq!(
            render(&checks),
            "ok   a (x)\nFAIL b: why\nskip c: skipped: no logs\n3 checks: 1 ok, 1 failed, 1 skipped\n"
        );
    }
}
