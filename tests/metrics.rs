//! /metrics and /api/v2/monitor/health (issue 14 part 2): the series a run
//! leaves, checked by Prometheus's own tools: the exposition passes
//! `promtool check metrics`, and a real Prometheus (the Debian package,
//! which `.ci/run` installs) scrapes drover and answers a PromQL query. The
//! health endpoint follows the scheduler loop's real heartbeat: a stalled
//! loop is unhealthy, and healthy again once it turns.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use support::drover::{Api, repo_dags, script, serve_args, write};

const DEADLINE: Duration = Duration::from_secs(120);

/// drover standalone with a short health threshold (the loop beats every
/// 1/6 of it), so a stall shows within seconds.
async fn start(home: &Path, dags: &Path) -> drover::standalone::Running {
    drover::standalone::start(support::drover::options(drover::serve::ServeArgs {
        scheduler_health_threshold: Duration::from_secs(2),
        ..serve_args(home, dags)
    }))
    .await
    .unwrap()
}

/// One sample of the exposition: the value of the line that starts with
/// `series` (name and labels exactly as drover writes them).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

async fn scrape(api: &Api) -> (String, String) {
    let r = api.http.get(format!("{}/metrics", api.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ctype = r.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_string();
    (ctype, r.text().await.unwrap())
}

fn promtool() -> PathBuf {
    PathBuf::from(std::env::var("DROVER_PROMTOOL").unwrap_or_else(|_| "promtool".into()))
}

fn prometheus() -> PathBuf {
    PathBuf::from(std::env::var("DROVER_PROMETHEUS").unwrap_or_else(|_| "prometheus".into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_series_pass_promtool_and_a_real_prometheus_scrapes_them() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "hello.sh", "#!/bin/sh\necho hello\n");
    script(dags.path(), "sleepy.sh", "#!/bin/sh\nsleep 300\n");
    write(
        dags.path(),
        "watched.toml",
        r#"
id = "watched"
[defaults]
backend = "local"
[[tasks]]
id = "hello"
[tasks.application]
resource = "hello.sh"
main_class = "Hello"
deploy_mode = "cluster"
[[tasks]]
id = "sleepy"
depends_on = ["hello"]
[tasks.application]
resource = "sleepy.sh"
main_class = "Sleepy"
deploy_mode = "cluster"
"#,
    );
    let d = start(home.path(), dags.path()).await;
    let api = Api::new(&d);
    let run = api.trigger("watched", json!({})).await.unwrap();
    // Once sleepy's driver runs, kill it: the run ends failed, with one
    // success, one kill and two submissions behind it.
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let running = api
            .tries("watched", &run, "sleepy")
            .await
            .ok()
            .and_then(|t| t.first().cloned())
            .is_some_and(|t| t["driver"]["state"] == "running");
        if running {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "sleepy's driver never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = api.kill("watched", &run, "sleepy").await;
    assert!(r.status().is_success(), "kill: {}", r.status());
    assert_eq!(api.wait_run("watched", &run, DEADLINE).await.unwrap(), "failed");

    let (ctype, text) = scrape(&Api::for_url(&d.api_url())).await;
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    println!("---- /metrics after the run ----\n{text}");
    let has = |series: &str, at_least: f64| {
        let v = sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
        assert!(v >= at_least, "{series} is {v}, expected at least {at_least}");
    };
    has(r#"drover_dag_runs{state="failed"}"#, 1.0);
    has(r#"drover_task_instances{state="success"}"#, 1.0);
    has(r#"drover_task_instances{state="failed"}"#, 1.0);
    has(r#"drover_drivers{backend="local",state="succeeded"}"#, 1.0);
    has(r#"drover_drivers{backend="local",state="killed"}"#, 1.0);
    has(r#"drover_driver_submissions_total{backend="local"}"#, 2.0);
    has(r#"drover_driver_kills_total{backend="local"}"#, 1.0);
    has(r#"drover_ready_to_submitted_seconds_count{backend="local"}"#, 2.0);
    has(r#"drover_plugin_calls_total{backend="local",call="submit"}"#, 2.0);
    has(r#"drover_plugin_calls_total{backend="local",call="kill"}"#, 1.0);
    has(r#"drover_plugin_call_duration_seconds_count{backend="local",call="submit"}"#, 2.0);
    has(r#"drover_plugin_call_errors_total{backend="local",call="submit"}"#, 0.0);
    has("drover_store_commit_seconds_count", 5.0);
    has("drover_scheduler_loop_lag_seconds_count", 1.0);
    has("drover_scheduler_heartbeat_timestamp_seconds", 1.0);
    has(r#"drover_pool_slots{pool="default_pool"}"#, 128.0);
    has(r#"drover_pool_open_slots{pool="default_pool"}"#, 128.0);
    has(r#"drover_pool_running_slots{pool="default_pool"}"#, 0.0);
    has(r#"drover_pool_queued_slots{pool="default_pool"}"#, 0.0);

    // promtool reads the exposition on stdin; lint problems fail it too.
    let mut check = tokio::process::Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("promtool (Debian package prometheus; .ci/run installs it)");
    tokio::io::AsyncWriteExt::write_all(check.stdin.as_mut().unwrap(), text.as_bytes()).await.unwrap();
    drop(check.stdin.take());
    let out = check.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A real Prometheus scrapes drover every second and answers PromQL.
    let prom = Prometheus::start(d.api_addr).await.unwrap();
    let value = prom
        .wait_for(r#"drover_driver_submissions_total{backend="local"}"#, |v| v >= 2.0)
        .await
        .unwrap();
    println!("Prometheus: drover_driver_submissions_total{{backend=\"local\"}} = {value}");
    prom.wait_for(r#"sum(drover_dag_runs{state="failed"})"#, |v| v >= 1.0).await.unwrap();
    prom.wait_for(r#"up{job="drover"}"#, |v| v == 1.0).await.unwrap();
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_unhealthy_while_the_loop_is_stalled_and_healthy_after() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags()).await;
    let api = Api::for_url(&d.api_url());
    let health = || async { api.get("/api/v2/monitor/health").await.unwrap() };
    let wait_for = |status: &'static str| {
        let health = &health;
        async move {
            let until = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                let h = health().await;
                if h["scheduler"]["status"] == status {
                    return h;
                }
                assert!(tokio::time::Instant::now() < until, "the scheduler never became {status}: {h}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let h = wait_for("healthy").await;
    assert_eq!(h["metadatabase"]["status"], "healthy", "{h}");
    // The idle loop still beats: the heartbeat moves on without any event.
    let first = heartbeat(&h);
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    while heartbeat(&health().await) <= first {
        assert!(tokio::time::Instant::now() < until, "an idle loop's heartbeat stood still");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let stall = d.scheduler.stall_for_test();
    let stalled = wait_for("unhealthy").await;
    let age = chrono::Utc::now() - heartbeat(&stalled);
    assert!(age >= chrono::Duration::seconds(2), "unhealthy with a heartbeat {age} old: {stalled}");
    // Stalled means stalled: the heartbeat does not move.
    assert_eq!(heartbeat(&health().await), heartbeat(&stalled));

    drop(stall);
    let h = wait_for("healthy").await;
    assert!(heartbeat(&h) > heartbeat(&stalled), "{h}");
    d.shutdown().await;
}

fn heartbeat(h: &Value) -> chrono::DateTime<chrono::Utc> {
    h["scheduler"]["latest_scheduler_heartbeat"]
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("no heartbeat in {h}"))
        .with_timezone(&chrono::Utc)
}

/// A Prometheus server of its own (config, data and port in a temporary
/// folder), stopped when dropped.
struct Prometheus {
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
    url: String,
    http: reqwest::Client,
}

impl Prometheus {
    async fn start(target: std::net::SocketAddr) -> anyhow::Result<Prometheus> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: drover\n    \
                 metrics_path: /metrics\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )?;
        let [port] = support::spark::free_ports::<1>()?;
        let log = std::fs::File::create(dir.path().join("prometheus.log"))?;
        let child = tokio::process::Command::new(prometheus())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("prometheus (Debian package prometheus; .ci/run installs it)")?;
        let prom = Prometheus {
            _child: child,
            _dir: dir,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let ready = prom.http.get(format!("{}/-/ready", prom.url)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(prom);
            }
            if tokio::time::Instant::now() > until {
                bail!("Prometheus never became ready: {}", support::spark::tail(&prom._dir.path().join("prometheus.log"), 20));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks `/api/v1/query` until the query's first sample satisfies `ok`.
    async fn wait_for(&self, query: &str, ok: impl Fn(f64) -> bool) -> anyhow::Result<f64> {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let r: Value = self
                .http
                .get(format!("{}/api/v1/query", self.url))
                .query(&[("query", query)])
                .send()
                .await?
                .json()
                .await?;
            let v = r["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok());
            if r["status"] == "success"
                && let Some(v) = v.filter(|v| ok(*v))
            {
                return Ok(v);
            }
            if tokio::time::Instant::now() > until {
                bail!("Prometheus never answered {query} as expected; last answer {r}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
