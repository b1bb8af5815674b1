//! Against a real Spark standalone master and worker (PyPI pyspark + Java 17).
//!
//! One cluster and one drover serve every step, since starting the JVM
//! daemons costs about 15 s: the steps are named for the behaviour they pin
//! and run one after another in a single test, so that on a 2-core machine no
//! two Spark drivers compete for the CPU. The cluster and drover are stopped
//! whatever a step does (a panic still reaches `SparkCluster`'s `Drop`).
//!
//! Missing pyspark or Java is a failure, not a skip: [`spark_home`] says how
//! to install them.

mod support;

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use support::drover::{Api, Running, start, write};
use support::spark::{
    JAVA_APP_MAIN_CLASS, PYSPARK_VERSION, SparkCluster, SparkHome, build_java_app,
    pyspark_count_app, spark_home,
};

/// The backend the config file adds on the real cluster.
const BACKEND: &str = "spark";
/// A whole Spark app (JVM start, context, executor, job) on a loaded 2-core
/// machine takes 20-60 s; this leaves room without hiding a hang.
const RUN_DEADLINE: Duration = Duration::from_secs(180);

#[tokio::test]
async fn drives_a_real_spark_standalone_cluster_through_drover() -> Result<()> {
    let home = spark_home()?;
    let tmp = tempfile::tempdir()?;
    let jar = build_java_app(&home, &tmp.path().join("java"))?;
    // A logical worker bigger than the machine: a driver whose app has an
    // executor never waits for cores another step has not given back yet.
    let cluster = SparkCluster::start_with_worker(&home, 4, "4g").await?;
    eprintln!(
        "spark: master ready after {:?}, worker registered after {:?}",
        cluster.master_ready_after, cluster.worker_registered_after
    );

    let env = Env::new(&home, &cluster, &jar, tmp.path())?;
    let drover = match start(
        &tmp.path().join("drover"),
        &env.dags,
        Some(env.config.clone()),
    )
    .await
    {
        Ok(d) => d,
        Err(e) => {
            cluster.stop().await;
            return Err(e.context("starting drover with the real Spark backend"));
        }
    };

    let result = all_steps(&env, &cluster, &drover).await;
    if result.is_err() {
        eprintln!("{}", cluster.logs_tail(40));
    }
    drover.shutdown().await;
    cluster.stop().await;
    result
}

async fn all_steps(env: &Env, cluster: &SparkCluster, drover: &Running) -> Result<()> {
    let api = Api::new(drover);
    step(
        "refuses a Python app in cluster mode at load time",
        refuses_python_in_cluster_mode(env, &api),
    )
    .await?;
    step(
        "a missing jar is ERROR on the master and failed in drover",
        missing_jar_fails_with_the_masters_message(cluster, &api),
    )
    .await?;
    step(
        "kill goes through the master's REST API",
        kill_stops_a_running_cluster_driver(cluster, &api),
    )
    .await?;
    step(
        "a cluster-mode Java app succeeds with its log",
        cluster_mode_java_app_succeeds_with_driver_log(&api),
    )
    .await?;
    step(
        "a client-mode PySpark app succeeds with its log",
        client_mode_pyspark_app_succeeds_with_captured_log(cluster, &api),
    )
    .await?;
    Ok(())
}

async fn step(name: &str, f: impl Future<Output = Result<()>>) -> Result<()> {
    let started = Instant::now();
    let r = f.await.with_context(|| format!("step `{name}`"));
    eprintln!(
        "step `{name}`: {} in {:.1?}",
        if r.is_ok() { "ok" } else { "FAILED" },
        started.elapsed()
    );
    r
}

/// The DAG folder and config file for one drover on the real cluster.
struct Env {
    dags: std::path::PathBuf,
    config: std::path::PathBuf,
}

/// A TOML basic string (JSON's escapes are a subset of TOML's).
fn q(s: impl AsRef<str>) -> String {
    Value::String(s.as_ref().to_string()).to_string()
}

fn inline_table<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let body: Vec<String> = pairs
        .into_iter()
        .map(|(k, v)| format!("{} = {}", q(k), q(v)))
        .collect();
    format!("{{ {} }}", body.join(", "))
}

/// Keeps each app on one executor core and little memory, so a leftover
/// driver from an earlier step never starves the next one.
const SMALL_APP_CONF: [(&str, &str); 4] = [
    ("spark.executor.memory", "512m"),
    ("spark.executor.cores", "1"),
    ("spark.cores.max", "1"),
    ("spark.driver.host", "127.0.0.1"),
];

fn cluster_dag(id: &str, resource: &str, args: &[&str], timeout: &str) -> String {
    let args: Vec<String> = args.iter().map(q).collect();
    format!(
        r#"id = {id}
description = "real Spark standalone, cluster mode"

[[tasks]]
id = "driver"
backend = {backend}
retries = 0
timeout = {timeout}
[tasks.application]
resource = {resource}
main_class = {main_class}
deploy_mode = "cluster"
args = [{args}]
conf = {conf}
env = {{ SPARK_LOCAL_IP = "127.0.0.1" }}
driver = {{ memory = "1g", cores = 1 }}
"#,
        id = q(id),
        backend = q(BACKEND),
        timeout = q(timeout),
        resource = q(resource),
        main_class = q(JAVA_APP_MAIN_CLASS),
        args = args.join(", "),
        conf = inline_table(SMALL_APP_CONF),
    )
}

impl Env {
    fn new(home: &SparkHome, cluster: &SparkCluster, jar: &Path, tmp: &Path) -> Result<Env> {
        let dags = tmp.join("dags");
        std::fs::create_dir_all(&dags)?;
        let jar = jar.display().to_string();
        let missing = tmp
            .join("no-such-dir")
            .join("missing-app.jar")
            .display()
            .to_string();

        write(
            &dags,
            "java_ok.toml",
            &cluster_dag("java_ok", &jar, &["ok"], "10m"),
        );
        write(
            &dags,
            "java_sleep.toml",
            &cluster_dag("java_sleep", &jar, &["sleep", "300"], "10m"),
        );
        write(
            &dags,
            "missing_jar.toml",
            &cluster_dag("missing_jar", &missing, &["ok"], "5m"),
        );

        let spark_env = home.env();
        let client_env = inline_table(spark_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        write(
            &dags,
            "pyspark_client.toml",
            &format!(
                r#"id = "pyspark_client"
description = "real Spark standalone, client mode"

[[tasks]]
id = "count"
backend = {backend}
retries = 0
timeout = "10m"
[tasks.application]
resource = {resource}
deploy_mode = "client"
conf = {conf}
env = {client_env}
driver = {{ memory = "1g", cores = 1 }}
"#,
                backend = q(BACKEND),
                resource = q(pyspark_count_app().display().to_string()),
                conf = inline_table(SMALL_APP_CONF),
            ),
        );
        write(
            &dags,
            "pyspark_cluster.toml",
            &format!(
                r#"id = "pyspark_cluster"

[[tasks]]
id = "count"
backend = {backend}
[tasks.application]
resource = {resource}
deploy_mode = "cluster"
"#,
                backend = q(BACKEND),
                resource = q(pyspark_count_app().display().to_string()),
            ),
        );

        let config = tmp.join("drover.toml");
        std::fs::write(
            &config,
            format!(
                r#"[backends.{BACKEND}]
plugin = "spark-standalone"
settings = {settings}
# The worker's UI (driver logs) listens on a port of its own.
allowed_hosts = ["127.0.0.1"]
"#,
                settings = inline_table([
                    ("master", cluster.master_url.as_str()),
                    ("rest_url", cluster.rest_url.as_str()),
                    ("master_ui_url", cluster.master_ui_url.as_str()),
                    ("spark_submit", &home.spark_submit().display().to_string()),
                    ("spark_version", PYSPARK_VERSION),
                ]),
            ),
        )?;
        Ok(Env { dags, config })
    }
}

/// The last try of the only task `task` in a run.
async fn last_try(api: &Api, dag: &str, run: &str, task: &str) -> Result<Value> {
    api.tries(dag, run, task)
        .await?
        .pop()
        .with_context(|| format!("{dag}/{task} in run {run} has no try"))
}

/// States of a driver's history with repeats folded (a raw-state change
/// inside one drover state records an event too).
fn history_states(driver: &Value) -> Vec<String> {
    let mut states: Vec<String> = Vec::new();
    for e in driver["history"].as_array().into_iter().flatten() {
        let s = e["state"].as_str().unwrap_or_default().to_string();
        if states.last() != Some(&s) {
            states.push(s);
        }
    }
    states
}

/// `GET {rest_url}/v1/submissions/status/{id}` on the real master.
async fn master_status(cluster: &SparkCluster, id: &str) -> Result<Value> {
    let url = format!("{}/v1/submissions/status/{id}", cluster.rest_url);
    reqwest::get(&url)
        .await
        .with_context(|| format!("GET {url}"))?
        .json()
        .await
        .with_context(|| format!("GET {url}: not JSON"))
}

/// Polls `check` every 250 ms until it yields a value or `deadline` passes.
async fn poll<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() > until {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn refuses_python_in_cluster_mode(env: &Env, api: &Api) -> Result<()> {
    let file = env.dags.join("pyspark_cluster.toml").display().to_string();
    let error = poll(
        "the import error of pyspark_cluster.toml",
        Duration::from_secs(30),
        || async {
            let body = api.get("/api/v2/importErrors").await?;
            Ok(body["import_errors"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| {
                    e["filename"]
                        .as_str()
                        .is_some_and(|f| f.ends_with("pyspark_cluster.toml"))
                })
                .cloned())
        },
    )
    .await?;
    let trace = error["stack_trace"].as_str().unwrap_or_default();
    ensure!(
        trace.contains("cannot run Python applications in cluster mode"),
        "the import error of {file} does not give the reason: {error}"
    );
    // Only the broken file is refused: the other DAGs on the backend load.
    let dags = api.get("/api/v2/dags").await?;
    let ids: Vec<&str> = dags["dags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["dag_id"].as_str())
        .collect();
    for id in ["java_ok", "java_sleep", "missing_jar", "pyspark_client"] {
        ensure!(
            ids.contains(&id),
            "DAG {id} did not load: {ids:?}; errors: {}",
            api.get("/api/v2/importErrors").await?
        );
    }
    ensure!(
        !ids.contains(&"pyspark_cluster"),
        "the refused DAG is listed: {ids:?}"
    );
    Ok(())
}

async fn missing_jar_fails_with_the_masters_message(
    cluster: &SparkCluster,
    api: &Api,
) -> Result<()> {
    let run = api.trigger("missing_jar", json!({})).await?;
    let state = api.wait_run("missing_jar", &run, RUN_DEADLINE).await?;
    let t = last_try(api, "missing_jar", &run, "driver").await?;
    ensure!(state == "failed", "run {run} ended {state}: {t}");
    let d = &t["driver"];
    ensure!(
        d["state"] == "failed",
        "drover's driver state is not failed: {d}"
    );
    ensure!(
        d["raw_state"] == "ERROR",
        "the master's state is not ERROR: {d}"
    );
    let message = d["message"].as_str().unwrap_or_default();
    ensure!(
        message.contains("NoSuchFileException"),
        "the message lacks the master's exception: {d}"
    );
    ensure!(
        message.contains("missing-app.jar"),
        "the message does not name the jar: {d}"
    );

    let id = d["cluster_id"].as_str().context("no cluster id")?;
    let real = master_status(cluster, id).await?;
    ensure!(real["driverState"] == "ERROR", "the master reports {real}");
    Ok(())
}

async fn kill_stops_a_running_cluster_driver(cluster: &SparkCluster, api: &Api) -> Result<()> {
    let dag = "java_sleep";
    let run = api.trigger(dag, json!({})).await?;
    let id = poll("the sleeping driver to run", RUN_DEADLINE, || async {
        let t = last_try(api, dag, &run, "driver").await.ok();
        let d = t.as_ref().map(|t| &t["driver"]);
        match d.map(|d| (d["state"].as_str().unwrap_or_default(), d)) {
            Some(("running", d)) => Ok(Some(
                d["cluster_id"].as_str().unwrap_or_default().to_string(),
            )),
            Some((s, d))
                if ["failed", "killed", "lost", "submit_failed", "succeeded"].contains(&s) =>
            {
                bail!("the driver ended before it was killed: {d}")
            }
            _ => Ok(None),
        }
    })
    .await?;
    ensure!(
        id.starts_with("driver-"),
        "not a standalone driver id: {id:?}"
    );
    // Up in the app, not just placed on a worker: what a kill usually meets.
    poll(
        "the app to start sleeping",
        Duration::from_secs(120),
        || async {
            Ok(cluster
                .driver_log(&id, "stdout")
                .contains("drover-test-app sleeping")
                .then_some(()))
        },
    )
    .await?;

    // The log of a driver still running comes through drover too.
    let try_number = last_try(api, dag, &run, "driver").await?["try_number"]
        .as_i64()
        .context("no try_number")?;
    let log = api.log(dag, &run, "driver", try_number).await?;
    ensure!(
        log.contains("drover-test-app sleeping 300"),
        "the running driver's log through drover:\n{log}"
    );

    let url = format!(
        "{}{}/taskInstances/driver/kill",
        api.base,
        Api::run_path(dag, &run)
    );
    let reply = api.http.post(&url).send().await?;
    ensure!(
        reply.status().is_success(),
        "POST {url}: {} {}",
        reply.status(),
        reply.text().await?
    );
    let killed_at = Instant::now();

    let state = api.wait_run(dag, &run, Duration::from_secs(60)).await?;
    let t = last_try(api, dag, &run, "driver").await?;
    ensure!(
        state == "failed",
        "run {run} ended {state} after the kill: {t}"
    );
    ensure!(!t["end_date"].is_null(), "the try has not ended: {t}");
    let d = &t["driver"];
    ensure!(
        d["state"] == "killed",
        "drover's driver state is not killed: {d}"
    );
    ensure!(
        d["raw_state"] == "KILLED",
        "drover did not see the master confirm: {d}"
    );
    eprintln!(
        "kill confirmed {:.1?} after the request",
        killed_at.elapsed()
    );

    let real = master_status(cluster, &id).await?;
    ensure!(real["driverState"] == "KILLED", "the master reports {real}");
    // A kill is final: no retry was submitted behind it.
    let tries = api.tries(dag, &run, "driver").await?;
    ensure!(tries.len() == 1, "a killed task was tried again: {tries:?}");
    // The worker took the driver's JVM and its executor down with the app:
    // only the master and worker daemons are left in their process groups.
    poll(
        "the killed driver's processes to exit",
        Duration::from_secs(30),
        || async { Ok((cluster.process_ids().len() <= 2).then_some(())) },
    )
    .await
    .with_context(|| format!("processes left: {:?}", cluster.process_ids()))?;
    Ok(())
}

async fn cluster_mode_java_app_succeeds_with_driver_log(api: &Api) -> Result<()> {
    let dag = "java_ok";
    let run = api.trigger(dag, json!({})).await?;
    let state = api.wait_run(dag, &run, RUN_DEADLINE).await?;
    let t = last_try(api, dag, &run, "driver").await?;
    ensure!(state == "success", "run {run} ended {state}: {t}");
    let d = &t["driver"];
    let id = d["cluster_id"].as_str().unwrap_or_default();
    ensure!(id.starts_with("driver-"), "no standalone driver id: {d}");
    ensure!(
        d["deploy_mode"] == "cluster" && d["backend"] == BACKEND,
        "{d}"
    );
    ensure!(
        d["state"] == "succeeded" && d["raw_state"] == "FINISHED",
        "{d}"
    );
    let history = history_states(d);
    ensure!(
        history
            .iter()
            .skip_while(|s| *s == "pending")
            .collect::<Vec<_>>()
            == ["submitted", "running", "succeeded"],
        "driver history {history:?}: {d}"
    );

    let try_number = t["try_number"].as_i64().context("no try_number")?;
    let log = api.log(dag, &run, "driver", try_number).await?;
    ensure!(
        log.contains("drover-test-app result=499500"),
        "the driver log through drover lacks the result:\n{log}"
    );
    Ok(())
}

async fn client_mode_pyspark_app_succeeds_with_captured_log(
    cluster: &SparkCluster,
    api: &Api,
) -> Result<()> {
    let dag = "pyspark_client";
    let run = api.trigger(dag, json!({})).await?;
    let state = api.wait_run(dag, &run, RUN_DEADLINE).await?;
    let t = last_try(api, dag, &run, "count").await?;
    let try_number = t["try_number"].as_i64().context("no try_number")?;
    let log = api.log(dag, &run, "count", try_number).await?;
    ensure!(
        state == "success",
        "run {run} ended {state}: {t}\nlog:\n{log}"
    );
    let d = &t["driver"];
    ensure!(
        d["deploy_mode"] == "client" && d["state"] == "succeeded",
        "{d}"
    );
    ensure!(
        log.contains("count=11"),
        "the captured log lacks the count:\n{log}"
    );
    // The job ran on the real cluster, not in a local-mode fallback.
    let master = cluster.master_json().await?;
    let apps = master["completedapps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        apps.iter()
            .any(|a| a["name"] == "drover-pyspark-count" && a["state"] == "FINISHED"),
        "the master did not see the client-mode app finish: {apps:?}"
    );
    Ok(())
}
