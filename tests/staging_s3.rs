//! Staging to S3 (issue 15): for a driver that runs on the cluster,
//! drover's host uploads an application's local files to an S3 bucket
//! before the plugin submits (PutObject, or a multipart upload for a file
//! larger than a part), hands the plugin `s3a://` URIs (Kubernetes) or
//! `s3://` URIs (EMR), and removes the objects once the try ends. S3 here is
//! moto's server, an implementation nobody here wrote; what landed in it is
//! read back with boto3. The stand-in cluster fetches the staged objects
//! from the same moto before it runs a driver, as a real driver does. A
//! drover process killed with SIGKILL between staging and submitting has a
//! successor that sends the same try again, to the same keys.

mod support;

use std::path::Path;
use std::time::Duration;

use drover_dag::{Application, DeployMode};
use drover_devcluster::{DevCluster, DevClusterConfig, emr_containers};
use drover_plugin_host::{Backend, DriverPhase, ErrorKind, Limits, PluginHost, S3Credentials, StagingConfig, Submitted};
use support::moto::{Moto, boto3};
use support::drover::script as write;
use support::fixtures::local_app;
use support::wait::{driver_ended as wait_ended, succeeded_stdout};

const BUCKET: &str = "drover-staging";
const DEADLINE: Duration = Duration::from_secs(60);
/// The role the EMR on EKS job runs here run as (the stand-in checks its form only).
const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/drover-test";

async fn cluster(dir: &Path, moto: &Moto) -> DevCluster {
    DevCluster::start(DevClusterConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        work_dir: dir.to_path_buf(),
        s3: Some(moto.url.clone()),
        ..DevClusterConfig::default()
    })
    .await
    .expect("devcluster starts")
}

async fn create_bucket(moto: &Moto) {
    let script = r#"
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
s3.create_bucket(Bucket=sys.argv[2])
"#;
    boto3(script, &[&moto.url, BUCKET]).await;
}

/// Staging to moto's S3, in parts of `part_size` bytes.
fn staging(moto: &Moto, keep: bool, part_size: u64) -> StagingConfig {
    serde_json::from_value(serde_json::json!({
        "s3": moto.url,
        "bucket": BUCKET,
        "keep": keep,
        "part_size": part_size,
    }))
    .unwrap()
}

/// The bundled kubernetes plugin on the stand-in's API server, staging to moto.
async fn kubernetes(cluster: &DevCluster, moto: &Moto, staging: StagingConfig) -> Backend {
    let host = PluginHost::new(Limits::default(), Some(support::drover::plugin_cache())).expect("plugin host");
    let plugin = host.load_named("kubernetes").await.expect("the bundled kubernetes plugin loads");
    let (api, s3) = (cluster.addr().to_string(), moto.url.trim_start_matches("http://").to_string());
    let staging = staging.with_credentials(S3Credentials::new("testing".into(), "testing".into(), None));
    host.backend("k8s", plugin, vec![("api_url".into(), cluster.rest_url())], &[api.as_str(), s3.as_str()])
        .expect("backend")
        .with_staging(staging)
        .expect("staging config")
}

/// The bundled emr-containers plugin on the stand-in's EMR on EKS endpoint,
/// staging to moto with the backend's own signing credentials (no
/// credentials in the staging table).
async fn emr_on_eks(cluster: &DevCluster, moto: &Moto) -> Backend {
    let host = PluginHost::new(Limits::default(), Some(support::drover::plugin_cache())).expect("plugin host");
    let plugin = host.load_named("emr-containers").await.expect("the bundled emr-containers plugin loads");
    let settings = [
        ("endpoint", cluster.rest_url()),
        ("region", emr_containers::REGION.to_string()),
        ("virtual_cluster_id", emr_containers::VIRTUAL_CLUSTER_ID.to_string()),
        ("execution_role_arn", EXECUTION_ROLE.to_string()),
        ("release_label", emr_containers::RELEASE_LABEL.to_string()),
        ("access_key_id", emr_containers::ACCESS_KEY_ID.to_string()),
        ("secret_access_key", emr_containers::SECRET_ACCESS_KEY.to_string()),
    ];
    let settings = settings.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let (api, s3) = (cluster.addr().to_string(), moto.url.trim_start_matches("http://").to_string());
    host.backend("eks", plugin, settings, &[api.as_str(), s3.as_str()])
        .expect("backend")
        .with_staging(staging(moto, false, 8 << 20))
        .expect("staging config")
}

/// Waits until nothing is left under `prefix`: boto3 lists it (ListObjectsV2)
/// every 100 ms, for at most a minute.
async fn wait_gone(moto: &Moto, prefix: &str) {
    let script = r#"
import sys, time, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
deadline = time.monotonic() + 60
while True:
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=sys.argv[2], Prefix=sys.argv[3]).get("Contents", [])]
    if not left:
        print("gone")
        break
    if time.monotonic() > deadline:
        print("left:", left)
        break
    time.sleep(0.1)
"#;
    let out = boto3(script, &[&moto.url, BUCKET, prefix]).await;
    assert_eq!(out.trim(), "gone", "the staged objects are removed");
}

/// `name size same etag` of every object under `prefix`, read with boto3;
/// `same` says whether its bytes are those of the file of its name in
/// `local` (`-` when there is none).
async fn objects(moto: &Moto, prefix: &str, local: &Path) -> Vec<String> {
    let script = r#"
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
listed = s3.list_objects_v2(Bucket=sys.argv[2], Prefix=sys.argv[3]).get("Contents", [])
for o in sorted(listed, key=lambda o: o["Key"]):
    name = o["Key"][len(sys.argv[3]):]
    body = s3.get_object(Bucket=sys.argv[2], Key=o["Key"])["Body"].read()
    path = os.path.join(sys.argv[4], name)
    same = "-"
    if os.path.isfile(path):
        with open(path, "rb") as f:
            same = str(f.read() == body)
    print(name, len(body), same, o["ETag"].strip('"'))
"#;
    let local = local.display().to_string();
    boto3(script, &[&moto.url, BUCKET, prefix, &local]).await.lines().map(str::to_string).collect()
}

/// Every key in the bucket, as boto3 lists them (ListObjectsV2, every page).
async fn keys(moto: &Moto) -> Vec<String> {
    let script = r#"
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[2]):
    for o in page.get("Contents", []):
        print(o["Key"])
"#;
    boto3(script, &[&moto.url, BUCKET]).await.lines().map(str::to_string).collect()
}

/// The first field (the object's name) of each line of [`objects`].
fn names(listed: &[String]) -> Vec<&str> {
    listed.iter().map(|l| l.split(' ').next().unwrap()).collect()
}


#[tokio::test]
async fn cluster_mode_on_kubernetes_stages_small_and_multipart_files_to_s3_and_removes_them_after_the_try() {
    let moto = Moto::start().await;
    create_bucket(&moto).await;
    let work = tempfile::tempdir().unwrap();
    let apps = tempfile::tempdir().unwrap();
    let c = cluster(work.path(), &moto).await;
    // Parts of S3's smallest size, so an 11 MiB file goes up in three.
    let backend = kubernetes(&c, &moto, staging(&moto, false, 5 << 20)).await;
    let mut app = local_app(apps.path(), DeployMode::Cluster);
    let big = apps.path().join("big.bin");
    let big_bytes: Vec<u8> = (0..(11u32 << 20)).map(|i| (i % 251) as u8).collect();
    std::fs::write(&big, &big_bytes).unwrap();
    drop(big_bytes);
    app.files.push(big.display().to_string());
    let key = "drover-s3-1";

    let Submitted::Cluster(id) = backend.submit(key, &app).await.expect("submits") else { panic!("cluster mode") };
    // Until drover sees the try end, its objects are all there, byte for
    // byte; the large one as a multipart upload (its ETag counts the parts).
    let prefix = format!("staging/drover-{key}/");
    let listed = objects(&moto, &prefix, apps.path()).await;
    assert_eq!(names(&listed), ["big.bin", "data.txt", "dep.py", "main.sh"], "{listed:?}");
    for line in &listed {
        let [name, size, same, etag] = line.split(' ').collect::<Vec<_>>()[..] else { panic!("{line}") };
        assert_eq!(size.parse::<u64>().unwrap(), std::fs::metadata(apps.path().join(name)).unwrap().len(), "{line}");
        assert_eq!(same, "True", "the staged copy of {name} is the file, byte for byte");
        assert_eq!(etag.ends_with("-3"), name == "big.bin", "only big.bin went up in (three) parts: {line}");
    }
    // The driver pod was given the staged copies by their s3a:// URIs.
    let pods = reqwest::get(format!("{}/api/v1/namespaces/default/pods", c.rest_url())).await.unwrap().text().await.unwrap();
    assert!(pods.contains(&format!("s3a://{BUCKET}/{prefix}main.sh")), "{pods}");
    assert!(pods.contains(&format!("s3a://{BUCKET}/{prefix}dep.py")), "{pods}");

    let log = succeeded_stdout(&backend, &id).await;
    assert!(log.contains("main ran with an-arg"), "{log}");
    assert!(!log.contains(&apps.path().display().to_string()), "the driver ran the fetched copy, not the original: {log}");
    assert!(log.contains("from the staged py-file") && log.contains("from the staged file"), "{log}");
    // The scheduler removes them as it records the try's end.
    backend.remove_staged(key).await;
    wait_gone(&moto, &prefix).await;
    assert_eq!(objects(&moto, "staging/", apps.path()).await, Vec::<String>::new(), "boto3 sees nothing left either");
    c.shutdown().await;
}

#[tokio::test]
async fn a_local_tar_gz_archive_is_staged_to_s3_and_unpacked_under_its_alias_in_the_driver_pod() {
    let moto = Moto::start().await;
    create_bucket(&moto).await;
    let work = tempfile::tempdir().unwrap();
    let apps = tempfile::tempdir().unwrap();
    let c = cluster(work.path(), &moto).await;
    let backend = kubernetes(&c, &moto, staging(&moto, false, 8 << 20)).await;
    let archive = apps.path().join("deps.tar.gz");
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    for (path, text) in [("inner.txt", "from the staged archive\n"), ("conf/deep.txt", "from deep in the archive\n")] {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, text.as_bytes()).unwrap();
    }
    std::fs::write(&archive, tar.into_inner().unwrap().finish().unwrap()).unwrap();
    let mut app = local_app(apps.path(), DeployMode::Cluster);
    app.resource = write(apps.path(), "main.sh", "#!/bin/sh\ncat deps/inner.txt\ncat deps/conf/deep.txt\n").display().to_string();
    app.conf.insert("spark.archives".into(), format!("{}#deps", archive.display()));
    let key = "drover-s3-archive";

    let Submitted::Cluster(id) = backend.submit(key, &app).await.expect("submits") else { panic!("cluster mode") };
    let prefix = format!("staging/drover-{key}/");
    let listed = objects(&moto, &prefix, apps.path()).await;
    assert_eq!(names(&listed), ["data.txt", "dep.py", "deps.tar.gz", "main.sh"], "{listed:?}");
    assert!(listed.iter().all(|l| l.split(' ').nth(2) == Some("True")), "each staged copy is its file, byte for byte: {listed:?}");
    // The driver pod's spark.archives names the staged copy, alias kept.
    let pods = reqwest::get(format!("{}/api/v1/namespaces/default/pods", c.rest_url())).await.unwrap().text().await.unwrap();
    assert!(pods.contains(&format!("spark.archives=s3a://{BUCKET}/{prefix}deps.tar.gz#deps")), "{pods}");
    assert!(!pods.contains(&archive.display().to_string()), "no local path reaches the cluster: {pods}");

    let log = succeeded_stdout(&backend, &id).await;
    assert!(log.contains("from the staged archive") && log.contains("from deep in the archive"), "{log}");
    // The scheduler removes them as it records the try's end.
    backend.remove_staged(key).await;
    wait_gone(&moto, &prefix).await;
    c.shutdown().await;
}

#[tokio::test]
async fn service_mode_on_emr_serverless_stages_to_s3_with_the_backends_own_credentials() {
    let moto = Moto::start().await;
    create_bucket(&moto).await;
    let work = tempfile::tempdir().unwrap();
    let apps = tempfile::tempdir().unwrap();
    let c = cluster(work.path(), &moto).await;
    let host = PluginHost::new(Limits::default(), Some(support::drover::plugin_cache())).unwrap();
    let plugin = host.load_named("emr-serverless").await.unwrap();
    let settings = vec![
        ("endpoint".to_string(), c.rest_url()),
        ("region".to_string(), drover_devcluster::serverless::REGION.to_string()),
        ("application_id".to_string(), drover_devcluster::serverless::APPLICATION_ID.to_string()),
        ("execution_role_arn".to_string(), "arn:aws:iam::123456789012:role/drover-test".to_string()),
        ("access_key_id".to_string(), drover_devcluster::serverless::ACCESS_KEY_ID.to_string()),
        ("secret_access_key".to_string(), drover_devcluster::serverless::SECRET_ACCESS_KEY.to_string()),
    ];
    let (api, s3) = (c.addr().to_string(), moto.url.trim_start_matches("http://").to_string());
    // No credentials in the staging table: the backend's signing ones are used.
    let backend = host
        .backend("emr", plugin, settings, &[api.as_str(), s3.as_str()])
        .unwrap()
        .with_staging(staging(&moto, false, 8 << 20))
        .unwrap();
    let app = local_app(apps.path(), DeployMode::Service);
    let key = "drover-s3-emr";
    let Submitted::Cluster(id) = backend.submit(key, &app).await.expect("submits") else { panic!("runs on the service") };
    let prefix = format!("staging/drover-{key}/");
    let listed = objects(&moto, &prefix, apps.path()).await;
    assert_eq!(names(&listed), ["data.txt", "dep.py", "main.sh"], "{listed:?}");
    let st = wait_ended(&backend, &id).await;
    assert_eq!(st.phase, DriverPhase::Succeeded, "{st:?}");
    // EMR Serverless has no log API: read the stand-in's driver output.
    let run_dir = std::fs::read_dir(work.path().join("emr-serverless")).unwrap().flatten().next().unwrap().path();
    let attempt = run_dir.join("attempt-1");
    let log = std::fs::read_to_string(attempt.join("stdout")).unwrap();
    assert!(log.contains(&format!("main ran with an-arg from {}", attempt.join("main.sh").display())), "{log}");
    assert!(log.contains("from the staged py-file") && log.contains("from the staged file"), "{log}");
    // The scheduler removes them as it records the try's end.
    backend.remove_staged(key).await;
    wait_gone(&moto, &prefix).await;
    c.shutdown().await;
}

#[tokio::test]
async fn keep_leaves_the_staged_objects_after_the_try() {
    let moto = Moto::start().await;
    create_bucket(&moto).await;
    let work = tempfile::tempdir().unwrap();
    let apps = tempfile::tempdir().unwrap();
    let c = cluster(work.path(), &moto).await;
    let backend = kubernetes(&c, &moto, staging(&moto, true, 8 << 20)).await;
    let key = "drover-s3-kept";
    let Submitted::Cluster(id) = backend.submit(key, &local_app(apps.path(), DeployMode::Cluster)).await.unwrap() else {
        panic!()
    };
    let st = wait_ended(&backend, &id).await;
    assert_eq!(st.phase, DriverPhase::Succeeded, "{st:?}");
    // The scheduler asks for the try's files to go as it records its end;
    // with keep, the clean-up returns before sending a request.
    backend.remove_staged(key).await;
    let prefix = format!("staging/drover-{key}/");
    let listed = objects(&moto, &prefix, apps.path()).await;
    assert_eq!(names(&listed), ["data.txt", "dep.py", "main.sh"], "{listed:?}");
    c.shutdown().await;
}

#[tokio::test]
async fn a_missing_bucket_refuses_the_try_before_anything_is_submitted() {
    let moto = Moto::start().await;
    let work = tempfile::tempdir().unwrap();
    let apps = tempfile::tempdir().unwrap();
    let c = cluster(work.path(), &moto).await;
    let backend = kubernetes(&c, &moto, staging(&moto, false, 8 << 20)).await;
    let e = backend.submit("drover-no-bucket", &local_app(apps.path(), DeployMode::Cluster)).await.expect_err("no bucket");
    assert_eq!(e.kind(), Some(ErrorKind::Rejected), "{e}");
    assert!(e.to_string().contains("NoSuchBucket"), "{e}");
    assert!(c.submissions().is_empty(), "nothing was submitted");
    c.shutdown().await;
}

#[tokio::test]
async fn cluster_mode_on_emr_on_eks_stages_to_s3_and_the_job_run_reads_the_staged_copies() {
    let moto = Moto::start().await;
    create_bucket(&moto).await;
    let work = tempfile::tempdir().unwrap();
    let apps = tempfile::tempdir().unwrap();
    let c = cluster(work.path(), &moto).await;
    let backend = emr_on_eks(&c, &moto).await;
    let app = local_app(apps.path(), DeployMode::Cluster);
    let key = "drover-s3-eks";

    let Submitted::Cluster(id) = backend.submit(key, &app).await.expect("submits") else { panic!("runs on the virtual cluster") };
    // Until drover sees the try end, its objects are all there, byte for byte.
    let prefix = format!("staging/drover-{key}/");
    let listed = objects(&moto, &prefix, apps.path()).await;
    assert_eq!(names(&listed), ["data.txt", "dep.py", "main.sh"], "{listed:?}");
    assert!(listed.iter().all(|l| l.split(' ').nth(2) == Some("True")), "each staged copy is its file, byte for byte: {listed:?}");
    // StartJobRun named the staged copies by their s3:// URIs (EMRFS): the
    // job run as the stand-in took it, read back with boto3's DescribeJobRun.
    let (vc, run_id) = id.split_once('/').unwrap_or_else(|| panic!("not virtualCluster/jobRun: {id}"));
    let describe = "import boto3, json, sys
c = boto3.client('emr-containers', endpoint_url=sys.argv[1], region_name=sys.argv[2],
    aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4])
print(json.dumps(c.describe_job_run(virtualClusterId=sys.argv[5], id=sys.argv[6])['jobRun'], default=str))";
    let described = boto3(
        describe,
        &[&c.rest_url(), emr_containers::REGION, emr_containers::ACCESS_KEY_ID, emr_containers::SECRET_ACCESS_KEY, vc, run_id],
    )
    .await;
    let described: serde_json::Value = serde_json::from_str(&described).unwrap();
    let driver = &described["jobDriver"]["sparkSubmitJobDriver"];
    assert_eq!(driver["entryPoint"], format!("s3://{BUCKET}/{prefix}main.sh"), "{described:#}");
    let params = driver["sparkSubmitParameters"].as_str().unwrap_or_default();
    assert!(params.contains(&format!("--py-files s3://{BUCKET}/{prefix}dep.py")), "{params}");
    assert!(params.contains(&format!("--files s3://{BUCKET}/{prefix}data.txt")), "{params}");
    assert!(!described.to_string().contains(&apps.path().display().to_string()), "no local path reaches the service: {described:#}");

    let st = wait_ended(&backend, &id).await;
    assert_eq!(st.phase, DriverPhase::Succeeded, "{st:?}");
    // The driver ran the copies the stand-in fetched into its attempt's folder.
    let attempt = work.path().join("emr-containers").join(run_id).join("attempt-1");
    let log = std::fs::read_to_string(attempt.join("stdout")).unwrap();
    assert!(log.contains(&format!("main ran with an-arg from {}", attempt.join("main.sh").display())), "{log}");
    assert!(log.contains("from the staged py-file") && log.contains("from the staged file"), "{log}");
    // The scheduler removes them as it records the try's end.
    backend.remove_staged(key).await;
    wait_gone(&moto, &prefix).await;
    assert_eq!(keys(&moto).await, Vec::<String>::new(), "boto3 sees nothing left in the bucket");
    c.shutdown().await;
}

/// The DAG `staged` running `app` on backend `eks_staged` (the
/// emr-containers plugin on the stand-in `c`, staging to the S3 endpoint
/// `s3`); the path of the config file that says so.
fn eks_staged_drover(root: &Path, dags: &Path, app: &Application, c: &DevCluster, s3: &str) -> String {
    let application = format!(
        "resource = {:?}\ndeploy_mode = \"cluster\"\nargs = [\"an-arg\"]\npy_files = [{:?}]\nfiles = [{:?}]",
        app.resource, app.py_files[0], app.files[0]
    );
    support::fixtures::job_dag(dags, "staged", "eks_staged", "", &application);
    // The secret comes from the variable `drover standalone` answers with
    // the stand-in's own; staging signs with the backend's credentials.
    let config = format!(
        "[backends.eks_staged]\nplugin = \"emr-containers\"\n\
         settings = {{ endpoint = {endpoint:?}, region = {region:?}, virtual_cluster_id = {vc:?}, \
         execution_role_arn = {EXECUTION_ROLE:?}, release_label = {release:?}, access_key_id = {key_id:?} }}\n\
         secret_env = {{ secret_access_key = \"DROVER_STANDIN_SECRET_ACCESS_KEY\" }}\n\
         [backends.eks_staged.staging]\ns3 = {s3:?}\nbucket = {BUCKET:?}\n",
        endpoint = c.rest_url(),
        region = emr_containers::REGION,
        vc = emr_containers::VIRTUAL_CLUSTER_ID,
        release = emr_containers::RELEASE_LABEL,
        key_id = emr_containers::ACCESS_KEY_ID,
    );
    write(root, "drover.toml", &config).display().to_string()
}

#[tokio::test]
async fn a_drover_killed_between_upload_and_submit_sends_the_try_again_to_the_same_keys_and_leaves_no_objects() {
    use support::child::{kill9, start_drover};
    use support::proxy::Proxy;

    let moto = Moto::start().await;
    create_bucket(&moto).await;
    let root = tempfile::tempdir().unwrap();
    let c = cluster(&root.path().join("cluster"), &moto).await;
    // drover stages through a proxy in front of moto that passes the last
    // upload (data.txt: main script, py-files, then files) to moto and
    // holds its answer: every object is in the bucket, and drover, not
    // having heard so, has not submitted.
    let s3 = Proxy::start(moto.url.trim_start_matches("http://").parse().unwrap()).await;
    s3.hold("PUT", "*/data.txt");
    let dags = root.path().join("dags");
    std::fs::create_dir_all(&dags).unwrap();
    let mut app = local_app(&dags, DeployMode::Cluster);
    // The driver runs until the test lets it end, so the staged objects
    // can be looked at while the second drover's try runs.
    let flag = root.path().join("finish");
    let main = format!("#!/bin/sh\nwhile [ ! -e {flag:?} ]; do sleep 0.05; done\ncat dep.py\ncat data.txt\n", flag = flag.display().to_string());
    app.resource = write(&dags, "main.sh", &main).display().to_string();
    let config_arg = eks_staged_drover(root.path(), &dags, &app, &c, &s3.url());
    let home = root.path().join("home");
    let extra = ["--config", config_arg.as_str()];
    let eks_runs = || c.submissions().into_iter().filter(|s| s.manager == "emr-containers").collect::<Vec<_>>();

    let (mut first, api) = start_drover(&home, &dags, &c.rest_url(), &extra).await.unwrap();
    let run = api.trigger("staged", serde_json::json!({})).await.unwrap();
    s3.wait_held(1, DEADLINE).await.unwrap();
    let before = keys(&moto).await;
    assert_eq!(before.len(), 3, "{before:?}");
    let prefix = before[0].rsplit_once('/').map(|(dir, _)| format!("{dir}/")).unwrap();
    assert!(prefix.starts_with("staging/drover-"), "{before:?}");
    let listed = objects(&moto, &prefix, &dags).await;
    assert_eq!(names(&listed), ["data.txt", "dep.py", "main.sh"], "{before:?}");
    assert!(eks_runs().is_empty(), "nothing submitted yet");
    kill9(&mut first).await.unwrap();
    s3.release();

    // The next drover finds no job run by the try's key and sends the try
    // again: the same keys written once more, no second copy beside them.
    let (mut second, api) = start_drover(&home, &dags, &c.rest_url(), &extra).await.unwrap();
    api.wait_driver("staged", &run, "job", "running").await;
    assert_eq!(keys(&moto).await, before, "the same keys, one object each, under the one try's prefix");
    let listed = objects(&moto, &prefix, &dags).await;
    assert!(listed.iter().all(|l| l.split(' ').nth(2) == Some("True")), "each object is its file, byte for byte: {listed:?}");
    let puts = s3.seen().into_iter().filter(|r| r.method == "PUT").collect::<Vec<_>>();
    for name in ["data.txt", "dep.py", "main.sh"] {
        let path = format!("/{BUCKET}/{prefix}{name}");
        let written = puts.iter().filter(|r| r.forwarded && r.path == path).count();
        assert_eq!(written, 2, "{name} written by each drover, to the same key: {puts:#?}");
    }
    assert_eq!(puts.len(), 6, "no other uploads: {puts:#?}");

    std::fs::write(&flag, "").unwrap();
    assert_eq!(api.wait_run("staged", &run, DEADLINE).await.unwrap(), "success");
    let runs = eks_runs();
    assert_eq!(runs.len(), 1, "one job run reached the cluster: {runs:?}");
    let attempt = c.work_dir().join("emr-containers").join(&runs[0].submission_id).join("attempt-1");
    let log = std::fs::read_to_string(attempt.join("stdout")).unwrap();
    assert!(log.contains("from the staged py-file") && log.contains("from the staged file"), "{log}");
    // The scheduler removes them as it records the try's end.
    wait_gone(&moto, "staging/").await;
    assert_eq!(keys(&moto).await, Vec::<String>::new(), "boto3 sees nothing left in the bucket");
    kill9(&mut second).await.unwrap();
    c.shutdown().await;
}
