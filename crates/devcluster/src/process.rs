//! Running a Spark application as a local process.
//!
//! This is the one place that decides how an application resource starts
//! (`python3 app.py`, `java -cp app.jar Main`, or the file itself), so the
//! stand-ins' driver runners and the local spark-submit shim can never disagree
//! about it. It also applies the process hygiene every stand-in needs, from
//! `drover_process` (shared with the scheduler's client-mode drivers): a
//! driver gets its own process group (so a kill reaches everything it forked)
//! and, on Linux, a parent-death signal (so it never outlives the process
//! hosting the stand-in, even when that process is killed with SIGKILL).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use tokio::process::Child;
use tokio::sync::oneshot;

/// Stopping a driver's whole process group: gracefully ([`terminate_group`])
/// or at once from `Drop` ([`kill_group_now`]).
pub(crate) use drover_process::{kill_group_now, terminate_group};

/// How long a killed driver gets between SIGTERM and SIGKILL.
pub(crate) const KILL_GRACE: Duration = Duration::from_secs(5);

/// Why an application cannot be started. Reported to the submitter, never retried.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("application resource {} does not exist", .0.display())]
    NoSuchFile(PathBuf),
    #[error("no main class set for jar {}: pass --class (spark-submit) or mainClass (REST)", .0.display())]
    MissingMainClass(PathBuf),
    #[error(
        "application resource {resource} uses scheme {scheme:?}; only file:, local: and plain paths can run locally"
    )]
    UnsupportedScheme { scheme: String, resource: String },
}

impl LaunchError {
    /// The text a JVM worker would report for the same failure (`Throwable.toString`),
    /// so a stand-in's status message reads like a real cluster's.
    pub fn java_exception(&self) -> String {
        match self {
            Self::NoSuchFile(path) => {
                format!("java.nio.file.NoSuchFileException: {}", path.display())
            }
            Self::MissingMainClass(_) => {
                "org.apache.spark.SparkException: No main class set in JAR; \
                 please specify one with --class."
                    .to_owned()
            }
            Self::UnsupportedScheme { scheme, .. } => format!(
                "org.apache.hadoop.fs.UnsupportedFileSystemException: No FileSystem for scheme \"{scheme}\""
            ),
        }
    }
}

/// What to run: the pieces of a spark-submit / CreateSubmissionRequest that matter locally.
#[derive(Debug, Clone, Copy)]
pub struct App<'a> {
    /// `file:/abs/app.py`, `local:/opt/app.jar`, or a plain path.
    pub resource: &'a str,
    pub main_class: Option<&'a str>,
    pub args: &'a [String],
    /// Spark properties (`spark.jars`, `spark.driver.memory`, `spark.pyspark.python`, …).
    pub conf: &'a BTreeMap<String, String>,
}

/// What kind of program an application resource is, decided by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    Python,
    Jar,
    Executable,
}

/// A resolved command line for one application; build a fresh [`std::process::Command`]
/// from it for every (re)launch.
#[derive(Debug, Clone)]
pub struct LaunchPlan {
    pub kind: AppKind,
    /// The application resource as a local absolute path.
    pub resource: PathBuf,
    pub program: OsString,
    pub args: Vec<OsString>,
    /// Variables added to the inherited environment (e.g. `PYTHONPATH` for `--py-files`).
    pub env: Vec<(String, OsString)>,
}

impl LaunchPlan {
    /// Decide how `app` runs: `.py` with python3 (or `spark.pyspark.driver.python`,
    /// `spark.pyspark.python`, `$PYSPARK_DRIVER_PYTHON`, `$PYSPARK_PYTHON`), `.jar` with
    /// `java -cp <jar>:<spark.jars> -D<spark props> <mainClass>`, anything else exec'd directly.
    pub fn resolve(app: &App<'_>) -> Result<Self, LaunchError> {
        let resource = local_path(app.resource)?;
        if !resource.exists() {
            return Err(LaunchError::NoSuchFile(resource));
        }
        let kind = match resource.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("py") => AppKind::Python,
            Some(ext) if ext.eq_ignore_ascii_case("jar") => AppKind::Jar,
            _ => AppKind::Executable,
        };
        let app_args = app.args.iter().map(OsString::from);
        let mut env = Vec::new();
        let (program, args) = match kind {
            AppKind::Python => {
                let python = ["spark.pyspark.driver.python", "spark.pyspark.python"]
                    .iter()
                    .find_map(|k| app.conf.get(*k).map(OsString::from))
                    .or_else(|| std::env::var_os("PYSPARK_DRIVER_PYTHON"))
                    .or_else(|| std::env::var_os("PYSPARK_PYTHON"))
                    .unwrap_or_else(|| "python3".into());
                if let Some(py_files) = app.conf.get("spark.submit.pyFiles") {
                    let mut paths = list_paths(py_files)?;
                    if let Some(existing) = std::env::var_os("PYTHONPATH") {
                        paths.extend(std::env::split_paths(&existing));
                    }
                    if let Ok(joined) = std::env::join_paths(paths) {
                        env.push(("PYTHONPATH".to_owned(), joined));
                    }
                }
                let mut args = vec![resource.clone().into_os_string()];
                args.extend(app_args);
                (python, args)
            }
            AppKind::Jar => {
                let main_class = app
                    .main_class
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| LaunchError::MissingMainClass(resource.clone()))?;
                let mut class_path = vec![resource.clone()];
                if let Some(jars) = app.conf.get("spark.jars") {
                    class_path.extend(list_paths(jars)?);
                }
                if let Some(extra) = app.conf.get("spark.driver.extraClassPath") {
                    class_path.extend(std::env::split_paths(extra));
                }
                let java = std::env::var_os("JAVA_HOME")
                    .map(|home| PathBuf::from(home).join("bin/java").into_os_string())
                    .unwrap_or_else(|| "java".into());
                let mut args: Vec<OsString> = Vec::new();
                if let Some(mb) = app
                    .conf
                    .get("spark.driver.memory")
                    .and_then(|m| parse_memory_mb(m))
                {
                    args.push(format!("-Xmx{mb}M").into());
                }
                args.push("-cp".into());
                args.push(std::env::join_paths(&class_path).unwrap_or_default());
                // Like spark-submit, hand Spark properties to the JVM as system properties
                // so a SparkConf built in the application sees them.
                args.extend(
                    app.conf
                        .iter()
                        .filter(|(k, _)| k.starts_with("spark."))
                        .map(|(k, v)| OsString::from(format!("-D{k}={v}"))),
                );
                args.push(main_class.into());
                args.extend(app_args);
                (java, args)
            }
            AppKind::Executable => (resource.clone().into_os_string(), app_args.collect()),
        };
        Ok(Self {
            kind,
            resource,
            program,
            args,
            env,
        })
    }

    /// A command for one launch: program, arguments, extra environment, and a
    /// parent-death signal. Stdio, directory and process group are the caller's.
    pub fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args);
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        drover_process::die_with_parent(&mut cmd);
        cmd
    }

    /// The command line quoted the way Spark's DriverRunner logs it: `"prog" "arg" …`.
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| format!("\"{}\"", a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A local path from an application resource: `file:/p`, `file:///p`,
/// `file://localhost/p`, `local:/p`, or a plain (possibly relative) path.
pub fn local_path(resource: &str) -> Result<PathBuf, LaunchError> {
    let path = if let Some(rest) = resource
        .strip_prefix("file:")
        .or_else(|| resource.strip_prefix("local:"))
    {
        match rest.strip_prefix("//") {
            // An authority (usually empty or localhost) precedes the absolute path.
            Some(after) => after.find('/').map_or(after, |i| &after[i..]),
            None => rest,
        }
    } else if let Some(scheme) = uri_scheme(resource) {
        return Err(LaunchError::UnsupportedScheme {
            scheme: scheme.to_owned(),
            resource: resource.to_owned(),
        });
    } else {
        resource
    };
    Ok(std::path::absolute(path).unwrap_or_else(|_| PathBuf::from(path)))
}

/// The scheme of `s` if it looks like a URI (`s3a://…`, `hdfs:/…`); one-letter
/// schemes are not taken as schemes so odd relative paths stay paths.
fn uri_scheme(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (scheme.len() > 1
        && first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// A comma-separated list of resources (`spark.jars`, `--py-files`) as local paths.
fn list_paths(list: &str) -> Result<Vec<PathBuf>, LaunchError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(local_path)
        .collect()
}

/// Spark's memory strings in MiB (`Utils.memoryStringToMb`): `512m`, `2g`, `1024k`,
/// `1t`, `4096b`; a bare number is MiB. Every unit Spark knows, `p` too.
pub fn parse_memory_mb(s: &str) -> Option<u64> {
    drover_spark_units::Memory::parse(s)?.mib()
}

/// The shell convention for an exit status: the code, or 128 + the signal.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// A cluster-side driver command: run in `dir`, stdout/stderr appended to
/// `dir/stdout` and `dir/stderr` (a real worker's layout), stdin closed, and its
/// own process group so a kill reaches everything it started.
///
/// Like Spark's DriverRunner, each launch first appends a `Launch Command:` header
/// to `stderr`, so relaunches of a supervised driver are visible in one file.
pub(crate) fn driver_command(
    plan: &LaunchPlan,
    dir: &Path,
    env: &[(String, String)],
) -> io::Result<std::process::Command> {
    std::fs::create_dir_all(dir)?;
    let open = |name: &str| -> io::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name))
    };
    let stdout = open("stdout")?;
    let mut stderr = open("stderr")?;
    write!(
        stderr,
        "Launch Command: {}\n{}\n\n",
        plan.display(),
        "=".repeat(40)
    )?;
    let mut cmd = plan.command();
    cmd.current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    drover_process::own_group(&mut cmd);
    Ok(cmd)
}

/// Java's wording for a failed `ProcessBuilder.start()`, which a real worker reports
/// as the driver's exception.
pub(crate) fn cannot_run_program(plan: &LaunchPlan, dir: &Path, err: &io::Error) -> String {
    let reason = err.to_string();
    let reason = reason
        .rsplit_once(" (os error")
        .map_or(reason.as_str(), |(r, _)| r);
    let errno = err.raw_os_error().unwrap_or(0);
    format!(
        "java.io.IOException: Cannot run program \"{}\" (in directory \"{}\"): error={errno}, {reason}",
        plan.program.to_string_lossy(),
        dir.display()
    )
}

type SpawnJob = (std::process::Command, oneshot::Sender<io::Result<Child>>);

/// Spawns drivers from one dedicated thread.
///
/// Linux delivers the parent-death signal when the *thread* that forked the child
/// exits, not the process. Tokio's blocking-pool threads come and go, so spawning
/// from whatever thread a task happens to be on could kill a healthy driver when
/// that thread retires. This thread lives exactly as long as the stand-in: stopping
/// it (shutdown, drop) or the hosting process dying takes every driver with it.
pub(crate) struct Spawner {
    jobs: Mutex<Option<std::sync::mpsc::Sender<SpawnJob>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Spawner {
    /// Start the spawner thread; children are registered with `runtime`'s process driver.
    pub(crate) fn start(runtime: tokio::runtime::Handle) -> io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnJob>();
        let thread = std::thread::Builder::new()
            .name("devcluster-spawner".to_owned())
            .spawn(move || {
                let _runtime = runtime.enter();
                while let Ok((cmd, reply)) = rx.recv() {
                    let _ = reply.send(tokio::process::Command::from(cmd).spawn());
                }
            })?;
        Ok(Self {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) async fn spawn(&self, cmd: std::process::Command) -> io::Result<Child> {
        let stopped = || io::Error::other("the devcluster is shutting down");
        let (reply, child) = oneshot::channel();
        {
            let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            let jobs = jobs.as_ref().ok_or_else(stopped)?;
            jobs.send((cmd, reply)).map_err(|_| stopped())?;
        }
        child.await.map_err(|_| stopped())?
    }

    /// Stop the thread; any child it spawned that is still alive gets SIGKILL (Linux).
    pub(crate) fn stop(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_strings_parse_like_spark() {
        assert_eq!(parse_memory_mb("512m"), Some(512));
        assert_eq!(parse_memory_mb("2g"), Some(2048));
        assert_eq!(parse_memory_mb("2G"), Some(2048));
        assert_eq!(parse_memory_mb("1024"), Some(1024));
        assert_eq!(parse_memory_mb("2048k"), Some(2));
        assert_eq!(parse_memory_mb("1t"), Some(1 << 20));
        assert_eq!(parse_memory_mb("lots"), None);
        assert_eq!(parse_memory_mb("1.5g"), None);
    }

    #[test]
    fn resources_resolve_to_local_paths() {
        assert_eq!(
            local_path("file:/a/b.py").unwrap(),
            PathBuf::from("/a/b.py")
        );
        assert_eq!(
            local_path("file:///a/b.py").unwrap(),
            PathBuf::from("/a/b.py")
        );
        assert_eq!(
            local_path("file://localhost/a/b.py").unwrap(),
            PathBuf::from("/a/b.py")
        );
        assert_eq!(
            local_path("local:/opt/x.jar").unwrap(),
            PathBuf::from("/opt/x.jar")
        );
        assert_eq!(local_path("/abs/x").unwrap(), PathBuf::from("/abs/x"));
        assert!(local_path("rel/x.py").unwrap().is_absolute());
        assert!(matches!(
            local_path("s3a://bucket/app.py"),
            Err(LaunchError::UnsupportedScheme { .. })
        ));
    }

    #[test]
    fn jar_needs_a_main_class_and_gets_spark_properties_as_system_properties() {
        let dir = tempfile::tempdir().unwrap();
        let jar = dir.path().join("app.jar");
        std::fs::write(&jar, b"").unwrap();
        let conf = BTreeMap::from([
            ("spark.app.name".to_owned(), "x".to_owned()),
            ("spark.driver.memory".to_owned(), "1g".to_owned()),
        ]);
        let resource = jar.to_string_lossy().into_owned();
        let app = App {
            resource: &resource,
            main_class: None,
            args: &[],
            conf: &conf,
        };
        assert!(matches!(
            LaunchPlan::resolve(&app),
            Err(LaunchError::MissingMainClass(_))
        ));
        let plan = LaunchPlan::resolve(&App {
            main_class: Some("Main"),
            ..app
        })
        .unwrap();
        assert_eq!(plan.kind, AppKind::Jar);
        let args: Vec<_> = plan.args.iter().map(|a| a.to_string_lossy()).collect();
        assert_eq!(args[0], "-Xmx1024M");
        assert_eq!(args[1], "-cp");
        assert!(args.contains(&"-Dspark.app.name=x".into()));
        assert_eq!(args.last().unwrap(), "Main");
    }

    #[test]
    fn missing_resource_reads_like_the_jvm_exception() {
        let err = LaunchPlan::resolve(&App {
            resource: "file:/definitely/not/here.py",
            main_class: None,
            args: &[],
            conf: &BTreeMap::new(),
        })
        .unwrap_err();
        assert_eq!(
            err.java_exception(),
            "java.nio.file.NoSuchFileException: /definitely/not/here.py"
        );
    }
}
