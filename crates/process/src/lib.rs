//! Process hygiene for the drivers drover and its stand-in cluster start: each
//! driver leads its own process group, so one signal reaches everything it
//! forked, and on Linux it gets SIGKILL when the thread that started it ends,
//! so it cannot outlive its host even when the host is killed with -9.
//!
//! One crate because two that do not depend on each other need it (the
//! scheduler's client-mode drivers and the devcluster's), and because this is
//! where the crate's only unsafe code lives, each call with its reason.
//!
//! It must not decide what runs or how: program, arguments, environment,
//! stdio, logs and exit-status wording stay with the callers. Nothing here
//! knows about Spark.

use std::io;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use tokio::process::Child;

/// Makes the child the leader of a new process group whose id is its pid,
/// which is what [`terminate_group`] and [`kill_group_now`] signal.
pub fn own_group(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    cmd.process_group(0);
}

/// Asks the kernel to SIGKILL the child when its parent goes (Linux; elsewhere
/// nothing).
///
/// Linux takes the parent to be the *thread* that spawned the child: spawn
/// from a thread that lives as long as the child may (a runtime worker, a
/// dedicated spawner thread), never from a pool thread that may retire.
#[allow(unsafe_code)]
pub fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt as _;
        let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
        // SAFETY: the closure runs in the forked child before exec and only
        // makes async-signal-safe syscalls (prctl, getppid); it allocates
        // nothing and touches no state shared with the parent.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl; then nobody
                // would ever deliver the signal, so refuse to start at all.
                // Compared with the parent's own pid, not 1: the host may be
                // pid 1 (a container) or orphans may go to a subreaper.
                if libc::getppid() != parent {
                    return Err(io::Error::other("parent exited during spawn"));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// Stops a group leader's whole group: SIGTERM, SIGKILL after `grace`, then a
/// last SIGKILL for anything the leader left behind in its group. Returns the
/// leader's exit status.
pub async fn terminate_group(child: &mut Child, grace: Duration) -> io::Result<ExitStatus> {
    let Some(pid) = child.id() else {
        // Already reaped: its status is known and its group id may be reused.
        return child.wait().await;
    };
    signal_group(pid, libc::SIGTERM);
    let status = match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            signal_group(pid, libc::SIGKILL);
            child.wait().await
        }
    };
    signal_group(pid, libc::SIGKILL);
    status
}

/// SIGKILLs process group `pgid` now, without waiting (for `Drop`).
pub fn kill_group_now(pgid: u32) {
    signal_group(pgid, libc::SIGKILL);
}

/// Sends `signal` to process group `pgid`; errors (the group is gone) are
/// ignored.
#[allow(unsafe_code)]
fn signal_group(pgid: u32, signal: i32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    // 0 would be our own group and 1 is init's: never signal those.
    if pgid <= 1 {
        return;
    }
    // SAFETY: killpg takes plain integers and has no memory-safety preconditions.
    unsafe {
        libc::killpg(pgid, signal);
    }
}
