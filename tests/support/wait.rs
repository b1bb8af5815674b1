//! Waiting for what a test is not told of (a state reached, a process
//! gone): polled every 50 ms up to a deadline, never a fixed sleep.

use std::fmt::Display;
use std::path::Path;
use std::time::{Duration, Instant};

/// Whether /proc still lists `pid` (a zombie counts).
pub fn proc_listed(pid: impl Display) -> bool {
    Path::new(&format!("/proc/{}", pid.to_string().trim())).exists()
}

/// Waits until /proc no longer lists `pid`; a killed driver's process has
/// 30 s to go.
pub async fn proc_gone(pid: u32) {
    let start = Instant::now();
    while proc_listed(pid) {
        assert!(start.elapsed() < Duration::from_secs(30), "process {pid} outlived the kill");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `check` every 50 ms until it yields a value; panics naming `what`
/// after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < until, "timed out after {deadline:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (3 minutes at most) until the backend says driver `id` has ended;
/// its last status.
pub async fn driver_ended(backend: &drover_plugin_host::Backend, id: &str) -> drover_plugin_host::DriverStatus {
    use drover_plugin_host::DriverPhase as P;
    eventually("the application ends", Duration::from_secs(180), || async {
        let st = backend.status(id).await.expect("status");
        matches!(st.phase, P::Succeeded | P::Failed | P::Killed | P::Lost).then_some(st)
    })
    .await
}

/// Waits for the driver `id` to end, asserts it succeeded, and answers its
/// stdout (the first 64 KiB).
pub async fn succeeded_stdout(backend: &drover_plugin_host::Backend, id: &str) -> String {
    let st = driver_ended(backend, id).await;
    assert_eq!(st.phase, drover_plugin_host::DriverPhase::Succeeded, "{st:?}");
    let log = backend.logs(id, "stdout", 0, 1 << 16).await.expect("logs");
    String::from_utf8_lossy(&log.data).into_owned()
}
