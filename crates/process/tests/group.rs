//! A group leader's kill reaches what it started, and a leader that ignores
//! SIGTERM still ends.

use std::os::unix::process::ExitStatusExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, BufReader};

/// Starts `script` under `sh` in its own group and returns it with the first
/// line it prints (so the test knows the script got that far).
async fn start(script: &str) -> (tokio::process::Child, String) {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]).stdin(Stdio::null()).stdout(Stdio::piped());
    drover_process::own_group(&mut cmd);
    let mut child = tokio::process::Command::from(cmd).spawn().expect("spawn sh");
    let stdout = child.stdout.take().expect("piped stdout");
    let line = BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("read the script's first line")
        .expect("the script prints a line");
    (child, line)
}

/// Whether `pid` has ended: gone, or a zombie nobody reaped yet (its new
/// parent after the leader died is outside this test's control).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| matches!(state, "Z" | "X")),
    }
}

#[tokio::test]
async fn terminating_a_group_ends_what_its_leader_started() {
    let (mut leader, line) = start("sleep 1000 & echo $!; wait").await;
    let started: u32 = line.trim().parse().expect("the background pid");
    assert!(!ended(started));

    let status = drover_process::terminate_group(&mut leader, Duration::from_secs(30))
        .await
        .expect("wait for the leader");
    assert!(!status.success());

    let deadline = Instant::now() + Duration::from_secs(30);
    while !ended(started) {
        assert!(Instant::now() < deadline, "pid {started} outlived its group's kill");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_leader_ignoring_sigterm_gets_sigkill_after_the_grace() {
    // An ignored signal stays ignored across exec, so `sleep` ignores it too.
    let (mut leader, line) = start("trap '' TERM; echo ready; exec sleep 1000").await;
    assert_eq!(line, "ready");

    let status = drover_process::terminate_group(&mut leader, Duration::from_millis(100))
        .await
        .expect("wait for the leader");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}

#[tokio::test]
async fn terminating_a_reaped_leader_reports_its_status_and_signals_nothing() {
    let (mut leader, line) = start("echo done").await;
    assert_eq!(line, "done");
    let exited = leader.wait().await.expect("wait");
    let status = drover_process::terminate_group(&mut leader, Duration::from_secs(30))
        .await
        .expect("status of a reaped leader");
    assert_eq!(status, exited);
}
