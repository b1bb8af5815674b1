//! A driver gets SIGKILL when what started it goes: the thread that spawned
//! it, or the whole host process killed with -9 (which is how drover's
//! client-mode drivers die with drover).
//!
//! Its own test binary: it makes itself a child subreaper, which holds for the
//! whole process.
#![cfg(target_os = "linux")]

use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Set in the re-executed test binary that plays the host.
const HOST_ROLE: &str = "DROVER_PROCESS_TEST_HOST";
const HOST_TEST: &str = "a_child_gets_sigkill_when_its_host_process_is_killed";

fn sleeper() -> Command {
    let mut cmd = Command::new("sleep");
    cmd.arg("1000").stdin(Stdio::null());
    drover_process::die_with_parent(&mut cmd);
    cmd
}

fn wait_with_deadline(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child outlived the thread that spawned it");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_child_gets_sigkill_when_the_thread_that_spawned_it_ends() {
    let mut child = std::thread::spawn(|| sleeper().spawn().expect("spawn sleep"))
        .join()
        .expect("the spawning thread");
    assert_eq!(wait_with_deadline(&mut child).signal(), Some(libc::SIGKILL));
}

#[test]
#[allow(unsafe_code)]
fn a_child_gets_sigkill_when_its_host_process_is_killed() {
    if std::env::var_os(HOST_ROLE).is_some() {
        return be_the_host();
    }
    // Orphans come to this process instead of init, so it can see how the
    // host's child ended.
    // SAFETY: prctl with integer arguments; no memory is involved.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) }, 0);

    let mut host = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", HOST_TEST, "--nocapture", "--test-threads=1"])
        .env(HOST_ROLE, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the host");
    let lines = BufReader::new(host.stdout.take().expect("piped stdout")).lines();
    let driver: libc::pid_t = lines
        .map_while(Result::ok)
        // libtest may have begun the line with the test's name.
        .find_map(|l| l.split_once("driver=").map(|(_, pid)| pid.to_owned()))
        .expect("the host names its driver")
        .parse()
        .expect("a pid");

    host.kill().expect("SIGKILL the host");
    host.wait().expect("reap the host");

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes only to `status`, a live local.
        let reaped = unsafe { libc::waitpid(driver, &mut status, libc::WNOHANG) };
        if reaped == driver {
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: kill(2) with integers; cleans up after the failure.
            unsafe { libc::kill(driver, libc::SIGKILL) };
            panic!("the driver outlived its host");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(libc::WIFSIGNALED(status), "the driver exited instead of being killed");
    assert_eq!(libc::WTERMSIG(status), libc::SIGKILL);
}

/// Starts a driver, names it, and stays until killed; should the test end
/// first (its end of stdin closes), ends the driver itself.
fn be_the_host() {
    let mut driver = sleeper().spawn().expect("spawn the driver");
    println!("driver={}", driver.id());
    let _ = std::io::stdin().read(&mut [0u8]);
    let _ = driver.kill();
    let _ = driver.wait();
}
