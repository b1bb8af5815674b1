//! Client-mode drivers: local child processes that die with drover.
//!
//! Each driver gets its own process group (so a kill reaches spark-submit and
//! everything it started) and, on Linux, a parent-death signal (so a drover
//! killed with -9 takes its drivers along instead of leaving orphans).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use drover_plugin_host::LocalLaunch;

/// Starts `launch` with stdout and stderr appended to `log`.
pub(crate) fn spawn(launch: &LocalLaunch, log: &Path) -> std::io::Result<Child> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(&launch.program);
    cmd.args(&launch.args)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0)
        .kill_on_drop(true);
    die_with_parent(&mut cmd);
    cmd.spawn()
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only calls prctl and
    // getppid, both async-signal-safe. The death signal fires when the
    // spawning thread exits; drivers are spawned from runtime worker threads,
    // which live as long as drover does.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() == 1 {
                return Err(std::io::Error::other("parent exited before the driver started"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// SIGTERM to the driver's process group, SIGKILL after `grace`.
pub(crate) async fn kill_group(child: &mut Child, grace: Duration) {
    let Some(pid) = child.id() else { return };
    signal_group(pid, libc::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        signal_group(pid, libc::SIGKILL);
        let _ = child.wait().await;
    }
    // Whatever the leader left behind in its group goes too.
    signal_group(pid, libc::SIGKILL);
}

#[allow(unsafe_code)]
fn signal_group(pgid: u32, sig: i32) {
    let Ok(pgid) = i32::try_from(pgid) else { return };
    // SAFETY: kill(2) with a negative pid signals that process group; it has
    // no memory-safety preconditions.
    unsafe {
        libc::kill(-pgid, sig);
    }
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
