//! Client-mode drivers: local child processes that die with drover.
//!
//! Each driver gets its own process group (so a kill reaches spark-submit and
//! everything it started) and, on Linux, a parent-death signal (so a drover
//! killed with -9 takes its drivers along instead of leaving orphans); both
//! come from `drover_process`, shared with the devcluster.
//!
//! A driver runs user code and its log is served by the API, so it starts
//! from an empty environment: only what a locale, Java, Python, Spark and
//! Hadoop need comes from drover's own ([`PASSED_ENV`]), then what the
//! launch itself names (the application's `env`, the backend's settings).
//! drover's API token and the backends' secrets never reach it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use drover_plugin_host::LocalLaunch;

/// Variables a driver inherits from drover's environment, when set: the
/// user and locale, and what spark-submit, the JVM, Python and the Hadoop
/// client look for. Everything else (tokens, cloud keys) stays with drover.
pub(crate) const PASSED_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR",
    "JAVA_HOME", "SPARK_HOME", "SPARK_CONF_DIR", "SPARK_LOCAL_IP", "SPARK_LOCAL_HOSTNAME",
    "SPARK_LOCAL_DIRS", "SPARK_DIST_CLASSPATH", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON",
    "PYTHONPATH", "VIRTUAL_ENV", "HADOOP_HOME", "HADOOP_CONF_DIR", "YARN_CONF_DIR", "KUBECONFIG",
];

/// Whether drover's variable `name` is passed to drivers (`LC_*` too).
fn passed(name: &str) -> bool {
    PASSED_ENV.contains(&name) || name.starts_with("LC_")
}

/// Starts `launch` with stdout and stderr appended to `log` (created
/// owner-only, in owner-only directories: logs may hold data).
pub(crate) fn spawn(launch: &LocalLaunch, log: &Path) -> std::io::Result<Child> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = log.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let out = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(log)?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(&launch.program);
    cmd.args(&launch.args)
        .env_clear()
        .envs(std::env::vars_os().filter(|(k, _)| k.to_str().is_some_and(passed)))
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true);
    drover_process::own_group(cmd.as_std_mut());
    // Drivers are spawned from runtime worker threads, which live as long as
    // drover does: the parent-death signal fires only when drover goes.
    drover_process::die_with_parent(cmd.as_std_mut());
    cmd.spawn()
}

/// SIGTERM to the driver's process group, SIGKILL after `grace`.
pub(crate) async fn kill_group(child: &mut Child, grace: Duration) {
    // The exit status is read by whoever waits on the child next.
    let _ = drover_process::terminate_group(child, grace).await;
}

/// An exit status as a short text and whether it means success.
pub(crate) fn describe_exit(status: std::process::ExitStatus) -> (bool, String) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => (true, "exit code 0".into()),
        (Some(c), _) => (false, format!("exit code {c}")),
        (None, Some(s)) => (false, format!("killed by signal {s}")),
        (None, None) => (false, "ended without a status".into()),
    }
}
