//! What the tests of drover's two EMR stand-ins (EMR Serverless, EMR on EKS)
//! share: one-task DAGs on them, their job run ids, a kill, and the
//! service's own retry policy seen as cluster attempts of one try.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

use super::drover::{Api, Running, free_port, script, start, start_on_port, write};
use super::fixtures::job_dag;
use super::wait::{eventually, proc_listed};

const DEADLINE: Duration = Duration::from_secs(120);

/// One of the two services.
pub struct Service {
    /// The embedded backend.
    pub backend: &'static str,
    /// Its plugin, also the stand-in's manager name and work folder.
    pub plugin: &'static str,
    /// What a job run id stands under (`parent/run`).
    pub parent: &'static str,
    /// The variable that tells a driver its attempt.
    pub attempt_env: &'static str,
}

pub const SERVERLESS: Service = Service {
    backend: "serverless",
    plugin: "emr-serverless",
    parent: drover_devcluster::serverless::APPLICATION_ID,
    attempt_env: "EMR_SERVERLESS_ATTEMPT",
};

pub const EKS: Service = Service {
    backend: "eks",
    plugin: "emr-containers",
    parent: drover_devcluster::emr_containers::VIRTUAL_CLUSTER_ID,
    attempt_env: "EMR_CONTAINERS_ATTEMPT",
};

/// A one-task DAG on `backend` (its default deploy mode) running `resource`
/// with the try number as its argument.
pub fn dag(dir: &Path, id: &str, backend: &str, resource: &str, extra_task: &str) {
    job_dag(dir, id, backend, extra_task, &format!("resource = \"{resource}\"\nargs = [\"{{{{ try_number }}}}\"]"));
}

/// Two runs triggered at once: `ok` runs ok.sh, `boom` fails its two tries.
/// Bind every field: the folders go when dropped.
pub struct OkAndBoom {
    pub home: TempDir,
    pub dags: TempDir,
    pub d: Running,
    pub api: Api,
    pub ok: String,
    pub boom: String,
}

/// A run the service retried, and the drover that is still up.
pub struct Retried {
    _home: TempDir,
    _dags: TempDir,
    pub d: Running,
    /// The job run id.
    pub id: String,
}

impl Service {
    /// The job run id of a driver, checked to be under the stand-in's parent.
    pub fn run_id(&self, driver: &Value) -> String {
        let id = driver["cluster_id"].as_str().expect("cluster id");
        let (parent, run) = id.split_once('/').unwrap_or_else(|| panic!("not parent/jobRun: {id}"));
        assert_eq!(parent, self.parent);
        run.to_string()
    }

    /// What this service's stand-in was asked to run.
    pub fn submissions(&self, d: &Running) -> Vec<drover_devcluster::SubmissionRecord> {
        d.cluster.submissions().into_iter().filter(|s| s.manager == self.plugin).collect()
    }

    /// A job run's folder on the stand-in, under drover's home.
    pub fn work(&self, home: &Path, run_id: &str) -> PathBuf {
        home.join(format!("devcluster/{}/{run_id}", self.plugin))
    }

    /// Starts drover with an `ok` DAG and a `boom` one (one retry) on the
    /// embedded backend and triggers both; its first ends succeeded.
    pub async fn ok_and_boom(&self) -> OkAndBoom {
        let home = tempfile::tempdir().unwrap();
        let dags = tempfile::tempdir().unwrap();
        script(dags.path(), "ok.sh", "#!/bin/sh\necho \"ok on try $1\"\n");
        script(dags.path(), "boom.sh", "#!/bin/sh\necho \"try $1 failing\" >&2\nexit 3\n");
        dag(dags.path(), "ok", self.backend, "ok.sh", "");
        dag(dags.path(), "boom", self.backend, "boom.sh", "retries = 1\nretry_delay = \"100ms\"");
        let d = start(home.path(), dags.path(), None).await.expect("drover starts");
        let api = Api::new(&d);
        let ok = api.trigger("ok", json!({})).await.unwrap();
        let boom = api.trigger("boom", json!({})).await.unwrap();
        OkAndBoom { home, dags, d, api, ok, boom }
    }

    /// Killing a running task cancels its job run, the try ends killed with
    /// no retry behind it, and the driver's process is gone.
    pub async fn kill_cancels_the_job_run(&self) {
        let home = tempfile::tempdir().unwrap();
        let dags = tempfile::tempdir().unwrap();
        let pid_file = dags.path().join("pid");
        script(dags.path(), "sleepy.sh", &format!("#!/bin/sh\necho $$ > {}\nexec sleep 300\n", pid_file.display()));
        dag(dags.path(), "sleepy", self.backend, "sleepy.sh", "retries = 2");
        let d = start(home.path(), dags.path(), None).await.expect("drover starts");
        let api = Api::new(&d);
        let run = api.trigger("sleepy", json!({})).await.unwrap();
        let pid = eventually("the job run to be running with its pid written", DEADLINE, || async {
            let t = api.tries("sleepy", &run, "job").await.unwrap();
            let running = t.last().is_some_and(|t| t["driver"]["raw_state"] == "RUNNING");
            let pid = std::fs::read_to_string(&pid_file).ok().filter(|p| !p.trim().is_empty());
            pid.filter(|_| running)
        })
        .await;
        assert!(proc_listed(&pid));

        let reply = api.kill("sleepy", &run, "job").await;
        assert!(reply.status().is_success(), "{}", reply.text().await.unwrap());
        assert_eq!(api.wait_run("sleepy", &run, DEADLINE).await.unwrap(), "failed");
        let t = api.tries("sleepy", &run, "job").await.unwrap();
        assert_eq!(t.len(), 1, "a kill is final: no retry behind it: {t:#?}");
        let driver = &t[0]["driver"];
        assert_eq!((driver["state"].as_str(), driver["raw_state"].as_str()), (Some("killed"), Some("CANCELLED")), "{driver}");
        assert!(!proc_listed(&pid), "the cancelled job run's driver {pid} is still alive");
        d.shutdown().await;
    }

    /// A driver that fails on the service's first attempt and succeeds on
    /// its second, on backend `retrying` of `config` (given the stand-in's
    /// port, chosen before drover starts so the config can name it): one
    /// try, succeeded on cluster attempt 2, one job run with both attempts'
    /// folders. drover and the job run id, for more checks.
    pub async fn retried_by_the_service(&self, retrying: &str, config: impl FnOnce(u16) -> String) -> Retried {
        let home = tempfile::tempdir().unwrap();
        let dags = tempfile::tempdir().unwrap();
        let flaky = format!("#!/bin/sh\n[ \"${}\" = 2 ] || exit 4\necho recovered\n", self.attempt_env);
        script(dags.path(), "flaky.sh", &flaky);
        dag(dags.path(), "flaky", retrying, "flaky.sh", "");
        let port = free_port();
        let config = write(dags.path(), "drover.toml", &config(port));
        let d = start_on_port(home.path(), dags.path(), config, port).await;
        let api = Api::new(&d);
        let run = api.trigger("flaky", json!({})).await.unwrap();
        assert_eq!(api.wait_run("flaky", &run, DEADLINE).await.unwrap(), "success");
        let t = api.tries("flaky", &run, "job").await.unwrap();
        assert_eq!(t.len(), 1, "the cluster retried, not drover: {t:#?}");
        let driver = &t[0]["driver"];
        assert_eq!((driver["state"].as_str(), driver["cluster_attempt"].as_i64()), (Some("succeeded"), Some(2)), "{driver}");
        let subs = self.submissions(&d);
        assert_eq!(subs.len(), 1, "one job run on the stand-in: {subs:?}");
        let id = self.run_id(driver);
        let work = self.work(home.path(), &id);
        assert!(work.join("attempt-1").exists() && work.join("attempt-2").exists());
        Retried { _home: home, _dags: dags, d, id }
    }
}
