//! Commands that talk to a running drover over its HTTP API.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// An HTTP client that sends the API token, if there is one: --token
/// (DROVER_API_TOKEN), else the token file a local drover wrote.
fn client(server: &crate::ServerArg) -> anyhow::Result<reqwest::Client> {
    let token = server.token.clone().or_else(|| {
        std::fs::read_to_string(&server.token_file)
            .ok()
            .and_then(|t| t.lines().next().map(|l| l.trim().to_string()))
    });
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}"))
            .context("the API token has characters a header cannot carry")?;
        v.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    Ok(reqwest::Client::builder().default_headers(headers).build()?)
}

fn base(server: &str) -> String {
    server.trim_end_matches('/').to_string()
}

/// Sends a request and turns an API error into a readable one.
async fn call(req: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
    let resp = req.send().await.with_context(|| format!("cannot reach drover to {what}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let detail = body.get("detail").and_then(Value::as_str).unwrap_or("no details");
        bail!("cannot {what}: {status}: {detail}");
    }
    Ok(body)
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("-")
}

pub async fn list_dags(server: &crate::ServerArg) -> anyhow::Result<ExitCode> {
    let http = client(server)?;
    let body = call(http.get(format!("{}/api/v2/dags", base(&server.server))), "list DAGs").await?;
    println!("{:<28} {:<16} {:<7} file", "dag_id", "schedule", "paused");
    for d in body["dags"].as_array().into_iter().flatten() {
        println!(
            "{:<28} {:<16} {:<7} {}",
            s(d, "dag_id"),
            d.get("timetable_summary").and_then(Value::as_str).unwrap_or("none"),
            d["is_paused"].as_bool().unwrap_or(false),
            s(d, "fileloc")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn trigger(server: &crate::ServerArg, dag_id: &str, conf: Option<&str>, wait: bool) -> anyhow::Result<ExitCode> {
    let conf: Value = match conf {
        Some(text) => serde_json::from_str(text).context("--conf is not valid JSON")?,
        None => Value::Object(Default::default()),
    };
    if !conf.is_object() {
        bail!("--conf must be a JSON object, like '{{\"input\": \"x\"}}'");
    }
    let http = client(server)?;
    let url = format!("{}/api/v2/dags/{dag_id}/dagRuns", base(&server.server));
    let run = call(
        http.post(&url).json(&serde_json::json!({ "conf": conf, "logical_date": null })),
        &format!("trigger DAG `{dag_id}`"),
    )
    .await?;
    let run_id = s(&run, "dag_run_id").to_string();
    println!("{run_id}");
    if !wait {
        return Ok(ExitCode::SUCCESS);
    }
    // Client side only: the CLI asks the API until the run ends.
    let run_url = format!("{url}/{}", urlencode(&run_id));
    let mut delay = Duration::from_millis(100);
    loop {
        let run = call(http.get(&run_url), "read the run").await?;
        match s(&run, "state") {
            "success" => {
                eprintln!("run {run_id}: success");
                return Ok(ExitCode::SUCCESS);
            }
            "failed" => {
                eprintln!("run {run_id}: failed (see `drover runs show {dag_id} {run_id}`)");
                return Ok(ExitCode::from(1));
            }
            _ => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

pub async fn show_run(server: &crate::ServerArg, dag_id: &str, run_id: &str) -> anyhow::Result<ExitCode> {
    let http = client(server)?;
    let run_url = format!("{}/api/v2/dags/{dag_id}/dagRuns/{}", base(&server.server), urlencode(run_id));
    let run = call(http.get(&run_url), "read the run").await?;
    println!("run {}  dag {}  state {}", s(&run, "dag_run_id"), s(&run, "dag_id"), s(&run, "state"));
    println!("conf {}", run["conf"]);
    let tis = call(http.get(format!("{run_url}/taskInstances")), "read the task instances").await?;
    for ti in tis["task_instances"].as_array().into_iter().flatten() {
        let task = s(ti, "task_id");
        println!(
            "\ntask {task}  state {}  tries {}",
            ti.get("state").and_then(Value::as_str).unwrap_or("none"),
            ti["try_number"]
        );
        let tries = call(
            http.get(format!("{run_url}/taskInstances/{}/tries", urlencode(task))),
            "read the tries",
        )
        .await?;
        for t in tries["task_instances"].as_array().into_iter().flatten() {
            let d = &t["driver"];
            println!(
                "  try {}  {}  driver {} ({} on {}) id {}  {}",
                t["try_number"],
                s(t, "state"),
                s(d, "state"),
                s(d, "deploy_mode"),
                s(d, "backend"),
                s(d, "cluster_id"),
                d.get("message").and_then(Value::as_str).unwrap_or("")
            );
            for e in d["history"].as_array().into_iter().flatten() {
                println!(
                    "      {}  {:<13} {}",
                    s(e, "at"),
                    s(e, "state"),
                    e.get("raw_state").and_then(Value::as_str).unwrap_or("")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a try's driver log; with `follow`, keeps printing what the driver
/// writes until the try has ended and nothing new comes.
pub async fn logs(
    server: &crate::ServerArg,
    dag_id: &str,
    run_id: &str,
    task_id: &str,
    try_number: Option<i64>,
    follow: bool,
    stream: &str,
) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let http = client(server)?;
    let ti_url = format!(
        "{}/api/v2/dags/{dag_id}/dagRuns/{}/taskInstances/{}",
        base(&server.server),
        urlencode(run_id),
        urlencode(task_id)
    );
    let try_number = match try_number {
        Some(n) => n,
        None => match call(http.get(&ti_url), "read the task instance").await?["try_number"].as_i64() {
            Some(n) if n > 0 => n,
            _ => bail!("task `{task_id}` has not started a try yet"),
        },
    };
    let mut offset: u64 = 0;
    let mut delay = Duration::from_millis(200);
    loop {
        // Whether the try had ended before this read: then this read is the last.
        let ended = !follow || {
            let tries = call(http.get(format!("{ti_url}/tries")), "read the tries").await?;
            tries["task_instances"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["try_number"].as_i64() == Some(try_number))
                .is_some_and(|t| t["state"] != "running")
        };
        let chunk = call(
            http.get(format!("{ti_url}/logs/{try_number}"))
                .query(&[("stream", stream), ("offset", &offset.to_string())]),
            "read the log",
        )
        .await?;
        // Airflow's plain-text log form: the lines, each with its line end.
        for line in chunk["content"].as_array().into_iter().flatten() {
            print!("{}", line.as_str().unwrap_or_default());
        }
        std::io::stdout().flush()?;
        let next = chunk["continuation_token"].as_str().and_then(|t| t.parse().ok()).unwrap_or(offset);
        let advanced = next > offset;
        offset = next;
        if ended && !advanced {
            return Ok(ExitCode::SUCCESS);
        }
        if !advanced {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        } else {
            delay = Duration::from_millis(200);
        }
    }
}

/// Run ids carry `:` and `+`; keep path segments intact.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A date as a person types it: a day (midnight UTC) or an RFC 3339 time.
fn date_arg(text: &str, flag: &str) -> anyhow::Result<String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc).to_rfc3339());
    }
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("{flag} `{text}` is not a date: use 2026-01-31 or 2026-01-31T06:00:00Z"))?;
    Ok(day.and_time(chrono::NaiveTime::MIN).and_utc().to_rfc3339())
}

fn print_backfill(b: &Value) {
    println!(
        "{:<6} {:<24} {:<26} {:<26} {:>5}/{:<5} {:<7} {}",
        b["id"],
        s(b, "dag_id"),
        s(b, "from_date"),
        s(b, "to_date"),
        b["runs_done"],
        b["runs_total"],
        if b["is_paused"].as_bool().unwrap_or(false) { "paused" } else { "" },
        if b["completed_at"].is_null() { "going" } else { "completed" }
    );
}

pub async fn backfill(cmd: crate::BackfillCommand) -> anyhow::Result<ExitCode> {
    use crate::BackfillCommand as B;
    match cmd {
        B::Create { dag_id, from, to, reprocess, max_active_runs, run_backwards, conf, dry_run, server } => {
            let conf: Value = match conf.as_deref() {
                Some(text) => serde_json::from_str(text).context("--conf is not valid JSON")?,
                None => Value::Object(Default::default()),
            };
            if !conf.is_object() {
                bail!("--conf must be a JSON object, like '{{\"input\": \"x\"}}'");
            }
            let body = serde_json::json!({
                "dag_id": dag_id,
                "from_date": date_arg(&from, "--from")?,
                "to_date": date_arg(&to, "--to")?,
                "reprocess_behavior": reprocess,
                "max_active_runs": max_active_runs,
                "run_backwards": run_backwards,
                "dag_run_conf": conf,
            });
            let http = client(&server)?;
            let path = if dry_run { "/api/v2/backfills/dry_run" } else { "/api/v2/backfills" };
            let out = call(http.post(format!("{}{path}", base(&server.server))).json(&body), &format!("backfill DAG `{dag_id}`")).await?;
            if dry_run {
                for b in out["backfills"].as_array().into_iter().flatten() {
                    println!("{}", s(b, "logical_date"));
                }
            } else {
                println!("{}", out["id"]);
            }
        }
        B::List { dag_id, server } => {
            let http = client(&server)?;
            let out = call(
                http.get(format!("{}/api/v2/backfills", base(&server.server))).query(&[("dag_id", dag_id.as_str()), ("limit", "100")]),
                "list backfills",
            )
            .await?;
            println!("{:<6} {:<24} {:<26} {:<26} {:>11} {:<7} state", "id", "dag_id", "from", "to", "done/total", "");
            for b in out["backfills"].as_array().into_iter().flatten() {
                print_backfill(b);
            }
        }
        B::Pause { id, server } => change_backfill(&server, id, "pause").await?,
        B::Unpause { id, server } => change_backfill(&server, id, "unpause").await?,
        B::Cancel { id, server } => change_backfill(&server, id, "cancel").await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn change_backfill(server: &crate::ServerArg, id: i64, action: &str) -> anyhow::Result<()> {
    let http = client(server)?;
    let out = call(http.put(format!("{}/api/v2/backfills/{id}/{action}", base(&server.server))), &format!("{action} backfill {id}")).await?;
    print_backfill(&out);
    Ok(())
}
