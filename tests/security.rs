//! Issue 9's secrets findings: a driver never sees drover's token or a
//! backend's secret; the login link is a one-time code, never the token; a
//! logged-out session stays dead; foreign Host names, framing and token
//! guessing are refused; drover's files are owner-only.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use drover_devcluster::DevCluster;
use support::drover::{Api, TEST_TOKEN, repo_dags, script, start, write};
use support::fixtures::dev_cluster;

const DEADLINE: Duration = Duration::from_secs(120);
const DROVER: &str = env!("CARGO_BIN_EXE_drover-cli-under-test");

async fn send(req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A DAG `envdump` whose one client-mode task prints its environment.
fn env_dump_dag(dags: &Path) {
    script(dags, "printenv", "#!/bin/sh\nenv\n");
    write(
        dags,
        "envdump.toml",
        r#"
id = "envdump"
[[tasks]]
id = "dump"
backend = "local"
[tasks.application]
resource = "printenv"
deploy_mode = "client"
env = { GREETING = "from-the-dag" }
"#,
    );
}

/// `drover standalone` as a process on `cluster`, with `env` added to its
/// environment; answers it with its API URL and every line it printed up
/// to and including the login link.
async fn standalone_process(
    home: &Path,
    dags: &Path,
    cluster: &DevCluster,
    config: Option<&Path>,
    env: &[(&str, &str)],
) -> anyhow::Result<(Child, String, Vec<String>, Logged)> {
    let mut cmd = Command::new(DROVER);
    cmd.args(["standalone", "--port", "0", "--cluster-url", &cluster.rest_url()])
        .arg("--home")
        .arg(home)
        .arg("--dags")
        .arg(dags)
        .arg("--plugin-cache")
        .arg(support::drover::plugin_cache())
        .env("DROVER_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let mut child = cmd.spawn().context("spawn drover")?;
    // The log goes to stderr: keep every line of it, to look for secrets.
    let logged = Logged::default();
    let mut log_lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
    let sink = logged.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = log_lines.next_line().await {
            sink.0.lock().unwrap().push(line);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let printed = tokio::time::timeout(Duration::from_secs(60), async {
        let mut printed = Vec::new();
        while let Some(line) = lines.next_line().await? {
            let done = line.contains("log in");
            printed.push(line);
            if done {
                return Ok::<_, anyhow::Error>(printed);
            }
        }
        bail!("drover exited after printing {printed:?}")
    })
    .await
    .context("no login line within 60 s")??;
    // Keep draining stdout so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let url = printed
        .iter()
        .flat_map(|l| l.split_whitespace())
        .find(|w| w.starts_with("http://"))
        .context("no URL printed")?
        .trim_end_matches('/')
        .to_string();
    Ok((child, url, printed, logged))
}

/// The lines a drover process wrote to stderr (its log) so far.
#[derive(Clone, Default)]
struct Logged(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Logged {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}


#[tokio::test]
async fn a_client_mode_driver_sees_neither_the_api_token_nor_any_backend_secret() {
    let root = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    env_dump_dag(dags.path());
    let cluster = dev_cluster(&root.path().join("cluster")).await;
    // A backend of the user's own whose secret comes from the environment.
    let config = write(
        root.path(),
        "drover.toml",
        &format!(
            r#"
[backends.vault]
plugin = "emr-serverless"
settings = {{ endpoint = "{}", region = "{}", application_id = "{}", execution_role_arn = "arn:aws:iam::123456789012:role/r", access_key_id = "AKIDEXAMPLE" }}
secret_env = {{ secret_access_key = "CLUSTER_SECRET_ACCESS_KEY" }}
"#,
            cluster.rest_url(),
            drover_devcluster::serverless::REGION,
            drover_devcluster::serverless::APPLICATION_ID,
        ),
    );
    let user_secret = "user-secret-4f1d9a";
    let stand_in_secret = "stand-in-secret-8c2e07";
    let (mut drover, url, _, _) = standalone_process(
        &root.path().join("home"),
        dags.path(),
        &cluster,
        Some(&config),
        &[
            ("DROVER_API_TOKEN", TEST_TOKEN),
            ("CLUSTER_SECRET_ACCESS_KEY", user_secret),
            ("DROVER_STANDIN_SECRET_ACCESS_KEY", stand_in_secret),
            ("LC_DROVER_PROBE", "a-locale-variable"),
        ],
    )
    .await
    .unwrap();
    let api = Api::with_token(&url, TEST_TOKEN);
    let backends = api.get("/api/v2/backends").await.unwrap();
    assert!(backends.to_string().contains("vault"), "the secret's backend is configured: {backends}");

    let run = api.trigger("envdump", json!({})).await.unwrap();
    assert_eq!(api.wait_run("envdump", &run, DEADLINE).await.unwrap(), "success");
    let log = api.log("envdump", &run, "dump", 1).await.unwrap();
    let names: Vec<&str> = log.lines().filter_map(|l| l.split_once('=').map(|(k, _)| k)).collect();
    assert!(names.contains(&"PATH"), "PATH reaches the driver: {log}");
    assert!(log.contains("LC_DROVER_PROBE=a-locale-variable"), "locale variables reach the driver: {log}");
    assert!(log.contains("GREETING=from-the-dag"), "the application's env reaches the driver: {log}");
    for (what, leaked) in [
        ("the API token", TEST_TOKEN),
        ("a backend's secret", user_secret),
        ("the stand-in's secret", stand_in_secret),
        ("the token's variable", "DROVER_API_TOKEN"),
    ] {
        assert!(!log.contains(leaked), "{what} reached the driver's log:\n{log}");
    }
    drover.kill().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn the_standalone_login_link_is_a_one_time_code_and_never_the_token() {
    let root = tempfile::tempdir().unwrap();
    let cluster = dev_cluster(&root.path().join("cluster")).await;
    let (mut drover, url, printed, logged) = standalone_process(
        &root.path().join("home"),
        &repo_dags(),
        &cluster,
        None,
        &[("DROVER_API_TOKEN", TEST_TOKEN), ("DROVER_LOG", "info")],
    )
    .await
    .unwrap();
    for line in &printed {
        assert!(!line.contains(TEST_TOKEN), "the token is printed: {line}");
    }

    let link = printed.iter().flat_map(|l| l.split_whitespace()).find(|w| w.contains("/#login=")).expect("a login link");
    let code = link.rsplit_once("#login=").unwrap().1;
    assert!(!code.is_empty());

    let login = format!("{url}/auth/login");
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let (status, _, body) = send(browser.post(&login).json(&json!({ "code": code }))).await;
    assert_eq!(status, 200, "the code logs in: {body}");
    let (_, _, body) = send(browser.get(format!("{url}/auth/session"))).await;
    assert_eq!(body["authenticated"], true, "{body}");

    let other = reqwest::Client::new();
    let (status, _, body) = send(other.post(&login).json(&json!({ "code": code }))).await;
    assert_eq!(status, 401, "a used code is refused: {body}");
    assert!(body["detail"].as_str().unwrap().contains("api-token"), "says what to do instead: {body}");
    let (status, _, body) = send(other.post(&login).json(&json!({ "token": code }))).await;
    assert_eq!(status, 401, "the code is not a token: {body}");
    let (status, _, body) = send(other.post(&login).json(&json!({ "token": TEST_TOKEN }))).await;
    assert_eq!(status, 200, "the token still logs in: {body}");
    // Nor is it in the log (stderr), which has come at least up to the start.
    let started = std::time::Instant::now();
    while !logged.lines().iter().any(|l| l.contains("drover is up")) {
        assert!(started.elapsed() < Duration::from_secs(60), "no start line in the log: {:?}", logged.lines());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for line in logged.lines() {
        assert!(!line.contains(TEST_TOKEN), "the token is in the log: {line}");
    }
    drover.kill().await.unwrap();
    cluster.shutdown().await;
}

/// The session cookie a login answers.
fn session_cookie(headers: &reqwest::header::HeaderMap) -> String {
    let set = headers.get("set-cookie").expect("a session cookie").to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn a_logged_out_session_cookie_is_refused_even_after_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    let d = start(&home, &repo_dags(), None).await.unwrap();
    let base = d.api_url();
    let http = reqwest::Client::new();
    let login = |base: &str| http.post(format!("{base}/auth/login")).json(&json!({ "token": d.api_token() }));
    let (status, headers, _) = send(login(&base)).await;
    assert_eq!(status, 200);
    let ended = session_cookie(&headers);
    let (_, headers, _) = send(login(&base)).await;
    let kept = session_cookie(&headers);
    let pause = |base: &str, cookie: &str| {
        http.patch(format!("{base}/api/v2/dags/wordcount_client"))
            .header("cookie", cookie)
            .json(&json!({ "is_paused": false }))
    };
    let (status, _, body) = send(pause(&base, &ended)).await;
    assert_eq!(status, 200, "the session may change things: {body}");

    let (status, _, _) = send(http.post(format!("{base}/auth/logout")).header("cookie", &ended)).await;
    assert_eq!(status, 200);
    let (status, _, body) = send(pause(&base, &ended)).await;
    assert_eq!(status, 401, "the replayed cookie of a logged-out session: {body}");
    let (_, _, body) = send(http.get(format!("{base}/auth/session")).header("cookie", &ended)).await;
    assert_eq!(body["authenticated"], false, "{body}");
    let (status, _, body) = send(pause(&base, &kept)).await;
    assert_eq!(status, 200, "other sessions live on: {body}");

    let token = d.api_token().to_string();
    d.shutdown().await;
    let d = start(&home, &repo_dags(), None).await.unwrap();
    assert_eq!(d.api_token(), token, "the same token after the restart");
    let base = d.api_url();
    let (status, _, body) = send(pause(&base, &ended)).await;
    assert_eq!(status, 401, "still refused after a restart: {body}");
    let (status, _, body) = send(pause(&base, &kept)).await;
    assert_eq!(status, 200, "a live session survives the restart: {body}");
    d.shutdown().await;
}

#[tokio::test]
async fn a_foreign_host_name_is_refused_unless_allowed() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    let d = drover::standalone::start(support::drover::options(drover::serve::ServeArgs {
        allowed_hosts: vec!["drover.example.com".into()],
        ..support::drover::serve_args(&home, &repo_dags())
    }))
    .await
    .unwrap();
    let base = d.api_url();
    let port = d.api_addr.port();
    let http = reqwest::Client::new();
    let get = |host: String| http.get(format!("{base}/api/v2/dags")).header("host", host);

    // A page on evil.example whose name was rebound to 127.0.0.1.
    let (status, _, body) = send(get(format!("evil.example:{port}"))).await;
    assert_eq!(status, 421, "{body}");
    assert_eq!(body["status"], 421, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("--allowed-host evil.example"), "says how to allow it: {body}");
    let (status, _, _) = send(http.get(format!("{base}/")).header("host", "evil.example")).await;
    assert_eq!(status, 421, "the UI too");

    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}"), format!("drover.example.com:{port}")] {
        let (status, _, body) = send(get(host.clone())).await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    d.shutdown().await;
}

#[tokio::test]
async fn the_ui_may_not_be_framed_sniffed_or_load_foreign_scripts() {
    let root = tempfile::tempdir().unwrap();
    let d = start(&root.path().join("home"), &repo_dags(), None).await.unwrap();
    for path in ["/", "/ui/app.js", "/api/v2/dags"] {
        let (status, headers, _) = send(reqwest::Client::new().get(format!("{}{path}", d.api_url()))).await;
        assert_eq!(status, 200, "{path}");
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let csp = header("content-security-policy");
        for directive in ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"] {
            assert!(csp.contains(directive), "{path}: CSP without {directive}: {csp:?}");
        }
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
    }
    d.shutdown().await;
}

#[tokio::test]
async fn repeated_wrong_tokens_lock_the_address_out_with_429() {
    let root = tempfile::tempdir().unwrap();
    let d = start(&root.path().join("home"), &repo_dags(), None).await.unwrap();
    let base = d.api_url();
    let http = reqwest::Client::new();
    let login = |token: &str| http.post(format!("{base}/auth/login")).json(&json!({ "token": token }));
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(send(login(&format!("guess-{i}"))).await.0);
    }
    assert_eq!(statuses, [401; 5], "the first wrong tokens are answered");
    let (status, headers, body) = send(login(d.api_token())).await;
    assert_eq!(status, 429, "locked out, even with the right token: {body}");
    assert_eq!(body["status"], 429, "{body}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "Retry-After: {retry}");

    // Wrong Bearer tokens on the API are counted the same way.
    let dags = format!("{base}/api/v2/dags");
    let (status, _, body) = send(http.get(&dags).bearer_auth(d.api_token())).await;
    assert_eq!(status, 200, "logins and Bearer tokens are counted apart: {body}");
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(send(http.get(&dags).bearer_auth(format!("guess-{i}"))).await.0);
    }
    assert_eq!(statuses, [401; 5]);
    let (status, headers, body) = send(http.get(&dags).bearer_auth(d.api_token())).await;
    assert_eq!(status, 429, "locked out, even with the right token: {body}");
    assert!(headers.contains_key("retry-after"));
    let (status, _, _) = send(http.get(&dags)).await;
    assert_eq!(status, 200, "public reads go on");
    d.shutdown().await;
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[tokio::test]
async fn the_database_token_and_logs_are_owner_only() {
    let root = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    env_dump_dag(dags.path());
    let home = root.path().join("home");
    let d = start(&home, dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("envdump", json!({})).await.unwrap();
    assert_eq!(api.wait_run("envdump", &run, DEADLINE).await.unwrap(), "success");

    assert_eq!(mode(&home), 0o700, "the home directory");
    for file in ["drover.db", "drover.db-wal", "api-token"] {
        assert_eq!(mode(&home.join(file)), 0o600, "{file}");
    }
    let logs = home.join("logs");
    let mut files = 0;
    let mut stack = vec![logs];
    while let Some(dir) = stack.pop() {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
                files += 1;
            }
        }
    }
    assert!(files > 0, "the driver's log was written");
    d.shutdown().await;
}
