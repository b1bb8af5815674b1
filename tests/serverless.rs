//! The serverless backend end to end: drover, the emr-serverless plugin
//! (WASM, SigV4-signed requests), and the embedded EMR Serverless stand-in;
//! and the plugin's wire format against moto's server, an implementation of
//! the API nobody here wrote.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use drover_dag::{Application, DeployMode, Resources};
use drover_plugin_host::{Backend, DriverPhase, Limits, PluginHost, Submitted};
use serde_json::{Value, json};
use support::drover::{Api, Running, plugin_cache, repo_dags, script, start, write};

const DEADLINE: Duration = Duration::from_secs(120);
const STAND_IN_APP: &str = drover_devcluster::serverless::APPLICATION_ID;

/// A one-task DAG on `backend`.
fn dag(dir: &Path, id: &str, backend: &str, resource: &str, extra_task: &str) {
    write(
        dir,
        &format!("{id}.toml"),
        &format!(
            r#"
id = "{id}"
[defaults]
backend = "{backend}"
retries = 0
[[tasks]]
id = "job"
{extra_task}
[tasks.application]
resource = "{resource}"
args = ["{{{{ try_number }}}}"]
"#
        ),
    );
}

async fn tries(api: &Api, dag_id: &str, run: &str) -> Vec<Value> {
    api.tries(dag_id, run, "job").await.unwrap()
}

/// The job run as the stand-in reports it, read with a signed request of our own.
fn run_id(driver: &Value) -> String {
    let id = driver["cluster_id"].as_str().expect("cluster id");
    let (app, run) = id.split_once('/').unwrap_or_else(|| panic!("not application/jobRun: {id}"));
    assert_eq!(app, STAND_IN_APP);
    run.to_string()
}

#[tokio::test]
async fn the_example_dag_succeeds_out_of_the_box() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let run = api.trigger("wordcount_serverless", json!({"top": 2})).await.unwrap();
    assert_eq!(api.wait_run("wordcount_serverless", &run, DEADLINE).await.unwrap(), "success");
    let t = api.tries("wordcount_serverless", &run, "count").await.unwrap();
    assert_eq!(t.len(), 1, "{t:#?}");
    let driver = &t[0]["driver"];
    assert_eq!(driver["deploy_mode"], "service");
    assert_eq!(driver["raw_state"], "SUCCESS");
    let id = run_id(driver);
    let stdout = std::fs::read_to_string(
        home.path().join(format!("devcluster/emr-serverless/{id}/attempt-1/stdout")),
    )
    .unwrap();
    assert!(stdout.contains(r#""top": [["the", "#), "stdout: {stdout}");
    let subs = d.cluster.submissions();
    let ours: Vec<_> = subs.iter().filter(|s| s.manager == "emr-serverless").collect();
    assert_eq!(ours.len(), 1, "{subs:?}");
    assert_eq!(ours[0].submission_key.as_deref(), driver["submission_key"].as_str());
    d.shutdown().await;
}

#[tokio::test]
async fn a_job_run_succeeds_and_a_failing_one_fails_each_try() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "ok.sh", "#!/bin/sh\necho \"ok on try $1\"\n");
    script(dags.path(), "boom.sh", "#!/bin/sh\necho \"try $1 failing\" >&2\nexit 3\n");
    dag(dags.path(), "ok", "serverless", "ok.sh", "");
    dag(dags.path(), "boom", "serverless", "boom.sh", "retries = 1\nretry_delay = \"100ms\"");
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let ok = api.trigger("ok", json!({})).await.unwrap();
    let boom = api.trigger("boom", json!({})).await.unwrap();

    assert_eq!(api.wait_run("ok", &ok, DEADLINE).await.unwrap(), "success");
    let t = tries(&api, "ok", &ok).await;
    assert_eq!(t.len(), 1);
    let driver = &t[0]["driver"];
    assert_eq!((driver["state"].as_str(), driver["raw_state"].as_str()), (Some("succeeded"), Some("SUCCESS")), "{driver}");
    assert_eq!(driver["cluster_attempt"], 1);
    let states: Vec<&str> = driver["history"].as_array().unwrap().iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert!(states.contains(&"submitted"), "{states:?}");

    assert_eq!(api.wait_run("boom", &boom, DEADLINE).await.unwrap(), "failed");
    let t = tries(&api, "boom", &boom).await;
    assert_eq!(t.len(), 2, "retries = 1: two drover tries");
    for (i, t) in t.iter().enumerate() {
        let driver = &t["driver"];
        assert_eq!(driver["raw_state"], "FAILED", "try {}: {driver}", i + 1);
        assert!(driver["message"].as_str().unwrap_or_default().contains("ExitCode: 3"), "{driver}");
    }
    // Two tries, two job runs, each carrying its own key as the clientToken.
    let keys: Vec<_> = t.iter().map(|t| t["driver"]["submission_key"].as_str().unwrap().to_string()).collect();
    let subs: Vec<_> = d.cluster.submissions().into_iter().filter(|s| s.app_name.starts_with("boom")).collect();
    assert_eq!(subs.iter().map(|s| s.submission_key.clone().unwrap()).collect::<Vec<_>>(), keys);
    d.shutdown().await;
}

#[tokio::test]
async fn kill_cancels_the_job_run_and_its_process_is_gone() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let pid_file = dags.path().join("pid");
    script(dags.path(), "sleepy.sh", &format!("#!/bin/sh\necho $$ > {}\nexec sleep 300\n", pid_file.display()));
    dag(dags.path(), "sleepy", "serverless", "sleepy.sh", "retries = 2");
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let run = api.trigger("sleepy", json!({})).await.unwrap();
    let pid = wait_until("the job run to be running with its pid written", || async {
        let t = tries(&api, "sleepy", &run).await;
        let running = t.last().is_some_and(|t| t["driver"]["raw_state"] == "RUNNING");
        let pid = std::fs::read_to_string(&pid_file).ok().filter(|p| !p.trim().is_empty());
        pid.filter(|_| running)
    })
    .await;
    assert!(alive(&pid));

    let url = format!("{}{}/taskInstances/job/kill", api.base, Api::run_path("sleepy", &run));
    let reply = api.http.post(&url).send().await.unwrap();
    assert!(reply.status().is_success(), "{}", reply.text().await.unwrap());
    assert_eq!(api.wait_run("sleepy", &run, DEADLINE).await.unwrap(), "failed");
    let t = tries(&api, "sleepy", &run).await;
    assert_eq!(t.len(), 1, "a kill is final: no retry behind it: {t:#?}");
    let driver = &t[0]["driver"];
    assert_eq!((driver["state"].as_str(), driver["raw_state"].as_str()), (Some("killed"), Some("CANCELLED")), "{driver}");
    assert!(!alive(&pid), "the cancelled job run's process {pid} is still alive");
    d.shutdown().await;
}

#[tokio::test]
async fn the_services_retry_policy_shows_as_cluster_attempts_in_one_try() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    // Fails on the service's first attempt, succeeds on its second.
    script(dags.path(), "flaky.sh", "#!/bin/sh\n[ \"$EMR_SERVERLESS_ATTEMPT\" = 2 ] || exit 4\necho recovered\n");
    dag(dags.path(), "flaky", "serverless_retry", "flaky.sh", "");
    // The embedded backend sets no retryPolicy: one of our own does, on a
    // stand-in port chosen before drover starts so the config can name it.
    let port = free_port();
    let config = write(
        dags.path(),
        "drover.toml",
        &format!(
            r#"
[backends.serverless_retry]
plugin = "emr-serverless"
settings = {{ endpoint = "http://127.0.0.1:{port}", region = "{region}", application_id = "{STAND_IN_APP}", execution_role_arn = "arn:aws:iam::123456789012:role/drover-test", access_key_id = "{key}", max_attempts = 2 }}
secret_env = {{ secret_access_key = "DROVER_STANDIN_SECRET_ACCESS_KEY" }}
"#,
            region = drover_devcluster::serverless::REGION,
            key = drover_devcluster::serverless::ACCESS_KEY_ID,
        ),
    );
    let d = start_on_port(home.path(), dags.path(), config, port).await;
    let api = Api::new(&d);
    let run = api.trigger("flaky", json!({})).await.unwrap();
    assert_eq!(api.wait_run("flaky", &run, DEADLINE).await.unwrap(), "success");
    let t = tries(&api, "flaky", &run).await;
    assert_eq!(t.len(), 1, "the cluster retried, not drover: {t:#?}");
    let driver = &t[0]["driver"];
    assert_eq!((driver["state"].as_str(), driver["cluster_attempt"].as_i64()), (Some("succeeded"), Some(2)), "{driver}");
    let subs: Vec<_> = d.cluster.submissions().into_iter().filter(|s| s.manager == "emr-serverless").collect();
    assert_eq!(subs.len(), 1, "one submission on the stand-in: {subs:?}");
    let id = run_id(driver);
    let work = home.path().join(format!("devcluster/emr-serverless/{id}"));
    assert!(work.join("attempt-1").exists() && work.join("attempt-2").exists());
    d.shutdown().await;
}

#[tokio::test]
async fn a_dag_asking_for_cluster_mode_on_serverless_is_refused_at_load() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    script(dags.path(), "ok.sh", "#!/bin/sh\n");
    write(
        dags.path(),
        "cluster_mode.toml",
        r#"
id = "cluster_mode"
[[tasks]]
id = "job"
backend = "serverless"
application = { resource = "ok.sh", deploy_mode = "cluster" }
"#,
    );
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let errors = api.get("/api/v2/importErrors").await.unwrap();
    assert_eq!(errors["total_entries"], 1, "{errors:#}");
    let text = errors["import_errors"][0]["stack_trace"].as_str().unwrap();
    assert!(text.contains("deploy mode \"cluster\"") && text.contains("service"), "{text}");
    // The plugin's own reason reaches the user, not just the list of modes.
    assert!(text.contains("decides where the driver runs"), "{text}");
    d.shutdown().await;
}

// ---- moto -------------------------------------------------------------------

/// `moto_server` from the venv on a free port; killed on drop.
struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    async fn start() -> Moto {
        let python = support::peers::python_with("moto").expect("moto[server] in the venv");
        let server = python.with_file_name("moto_server");
        assert!(server.exists(), "no moto_server next to {}", python.display());
        let port = free_port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", server.display()));
        let mut moto = Moto { child, url: format!("http://127.0.0.1:{port}") };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            // moto answers its own dashboard API once it is up.
            if http.get(format!("{}/moto-api/", moto.url)).send().await.is_ok() {
                break;
            }
            if let Some(status) = moto.child.try_wait().unwrap() {
                panic!("moto_server exited with {status} before answering");
            }
            assert!(started.elapsed() < Duration::from_secs(60), "moto_server did not answer in 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        moto
    }

    /// Creates an EMR Serverless application through boto3; returns its id.
    fn create_application(&self) -> String {
        let python = support::peers::python_with("boto3").expect("boto3 in the venv");
        let out = Command::new(python)
            .args([
                "-c",
                "import boto3, sys\n\
                 c = boto3.client('emr-serverless', endpoint_url=sys.argv[1], region_name='us-east-1',\n\
                     aws_access_key_id='testing', aws_secret_access_key='testing')\n\
                 print(c.create_application(name='drover', releaseLabel='emr-7.1.0', type='SPARK')['applicationId'])",
                &self.url,
            ])
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "create_application: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn app(resource: &str) -> Application {
    Application {
        name: "moto job".into(),
        resource: resource.into(),
        main_class: Some("com.example.Main".into()),
        args: vec!["--day".into(), "2026-01-01".into()],
        conf: [("spark.sql.shuffle.partitions".into(), "4".into())].into(),
        deploy_mode: DeployMode::Service,
        driver: Resources { memory_mb: Some(2048), cores: Some(1), instances: None },
        executor: Resources { memory_mb: Some(4096), cores: Some(2), instances: Some(2) },
        jars: vec!["s3://bucket/dep.jar".into()],
        files: vec![],
        py_files: vec![],
        env: [("TZ".into(), "UTC".into())].into(),
    }
}

async fn moto_backend(moto: &Moto, application_id: &str) -> Backend {
    let host = PluginHost::new(Limits::default(), Some(plugin_cache())).expect("plugin host");
    let plugin = host.load_named("emr-serverless").await.expect("the bundled plugin loads");
    let settings = [
        ("endpoint", moto.url.as_str()),
        ("region", "us-east-1"),
        ("application_id", application_id),
        // moto refuses a role of another account than its own.
        ("execution_role_arn", "arn:aws:iam::123456789012:role/drover"),
        ("access_key_id", "testing"),
        ("secret_access_key", "testing"),
        ("max_attempts", "2"),
    ];
    let authority = moto.url.trim_start_matches("http://").to_string();
    host.backend(
        "moto",
        plugin,
        settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        &[authority.as_str()],
    )
    .expect("backend")
}

#[tokio::test]
async fn the_plugin_starts_gets_finds_and_cancels_job_runs_on_moto() {
    let moto = Moto::start().await;
    let application_id = moto.create_application();
    let backend = moto_backend(&moto, &application_id).await;

    let id = match backend.submit("drover-moto-key-1", &app("s3://bucket/job.jar")).await {
        Ok(Submitted::Cluster(id)) => id,
        other => panic!("StartJobRun through the plugin: {other:?}"),
    };
    assert!(id.starts_with(&format!("{application_id}/")), "{id}");

    // moto runs nothing: a job run is SUCCESS at once.
    let status = backend.status(&id).await.expect("GetJobRun through the plugin");
    assert_eq!((status.phase, status.raw_state.as_str()), (DriverPhase::Succeeded, "SUCCESS"), "{status:?}");

    // find reads the tag back (ListJobRuns, then GetJobRun).
    assert_eq!(backend.find("drover-moto-key-1").await.expect("find"), Some(id.clone()));
    assert_eq!(backend.find("drover-some-other-key").await.expect("find"), None);

    backend.kill(&id).await.expect("CancelJobRun through the plugin");
    let status = backend.status(&id).await.unwrap();
    assert_eq!((status.phase, status.raw_state.as_str()), (DriverPhase::Killed, "CANCELLED"), "{status:?}");

    // moto's errors (HTTP 400, __type in the body) map like AWS's.
    let missing = format!("{application_id}/00fnosuchjobrun0");
    let err = backend.status(&missing).await.expect_err("unknown job run");
    assert!(err.is_not_found(), "{err:?}");
    drop(moto);
}

// ---- helpers ------------------------------------------------------------------

fn alive(pid: &str) -> bool {
    Path::new(&format!("/proc/{}", pid.trim())).exists()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// drover with its stand-in cluster on `port`.
async fn start_on_port(home: &Path, dags: &Path, config: PathBuf, port: u16) -> Running {
    drover::standalone::start(drover::standalone::Options {
        serve: support::drover::serve_args(home, dags),
        config: Some(config),
        cluster_port: port,
        cluster_url: None,
        spark_submit: Some(env!("CARGO_BIN_EXE_drover-spark-submit").to_string()),
    })
    .await
    .expect("drover starts")
}

async fn wait_until<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The embedded backends of a running drover, built again from the same
/// settings (`backend_configs`) so a test can call a plugin directly.
async fn stand_in_backends(d: &Running) -> drover_plugin_host::BackendSet {
    let stand_in = drover::config::StandIn {
        rest_url: d.cluster.rest_url(),
        master_url: d.cluster.master_url(),
        spark_submit: "spark-submit".into(),
    };
    let host = drover::config::plugin_host(Some(&plugin_cache())).unwrap();
    drover::config::backends(&host, &drover::config::backend_configs(&stand_in, None)).await.unwrap()
}

#[tokio::test]
async fn status_many_pages_through_list_job_runs() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let ok_sh = script(dags.path(), "ok.sh", "#!/bin/sh\necho ok\n");
    script(dags.path(), "boom.sh", "#!/bin/sh\necho boom >&2\nexit 3\n");
    script(dags.path(), "sleepy.sh", "#!/bin/sh\nexec sleep 300\n");
    dag(dags.path(), "many_ok", "serverless", "ok.sh", "");
    dag(dags.path(), "many_boom", "serverless", "boom.sh", "");
    dag(dags.path(), "many_sleepy", "serverless", "sleepy.sh", "");
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let ok = api.trigger("many_ok", json!({})).await.unwrap();
    assert_eq!(api.wait_run("many_ok", &ok, DEADLINE).await.unwrap(), "success");
    let boom = api.trigger("many_boom", json!({})).await.unwrap();
    let sleepy = api.trigger("many_sleepy", json!({})).await.unwrap();
    assert_eq!(api.wait_run("many_boom", &boom, DEADLINE).await.unwrap(), "failed");
    let sleepy_id = wait_until("the sleepy job run to be running", || async {
        let t = tries(&api, "many_sleepy", &sleepy).await;
        t.last()
            .filter(|t| t["driver"]["raw_state"] == "RUNNING")
            .and_then(|t| t["driver"]["cluster_id"].as_str().map(str::to_string))
    })
    .await;
    let first = |t: Vec<Value>| t[0]["driver"]["cluster_id"].as_str().unwrap().to_string();
    let ok_id = first(tries(&api, "many_ok", &ok).await);
    let boom_id = first(tries(&api, "many_boom", &boom).await);

    let set = stand_in_backends(&d).await;
    let emr = set.get("serverless").expect("the embedded serverless backend");
    // More job runs than one ListJobRuns page (50) after the first one, so
    // that finding it takes a second page.
    let app = service_app("filler", &ok_sh);
    for i in 0..51 {
        match emr.submit(&format!("drover-filler-{i}"), &app).await.expect("submit") {
            Submitted::Cluster(_) => {}
            other => panic!("{other:?}"),
        }
    }

    let ids = vec![ok_id, format!("{STAND_IN_APP}/00nosuchjobrun0"), boom_id, sleepy_id];
    let statuses = emr.status_many(&ids).await.expect("status_many");
    assert_eq!(statuses.len(), ids.len(), "{statuses:#?}");
    let ok_st = statuses[0].as_ref().expect("found on the second page");
    assert_eq!((ok_st.phase, ok_st.raw_state.as_str(), ok_st.attempt), (DriverPhase::Succeeded, "SUCCESS", Some(1)));
    assert!(statuses[1].is_none(), "unknown to the service: {statuses:#?}");
    let boom_st = statuses[2].as_ref().unwrap();
    assert_eq!((boom_st.phase, boom_st.raw_state.as_str()), (DriverPhase::Failed, "FAILED"));
    assert_eq!(statuses[3].as_ref().unwrap().phase, DriverPhase::Running);
    for (id, st) in ids.iter().zip(&statuses) {
        if let Some(st) = st {
            let one = emr.status(id).await.unwrap();
            assert_eq!(
                (one.phase, &one.raw_state, one.attempt, &one.message),
                (st.phase, &st.raw_state, st.attempt, &st.message),
                "{id}: the same as GetJobRun"
            );
        }
    }
    emr.kill(&ids[3]).await.unwrap();
    d.shutdown().await;
}

/// A bare service-mode application running `resource`.
fn service_app(name: &str, resource: &Path) -> Application {
    Application {
        name: name.into(),
        resource: resource.display().to_string(),
        main_class: None,
        args: vec![],
        conf: Default::default(),
        deploy_mode: DeployMode::Service,
        driver: Resources { memory_mb: None, cores: None, instances: None },
        executor: Resources { memory_mb: None, cores: None, instances: None },
        jars: vec![],
        files: vec![],
        py_files: vec![],
        env: Default::default(),
    }
}
