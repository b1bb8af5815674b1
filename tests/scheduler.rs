//! Scheduler behaviour through the whole stack: a real drover (stand-in
//! cluster, scheduler, API) per test, each on its own DAG folder.
//!
//! Timing assertions are lower bounds (correctness, not speed); waiting is
//! polling with generous deadlines, never a fixed sleep (the one bounded
//! window is where a test shows that something does *not* happen). Times come
//! from the store's rows and are compared as epoch milliseconds.
//!
//! Not here yet: a restart that re-attaches to a running cluster-mode driver
//! (the stand-in cluster lives inside `Running` and dies with it).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use drover_store::{DriverState, RunRow, RunState, TaskInstanceRow, TiState, TryRow, TryState};
use support::drover::{Api, Running, script, standalone_status, start, write};
use support::wait::eventually;

/// Upper bound for anything the tests wait on.
const DEADLINE: Duration = Duration::from_secs(90);

/// A drover on a fresh home and DAG folder, plus a scratch folder (outside
/// the watched DAG folder) for gates and pid files.
struct Drover {
    d: Running,
    api: Api,
    dags: PathBuf,
    scratch: PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts drover on a DAG folder holding `files`, see [`put`].
async fn drover(files: &[(&str, &str)]) -> Drover {
    let dir = tempfile::tempdir().expect("tempdir");
    let (home, dags, scratch) = (dir.path().join("home"), dir.path().join("dags"), dir.path().join("scratch"));
    for p in [&home, &dags, &scratch] {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    for (name, text) in files {
        put(&dags, &scratch, name, text);
    }
    let d = start(&home, &dags, None).await.expect("drover starts");
    let api = Api::new(&d);
    Drover { d, api, dags, scratch, _dir: dir }
}

/// Writes a file into the DAG folder with `@SCRATCH@` replaced by the scratch
/// folder; names ending in `.sh` become executable scripts.
fn put(dags: &Path, scratch: &Path, name: &str, text: &str) {
    let text = text.replace("@SCRATCH@", &scratch.display().to_string());
    if name.ends_with(".sh") {
        script(dags, name, &text);
    } else {
        write(dags, name, &text);
    }
}

impl Drover {
    fn put(&self, name: &str, text: &str) {
        put(&self.dags, &self.scratch, name, text);
    }

    async fn run(&self, dag: &str, run: &str) -> RunRow {
        self.d.scheduler.store().get_run(dag, run).await.unwrap().expect("run exists")
    }

    async fn tis(&self, dag: &str, run: &str) -> BTreeMap<String, TaskInstanceRow> {
        let run = self.run(dag, run).await;
        let tis = self.d.scheduler.store().task_instances(run.id).await.unwrap();
        tis.into_iter().map(|t| (t.task_id.clone(), t)).collect()
    }

    async fn tries(&self, dag: &str, run: &str, task: &str) -> Vec<TryRow> {
        let ti = self.tis(dag, run).await.remove(task).expect("task instance exists");
        self.d.scheduler.store().tries(ti.id).await.unwrap()
    }

    /// Triggers a run and waits for its end; returns (run id, final state).
    async fn trigger_and_wait(&self, dag: &str) -> (String, String) {
        let run = self.api.trigger(dag, json!({})).await.expect("trigger");
        let state = self.api.wait_run(dag, &run, DEADLINE).await.expect("run ends");
        (run, state)
    }

    async fn runs(&self, dag: &str) -> Vec<RunRow> {
        self.d.scheduler.store().list_runs(dag, 1000, 0).await.unwrap()
    }
}

/// Now, in milliseconds since the epoch (the store's clock is the system clock).
fn now_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// Whether a process is still there (a zombie nobody reaped counts as gone).
fn process_alive(pid: i64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X'))
}

/// Waits until the process is gone.
async fn wait_gone(pid: i64, what: &str) {
    eventually(&format!("{what} (pid {pid}) is gone"), DEADLINE, || async { (!process_alive(pid)).then_some(()) }).await;
}

/// Reads the pid a script wrote to `file`.
fn read_pid(file: &Path) -> i64 {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e} (did the driver start?)", file.display()));
    text.trim().parse().expect("a pid")
}

/// The civil date (`YYYY-MM-DD`, UTC) of a day counted from the epoch.
fn date_of_day(days: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

const DAY_MS: i64 = 86_400_000;

const OK_SH: &str = "#!/bin/sh\necho ok \"$@\"\n";
const FAIL_SH: &str = "#!/bin/sh\necho failing on purpose >&2\nexit 3\n";
const SLEEP_SH: &str = "#!/bin/sh\nsleep \"$1\"\n";
/// Fails until its try number (first arg) reaches the second arg.
const FAIL_BEFORE_SH: &str = "#!/bin/sh\necho \"try $1\"\n[ \"$1\" -ge \"$2\" ]\n";
/// Writes its pid to the file named by its first arg, then hangs.
const HANG_SH: &str = "#!/bin/sh\necho $$ > \"$1.tmp\" && mv \"$1.tmp\" \"$1\"\nexec sleep 300\n";
/// Waits (at most about two minutes) until the file named by its first arg exists.
const GATE_SH: &str = "#!/bin/sh\ni=0\nwhile [ ! -e \"$1\" ]; do\n  i=$((i + 1))\n  [ \"$i\" -gt 2400 ] && exit 9\n  sleep 0.05\ndone\necho gate open\n";

// ---- dependencies ----------------------------------------------------------

const DIAMOND: &str = r#"
id = "diamond"

[defaults]
backend = "local"
deploy_mode = "cluster"
retries = 0

[[tasks]]
id = "a"
[tasks.application]
resource = "sleep.sh"
main_class = "drover.test.Sleep"
args = ["0.2"]

[[tasks]]
id = "b"
depends_on = ["a"]
[tasks.application]
resource = "sleep.sh"
main_class = "drover.test.Sleep"
args = ["1"]

[[tasks]]
id = "c"
depends_on = ["a"]
[tasks.application]
resource = "sleep.sh"
deploy_mode = "client"
args = ["1"]

[[tasks]]
id = "d"
depends_on = ["b", "c"]
[tasks.application]
resource = "sleep.sh"
main_class = "drover.test.Sleep"
args = ["0.2"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diamond_runs_each_task_once_and_joins_only_after_both_branches_end() {
    let h = drover(&[("diamond.toml", DIAMOND), ("sleep.sh", SLEEP_SH)]).await;
    let (run, state) = h.trigger_and_wait("diamond").await;
    assert_eq!(state, "success");

    let mut tries = BTreeMap::new();
    for task in ["a", "b", "c", "d"] {
        let t = h.tries("diamond", &run, task).await;
        assert_eq!(t.len(), 1, "task {task} ran exactly once: {t:#?}");
        assert_eq!(t[0].state, TryState::Success, "task {task}");
        tries.insert(task, t.into_iter().next().unwrap());
    }
    let start = |t: &str| tries[t].started_at.timestamp_millis();
    let end = |t: &str| tries[t].ended_at.expect("ended").timestamp_millis();
    for branch in ["b", "c"] {
        assert!(start(branch) >= end("a"), "{branch} started before a ended");
        assert!(start("d") >= end(branch), "d started {} ms before {branch} ended", end(branch) - start("d"));
    }
    // The two branches do not wait for each other.
    assert!(start("b") < end("c") && start("c") < end("b"), "b and c ran one after the other");

    // Exactly one cluster submission per cluster-mode try, and none for the client-mode one.
    let submitted: Vec<Option<String>> = h.d.cluster.submissions().into_iter().map(|s| s.submission_key).collect();
    assert_eq!(submitted.len(), 3, "submissions: {submitted:?}");
    for task in ["a", "b", "d"] {
        let key = &tries[task].submission_key;
        assert_eq!(submitted.iter().filter(|k| k.as_deref() == Some(key.as_str())).count(), 1, "task {task}'s submission");
    }
    assert!(!submitted.iter().any(|k| k.as_deref() == Some(tries["c"].submission_key.as_str())));
    h.d.shutdown().await;
}

// ---- retries ---------------------------------------------------------------

fn retrying_dag(id: &str, retries: u32, retry_delay: &str, max_retry_delay: &str, succeed_on: u32) -> String {
    format!(
        r#"
id = "{id}"

[defaults]
backend = "local"
deploy_mode = "client"

[[tasks]]
id = "flaky"
retries = {retries}
retry_delay = "{retry_delay}"
retry_exponential_backoff = true
max_retry_delay = "{max_retry_delay}"
[tasks.application]
resource = "fail_before.sh"
args = ["{{{{ try_number }}}}", "{succeed_on}"]
"#
    )
}

/// The scheduler stamps `next_try_at` from its clock a moment before the
/// store stamps the failed try's `ended_at`, so a gap can fall short of the
/// delay by that moment; this much is tolerated.
const STAMP_SLACK_MS: i64 = 50;

/// Gaps (ms) between each try's end and the next try's start.
fn retry_gaps(tries: &[TryRow]) -> Vec<i64> {
    tries
        .windows(2)
        .map(|w| w[1].started_at.timestamp_millis() - w[0].ended_at.expect("ended").timestamp_millis())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_task_is_retried_with_exponential_backoff_until_it_succeeds() {
    let dag = retrying_dag("flaky", 3, "1s", "10s", 3);
    let h = drover(&[("flaky.toml", &dag), ("fail_before.sh", FAIL_BEFORE_SH)]).await;
    let (run, state) = h.trigger_and_wait("flaky").await;
    assert_eq!(state, "success");

    let tries = h.tries("flaky", &run, "flaky").await;
    let states: Vec<TryState> = tries.iter().map(|t| t.state).collect();
    assert_eq!(states, [TryState::Failed, TryState::Failed, TryState::Success]);
    assert_eq!(tries.iter().map(|t| t.try_number).collect::<Vec<_>>(), [1, 2, 3]);
    let gaps = retry_gaps(&tries);
    assert!(gaps[0] >= 1000 - STAMP_SLACK_MS, "first retry after {} ms, want >= 1 s", gaps[0]);
    assert!(gaps[1] >= 2000 - STAMP_SLACK_MS, "second retry after {} ms, want >= 2 s (doubled)", gaps[1]);
    // The try number reached the application.
    assert!(h.api.log("flaky", &run, "flaky", 3).await.unwrap().contains("try 3"));
    h.d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_delay_is_capped_by_max_retry_delay() {
    // Uncapped, the delays would be 30 s and 60 s.
    let dag = retrying_dag("capped", 2, "30s", "2s", 3);
    let h = drover(&[("capped.toml", &dag), ("fail_before.sh", FAIL_BEFORE_SH)]).await;
    let mut changes = h.d.scheduler.subscribe();
    let run = h.api.trigger("capped", json!({})).await.unwrap();

    // While waiting for its first retry, the task shows when that will be.
    tokio::time::timeout(DEADLINE, async {
        loop {
            if let drover_scheduler::Change::Task { state, .. } = changes.recv().await.expect("changes")
                && state == "up_for_retry"
            {
                break;
            }
        }
    })
    .await
    .expect("the task goes up for retry");
    let ti = h.tis("capped", &run).await.remove("flaky").unwrap();
    let failed = h.tries("capped", &run, "flaky").await.remove(0);
    assert_eq!(ti.state, TiState::UpForRetry, "still waiting out its 2 s delay");
    let scheduled = ti.next_try_at.expect("next_try_at").timestamp_millis() - failed.ended_at.unwrap().timestamp_millis();
    assert!((2000 - STAMP_SLACK_MS..=2000).contains(&scheduled), "next try scheduled {scheduled} ms after the failure, want the 2 s cap");

    assert_eq!(h.api.wait_run("capped", &run, DEADLINE).await.unwrap(), "success");
    let tries = h.tries("capped", &run, "flaky").await;
    assert_eq!(tries.len(), 3);
    for (i, gap) in retry_gaps(&tries).into_iter().enumerate() {
        assert!(gap >= 2000 - STAMP_SLACK_MS, "retry {} after {gap} ms, want >= the 2 s cap", i + 1);
        assert!(gap < 7000, "retry {} after {gap} ms: the 2 s cap was not applied", i + 1);
    }
    h.d.shutdown().await;
}

// ---- timeouts --------------------------------------------------------------

fn hanging_dag(id: &str, mode: &str) -> String {
    format!(
        r#"
id = "{id}"

[[tasks]]
id = "hang"
backend = "local"
retries = 0
timeout = "2s"
[tasks.application]
resource = "hang.sh"
main_class = "drover.test.Hang"
deploy_mode = "{mode}"
args = ["@SCRATCH@/driver.pid"]
"#
    )
}

/// Checks the one try of a timed-out task; returns it.
async fn assert_timed_out(h: &Drover, dag: &str) -> TryRow {
    let (run, state) = h.trigger_and_wait(dag).await;
    assert_eq!(state, "failed");
    let tries = h.tries(dag, &run, "hang").await;
    assert_eq!(tries.len(), 1, "retries = 0: {tries:#?}");
    let t = tries.into_iter().next().unwrap();
    assert_eq!(t.state, TryState::Failed);
    let message = t.message.clone().unwrap_or_default();
    assert!(message.contains("timed out"), "message: {message}");
    assert_eq!(t.driver_state, DriverState::Killed);
    let history = h.d.scheduler.store().driver_events(t.id).await.unwrap();
    assert_eq!(history.last().map(|e| e.state), Some(DriverState::Killed), "history: {history:#?}");
    let (started, ended) = (t.started_at.timestamp_millis(), t.ended_at.unwrap().timestamp_millis());
    assert!(ended - started >= 2000, "ended {} ms after it started, before its 2 s timeout", ended - started);
    assert_eq!(h.tis(dag, &run).await["hang"].state, TiState::Failed);
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_driver_past_its_timeout_is_killed_on_the_cluster() {
    let dag = hanging_dag("hang_cluster", "cluster");
    let h = drover(&[("hang_cluster.toml", &dag), ("hang.sh", HANG_SH)]).await;
    let t = assert_timed_out(&h, "hang_cluster").await;

    let id = t.cluster_id.expect("the cluster gave the driver an id");
    let status: Value = standalone_status(&h.d.cluster, &id).await;
    assert_eq!(status["driverState"], "KILLED", "{status}");
    wait_gone(read_pid(&h.scratch.join("driver.pid")), "the driver process").await;
    h.d.shutdown().await;
}

/// max_active_tasks: six independent tasks, at most two at a time. The
/// tasks wait on a gate, so while it is shut exactly two have started and
/// four wait, queued with that reason; once it opens every task runs, and drover's own records show
/// no more than two tries overlapped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_active_tasks_caps_how_many_tasks_of_a_dag_run_at_once() {
    let mut dag = String::from("id = \"capped\"\nmax_active_tasks = 2\n[defaults]\nbackend = \"local\"\ndeploy_mode = \"client\"\n");
    for i in 0..6 {
        dag.push_str(&format!("\n[[tasks]]\nid = \"t{i}\"\n[tasks.application]\nresource = \"gate.sh\"\nargs = [\"@SCRATCH@/open\"]\n"));
    }
    let h = drover(&[("capped.toml", &dag), ("gate.sh", GATE_SH)]).await;
    let run = h.api.trigger("capped", json!({})).await.unwrap();
    let until = tokio::time::Instant::now() + DEADLINE;
    let started = loop {
        let tis = h.tis("capped", &run).await;
        let started: Vec<&str> = tis.values().filter(|t| !matches!(t.state, TiState::None | TiState::Queued)).map(|t| t.task_id.as_str()).collect();
        let queued: Vec<&str> = tis.values().filter_map(|t| t.queued_reason.as_deref()).collect();
        if started.len() >= 2 && queued.len() == 4 {
            assert!(queued.iter().all(|r| r.contains("max_active_tasks (2)")), "{queued:?}");
            break started.len();
        }
        assert!(tokio::time::Instant::now() < until, "two tasks never started: {tis:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(started, 2, "the cap is 2 and the gate is shut, so no task can have ended");
    std::fs::write(h.scratch.join("open"), "").unwrap();
    assert_eq!(h.api.wait_run("capped", &run, DEADLINE).await.unwrap(), "success");
    let mut spans = Vec::new();
    for i in 0..6 {
        let tries = h.tries("capped", &run, &format!("t{i}")).await;
        assert_eq!(tries.len(), 1);
        spans.push((tries[0].started_at, tries[0].ended_at.expect("ended")));
    }
    for (start, _) in &spans {
        let overlapping = spans.iter().filter(|(s, e)| s <= start && start < e).count();
        assert!(overlapping <= 2, "{overlapping} tries ran at once: {spans:#?}");
    }
    h.d.shutdown().await;
}

/// Airflow's dagrun_timeout: the run is failed, its running driver killed
/// on the cluster, and the task that had not started is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_its_dagrun_timeout_is_failed_and_its_driver_killed_on_the_cluster() {
    let dag = r#"
id = "bounded"
dagrun_timeout = "2s"

[[tasks]]
id = "hang"
backend = "local"
retries = 3
[tasks.application]
resource = "hang.sh"
main_class = "drover.test.Hang"
deploy_mode = "cluster"
args = ["@SCRATCH@/driver.pid"]

[[tasks]]
id = "after"
backend = "local"
depends_on = ["hang"]
[tasks.application]
resource = "hang.sh"
main_class = "drover.test.Hang"
deploy_mode = "cluster"
args = ["@SCRATCH@/after.pid"]
"#;
    let h = drover(&[("bounded.toml", dag), ("hang.sh", HANG_SH)]).await;
    let (run, state) = h.trigger_and_wait("bounded").await;
    assert_eq!(state, "failed");
    let tries = h.tries("bounded", &run, "hang").await;
    assert_eq!(tries.len(), 1, "nothing is retried in a timed-out run: {tries:#?}");
    let t = &tries[0];
    assert_eq!(t.driver_state, DriverState::Killed);
    let (started, ended) = (t.started_at.timestamp_millis(), t.ended_at.unwrap().timestamp_millis());
    assert!(ended - started >= 1000, "killed {} ms after it started", ended - started);
    let tis = h.tis("bounded", &run).await;
    assert_eq!((tis["hang"].state, tis["after"].state), (TiState::Failed, TiState::Skipped));
    let status: Value = standalone_status(&h.d.cluster, t.cluster_id.as_deref().expect("cluster id")).await;
    assert_eq!(status["driverState"], "KILLED", "{status}");
    wait_gone(read_pid(&h.scratch.join("driver.pid")), "the driver process").await;
    h.d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_mode_driver_past_its_timeout_is_killed_with_its_children() {
    let dag = hanging_dag("hang_client", "client");
    let h = drover(&[("hang_client.toml", &dag), ("hang.sh", HANG_SH)]).await;
    let t = assert_timed_out(&h, "hang_client").await;

    assert!(process_alive(i64::from(std::process::id())), "control: a live process looks alive");
    wait_gone(t.pid.expect("the try recorded its driver's pid"), "spark-submit").await;
    wait_gone(read_pid(&h.scratch.join("driver.pid")), "the application it started").await;
    h.d.shutdown().await;
}

// ---- failures downstream ---------------------------------------------------

const CHAIN: &str = r#"
id = "chain"

[defaults]
backend = "local"
deploy_mode = "cluster"
retries = 0

[[tasks]]
id = "a"
[tasks.application]
resource = "fail.sh"
main_class = "drover.test.Fail"

[[tasks]]
id = "b"
depends_on = ["a"]
[tasks.application]
resource = "ok.sh"
main_class = "drover.test.Ok"

[[tasks]]
id = "c"
depends_on = ["b"]
[tasks.application]
resource = "ok.sh"
main_class = "drover.test.Ok"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_task_marks_everything_downstream_upstream_failed_without_submitting_it() {
    let h = drover(&[("chain.toml", CHAIN), ("fail.sh", FAIL_SH), ("ok.sh", OK_SH)]).await;
    let (run, state) = h.trigger_and_wait("chain").await;
    assert_eq!(state, "failed");

    let tis = h.tis("chain", &run).await;
    assert_eq!(tis["a"].state, TiState::Failed);
    assert_eq!(tis["b"].state, TiState::UpstreamFailed);
    assert_eq!(tis["c"].state, TiState::UpstreamFailed);
    let api_tis = h.api.task_instances("chain", &run).await.unwrap();
    assert_eq!(api_tis["c"]["state"], "upstream_failed");

    let a = h.tries("chain", &run, "a").await;
    assert_eq!(a.len(), 1);
    for task in ["b", "c"] {
        assert!(h.tries("chain", &run, task).await.is_empty(), "{task} was tried");
    }
    let submitted = h.d.cluster.submissions();
    assert_eq!(submitted.len(), 1, "only a reached the cluster: {submitted:#?}");
    assert_eq!(submitted[0].submission_key.as_deref(), Some(a[0].submission_key.as_str()));
    h.d.shutdown().await;
}

// ---- cron and catch-up -----------------------------------------------------

fn daily_dag(id: &str, start_date: &str, catchup: bool) -> String {
    format!(
        r#"
id = "{id}"
schedule = "0 0 * * *"
start_date = "{start_date}"
catchup = {catchup}

[[tasks]]
id = "ok"
backend = "local"
[tasks.application]
resource = "ok.sh"
deploy_mode = "client"
args = ["{{{{ ds }}}}"]
"#
    )
}

/// Epoch milliseconds of every midnight (UTC) from `first_day` up to now.
fn midnights_since(first_day: i64) -> BTreeSet<i64> {
    (first_day..=now_ms().div_euclid(DAY_MS)).map(|d| d * DAY_MS).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catchup_creates_a_run_for_every_missed_midnight() {
    let first_day = now_ms().div_euclid(DAY_MS) - 3;
    let dag = daily_dag("daily_catchup", &date_of_day(first_day), true);
    let h = drover(&[("daily_catchup.toml", &dag), ("ok.sh", OK_SH)]).await;

    let runs = eventually("a run exists for each midnight since the start date", DEADLINE, || async {
        let runs = h.runs("daily_catchup").await;
        let dates: BTreeSet<i64> = runs.iter().map(|r| r.logical_date.timestamp_millis()).collect();
        (dates == midnights_since(first_day)).then_some(runs)
    })
    .await;
    assert_eq!(runs.len(), 4, "start date 3 days ago at midnight: 4 midnights up to now");
    for r in &runs {
        assert_eq!(r.run_type, "scheduled");
        assert_eq!(r.run_id, format!("scheduled__{}", r.logical_date.to_rfc3339()));
        assert_eq!(h.api.wait_run("daily_catchup", &r.run_id, DEADLINE).await.unwrap(), "success", "{}", r.run_id);
    }
    let dates: BTreeSet<i64> = h.runs("daily_catchup").await.iter().map(|r| r.logical_date.timestamp_millis()).collect();
    assert_eq!(dates, midnights_since(first_day), "no other runs appeared");
    h.d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_catchup_only_the_latest_missed_midnight_runs() {
    let first_day = now_ms().div_euclid(DAY_MS) - 3;
    let dag = daily_dag("daily_latest", &date_of_day(first_day), false);
    let h = drover(&[("daily_latest.toml", &dag), ("ok.sh", OK_SH)]).await;

    let run = eventually("a scheduled run exists", DEADLINE, || async { h.runs("daily_latest").await.pop() }).await;
    assert_eq!(h.api.wait_run("daily_latest", &run.run_id, DEADLINE).await.unwrap(), "success");
    let runs = h.runs("daily_latest").await;
    assert_eq!(runs.len(), 1, "runs: {:#?}", runs.iter().map(|r| &r.run_id).collect::<Vec<_>>());
    let latest = *midnights_since(first_day).last().unwrap();
    assert_eq!(runs[0].logical_date.timestamp_millis(), latest, "{}", runs[0].run_id);
    assert_eq!(runs[0].run_type, "scheduled");
    h.d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seconds_schedule_keeps_firing_while_running_until_paused() {
    let start_date = date_of_day(now_ms().div_euclid(DAY_MS) - 1);
    let dag = format!(
        r#"
id = "every_two_seconds"
schedule = "*/2 * * * * *"
start_date = "{start_date}"
catchup = false

[[tasks]]
id = "ok"
backend = "local"
[tasks.application]
resource = "ok.sh"
deploy_mode = "client"
"#
    );
    let h = drover(&[("every_two_seconds.toml", &dag), ("ok.sh", OK_SH)]).await;
    let dag = "every_two_seconds";

    let first = eventually("the first scheduled run exists", DEADLINE, || async { h.runs(dag).await.pop() }).await;
    // Without catch-up the first run is for the latest tick, not one from the start date.
    let behind = first.created_at.timestamp_millis() - first.logical_date.timestamp_millis();
    assert!((0..4000).contains(&behind), "first run {} created {behind} ms after its tick", first.run_id);

    let first_date = first.logical_date.timestamp_millis();
    let next = eventually("a later tick creates another run", DEADLINE, || async {
        h.runs(dag).await.into_iter().find(|r| r.logical_date.timestamp_millis() > first_date)
    })
    .await;
    assert_eq!(next.run_type, "scheduled");
    assert_eq!(next.logical_date.timestamp_millis() % 2000, 0, "{}", next.run_id);

    let r = h
        .api
        .http
        .patch(format!("{}/api/v2/dags/{dag}", h.api.base))
        .json(&json!({ "is_paused": true }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "pause: {}", r.status());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["is_paused"], true);

    let paused_at = h.runs(dag).await.len();
    // A negative: watch for well over two ticks that no run appears.
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < until {
        assert_eq!(h.runs(dag).await.len(), paused_at, "a run was created while paused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let runs = h.runs(dag).await;
    let dates: BTreeSet<i64> = runs.iter().map(|r| r.logical_date.timestamp_millis()).collect();
    assert_eq!(dates.len(), runs.len(), "one run per tick");
    assert!(runs.iter().all(|r| r.logical_date.timestamp_millis() >= first_date), "no run for a tick before the first");
    h.d.shutdown().await;
}

// ---- DAG files changing under a running scheduler --------------------------

const EVOLVING_V1: &str = r#"
id = "evolving"

[defaults]
backend = "local"
deploy_mode = "client"

[[tasks]]
id = "first"
[tasks.application]
resource = "gate.sh"
args = ["@SCRATCH@/gate"]

[[tasks]]
id = "second"
depends_on = ["first"]
[tasks.application]
resource = "ok.sh"
args = ["old-args"]
"#;

/// The second version: `second` gets new args, and a `third` task follows it.
fn evolving_v2() -> String {
    EVOLVING_V1.replace("old-args", "new-args")
        + "\n[[tasks]]\nid = \"third\"\ndepends_on = [\"second\"]\n[tasks.application]\nresource = \"ok.sh\"\nargs = [\"third\"]\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_run_keeps_its_dag_version_when_the_file_changes() {
    let h = drover(&[("evolving.toml", EVOLVING_V1), ("gate.sh", GATE_SH), ("ok.sh", OK_SH)]).await;
    let old_token = h.api.get("/api/v2/dags/evolving").await.unwrap()["file_token"].clone();
    let old_run = h.api.trigger("evolving", json!({})).await.unwrap();
    eventually("the first task is running", DEADLINE, || async {
        let tis = h.api.task_instances("evolving", &old_run).await.ok()?;
        (tis["first"]["state"] == "running").then_some(())
    })
    .await;

    h.put("evolving.toml", &evolving_v2());
    let dag = eventually("the scheduler has the new version", DEADLINE, || async {
        let dag = h.api.get("/api/v2/dags/evolving").await.ok()?;
        (dag["tasks"].as_array()?.len() == 3).then_some(dag)
    })
    .await;
    assert_ne!(dag["file_token"], old_token);
    assert_eq!(h.run("evolving", &old_run).await.state, RunState::Running, "the gate holds the old run");

    std::fs::write(h.scratch.join("gate"), "").unwrap();
    assert_eq!(h.api.wait_run("evolving", &old_run, DEADLINE).await.unwrap(), "success");
    let tis = h.tis("evolving", &old_run).await;
    assert_eq!(tis.keys().collect::<Vec<_>>(), ["first", "second"], "the old run keeps the old tasks");
    let log = h.api.log("evolving", &old_run, "second", 1).await.unwrap();
    assert!(log.contains("ok old-args"), "the old run keeps the old args: {log}");

    let (new_run, state) = h.trigger_and_wait("evolving").await;
    assert_eq!(state, "success");
    let tis = h.tis("evolving", &new_run).await;
    assert_eq!(tis.keys().collect::<Vec<_>>(), ["first", "second", "third"]);
    assert!(tis.values().all(|t| t.state == TiState::Success));
    let log = h.api.log("evolving", &new_run, "second", 1).await.unwrap();
    assert!(log.contains("ok new-args"), "the new run has the new args: {log}");
    h.d.shutdown().await;
}

fn one_task_dag(id: &str) -> String {
    format!(
        r#"
id = "{id}"

[[tasks]]
id = "ok"
backend = "local"
[tasks.application]
resource = "ok.sh"
deploy_mode = "client"
"#
    )
}

/// Line 5 opens a string it never closes.
const BROKEN: &str = "id = \"fragile\"\n\n[[tasks]]\nbackend = \"local\"\nid = \"never closed\n";

async fn dag_ids(h: &Drover) -> BTreeSet<String> {
    let body = h.api.get("/api/v2/dags").await.unwrap();
    body["dags"].as_array().unwrap().iter().map(|d| d["dag_id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_and_removed_files_leave_the_other_dags_running() {
    let (steady, fragile, doomed) = (one_task_dag("steady"), one_task_dag("fragile"), one_task_dag("doomed"));
    let h = drover(&[("steady.toml", &steady), ("fragile.toml", &fragile), ("doomed.toml", &doomed), ("ok.sh", OK_SH)]).await;
    assert_eq!(dag_ids(&h).await, BTreeSet::from(["doomed".into(), "fragile".into(), "steady".into()]));

    h.put("fragile.toml", BROKEN);
    std::fs::remove_file(h.dags.join("doomed.toml")).unwrap();
    let error = eventually("the broken file is reported and the removed DAG is gone", DEADLINE, || async {
        let errors = h.api.get("/api/v2/importErrors").await.ok()?;
        let error = errors["import_errors"]
            .as_array()?
            .iter()
            .find(|e| e["filename"].as_str().is_some_and(|f| f.ends_with("fragile.toml")))?
            .clone();
        (!dag_ids(&h).await.contains("doomed")).then_some(error)
    })
    .await;
    let trace = error["stack_trace"].as_str().unwrap();
    assert!(trace.contains("fragile.toml:5:"), "the error names the file and line: {trace}");
    assert!(dag_ids(&h).await.contains("steady"));

    let (_, state) = h.trigger_and_wait("steady").await;
    assert_eq!(state, "success", "a broken neighbour does not stop a good DAG");

    h.put("fragile.toml", &fragile);
    eventually("the fixed file loads again", DEADLINE, || async {
        let errors = h.api.get("/api/v2/importErrors").await.ok()?;
        (errors["total_entries"] == 0 && dag_ids(&h).await.contains("fragile")).then_some(())
    })
    .await;
    h.d.shutdown().await;
}

// ---- max_active_runs -------------------------------------------------------

const ONE_AT_A_TIME: &str = r#"
id = "one_at_a_time"
max_active_runs = 1

[[tasks]]
id = "nap"
backend = "local"
[tasks.application]
resource = "sleep.sh"
deploy_mode = "client"
args = ["1"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_active_runs_one_runs_triggered_runs_one_after_another() {
    let h = drover(&[("one_at_a_time.toml", ONE_AT_A_TIME), ("sleep.sh", SLEEP_SH)]).await;
    let dag = "one_at_a_time";
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(h.api.trigger(dag, json!({})).await.unwrap());
    }
    for id in &ids {
        assert_eq!(h.api.wait_run(dag, id, DEADLINE).await.unwrap(), "success", "{id}");
    }

    let mut runs = Vec::new();
    for id in &ids {
        runs.push(h.run(dag, id).await);
    }
    runs.sort_by_key(|r| r.start_date.expect("started"));
    let first_end = runs[0].end_date.unwrap().timestamp_millis();
    assert!(
        runs.iter().all(|r| r.created_at.timestamp_millis() < first_end),
        "all three were waiting before the first ended"
    );
    for w in runs.windows(2) {
        let (prev_end, next_start) = (w[0].end_date.unwrap().timestamp_millis(), w[1].start_date.unwrap().timestamp_millis());
        assert!(next_start >= prev_end, "{} started {} ms before {} ended", w[1].run_id, prev_end - next_start, w[0].run_id);
    }
    h.d.shutdown().await;
}
