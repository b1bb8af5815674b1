//! Staging (issue 15): in cluster mode, drover's host uploads an
//! application's local files to the cluster before the plugin submits, and
//! removes them once the try ends. Here on YARN through WebHDFS, against the
//! embedded stand-in, whose WebHDFS is itself checked with the PyPI `hdfs`
//! client (HdfsCLI); and a drover process killed with SIGKILL between
//! staging and submitting, whose successor sends the same try again.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use drover_dag::{Application, DeployMode};
use drover_devcluster::DevCluster;
use drover_plugin_host::{Backend, DriverPhase, ErrorKind, Limits, PluginHost, StagingConfig, Submitted};
use support::drover::script as write;
use support::fixtures::{dev_cluster, local_app};
use support::wait::{driver_ended as wait_ended, eventually, succeeded_stdout};

const DEADLINE: Duration = Duration::from_secs(60);
const STAGING_DIR: &str = "/user/drover/.sparkStaging";


/// The bundled yarn plugin on the stand-in's ResourceManager at `rm_url`,
/// staging to the stand-in's WebHDFS.
async fn yarn(cluster: &DevCluster, rm_url: &str) -> Backend {
    let host = PluginHost::new(Limits::default(), Some(support::drover::plugin_cache())).expect("plugin host");
    let plugin = host.load_named("yarn").await.expect("the bundled yarn plugin loads");
    let cluster_host = cluster.addr().to_string();
    let rm_host = rm_url.trim_start_matches("http://").to_string();
    let settings = vec![("rm_url".to_string(), rm_url.to_string()), ("user".to_string(), "drover".to_string())];
    let staging: StagingConfig = serde_json::from_value(serde_json::json!({
        "webhdfs": cluster.rest_url(),
        "dir": STAGING_DIR,
        "user": "drover",
    }))
    .unwrap();
    host.backend("yarn", plugin, settings, &[cluster_host.as_str(), rm_host.as_str()])
        .expect("backend")
        .with_staging(staging)
        .expect("staging config")
}


/// The stand-in HDFS directory of a try's staged files, and what is in it.
fn staged(cluster: &DevCluster, key: &str) -> (PathBuf, Vec<String>) {
    let dir = cluster.work_dir().join("hdfs").join(STAGING_DIR.trim_start_matches('/')).join(format!("drover-{key}"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    (dir, names)
}

/// Every try directory under the staging directory.
fn try_dirs(cluster: &DevCluster) -> Vec<String> {
    let root = cluster.work_dir().join("hdfs").join(STAGING_DIR.trim_start_matches('/'));
    let mut names: Vec<String> = std::fs::read_dir(root)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}


#[tokio::test]
async fn the_stand_in_webhdfs_serves_the_hdfs_pypi_client() {
    let python = support::peers::python_with("hdfs").unwrap();
    let work = tempfile::tempdir().unwrap();
    let c = dev_cluster(work.path()).await;
    let script = r#"
import faulthandler, sys, hdfs
faulthandler.dump_traceback_later(60, exit=True)  # a hang fails the test, with where it hung
c = hdfs.InsecureClient(sys.argv[1], user="drover")
c.makedirs("/user/drover/t")
c.write("/user/drover/t/a.txt", data=b"hello webhdfs", overwrite=True)
c.write("/user/drover/t/a.txt", data=b"hello again", overwrite=True)
try:
    c.write("/user/drover/t/a.txt", data=b"x", overwrite=False)
    print("overwrote")
except hdfs.HdfsError as e:
    print("refused:", e)
st = c.status("/user/drover/t/a.txt")
print("status:", st["length"], st["type"], st["modificationTime"] > 0)
print("list:", c.list("/user/drover/t"))
with c.read("/user/drover/t/a.txt") as r:
    print("read:", r.read().decode())
c.write("/keep/big.bin", data=bytes(range(256)) * 4096, overwrite=True)
print("deleted:", c.delete("/user/drover/t", recursive=True))
print("gone:", c.status("/user/drover/t", strict=False))
"#;
    // On a blocking thread: the stand-in answers on this test's runtime.
    let mut cmd = std::process::Command::new(python);
    cmd.args(["-c", script, &c.rest_url()]);
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("refused:") && lines[0].contains("already exists"), "{stdout}");
    assert_eq!(
        &lines[1..],
        ["status: 11 FILE True", "list: ['a.txt']", "read: hello again", "deleted: True", "gone: None"],
        "{stdout}"
    );
    // The bytes went to the stand-in's directory, whole.
    let big = std::fs::read(c.work_dir().join("hdfs/keep/big.bin")).unwrap();
    assert_eq!(big.len(), 256 * 4096);
    assert!(big.chunks(256).all(|c| c.iter().copied().eq(0..=255u8)));
    assert!(!c.work_dir().join("hdfs/user/drover/t").exists());
    c.shutdown().await;
}

#[tokio::test]
async fn cluster_mode_stages_local_files_to_webhdfs_and_removes_them_after_the_try() {
    let work = tempfile::tempdir().unwrap();
    let apps = tempfile::tempdir().unwrap();
    let c = dev_cluster(work.path()).await;
    let backend = yarn(&c, &c.rest_url()).await;
    let app = local_app(apps.path(), DeployMode::Cluster);
    let key = "drover-staging-1";

    let Submitted::Cluster(id) = backend.submit(key, &app).await.expect("submits") else {
        panic!("cluster mode")
    };
    // Staged under the try's own directory, by name; the plugin referred to
    // the staged copies with their real sizes and times (the stand-in
    // checks both before it runs the AM).
    let (dir, names) = staged(&c, key);
    assert_eq!(names, ["data.txt", "dep.py", "main.sh"], "{}", dir.display());
    let log = succeeded_stdout(&backend, &id).await;
    assert!(log.contains("main ran with an-arg"), "{log}");
    assert!(log.contains("from the staged py-file") && log.contains("from the staged file"), "{log}");
    // The scheduler removes them as it records the try's end.
    backend.remove_staged(key).await;
    eventually("the staged files are removed", DEADLINE, || async { (!dir.exists()).then_some(()) }).await;
    assert_eq!(try_dirs(&c), Vec::<String>::new());
    c.shutdown().await;
}

#[tokio::test]
async fn a_local_archive_is_staged_and_unpacked_under_its_alias_where_the_driver_runs() {
    use std::io::Write as _;
    let work = tempfile::tempdir().unwrap();
    let apps = tempfile::tempdir().unwrap();
    let c = dev_cluster(work.path()).await;
    let backend = yarn(&c, &c.rest_url()).await;
    let archive = apps.path().join("env.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&archive).unwrap());
    let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("inner.txt", deflated).unwrap();
    zip.write_all(b"from the staged archive\n").unwrap();
    zip.start_file("lib/deep.txt", deflated).unwrap();
    zip.write_all(b"from deep in the archive\n").unwrap();
    zip.finish().unwrap();
    let mut app = local_app(apps.path(), DeployMode::Cluster);
    app.resource = write(apps.path(), "main.sh", "#!/bin/sh\ncat env/inner.txt\ncat env/lib/deep.txt\n").display().to_string();
    // A remote archive beside it stays as it is (it is not the host's to move).
    app.conf.insert("spark.archives".into(), format!("file://{}#env, hdfs://elsewhere:8020/x.zip#x", archive.display()));
    let key = "drover-archive-1";

    let Submitted::Cluster(id) = backend.submit(key, &app).await.expect("submits") else { panic!("cluster mode") };
    let (dir, names) = staged(&c, key);
    assert_eq!(names, ["data.txt", "dep.py", "env.zip", "main.sh"], "{}", dir.display());
    assert_eq!(std::fs::read(dir.join("env.zip")).unwrap(), std::fs::read(&archive).unwrap(), "staged byte for byte");
    // The driver finds env/ only if the plugin sent the staged archive as an
    // ARCHIVE resource named `env` with its real size and time: the stand-in
    // NodeManager checks both, then unpacks it into the container.
    let log = succeeded_stdout(&backend, &id).await;
    assert!(log.contains("from the staged archive") && log.contains("from deep in the archive"), "{log}");
    // The scheduler removes them as it records the try's end.
    backend.remove_staged(key).await;
    eventually("the staged files are removed", DEADLINE, || async { (!dir.exists()).then_some(()) }).await;
    assert_eq!(try_dirs(&c), Vec::<String>::new());
    c.shutdown().await;
}

#[tokio::test]
async fn a_staged_file_that_changed_after_staging_is_refused_by_the_node_manager() {
    // The stand-in checks size and modification time as a NodeManager does,
    // so staging that sent 0 (as the plugin did before issue 15) fails here.
    let work = tempfile::tempdir().unwrap();
    let c = dev_cluster(work.path()).await;
    let host = PluginHost::new(Limits::default(), Some(support::drover::plugin_cache())).unwrap();
    let plugin = host.load_named("yarn").await.unwrap();
    let authority = c.addr().to_string();
    let backend = host
        .backend("yarn", plugin, vec![("rm_url".into(), c.rest_url())], &[authority.as_str()])
        .unwrap();
    let file = c.work_dir().join("hdfs/pre/main.sh");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    write(file.parent().unwrap(), "main.sh", "#!/bin/sh\necho hi\n");
    let uri = format!("hdfs://{authority}/pre/main.sh");
    let mut app = local_app(work.path(), DeployMode::Cluster);
    app.resource = uri.clone();
    app.py_files.clear();
    app.files.clear();
    app.conf = [
        ("spark.yarn.cache.filenames".to_string(), format!("{uri}#main.sh")),
        ("spark.yarn.cache.sizes".to_string(), "999".to_string()),
        ("spark.yarn.cache.timestamps".to_string(), "1".to_string()),
    ]
    .into();
    let Submitted::Cluster(id) = backend.submit("drover-stale", &app).await.unwrap() else { panic!() };
    let st = wait_ended(&backend, &id).await;
    assert_eq!(st.phase, DriverPhase::Failed, "{st:?}");
    assert!(st.message.as_deref().unwrap_or_default().contains("changed on src filesystem"), "{st:?}");
    c.shutdown().await;
}

#[tokio::test]
async fn a_try_sent_again_after_a_crash_between_upload_and_submit_stages_its_files_once() {
    let work = tempfile::tempdir().unwrap();
    let apps = tempfile::tempdir().unwrap();
    let c = dev_cluster(work.path()).await;
    let app = local_app(apps.path(), DeployMode::Cluster);
    let key = "drover-crashed-1";
    // The first drover uploads, then never submits: its ResourceManager is
    // not there (as if the process died between the two).
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone_url = format!("http://{}", gone.local_addr().unwrap());
    drop(gone);
    let first = yarn(&c, &gone_url).await;
    let e = first.submit(key, &app).await.expect_err("no ResourceManager");
    assert_eq!(e.kind(), Some(ErrorKind::Unavailable), "{e}");
    let (dir, before) = staged(&c, key);
    assert_eq!(before, ["data.txt", "dep.py", "main.sh"]);

    // The next drover sends the same try (same key) again.
    let second = yarn(&c, &c.rest_url()).await;
    let Submitted::Cluster(id) = second.submit(key, &app).await.expect("submits") else { panic!() };
    assert_eq!(staged(&c, key).1, before, "the same files, written again, none beside them");
    assert_eq!(try_dirs(&c), [format!("drover-{key}")]);
    let st = wait_ended(&second, &id).await;
    assert_eq!(st.phase, DriverPhase::Succeeded, "{st:?}");
    // The scheduler removes them as it records the try's end.
    second.remove_staged(key).await;
    eventually("the staged files are removed", DEADLINE, || async { (!dir.exists()).then_some(()) }).await;
    assert_eq!(try_dirs(&c), Vec::<String>::new());
    c.shutdown().await;
}

#[tokio::test]
async fn staging_goes_only_to_allowed_hosts_and_a_missing_file_fails_the_try() {
    let work = tempfile::tempdir().unwrap();
    let apps = tempfile::tempdir().unwrap();
    let c = dev_cluster(work.path()).await;
    let host = PluginHost::new(Limits::default(), Some(support::drover::plugin_cache())).unwrap();
    let plugin = host.load_named("yarn").await.unwrap();
    let allowed = c.addr().to_string();
    // The same server by another name: the allowlist matches names.
    let elsewhere: StagingConfig = serde_json::from_value(serde_json::json!({
        "webhdfs": format!("http://localhost:{}", c.addr().port()),
    }))
    .unwrap();
    let backend = host
        .backend("yarn", plugin.clone(), vec![("rm_url".into(), c.rest_url())], &[allowed.as_str()])
        .unwrap()
        .with_staging(elsewhere)
        .unwrap();
    let app = local_app(apps.path(), DeployMode::Cluster);
    let e = backend.submit("drover-denied", &app).await.expect_err("denied");
    assert!(matches!(e, drover_plugin_host::CallError::Denied { ref host, .. } if host.starts_with("localhost:")), "{e}");
    assert!(c.submissions().is_empty(), "nothing was submitted");

    let backend = yarn(&c, &c.rest_url()).await;
    let mut app = local_app(apps.path(), DeployMode::Cluster);
    app.py_files.push(apps.path().join("missing.py").display().to_string());
    let e = backend.submit("drover-missing", &app).await.expect_err("a missing file");
    assert_eq!(e.kind(), Some(ErrorKind::Invalid), "{e}");
    assert!(e.to_string().contains("missing.py"), "{e}");
    assert!(c.submissions().is_empty(), "nothing was submitted");
    assert_eq!(try_dirs(&c), Vec::<String>::new(), "nothing was staged");
    c.shutdown().await;
}

/// The DAG `staged` running `app` on a YARN backend that reaches the
/// ResourceManager at `rm` and stages to the stand-in's WebHDFS; the path
/// of the config file that says so.
fn staged_drover(root: &Path, dags: &Path, app: &Application, rm: &str, c: &DevCluster) -> String {
    let application = format!(
        "resource = {:?}\nmain_class = \"drover.Test\"\ndeploy_mode = \"cluster\"\nargs = [\"an-arg\"]\npy_files = [{:?}]\nfiles = [{:?}]",
        app.resource, app.py_files[0], app.files[0]
    );
    support::fixtures::job_dag(dags, "staged", "yarn_staged", "", &application);
    let config = format!(
        "[backends.yarn_staged]\nplugin = \"yarn\"\nallowed_hosts = [{rm:?}, {cluster:?}]\n\
         settings = {{ rm_url = \"http://{rm}\", user = \"drover\" }}\n\
         [backends.yarn_staged.staging]\nwebhdfs = \"http://{cluster}\"\ndir = {STAGING_DIR:?}\nuser = \"drover\"\n",
        cluster = c.addr().to_string(),
    );
    write(root, "drover.toml", &config).display().to_string()
}

#[tokio::test]
async fn a_drover_killed_while_the_driver_runs_removes_its_staged_files_after_the_restart() {
    use support::child::{kill9, start_drover};

    let root = tempfile::tempdir().unwrap();
    let c = dev_cluster(&root.path().join("cluster")).await;
    let dags = root.path().join("dags");
    std::fs::create_dir_all(&dags).unwrap();
    let mut app = local_app(&dags, DeployMode::Cluster);
    // The driver runs until the test lets it end.
    let flag = root.path().join("finish");
    let main = format!("#!/bin/sh\nwhile [ ! -e {flag:?} ]; do sleep 0.05; done\ncat dep.py\n", flag = flag.display().to_string());
    app.resource = write(&dags, "main.sh", &main).display().to_string();
    let config_arg = staged_drover(root.path(), &dags, &app, &c.addr().to_string(), &c);
    let home = root.path().join("home");
    let extra = ["--config", config_arg.as_str()];

    let (mut first, api) = start_drover(&home, &dags, &c.rest_url(), &extra).await.unwrap();
    let run = api.trigger("staged", serde_json::json!({})).await.unwrap();
    api.wait_driver("staged", &run, "job", "running").await;
    assert_eq!(try_dirs(&c).len(), 1, "staged while the driver runs");
    kill9(&mut first).await.unwrap();
    // The driver ends while no drover watches; the next one re-attaches by
    // its stored id, sees the end, and removes what the try staged.
    std::fs::write(&flag, "").unwrap();
    let (mut second, api) = start_drover(&home, &dags, &c.rest_url(), &extra).await.unwrap();
    assert_eq!(api.wait_run("staged", &run, DEADLINE).await.unwrap(), "success");
    assert!(api.log("staged", &run, "job", 1).await.unwrap().contains("from the staged py-file"));
    eventually("the staged files are removed", DEADLINE, || async { try_dirs(&c).is_empty().then_some(()) }).await;
    kill9(&mut second).await.unwrap();
    c.shutdown().await;
}

#[tokio::test]
async fn a_drover_killed_between_upload_and_submit_sends_the_try_again_without_duplicating_or_leaking_files() {
    use support::child::{kill9, start_drover};
    use support::proxy::Proxy;

    let root = tempfile::tempdir().unwrap();
    let c = dev_cluster(&root.path().join("cluster")).await;
    // The plugin reaches the ResourceManager through a proxy that holds the
    // answer to `new-application`, the plugin's first request: drover has
    // staged by then and not yet submitted.
    let proxy = Proxy::start(c.addr()).await;
    proxy.hold("POST", "/ws/v1/cluster/apps/new-application");
    let dags = root.path().join("dags");
    std::fs::create_dir_all(&dags).unwrap();
    let app = local_app(&dags, DeployMode::Cluster);
    let config_arg = staged_drover(root.path(), &dags, &app, &proxy.addr().to_string(), &c);
    let home = root.path().join("home");
    let extra = ["--config", config_arg.as_str()];

    let (mut first, api) = start_drover(&home, &dags, &c.rest_url(), &extra).await.unwrap();
    let run = api.trigger("staged", serde_json::json!({})).await.unwrap();
    proxy.wait_held(1, DEADLINE).await.unwrap();
    let staged_dirs = try_dirs(&c);
    assert_eq!(staged_dirs.len(), 1, "{staged_dirs:?}");
    let key = staged_dirs[0].strip_prefix("drover-").unwrap().to_string();
    assert_eq!(staged(&c, &key).1, ["data.txt", "dep.py", "main.sh"]);
    kill9(&mut first).await.unwrap();
    proxy.release();

    let (mut second, api) = start_drover(&home, &dags, &c.rest_url(), &extra).await.unwrap();
    assert_eq!(api.wait_run("staged", &run, DEADLINE).await.unwrap(), "success");
    let log = api.log("staged", &run, "job", 1).await.unwrap();
    assert!(log.contains("from the staged py-file"), "{log}");
    // One application, one try directory, and that one removed at the end.
    let yarn_apps = c.submissions().into_iter().filter(|s| s.manager == "yarn").count();
    assert_eq!(yarn_apps, 1);
    eventually("the staged files are removed", DEADLINE, || async { try_dirs(&c).is_empty().then_some(()) }).await;
    kill9(&mut second).await.unwrap();
    c.shutdown().await;
}

#[tokio::test]
async fn a_file_larger_than_the_plugins_memory_is_staged_by_streaming_it() {
    // The plugin's sandbox has 16 MiB here; the file is 40 MiB. Only a host
    // that streams it (and keeps it out of the plugin) can stage it.
    let work = tempfile::tempdir().unwrap();
    let apps = tempfile::tempdir().unwrap();
    let c = dev_cluster(work.path()).await;
    let backend = yarn(&c, &c.rest_url())
        .await
        .with_limits(Limits { memory_bytes: 16 << 20, ..Limits::default() });
    let mut app = local_app(apps.path(), DeployMode::Cluster);
    let big = apps.path().join("big.bin");
    let chunk: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&big).unwrap();
        for _ in 0..40 {
            f.write_all(&chunk).unwrap();
        }
    }
    app.files.push(big.display().to_string());
    let key = "drover-big-1";
    let Submitted::Cluster(id) = backend.submit(key, &app).await.expect("submits") else { panic!() };
    let (dir, names) = staged(&c, key);
    assert!(names.contains(&"big.bin".to_string()), "{names:?}");
    let copy = std::fs::read(dir.join("big.bin")).unwrap();
    assert_eq!(copy.len(), 40 << 20);
    assert!(copy.chunks(1 << 20).all(|c| c == chunk.as_slice()), "the staged copy is the file, byte for byte");
    drop(copy);
    let st = wait_ended(&backend, &id).await;
    assert_eq!(st.phase, DriverPhase::Succeeded, "{st:?}");
    // The scheduler removes them as it records the try's end.
    backend.remove_staged(key).await;
    eventually("the staged files are removed", DEADLINE, || async { (!dir.exists()).then_some(()) }).await;
    c.shutdown().await;
}
