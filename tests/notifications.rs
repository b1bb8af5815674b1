//! Notifications (issue 14 part 1) against real receivers: an SMTP server
//! from PyPI (aiosmtpd) that files each mail in a maildir, and an HTTP
//! receiver in this test for the webhook and Slack formats. drover runs as a
//! child process so it can be killed with SIGKILL.
//!
//! The promises pinned: on_failure, on_retry, on_success and the run
//! callbacks reach every kind of notifier; a receiver that fails first gets
//! exactly one accepted delivery after the retry; a delivery drover gave up
//! on shows as failed in the API; a notification committed before a kill -9
//! is delivered once after the restart; and a kill while the receiver holds
//! the request repeats it with the same idempotency key (at-least-once, the
//! honest bound over HTTP).

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use tokio::process::{Child, Command};

use support::child::{DROVER, kill9, spawn_with_url};
use support::drover::{Api, TEST_TOKEN, free_port, plugin_cache, write};

const DEADLINE: Duration = Duration::from_secs(60);

/// What the receiver does with a request.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    Ok,
    /// 500 Internal Server Error.
    Fail,
    /// Never answers (the sender is killed meanwhile).
    Hold,
}

#[derive(Debug, Clone)]
struct Received {
    path: String,
    key: String,
    body: Value,
    answered_ok: bool,
}

/// An HTTP receiver for webhooks: records every request and answers each as
/// `plan` says (the n-th request gets `plan[n]`, later ones 200).
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<tokio::sync::Notify>,
}

impl Receiver {
    async fn start(plan: Vec<Answer>) -> Receiver {
        Self::start_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), plan)
    }

    fn start_on(listener: tokio::net::TcpListener, plan: Vec<Answer>) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let arrived: Arc<tokio::sync::Notify> = Arc::default();
        let plan = Arc::new(plan);
        let r = Receiver { addr, got: got.clone(), arrived: arrived.clone() };
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (got, arrived, plan) = (got.clone(), arrived.clone(), plan.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (got, arrived, plan) = (got.clone(), arrived.clone(), plan.clone());
                        async move {
                            let path = req.uri().path().to_string();
                            let key = req
                                .headers()
                                .get("idempotency-key")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_string();
                            let bytes = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                            let answer = {
                                let mut got = got.lock().unwrap();
                                let answer = plan.get(got.len()).copied().unwrap_or(Answer::Ok);
                                got.push(Received { path, key, body, answered_ok: answer == Answer::Ok });
                                answer
                            };
                            arrived.notify_waiters();
                            match answer {
                                Answer::Ok => {}
                                Answer::Fail => {
                                    return Ok::<_, Infallible>(
                                        Response::builder()
                                            .status(StatusCode::INTERNAL_SERVER_ERROR)
                                            .body(Full::new(Bytes::from("receiver down for a moment")))
                                            .unwrap(),
                                    );
                                }
                                Answer::Hold => std::future::pending::<()>().await,
                            }
                            Ok(Response::new(Full::new(Bytes::from("ok"))))
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        r
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `pred` holds over what arrived.
    async fn wait_for(&self, what: &str, pred: impl Fn(&[Received]) -> bool) -> Result<Vec<Received>> {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let arrived = self.arrived.notified();
            let got = self.got();
            if pred(&got) {
                return Ok(got);
            }
            if tokio::time::timeout_at(until, arrived).await.is_err() {
                bail!("receiver: no {what} within {DEADLINE:?}; got {got:#?}");
            }
        }
    }
}

/// aiosmtpd from PyPI, filing each mail it receives in `maildir/new`.
struct SmtpServer {
    /// Killed when the test drops it.
    _child: Child,
    port: u16,
    maildir: PathBuf,
}

impl SmtpServer {
    async fn start(dir: &Path) -> Result<SmtpServer> {
        let python = support::peers::python_with("aiosmtpd")?;
        let port = free_port();
        let maildir = dir.join("maildir");
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting aiosmtpd")?;
        let until = tokio::time::Instant::now() + DEADLINE;
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if tokio::time::Instant::now() > until {
                bail!("aiosmtpd did not listen on {port} within {DEADLINE:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(SmtpServer { _child: child, port, maildir })
    }

    fn mails(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.maildir.join("new"))
            .map(|d| d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect())
            .unwrap_or_default();
        out.sort();
        out
    }
}

/// `drover standalone` (its own stand-in cluster) on `home` with `config`.
/// The first start compiles the bundled plugins into the shared cache; the
/// tests wait for that one instead of all compiling at once.
async fn start_drover(home: &Path, dags: &Path, config: &Path, env: &[(&str, &str)]) -> Result<(Child, Api)> {
    static WARM: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    WARM.get_or_try_init(|| async {
        let dir = tempfile::tempdir()?;
        let empty = dir.path().join("dags");
        std::fs::create_dir_all(&empty)?;
        let (mut child, _) = spawn(&dir.path().join("home"), &empty, None, &[]).await?;
        kill9(&mut child).await
    })
    .await?;
    spawn(home, dags, Some(config), env).await
}

async fn spawn(home: &Path, dags: &Path, config: Option<&Path>, env: &[(&str, &str)]) -> Result<(Child, Api)> {
    let mut cmd = Command::new(DROVER);
    cmd.args(["standalone", "--port", "0"])
        .arg("--home")
        .arg(home)
        .arg("--dags")
        .arg(dags)
        .args(config.map(|c| ["--config".as_ref(), c.as_os_str()]).into_iter().flatten())
        .arg("--plugin-cache")
        .arg(plugin_cache())
        .env("DROVER_LOG", "warn")
        .env("DROVER_API_TOKEN", TEST_TOKEN);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (child, url) = spawn_with_url(cmd, "drover is running").await?;
    Ok((child, Api::with_token(&url, TEST_TOKEN)))
}

/// Waits until the notifications API lists what `pred` wants.
async fn wait_notifications(api: &Api, query: &str, pred: impl Fn(&[Value]) -> bool) -> Result<Vec<Value>> {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let body = api.get(&format!("/api/v2/notifications{query}")).await?;
        let list = body["notifications"].as_array().cloned().unwrap_or_default();
        if pred(&list) {
            return Ok(list);
        }
        if tokio::time::Instant::now() > until {
            bail!("notifications{query}: still {list:#?} after {DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn task_dag(id: &str, resource: &str, extra: &str) -> String {
    format!(
        "id = \"{id}\"\n{extra}\n[[tasks]]\nid = \"t\"\nbackend = \"local\"\nretries = 1\nretry_delay = \"100ms\"\n\
         [tasks.application]\nresource = \"{resource}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failure_retry_and_success_reach_webhook_slack_and_email() -> Result<()> {
    let root = tempfile::tempdir()?;
    let smtp = SmtpServer::start(root.path()).await?;
    let receiver = Receiver::start(vec![]).await;
    let dags = root.path().join("dags");
    std::fs::create_dir_all(&dags)?;
    write(
        &dags,
        "flaky.toml",
        &task_dag(
            "flaky",
            "/bin/false",
            "on_retry = [\"slack\"]\non_failure = [\"hook\", \"mail\"]\non_run_failure = [\"hook\"]",
        ),
    );
    write(&dags, "fine.toml", &task_dag("fine", "/bin/true", "on_success = [\"hook\"]\non_run_success = [\"slack\"]"));
    let config = write(
        root.path(),
        "drover.toml",
        &format!(
            "[notifiers.hook]\nkind = \"webhook\"\nurl = \"{}\"\n\n\
             [notifiers.slack]\nkind = \"slack\"\nurl_env = \"TEST_SLACK_URL\"\n\n\
             [notifiers.mail]\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\nsmtp_tls = \"none\"\n\
             from = \"drover@example.com\"\nto = [\"oncall@example.com\"]\n",
            receiver.url("/hook"),
            smtp.port
        ),
    );
    let slack_url = receiver.url("/slack/T000/B000/SECRETTOKEN");
    let (mut drover, api) =
        start_drover(&root.path().join("home"), &dags, &config, &[("TEST_SLACK_URL", &slack_url)]).await?;

    let flaky = api.trigger("flaky", serde_json::json!({})).await?;
    let fine = api.trigger("fine", serde_json::json!({})).await?;
    assert_eq!(api.wait_run("flaky", &flaky, DEADLINE).await?, "failed");
    assert_eq!(api.wait_run("fine", &fine, DEADLINE).await?, "success");

    let got = receiver.wait_for("five deliveries", |g| g.len() >= 5).await?;
    let find = |path: &str, event: &str| {
        got.iter().filter(|r| r.path.starts_with(path) && (event.is_empty() || r.body["event"] == event)).cloned().collect::<Vec<_>>()
    };
    // The webhook: on_failure of the task after its retry, the run's failure,
    // the other DAG's task success.
    let failed = find("/hook", "on_failure");
    assert_eq!(failed.len(), 1, "{got:#?}");
    let b = &failed[0].body;
    assert_eq!((b["dag_id"].as_str(), b["run_id"].as_str(), b["task_id"].as_str()), (Some("flaky"), Some(flaky.as_str()), Some("t")));
    assert_eq!((b["try_number"].as_i64(), b["state"].as_str()), (Some(2), Some("failed")));
    assert_eq!(b["idempotency_key"].as_str(), Some(failed[0].key.as_str()), "the key is in the body and the header");
    let task_url = b["task_url"].as_str().unwrap_or_default();
    assert!(task_url.starts_with(&format!("{}/#/dags/flaky/runs/", api.base)) && task_url.ends_with("/tasks/t"), "{b}");
    assert!(b["timestamp"].is_string() && b.get("cluster_id").is_some() && b.get("tracking_url").is_some(), "{b}");
    let run_failed = find("/hook", "on_run_failure");
    assert_eq!(run_failed.len(), 1);
    assert_eq!((run_failed[0].body["task_id"].clone(), run_failed[0].body["state"].as_str()), (Value::Null, Some("failed")));
    assert_eq!(find("/hook", "on_success").len(), 1);
    // Slack: Slack's incoming-webhook shape, for the retry and the run success.
    let slack = find("/slack", "");
    assert_eq!(slack.len(), 2, "{slack:#?}");
    let texts: Vec<&str> = slack.iter().filter_map(|r| r.body["text"].as_str()).collect();
    assert!(texts.iter().any(|t| t.contains("task flaky.t failed and will be retried (try 1")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains(&format!("run {fine} of fine succeeded"))), "{texts:?}");
    assert!(slack.iter().all(|r| r.body["blocks"][0]["type"] == "section"));

    // Email: one mail for the task's failure, through the real SMTP server.
    let until = tokio::time::Instant::now() + DEADLINE;
    while smtp.mails().is_empty() {
        assert!(tokio::time::Instant::now() < until, "no mail within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert!(mails[0].contains("Subject: [drover] task flaky.t failed (try 2"), "{}", mails[0]);
    assert!(mails[0].contains("To: oncall@example.com"), "{}", mails[0]);
    assert!(mails[0].contains("/#/dags/flaky/runs/"), "{}", mails[0]);

    // The API lists all six as sent, and never the Slack URL's token.
    let sent = wait_notifications(&api, "?state=sent", |l| l.len() == 6).await?;
    assert!(sent.iter().all(|n| n["attempts"] == 1 && n["last_error"].is_null()), "{sent:#?}");
    let text = serde_json::to_string(&api.get("/api/v2/notifications").await?)?;
    assert!(!text.contains("SECRETTOKEN"), "a secret leaked into the API: {text}");

    kill9(&mut drover).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_that_fails_first_gets_one_delivery_and_a_dead_one_shows_failed() -> Result<()> {
    let root = tempfile::tempdir()?;
    let receiver = Receiver::start(vec![Answer::Fail]).await;
    let dead_port = free_port();
    let dags = root.path().join("dags");
    std::fs::create_dir_all(&dags)?;
    write(&dags, "fine.toml", &task_dag("fine", "/bin/true", "on_success = [\"hook\", \"dead\"]"));
    let config = write(
        root.path(),
        "drover.toml",
        &format!(
            "[notifiers.hook]\nkind = \"webhook\"\nurl = \"{}\"\n\n\
             [notifiers.dead]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{dead_port}/nobody\"\nmax_attempts = 2\n",
            receiver.url("/hook")
        ),
    );
    let (mut drover, api) = start_drover(&root.path().join("home"), &dags, &config, &[]).await?;
    let run = api.trigger("fine", serde_json::json!({})).await?;
    assert_eq!(api.wait_run("fine", &run, DEADLINE).await?, "success");

    let sent = wait_notifications(&api, "?state=sent", |l| l.len() == 1).await?;
    assert_eq!(sent[0]["notifier"], "hook");
    assert_eq!(sent[0]["attempts"], 2, "{sent:#?}");
    assert!(sent[0]["last_error"].as_str().unwrap_or_default().contains("500"), "{sent:#?}");
    let got = receiver.got();
    assert_eq!(got.len(), 2, "one refused attempt, one accepted: {got:#?}");
    assert_eq!(got.iter().filter(|r| r.answered_ok).count(), 1);
    assert_eq!(got[0].key, got[1].key, "a retry is the same notification");

    let failed = wait_notifications(&api, "?state=failed", |l| l.len() == 1).await?;
    assert_eq!((failed[0]["notifier"].as_str(), failed[0]["attempts"].as_i64()), (Some("dead"), Some(2)));
    let error = failed[0]["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("error sending request") && !error.contains("nobody"), "the URL is never shown: {error}");

    // Deliveries by notifier and outcome in /metrics, counted from the outbox.
    let metrics = api.http.get(format!("{}/metrics", api.base)).send().await?.text().await?;
    for line in ["drover_notifications{notifier=\"hook\",status=\"sent\"} 1", "drover_notifications{notifier=\"dead\",status=\"failed\"} 1"] {
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in /metrics:\n{metrics}");
    }
    kill9(&mut drover).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notification_committed_before_a_kill_9_is_delivered_once_after_restart() -> Result<()> {
    let root = tempfile::tempdir()?;
    let home = root.path().join("home");
    // Nothing listens on the receiver's port until drover has been killed.
    let port = free_port();
    let dags = root.path().join("dags");
    std::fs::create_dir_all(&dags)?;
    write(&dags, "fine.toml", &task_dag("fine", "/bin/true", "on_success = [\"hook\"]"));
    let config = write(
        root.path(),
        "drover.toml",
        &format!("[notifiers.hook]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\n"),
    );
    let (mut drover, api) = start_drover(&home, &dags, &config, &[]).await?;
    let run = api.trigger("fine", serde_json::json!({})).await?;
    assert_eq!(api.wait_run("fine", &run, DEADLINE).await?, "success");
    wait_notifications(&api, "?state=pending", |l| l.len() == 1 && l[0]["attempts"].as_i64() >= Some(1)).await?;
    kill9(&mut drover).await?;

    let receiver = Receiver::start_on(tokio::net::TcpListener::bind(("127.0.0.1", port)).await?, vec![]);
    let (mut drover, api) = start_drover(&home, &dags, &config, &[]).await?;
    wait_notifications(&api, "?state=sent", |l| l.len() == 1).await?;
    let got = receiver.got();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!((got[0].body["event"].as_str(), got[0].body["run_id"].as_str()), (Some("on_success"), Some(run.as_str())));
    kill9(&mut drover).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_9_during_the_send_repeats_it_with_the_same_idempotency_key() -> Result<()> {
    let root = tempfile::tempdir()?;
    let home = root.path().join("home");
    let receiver = Receiver::start(vec![Answer::Hold]).await;
    let dags = root.path().join("dags");
    std::fs::create_dir_all(&dags)?;
    write(&dags, "fine.toml", &task_dag("fine", "/bin/true", "on_success = [\"hook\"]"));
    let config = write(
        root.path(),
        "drover.toml",
        &format!("[notifiers.hook]\nkind = \"webhook\"\nurl = \"{}\"\n", receiver.url("/hook")),
    );
    let (mut drover, api) = start_drover(&home, &dags, &config, &[]).await?;
    let run = api.trigger("fine", serde_json::json!({})).await?;
    receiver.wait_for("the held request", |g| g.len() == 1).await?;
    kill9(&mut drover).await?;

    let (mut drover, api) = start_drover(&home, &dags, &config, &[]).await?;
    assert_eq!(api.wait_run("fine", &run, DEADLINE).await?, "success");
    wait_notifications(&api, "?state=sent", |l| l.len() == 1).await?;
    let got = receiver.got();
    assert_eq!(got.len(), 2, "sent again after the restart: {got:#?}");
    assert_eq!(got[0].key, got[1].key, "with the same idempotency key, so the receiver can drop the repeat");
    assert_eq!(got.iter().filter(|r| r.answered_ok).count(), 1);
    kill9(&mut drover).await?;
    Ok(())
}
