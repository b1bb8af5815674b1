//! The devcluster's own S3 endpoint (issue 15): a bucket directory served
//! path-style, proven with boto3, the AWS client everybody uses, which
//! nobody here wrote: objects, ranges, paging, multipart uploads as the
//! low-level calls and as s3transfer makes them, and S3's errors. Then the
//! host's stager and the Kubernetes stand-in on it with no moto at all, and
//! `drover standalone` staging a DAG's local files in cluster mode on every
//! cluster backend of the quickstart.

mod support;

use std::path::Path;
use std::time::Duration;

use drover_dag::DeployMode;
use drover_devcluster::{DevCluster, DevClusterConfig, S3Announcement};
use drover_plugin_host::{DriverPhase, Limits, PluginHost, S3Credentials, StagingConfig, Submitted};
use serde_json::{Value, json};
use support::drover::{Api, script, start, write};
use support::fixtures::{dev_cluster, local_app};
use support::moto::boto3;
use support::wait::{driver_ended, eventually, succeeded_stdout};

const DEADLINE: Duration = Duration::from_secs(120);
const BUCKET: &str = drover_devcluster::s3::BUCKET;


/// The boto3 client every script here starts with: the endpoint in
/// sys.argv[1], credentials nobody checks, and a `code` helper that gives
/// a call's S3 error code and status (None: no error).
const PRELUDE: &str = r#"
import hashlib, json, os, sys, boto3
from botocore.exceptions import ClientError
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="any-key", aws_secret_access_key="any-secret")
def code(f):
    try:
        f()
        return None
    except ClientError as e:
        return [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
out = {}
"#;

/// Runs `script` after [`PRELUDE`] with the endpoint and `args`; what it
/// put in `out`.
async fn run(endpoint: &str, script: &str, args: &[&str]) -> Value {
    let mut argv = vec![endpoint];
    argv.extend_from_slice(args);
    let text = format!("{PRELUDE}{script}\nprint(json.dumps(out))\n");
    let printed = boto3(&text, &argv).await;
    serde_json::from_str(printed.trim()).unwrap_or_else(|e| panic!("{e}: {printed}"))
}

#[tokio::test]
async fn boto3_puts_gets_ranges_lists_in_pages_and_deletes_objects_kept_as_files() {
    let work = tempfile::tempdir().unwrap();
    let c = dev_cluster(work.path()).await;
    let endpoint = c.own_s3_url().expect("the devcluster serves S3 by default");
    let dir = c.s3_dir().unwrap();
    // A file put into a bucket directory by hand is an object.
    std::fs::write(dir.join(BUCKET).join("by-hand.txt"), "put here by hand\n").unwrap();
    let script = r#"
out["buckets"] = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
s3.create_bucket(Bucket="itest")
s3.head_bucket(Bucket="itest")
body = b"hello, bucket directory\n"
put = s3.put_object(Bucket="itest", Key="dir/a.txt", Body=body, ContentType="text/plain", Metadata={"owner": "drover"})
out["put_etag"] = [put["ETag"], '"' + hashlib.md5(body).hexdigest() + '"']
got = s3.get_object(Bucket="itest", Key="dir/a.txt")
out["get"] = {"body": got["Body"].read().decode(), "type": got["ContentType"], "meta": got["Metadata"],
              "etag": got["ETag"], "length": got["ContentLength"]}
part = s3.get_object(Bucket="itest", Key="dir/a.txt", Range="bytes=7-12")
out["range"] = [part["Body"].read().decode(), part["ContentRange"], part["ResponseMetadata"]["HTTPStatusCode"]]
head = s3.head_object(Bucket="itest", Key="dir/a.txt")
out["head"] = [head["ContentLength"], head["ETag"]]
odd = "odd name+plus & more/\u00fc.txt"
s3.put_object(Bucket="itest", Key=odd, Body=b"odd")
out["odd"] = [s3.get_object(Bucket="itest", Key=odd)["Body"].read().decode(),
              [o["Key"] for o in s3.list_objects_v2(Bucket="itest", Prefix="odd")["Contents"]] == [odd]]
for i in range(7):
    s3.put_object(Bucket="itest", Key="page/%02d" % i, Body=str(i).encode())
pages = s3.get_paginator("list_objects_v2").paginate(Bucket="itest", Prefix="page/", PaginationConfig={"PageSize": 3})
out["pages"] = [[o["Key"] for o in p.get("Contents", [])] for p in pages]
first = s3.list_objects_v2(Bucket="itest", Prefix="page/", MaxKeys=3)
out["first"] = [first["IsTruncated"], first["KeyCount"], "NextContinuationToken" in first]
rest = s3.list_objects_v2(Bucket="itest", Prefix="page/", MaxKeys=3, ContinuationToken=first["NextContinuationToken"])
out["second"] = [o["Key"] for o in rest["Contents"]]
out["after"] = [o["Key"] for o in s3.list_objects_v2(Bucket="itest", Prefix="page/", StartAfter="page/04")["Contents"]]
top = s3.list_objects_v2(Bucket="itest", Delimiter="/")
out["top"] = [[o["Key"] for o in top.get("Contents", [])], [p["Prefix"] for p in top.get("CommonPrefixes", [])]]
out["staging"] = [[o["Key"], o["ETag"], o["Size"]] for o in s3.list_objects_v2(Bucket=sys.argv[2])["Contents"]]
out["by_hand_md5"] = '"' + hashlib.md5(b"put here by hand\n").hexdigest() + '"'
s3.delete_object(Bucket="itest", Key="dir/a.txt")
out["get_deleted"] = code(lambda: s3.get_object(Bucket="itest", Key="dir/a.txt"))
out["head_deleted"] = code(lambda: s3.head_object(Bucket="itest", Key="dir/a.txt"))
out["delete_again"] = code(lambda: s3.delete_object(Bucket="itest", Key="dir/a.txt"))
out["no_bucket_get"] = code(lambda: s3.get_object(Bucket="no-such-bucket", Key="x"))
out["no_bucket_put"] = code(lambda: s3.put_object(Bucket="no-such-bucket", Key="x", Body=b"x"))
out["no_bucket_list"] = code(lambda: s3.list_objects_v2(Bucket="no-such-bucket"))
out["no_bucket_head"] = code(lambda: s3.head_bucket(Bucket="no-such-bucket"))
out["create_again"] = code(lambda: s3.create_bucket(Bucket="itest"))
out["delete_full_bucket"] = code(lambda: s3.delete_bucket(Bucket="itest"))
out["bad_range"] = code(lambda: s3.get_object(Bucket="itest", Key="page/00", Range="bytes=50-"))
out["dot_dot_key"] = code(lambda: s3.put_object(Bucket="itest", Key="a/../b", Body=b"x"))
out["copy"] = code(lambda: s3.copy_object(Bucket="itest", Key="copy", CopySource={"Bucket": "itest", "Key": "page/00"}))
"#;
    let out = run(&endpoint, script, &[BUCKET]).await;

    assert_eq!(out["buckets"], json!([BUCKET]), "the bucket for staging is there from the start");
    assert_eq!(out["put_etag"][0], out["put_etag"][1], "a PUT's ETag is the MD5 of its bytes");
    assert_eq!(
        out["get"],
        json!({"body": "hello, bucket directory\n", "type": "text/plain", "meta": {"owner": "drover"},
               "etag": out["put_etag"][1], "length": 24})
    );
    assert_eq!(out["range"], json!(["bucket", "bytes 7-12/24", 206]));
    assert_eq!(out["head"], json!([24, out["put_etag"][1]]));
    assert_eq!(out["odd"], json!(["odd", true]), "a key with spaces, + and & round-trips, listed url-encoded");
    let keys: Vec<String> = (0..7).map(|i| format!("page/{i:02}")).collect();
    assert_eq!(out["pages"], json!([&keys[0..3], &keys[3..6], &keys[6..7]]), "pages of three, in order");
    assert_eq!(out["first"], json!([true, 3, true]));
    assert_eq!(out["second"], json!(&keys[3..6]), "the token continues where the page stopped");
    assert_eq!(out["after"], json!(&keys[5..7]));
    assert_eq!(out["top"], json!([[], ["dir/", "odd name+plus & more/", "page/"]]), "a delimiter rolls keys up into prefixes");
    assert_eq!(out["staging"], json!([["by-hand.txt", out["by_hand_md5"], 17]]));
    // S3's errors, as boto3 reads them (a HEAD's carries no body: only its status).
    assert_eq!(out["get_deleted"], json!(["NoSuchKey", 404]));
    assert_eq!(out["head_deleted"], json!(["404", 404]));
    assert_eq!(out["delete_again"], Value::Null, "deleting what is gone succeeds");
    assert_eq!(out["no_bucket_get"], json!(["NoSuchBucket", 404]));
    assert_eq!(out["no_bucket_put"], json!(["NoSuchBucket", 404]));
    assert_eq!(out["no_bucket_list"], json!(["NoSuchBucket", 404]));
    assert_eq!(out["no_bucket_head"], json!(["404", 404]));
    assert_eq!(out["create_again"], json!(["BucketAlreadyOwnedByYou", 409]));
    assert_eq!(out["delete_full_bucket"], json!(["BucketNotEmpty", 409]));
    assert_eq!(out["bad_range"], json!(["InvalidRange", 416]));
    assert_eq!(out["dot_dot_key"], json!(["InvalidArgument", 400]));
    assert_eq!(out["copy"], json!(["NotImplemented", 501]));

    // The bucket directory: each object the file at its key; a delete takes
    // the directories it empties along.
    assert_eq!(std::fs::read_to_string(dir.join("itest/page/03")).unwrap(), "3");
    assert_eq!(std::fs::read_to_string(dir.join("itest/odd name+plus & more/\u{fc}.txt")).unwrap(), "odd");
    assert!(!dir.join("itest/dir").exists(), "dir/ held only the deleted object");
    c.shutdown().await;
}

#[tokio::test]
async fn boto3_multipart_uploads_complete_abort_and_refuse_bad_part_lists() {
    let work = tempfile::tempdir().unwrap();
    let c = dev_cluster(work.path()).await;
    let endpoint = c.own_s3_url().unwrap();
    // 11 MiB: three parts of 5 MiB at most, as s3transfer cuts it.
    let big = work.path().join("big.bin");
    std::fs::write(&big, (0..(11u32 << 20)).map(|i| (i % 253) as u8).collect::<Vec<u8>>()).unwrap();
    let script = r#"
from boto3.s3.transfer import TransferConfig
MiB = 1 << 20
s3.create_bucket(Bucket="multi")
p1, p2 = os.urandom(5 * MiB), os.urandom(MiB + 3)
key = "big/parts.bin"
up = s3.create_multipart_upload(Bucket="multi", Key=key, ContentType="application/x-test")["UploadId"]
e1 = s3.upload_part(Bucket="multi", Key=key, UploadId=up, PartNumber=1, Body=p1)["ETag"]
# A part sent again replaces the one before.
s3.upload_part(Bucket="multi", Key=key, UploadId=up, PartNumber=2, Body=b"replaced")
e2 = s3.upload_part(Bucket="multi", Key=key, UploadId=up, PartNumber=2, Body=p2)["ETag"]
done = s3.complete_multipart_upload(Bucket="multi", Key=key, UploadId=up,
    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
expected = hashlib.md5(hashlib.md5(p1).digest() + hashlib.md5(p2).digest()).hexdigest() + "-2"
out["etag"] = [done["ETag"], '"' + expected + '"', [e1, e2] == ['"' + hashlib.md5(p).hexdigest() + '"' for p in (p1, p2)]]
got = s3.get_object(Bucket="multi", Key=key)
out["same"] = [got["Body"].read() == p1 + p2, got["ContentType"], got["ETag"] == done["ETag"]]
# As most programs upload and download: s3transfer, parts up, ranges down in parallel.
config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
s3.upload_file(sys.argv[2], "multi", "big/transfer.bin", Config=config)
s3.download_file("multi", "big/transfer.bin", sys.argv[2] + ".back", Config=config)
with open(sys.argv[2], "rb") as a, open(sys.argv[2] + ".back", "rb") as b:
    out["transfer"] = [a.read() == b.read(), s3.head_object(Bucket="multi", Key="big/transfer.bin")["ETag"]]
bad = s3.create_multipart_upload(Bucket="multi", Key="bad.bin")["UploadId"]
small = s3.upload_part(Bucket="multi", Key="bad.bin", UploadId=bad, PartNumber=1, Body=b"too small")["ETag"]
last = s3.upload_part(Bucket="multi", Key="bad.bin", UploadId=bad, PartNumber=2, Body=b"last")["ETag"]
def complete(parts, upload=bad):
    return lambda: s3.complete_multipart_upload(Bucket="multi", Key="bad.bin", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]})
out["too_small"] = code(complete([(1, small), (2, last)]))
out["wrong_etag"] = code(complete([(2, '"' + "0" * 32 + '"')]))
out["out_of_order"] = code(complete([(2, last), (1, small)]))
out["part_zero"] = code(lambda: s3.upload_part(Bucket="multi", Key="bad.bin", UploadId=bad, PartNumber=0, Body=b"x"))
out["other_key"] = code(lambda: s3.upload_part(Bucket="multi", Key="other.bin", UploadId=bad, PartNumber=3, Body=b"x"))
out["last_alone"] = code(complete([(2, last)]))
out["last_alone_body"] = s3.get_object(Bucket="multi", Key="bad.bin")["Body"].read().decode()
gone = s3.create_multipart_upload(Bucket="multi", Key="gone.bin")["UploadId"]
s3.abort_multipart_upload(Bucket="multi", Key="gone.bin", UploadId=gone)
out["after_abort"] = code(lambda: s3.upload_part(Bucket="multi", Key="gone.bin", UploadId=gone, PartNumber=1, Body=b"x"))
out["abort_again"] = code(lambda: s3.abort_multipart_upload(Bucket="multi", Key="gone.bin", UploadId=gone))
out["keys"] = [o["Key"] for o in s3.list_objects_v2(Bucket="multi")["Contents"]]
"#;
    let big_arg = big.display().to_string();
    let out = run(&endpoint, script, &[&big_arg]).await;

    assert_eq!(out["etag"][0], out["etag"][1], "S3's multipart ETag: the MD5 of the parts' MD5s, -2");
    assert_eq!(out["etag"][2], true, "each part's ETag is its MD5");
    assert_eq!(out["same"], json!([true, "application/x-test", true]));
    assert_eq!(out["transfer"][0], true, "downloaded in ranges, the same bytes");
    assert!(out["transfer"][1].as_str().unwrap().ends_with("-3\""), "uploaded in three parts: {out:#}");
    assert_eq!(out["too_small"], json!(["EntityTooSmall", 400]));
    assert_eq!(out["wrong_etag"], json!(["InvalidPart", 400]));
    assert_eq!(out["out_of_order"], json!(["InvalidPartOrder", 400]));
    assert_eq!(out["part_zero"], json!(["InvalidArgument", 400]));
    assert_eq!(out["other_key"], json!(["NoSuchUpload", 404]), "an upload id belongs to its key");
    assert_eq!(out["last_alone"], Value::Null, "a single part may be small");
    assert_eq!(out["last_alone_body"], "last");
    assert_eq!(out["after_abort"], json!(["NoSuchUpload", 404]));
    assert_eq!(out["abort_again"], json!(["NoSuchUpload", 404]));
    assert_eq!(out["keys"], json!(["bad.bin", "big/parts.bin", "big/transfer.bin"]));
    // Nothing of the uploads is left beside the bucket directories.
    let internal = c.s3_dir().unwrap().join(".drover-s3");
    for sub in ["uploads", "tmp"] {
        let left: Vec<_> = std::fs::read_dir(internal.join(sub)).unwrap().flatten().map(|e| e.path()).collect();
        assert!(left.is_empty(), "{sub}: {left:?}");
    }
    c.shutdown().await;
}

/// `name size etag` of every object under `prefix` of the staging bucket,
/// each checked byte for byte against the file of its name in `local`.
async fn staged_objects(endpoint: &str, prefix: &str, local: &Path) -> Vec<String> {
    let script = r#"
listed = s3.list_objects_v2(Bucket=sys.argv[2], Prefix=sys.argv[3]).get("Contents", [])
out["objects"] = []
for o in listed:
    name = o["Key"][len(sys.argv[3]):]
    body = s3.get_object(Bucket=sys.argv[2], Key=o["Key"])["Body"].read()
    with open(os.path.join(sys.argv[4], name), "rb") as f:
        assert f.read() == body, name
    out["objects"].append("%s %d %s" % (name, len(body), o["ETag"].strip('"')))
"#;
    let local = local.display().to_string();
    let out = run(endpoint, script, &[BUCKET, prefix, &local]).await;
    out["objects"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_host_stages_to_the_devclusters_own_s3_and_the_driver_pod_runs_the_copies() {
    let work = tempfile::tempdir().unwrap();
    let apps = tempfile::tempdir().unwrap();
    let c = dev_cluster(work.path()).await;
    let endpoint = c.own_s3_url().unwrap();
    let host = PluginHost::new(Limits::default(), Some(support::drover::plugin_cache())).expect("plugin host");
    let plugin = host.load_named("kubernetes").await.expect("the bundled kubernetes plugin loads");
    // Parts of S3's smallest size, so an 11 MiB file goes up in three.
    let staging: StagingConfig =
        serde_json::from_value(json!({"s3": endpoint, "bucket": BUCKET, "part_size": 5 << 20})).unwrap();
    let staging = staging.with_credentials(S3Credentials::new("any-key".into(), "any-secret".into(), None));
    let (api, s3) = (c.addr().to_string(), endpoint.trim_start_matches("http://").to_string());
    let backend = host
        .backend("k8s", plugin, vec![("api_url".into(), c.rest_url())], &[api.as_str(), s3.as_str()])
        .expect("backend")
        .with_staging(staging)
        .expect("staging config");
    let mut app = local_app(apps.path(), DeployMode::Cluster);
    let big = apps.path().join("big.bin");
    std::fs::write(&big, (0..(11u32 << 20)).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).unwrap();
    app.files.push(big.display().to_string());
    let key = "drover-own-s3";

    let Submitted::Cluster(id) = backend.submit(key, &app).await.expect("submits") else { panic!("cluster mode") };
    // Until drover sees the try end its objects are all there, byte for
    // byte (boto3 reads them back); the large one as a multipart upload.
    let prefix = format!("staging/drover-{key}/");
    let listed = staged_objects(&endpoint, &prefix, apps.path()).await;
    let names: Vec<&str> = listed.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(names, ["big.bin", "data.txt", "dep.py", "main.sh"], "{listed:?}");
    for line in &listed {
        assert_eq!(line.ends_with("-3"), line.starts_with("big.bin "), "only big.bin went up in (three) parts: {line}");
    }
    // ... and in the bucket directory, where they can be looked at.
    let staged_dir = c.s3_dir().unwrap().join(BUCKET).join(&prefix);
    assert_eq!(std::fs::read(staged_dir.join("main.sh")).unwrap(), std::fs::read(apps.path().join("main.sh")).unwrap());
    let pods = reqwest::get(format!("{}/api/v1/namespaces/default/pods", c.rest_url())).await.unwrap().text().await.unwrap();
    assert!(pods.contains(&format!("s3a://{BUCKET}/{prefix}main.sh")), "{pods}");

    let log = succeeded_stdout(&backend, &id).await;
    assert!(log.contains("main ran with an-arg"), "{log}");
    assert!(!log.contains(&apps.path().display().to_string()), "the pod ran the fetched copy, not the original: {log}");
    assert!(log.contains("from the staged py-file") && log.contains("from the staged file"), "{log}");
    // The scheduler removes them as it records the try's end: listed and
    // deleted over S3, and the emptied directories go with them.
    backend.remove_staged(key).await;
    assert_eq!(staged_objects(&endpoint, "staging/", apps.path()).await, Vec::<String>::new());
    assert!(!c.s3_dir().unwrap().join(BUCKET).join("staging").exists(), "no empty directories left behind");
    c.shutdown().await;
}

#[tokio::test]
async fn the_devcluster_says_where_its_s3_is_and_reads_another_when_given_one() {
    let work = tempfile::tempdir().unwrap();
    let own = dev_cluster(&work.path().join("own")).await;
    let said: S3Announcement = reqwest::get(format!("{}/devcluster/s3", own.rest_url())).await.unwrap().json().await.unwrap();
    assert_eq!(said, S3Announcement { endpoint: own.own_s3_url(), own: true, bucket: Some(BUCKET.into()) });
    // Pointed at another S3 (here: the first one's), it serves none itself.
    let other = DevCluster::start(DevClusterConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        work_dir: work.path().join("other"),
        s3: own.own_s3_url(),
        ..DevClusterConfig::default()
    })
    .await
    .unwrap();
    assert_eq!((other.own_s3_url(), other.s3_url()), (None, own.own_s3_url()));
    let said: S3Announcement = reqwest::get(format!("{}/devcluster/s3", other.rest_url())).await.unwrap().json().await.unwrap();
    assert_eq!(said, S3Announcement { endpoint: own.own_s3_url(), own: false, bucket: None });
    other.shutdown().await;
    own.shutdown().await;
}

/// The stdout of the EMR stand-in `service`'s first attempt of the try's job run.
fn emr_stdout(d: &support::drover::Running, service: &support::emr::Service, driver: &Value) -> String {
    let path = d.cluster.work_dir().join(service.plugin).join(service.run_id(driver)).join("attempt-1/stdout");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The try directories (`drover-<key>`) in `dir` that hold every file of
/// `names`, each the same bytes as the file of that name in `local`.
fn staged_tries(dir: &Path, names: &[&str], local: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("drover-"))
        .filter(|e| {
            names.iter().all(|n| std::fs::read(e.path().join(n)).ok() == std::fs::read(local.join(n)).ok())
        })
        .count()
}

#[tokio::test]
async fn the_quickstart_stages_a_dags_local_files_in_cluster_mode_on_every_cluster_backend() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    for dir in ["apps", "data"] {
        std::fs::create_dir(dags.path().join(dir)).unwrap();
    }
    // Each driver waits for the test to have seen its staged files.
    let gate = home.path().join("gate");
    let job = format!(
        "#!/bin/sh\nwhile [ ! -e {gate:?} ]; do sleep 0.05; done\necho \"job ran from $0\"\ncat input.txt\n",
        gate = gate.display().to_string()
    );
    script(&dags.path().join("apps"), "job.sh", &job);
    write(&dags.path().join("data"), "input.txt", "a line of the staged input\n");
    let mut text = String::from("id = \"staged\"\n[defaults]\nretries = 0\n");
    for (task, backend, mode) in [("yarn", "yarn", "cluster"), ("k8s", "k8s", "cluster"), ("eks", "eks", "cluster"), ("serverless", "serverless", "service")] {
        text.push_str(&format!(
            "[[tasks]]\nid = \"{task}\"\nbackend = \"{backend}\"\n[tasks.application]\nresource = \"apps/job.sh\"\n\
             main_class = \"Job\"\ndeploy_mode = \"{mode}\"\nfiles = [\"data/input.txt\"]\n"
        ));
    }
    write(dags.path(), "staged.toml", &text);
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let errors = api.get("/api/v2/importErrors").await.unwrap();
    assert_eq!(errors["total_entries"], 0, "{errors:#}");
    let run = api.trigger("staged", json!({})).await.unwrap();

    // While the drivers run, each try's files are staged: the Kubernetes
    // and EMR ones in the stand-in's bucket directory, YARN's in its HDFS.
    let s3_staging = d.cluster.s3_dir().unwrap().join(BUCKET).join("staging");
    let hdfs_staging = d.cluster.work_dir().join("hdfs/user/drover/.sparkStaging");
    // The originals side by side, as their staged copies sit.
    let originals = home.path().join("originals");
    std::fs::create_dir(&originals).unwrap();
    std::fs::copy(dags.path().join("apps/job.sh"), originals.join("job.sh")).unwrap();
    std::fs::copy(dags.path().join("data/input.txt"), originals.join("input.txt")).unwrap();
    let names = ["job.sh", "input.txt"];
    eventually("every try's files are staged", DEADLINE, || async {
        let (s3, hdfs) = (staged_tries(&s3_staging, &names, &originals), staged_tries(&hdfs_staging, &names, &originals));
        (s3 == 3 && hdfs == 1).then_some(())
    })
    .await;
    std::fs::write(&gate, "").unwrap();
    assert_eq!(api.wait_run("staged", &run, DEADLINE).await.unwrap(), "success");

    let dags_dir = dags.path().display().to_string();
    for task in ["yarn", "k8s", "eks", "serverless"] {
        let tries = api.tries("staged", &run, task).await.unwrap();
        let driver = &tries[0]["driver"];
        let out = match task {
            "eks" => emr_stdout(&d, &support::emr::EKS, driver),
            "serverless" => emr_stdout(&d, &support::emr::SERVERLESS, driver),
            _ => api.log("staged", &run, task, 1).await.unwrap(),
        };
        assert!(out.contains("job ran from") && out.contains("a line of the staged input"), "{task}: {out}");
        assert!(!out.contains(&dags_dir), "{task} ran the staged copy, not the DAG folder's file: {out}");
    }
    // The staged copies go once the tries end.
    let empty = |dir: &Path| std::fs::read_dir(dir).map_or(true, |mut e| e.next().is_none());
    eventually("the staged files are removed", DEADLINE, || async {
        (empty(&s3_staging) && empty(&hdfs_staging)).then_some(())
    })
    .await;
    d.shutdown().await;
}

/// A TLS front for `upstream` (plain TCP) on 127.0.0.1, its certificate
/// signed by a fresh private CA: its port and the CA certificate (PEM).
async fn tls_front(upstream: std::net::SocketAddr) -> (u16, String, tokio::task::JoinHandle<()>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else { return };
                let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (port, ca.pem(), task)
}

#[tokio::test]
async fn an_https_s3_endpoint_signed_by_a_private_ca_is_trusted_through_ca_file() {
    let work = tempfile::tempdir().unwrap();
    let apps = tempfile::tempdir().unwrap();
    let c = dev_cluster(work.path()).await;
    let plain = c.own_s3_url().unwrap();
    let upstream: std::net::SocketAddr = plain.trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
    let (port, ca_pem, front) = tls_front(upstream).await;
    let ca_file = apps.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let https = format!("https://127.0.0.1:{port}");
    let host = PluginHost::new(Limits::default(), Some(support::drover::plugin_cache())).expect("plugin host");
    let plugin = host.load_named("kubernetes").await.expect("the bundled kubernetes plugin loads");
    let backend = |ca: Option<&Path>| {
        let mut table = json!({"s3": https, "bucket": BUCKET});
        if let Some(ca) = ca {
            table["ca_file"] = json!(ca);
        }
        let staging: StagingConfig = serde_json::from_value(table).unwrap();
        let staging = staging.with_credentials(S3Credentials::new("any-key".into(), "any-secret".into(), None));
        let (api, s3) = (c.addr().to_string(), format!("127.0.0.1:{port}"));
        host.backend("k8s", plugin.clone(), vec![("api_url".into(), c.rest_url())], &[api.as_str(), s3.as_str()])
            .expect("backend")
            .with_staging(staging)
            .expect("staging config")
    };
    let app = local_app(apps.path(), DeployMode::Cluster);
    let staged = |key: &str| c.s3_dir().unwrap().join(BUCKET).join(format!("staging/drover-{key}/main.sh"));

    // Without the CA the endpoint's certificate is not trusted: nothing is
    // staged, and nothing submitted.
    let err = backend(None).submit("drover-untrusted", &app).await.expect_err("an unknown issuer is refused");
    assert!(!staged("drover-untrusted").exists(), "{err}");
    let pods = reqwest::get(format!("{}/api/v1/namespaces/default/pods", c.rest_url())).await.unwrap().text().await.unwrap();
    assert!(!pods.contains("drover-untrusted"), "{pods}");

    // With it, the files go up over TLS and the driver runs the copies.
    let trusted = backend(Some(&ca_file));
    let Submitted::Cluster(id) = trusted.submit("drover-trusted", &app).await.expect("submits") else { panic!("cluster mode") };
    assert_eq!(std::fs::read(staged("drover-trusted")).unwrap(), std::fs::read(apps.path().join("main.sh")).unwrap());
    let st = driver_ended(&trusted, &id).await;
    assert_eq!(st.phase, DriverPhase::Succeeded, "{st:?}");
    trusted.remove_staged("drover-trusted").await;
    assert!(!staged("drover-trusted").exists());
    front.abort();
    c.shutdown().await;
}
