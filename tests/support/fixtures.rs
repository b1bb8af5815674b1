//! DAG files and scripts the backend tests share, and the checks every
//! bundled example DAG must pass.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::drover::{Api, repo_dags, script, start, write};

const DEADLINE: Duration = Duration::from_secs(120);

/// An application that says ok.
pub const OK_SH: &str = "#!/bin/sh\necho ok\n";
/// An application that fails with exit code 3.
pub const BOOM_SH: &str = "#!/bin/sh\necho boom >&2\nexit 3\n";
/// An application that runs until it is killed.
pub const SLEEPY_SH: &str = "#!/bin/sh\nexec sleep 300\n";

/// A DAG `id` of one task, `job`, on `backend` with no retries unless `task`
/// (lines of the task's table) sets them; `application` holds the lines of
/// its application table.
pub fn job_dag(dir: &Path, id: &str, backend: &str, task: &str, application: &str) -> PathBuf {
    write(
        dir,
        &format!("{id}.toml"),
        &format!(
            "id = \"{id}\"\n[defaults]\nbackend = \"{backend}\"\nretries = 0\n[[tasks]]\nid = \"job\"\n{task}\n\
             [tasks.application]\n{application}\n"
        ),
    )
}

/// An application whose main script, py-file and file are all local, in
/// `dir`, as the staging tests submit it: the script shows what it finds in
/// its working directory and where it runs from.
pub fn local_app(dir: &Path, deploy_mode: drover_dag::DeployMode) -> drover_dag::Application {
    let main = script(dir, "main.sh", "#!/bin/sh\necho \"main ran with $1 from $0\"\ncat dep.py\ncat data.txt\n");
    let dep = write(dir, "dep.py", "DEP = 'from the staged py-file'\n");
    let data = write(dir, "data.txt", "from the staged file\n");
    drover_dag::Application {
        name: "staged".into(),
        resource: main.display().to_string(),
        main_class: None,
        args: vec!["an-arg".into()],
        conf: Default::default(),
        deploy_mode,
        driver: drover_dag::Resources { memory_mb: Some(512), cores: Some(1), instances: None },
        executor: drover_dag::Resources { memory_mb: Some(512), cores: Some(1), instances: Some(1) },
        jars: vec![],
        files: vec![format!("file://{}", data.display())],
        py_files: vec![dep.display().to_string()],
        env: Default::default(),
        proxy_user: None,
    }
}

/// `items` as a TOML array of strings.
pub fn toml_strings(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|a| format!("{a:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The import errors of a drover started on DAG folder holding `scripts`
/// and DAG `files` (name, text): how a DAG refused at load is reported.
pub async fn import_errors(scripts: &[(&str, &str)], files: &[(&str, &str)]) -> Value {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    for (name, text) in scripts {
        script(dags.path(), name, text);
    }
    for (name, text) in files {
        write(dags.path(), name, text);
    }
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let errors = Api::new(&d).get("/api/v2/importErrors").await.unwrap();
    d.shutdown().await;
    errors
}

/// The example DAG `dag_id` from the repository's dags/ loads with the rest
/// without an error and succeeds out of the box: its task `task` in one try
/// on `backend`, the driver ending `raw_state`, the five-line count in its log.
pub async fn example_dag_succeeds(dag_id: &str, task: &str, backend: &str, raw_state: &str) {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.unwrap();
    let api = Api::new(&d);
    let errors = api.get("/api/v2/importErrors").await.unwrap();
    assert_eq!(errors["total_entries"], 0, "{errors:#}");
    let run = api.trigger(dag_id, json!({})).await.unwrap();
    assert_eq!(api.wait_run(dag_id, &run, DEADLINE).await.unwrap(), "success");
    let tries = api.tries(dag_id, &run, task).await.unwrap();
    assert_eq!(tries.len(), 1);
    assert_eq!(tries[0]["driver"]["backend"], backend);
    assert_eq!(tries[0]["driver"]["raw_state"], raw_state);
    let log = api.log(dag_id, &run, task, 1).await.unwrap();
    assert!(log.contains(r#""lines": 5"#), "log: {log}");
    d.shutdown().await;
}


/// (backend, deploy mode) of [`chains_dag`]'s tasks, round robin.
pub const KINDS: &[(&str, &str)] = &[("local", "cluster"), ("local", "client"), ("yarn", "cluster"), ("yarn", "client"), ("serverless", "service"), ("k8s", "cluster"), ("k8s", "client")];

/// DAG `id`: five chains of ten tasks across every backend and deploy mode
/// (drivers that run for half a second to under two), plus a final join:
/// 51 tasks, each with `retries`, at most three runs at once. Returns the
/// task count.
pub fn chains_dag(dags: &Path, id: &str, retries: usize) -> usize {
    // A driver that runs for the seconds it is given.
    script(dags, "work", "#!/bin/sh\nsleep \"$1\"\necho worked \"$1\"\n");
    let mut text = format!("id = \"{id}\"\nmax_active_runs = 3\n[defaults]\nretries = {retries}\nretry_delay = \"200ms\"\n");
    let mut count = 0;
    for chain in 0..5 {
        for step in 0..10 {
            let (backend, mode) = KINDS[count % KINDS.len()];
            let task = format!("c{chain}_s{step}");
            let deps = if step == 0 { String::new() } else { format!("depends_on = [\"c{chain}_s{}\"]\n", step - 1) };
            let tenths = 5 + (chain * 7 + step * 3) % 12;
            let seconds = format!("{}.{}", tenths / 10, tenths % 10);
            text.push_str(&format!(
                "[[tasks]]\nid = \"{task}\"\nbackend = \"{backend}\"\n{deps}[tasks.application]\nresource = \"work\"\nmain_class = \"Work\"\ndeploy_mode = \"{mode}\"\nargs = [\"{seconds}\"]\n"
            ));
            count += 1;
        }
    }
    text.push_str("[[tasks]]\nid = \"join\"\nbackend = \"local\"\ndepends_on = [\"c0_s9\", \"c1_s9\", \"c2_s9\", \"c3_s9\", \"c4_s9\"]\n[tasks.application]\nresource = \"work\"\nmain_class = \"Work\"\ndeploy_mode = \"cluster\"\nargs = [\"1\"]\n");
    write(dags, &format!("{id}.toml"), &text);
    count + 1
}

/// The stand-in cluster on 127.0.0.1 (any free ports), drivers under `work`.
pub async fn dev_cluster(work: &Path) -> drover_devcluster::DevCluster {
    drover_devcluster::DevCluster::start(drover_devcluster::DevClusterConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        work_dir: work.to_path_buf(),
        ..drover_devcluster::DevClusterConfig::default()
    })
    .await
    .expect("the stand-in cluster starts")
}
