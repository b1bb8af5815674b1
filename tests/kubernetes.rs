//! The kubernetes backend end to end: drover, the WASM kubernetes plugin and
//! the stand-in API server, in both deploy modes.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::drover::{Api, repo_dags, script, stand_in_backends, start, write};
use support::fixtures::SLEEPY_SH;

const DEADLINE: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(50);

/// One DAG with one task on `backend` running `resource` in `mode`.
fn dag(dir: &Path, id: &str, backend: &str, mode: &str, resource: &Path, args: &[&str]) {
    write(
        dir,
        &format!("{id}.toml"),
        &format!(
            "id = \"{id}\"\n[[tasks]]\nid = \"t\"\nbackend = \"{backend}\"\nretries = 0\n\
             [tasks.application]\nresource = \"{}\"\ndeploy_mode = \"{mode}\"\nargs = {}\n",
            resource.display(),
            json!(args)
        ),
    );
}

/// The pod of a driver id, `namespace/name@ms`: `(namespace, name)`.
fn pod_of(id: &str) -> (&str, &str) {
    let (pod, at) = id.split_once('@').expect("namespace/name@ms");
    assert!(at.parse::<u64>().is_ok(), "{id}: the submission time in ms");
    pod.split_once('/').expect("namespace/name")
}

async fn pod(cluster_url: &str, id: &str) -> (u16, Value) {
    let (ns, name) = pod_of(id);
    let r = reqwest::get(format!("{cluster_url}/api/v1/namespaces/{ns}/pods/{name}")).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn wait_driver_state(api: &Api, dag: &str, run: &str, state: &str) -> Value {
    let until = Instant::now() + DEADLINE;
    loop {
        let tries = api.tries(dag, run, "t").await.unwrap();
        if let Some(t) = tries.last()
            && t["driver"]["state"] == state
        {
            return t["driver"].clone();
        }
        assert!(Instant::now() < until, "driver never {state}: {tries:#?}");
        tokio::time::sleep(POLL).await;
    }
}

async fn read_pid(path: &Path) -> u32 {
    let until = Instant::now() + DEADLINE;
    loop {
        if let Ok(pid) = std::fs::read_to_string(path).unwrap_or_default().trim().parse() {
            return pid;
        }
        assert!(Instant::now() < until, "{} never written", path.display());
        tokio::time::sleep(POLL).await;
    }
}

/// Running, not a zombie waiting for its new parent to reap it.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

/// Waits (a process in its group may take a moment to die) until `pid` is gone.
async fn gone(pid: u32) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        if Instant::now() > until {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
    true
}

#[tokio::test]
async fn kubernetes_example_dag_succeeds_in_a_driver_pod() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path(), &repo_dags(), None).await.expect("drover starts");
    let api = Api::new(&d);
    let run = api.trigger("kubernetes_example", json!({})).await.unwrap();
    assert_eq!(api.wait_run("kubernetes_example", &run, DEADLINE).await.unwrap(), "success");
    let tries = api.tries("kubernetes_example", &run, "report").await.unwrap();
    assert_eq!(tries.len(), 1);
    let driver = &tries[0]["driver"];
    assert_eq!(driver["deploy_mode"], "cluster");
    assert_eq!(driver["raw_state"], "Succeeded/Completed");
    let id = driver["cluster_id"].as_str().unwrap();
    let (ns, name) = pod_of(id);
    assert!(ns == "default" && name.starts_with("kubernetes-example-") && name.ends_with("-driver"), "{id}");

    // The pod as Spark would have made it, carrying drover's key.
    let (code, p) = pod(&d.cluster.rest_url(), id).await;
    assert_eq!(code, 200);
    let labels = &p["metadata"]["labels"];
    assert_eq!(labels["spark-role"], "driver");
    assert_eq!(labels["team"], "data");
    assert!(labels["spark-app-selector"].as_str().unwrap().starts_with("spark-"));
    assert_eq!(labels["drover.dev/submission-key"], driver["submission_key"]);
    assert_eq!(p["spec"]["nodeSelector"]["eks.amazonaws.com/capacityType"], "ON_DEMAND");
    let c = &p["spec"]["containers"][0];
    assert_eq!(c["name"], "spark-kubernetes-driver");
    assert_eq!(c["resources"]["limits"]["memory"], "896Mi", "512 MiB + 384 MiB overhead");
    assert!(c["args"].to_string().contains("spark.kubernetes.executor.node.selector.eks.amazonaws.com/capacityType=SPOT"));

    let log = api.log("kubernetes_example", &run, "report", 1).await.unwrap();
    assert!(log.contains(r#""lines": 5"#), "log: {log}");
    assert!(log.contains(r#""pod_ip": "127.0.0.1""#), "the downward API reached the driver: {log}");
    let subs = d.cluster.submissions();
    assert_eq!(subs.iter().filter(|s| s.manager == "kubernetes").count(), 1, "{subs:?}");
    d.shutdown().await;
}

#[tokio::test]
async fn success_and_failure_in_both_deploy_modes() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let app = script(dags.path(), "app.sh", "#!/bin/sh\necho \"driver says $1\"\nexit \"$2\"\n");
    for mode in ["client", "cluster"] {
        dag(dags.path(), &format!("ok_{mode}"), "k8s", mode, &app, &["hi", "0"]);
        dag(dags.path(), &format!("bad_{mode}"), "k8s", mode, &app, &["bye", "3"]);
    }
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    for mode in ["client", "cluster"] {
        let ok = api.trigger(&format!("ok_{mode}"), json!({})).await.unwrap();
        let bad = api.trigger(&format!("bad_{mode}"), json!({})).await.unwrap();
        assert_eq!(api.wait_run(&format!("ok_{mode}"), &ok, DEADLINE).await.unwrap(), "success", "{mode}");
        assert_eq!(api.wait_run(&format!("bad_{mode}"), &bad, DEADLINE).await.unwrap(), "failed", "{mode}");
        let log = api.log(&format!("ok_{mode}"), &ok, "t", 1).await.unwrap();
        assert!(log.contains("driver says hi"), "{mode}: {log}");
        let driver = &api.tries(&format!("bad_{mode}"), &bad, "t").await.unwrap()[0]["driver"];
        assert_eq!(driver["state"], "failed", "{mode}");
        if mode == "cluster" {
            assert_eq!(driver["raw_state"], "Failed/Error");
            assert!(driver["message"].as_str().unwrap().contains("exited with code 3"), "{driver:#}");
        }
    }
    // Only the cluster-mode tries made pods.
    let keys: Vec<_> = d.cluster.submissions().into_iter().filter(|s| s.manager == "kubernetes").collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    d.shutdown().await;
}

#[tokio::test]
async fn kill_deletes_the_pod_and_stops_the_driver_in_both_deploy_modes() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let app = script(dags.path(), "sleeper.sh", "#!/bin/sh\necho $$ > \"$1\"\nexec sleep 600\n");
    for mode in ["client", "cluster"] {
        let pidfile = dags.path().join(format!("{mode}.pid"));
        dag(dags.path(), &format!("sleep_{mode}"), "k8s", mode, &app, &[pidfile.to_str().unwrap()]);
    }
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    for mode in ["client", "cluster"] {
        let dag_id = format!("sleep_{mode}");
        let run = api.trigger(&dag_id, json!({})).await.unwrap();
        let driver = wait_driver_state(&api, &dag_id, &run, "running").await;
        let pid = read_pid(&dags.path().join(format!("{mode}.pid"))).await;
        assert!(alive(pid));
        let r = api.kill(&dag_id, &run, "t").await;
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        assert_eq!(api.wait_run(&dag_id, &run, DEADLINE).await.unwrap(), "failed");
        let killed = wait_driver_state(&api, &dag_id, &run, "killed").await;
        assert!(gone(pid).await, "{mode}: the driver process is gone");
        if mode == "cluster" {
            let id = driver["cluster_id"].as_str().unwrap();
            assert_eq!(pod(&d.cluster.rest_url(), id).await.0, 404, "the pod was deleted");
            assert!(killed["message"].as_str().unwrap().contains("killed by request"), "{killed:#}");
        }
    }
    d.shutdown().await;
}

#[tokio::test]
async fn backend_templates_reach_the_driver_pod_through_the_config_file() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let app = script(dags.path(), "app.sh", "#!/bin/sh\necho placed\n");
    dag(dags.path(), "placed", "eks", "cluster", &app, &[]);
    let server = drover_devcluster::kubernetes::ApiServer::start("127.0.0.1:0".parse().unwrap(), &home.path().join("k8s"), None)
        .await
        .unwrap();
    let config = write(
        home.path(),
        "drover.toml",
        &format!(
            r#"[backends.eks]
plugin = "kubernetes"
[backends.eks.settings]
api_url = "{}"
namespace = "spark"
service_account = "spark-driver"
image = "registry.example/spark:4"
driver_pod_template = '{{"metadata":{{"labels":{{"capacity":"on-demand"}}}},"spec":{{"nodeSelector":{{"eks.amazonaws.com/capacityType":"ON_DEMAND"}},"containers":[{{"name":"spark-kubernetes-driver"}},{{"name":"sidecar","image":"busybox","command":["sh","-c","echo sidecar"]}}]}}}}'
executor_pod_template = '{{"spec":{{"nodeSelector":{{"eks.amazonaws.com/capacityType":"SPOT"}}}}}}'
"#,
            server.url()
        ),
    );
    let d = start(home.path(), dags.path(), Some(config)).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("placed", json!({})).await.unwrap();
    assert_eq!(api.wait_run("placed", &run, DEADLINE).await.unwrap(), "success");
    let driver = &api.tries("placed", &run, "t").await.unwrap()[0]["driver"];
    let id = driver["cluster_id"].as_str().unwrap();
    assert!(id.starts_with("spark/"), "{id}");
    let (code, p) = pod(&server.url(), id).await;
    assert_eq!(code, 200);
    assert_eq!(p["metadata"]["labels"]["capacity"], "on-demand");
    assert_eq!(p["spec"]["nodeSelector"]["eks.amazonaws.com/capacityType"], "ON_DEMAND");
    assert_eq!(p["spec"]["serviceAccountName"], "spark-driver");
    let containers = p["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2, "the template's sidecar is kept");
    assert_eq!(containers[0]["image"], "registry.example/spark:4");
    assert!(containers[0]["args"].to_string().contains("spark.kubernetes.executor.node.selector.eks.amazonaws.com/capacityType=SPOT"));
    assert_eq!(server.submissions().len(), 1);
    d.shutdown().await;
    server.shutdown().await;
}

const TOKEN_ENV: &str = "DROVER_K8S_E2E_TOKEN";

/// drover reads secrets from its environment only, and setting a variable in
/// this multi-threaded process would race: the test runs itself again as a
/// child process with the token in its environment, and the child does the work.
#[test]
fn the_bearer_token_from_the_environment_reaches_the_api_server() {
    if std::env::var_os(TOKEN_ENV).is_some() {
        return tokio::runtime::Runtime::new().unwrap().block_on(bearer_token_reaches_the_api_server());
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "the_bearer_token_from_the_environment_reaches_the_api_server", "--nocapture"])
        .env(TOKEN_ENV, "t0ken")
        .output()
        .unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

async fn bearer_token_reaches_the_api_server() {
    let token = std::env::var(TOKEN_ENV).expect("run by the_bearer_token_from_the_environment_reaches_the_api_server");
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let app = script(dags.path(), "app.sh", "#!/bin/sh\nexit 0\n");
    dag(dags.path(), "secured", "secured", "cluster", &app, &[]);
    dag(dags.path(), "refused", "wrong", "cluster", &app, &[]);
    let server = drover_devcluster::kubernetes::ApiServer::start("127.0.0.1:0".parse().unwrap(), &home.path().join("k8s"), Some(token))
        .await
        .unwrap();
    let url = server.url();
    let config = write(
        home.path(),
        "drover.toml",
        &format!(
            "[backends.secured]\nplugin = \"kubernetes\"\nsettings = {{ api_url = \"{url}\" }}\nsecret_env = {{ token = \"{TOKEN_ENV}\" }}\n\
             [backends.wrong]\nplugin = \"kubernetes\"\nsettings = {{ api_url = \"{url}\" }}\n"
        ),
    );
    let d = start(home.path(), dags.path(), Some(config)).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("secured", json!({})).await.unwrap();
    assert_eq!(api.wait_run("secured", &run, DEADLINE).await.unwrap(), "success");
    let run = api.trigger("refused", json!({})).await.unwrap();
    assert_eq!(api.wait_run("refused", &run, DEADLINE).await.unwrap(), "failed");
    let driver = &api.tries("refused", &run, "t").await.unwrap()[0]["driver"];
    assert!(driver["message"].as_str().unwrap().contains("401"), "{driver:#}");
    assert_eq!(server.submissions().len(), 1);
    d.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn status_many_maps_driver_pods_from_one_label_list() {
    use drover_plugin_host::DriverPhase;
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let app = script(dags.path(), "app.sh", "#!/bin/sh\necho \"driver says $1\"\nexit \"$2\"\n");
    let sleepy = script(dags.path(), "sleepy.sh", SLEEPY_SH);
    dag(dags.path(), "many_ok", "k8s", "cluster", &app, &["hi", "0"]);
    dag(dags.path(), "many_bad", "k8s", "cluster", &app, &["bye", "3"]);
    dag(dags.path(), "many_sleepy", "k8s", "cluster", &sleepy, &[]);
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let ok = api.trigger("many_ok", json!({})).await.unwrap();
    let bad = api.trigger("many_bad", json!({})).await.unwrap();
    let sl = api.trigger("many_sleepy", json!({})).await.unwrap();
    assert_eq!(api.wait_run("many_ok", &ok, DEADLINE).await.unwrap(), "success");
    assert_eq!(api.wait_run("many_bad", &bad, DEADLINE).await.unwrap(), "failed");
    let running = wait_driver_state(&api, "many_sleepy", &sl, "running").await;
    let id = |t: &Value| t["driver"]["cluster_id"].as_str().unwrap().to_string();
    let ok_id = id(&api.tries("many_ok", &ok, "t").await.unwrap()[0]);
    let bad_id = id(&api.tries("many_bad", &bad, "t").await.unwrap()[0]);
    let sleepy_id = running["cluster_id"].as_str().unwrap().to_string();
    // Driver ids carry their submission time (ms); older ids had it in the
    // pod name (hex ms), and still read the same.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let ids = vec![
        ok_id,
        "default/gone-driver@1767225600000".to_string(),
        bad_id,
        format!("default/fresh-driver@{now_ms}"),
        sleepy_id,
        "elsewhere/nobody-driver".to_string(),
        "default/gone-199999999-00000000-driver".to_string(),
        format!("default/fresh-{now_ms:x}-00000000-driver"),
    ];

    let set = stand_in_backends(&d).await;
    let k8s = set.get("k8s").expect("the embedded k8s backend");
    let statuses = k8s.status_many(&ids).await.expect("status_many");
    assert_eq!(statuses.len(), ids.len(), "{statuses:#?}");
    let phase = |i: usize| statuses[i].as_ref().unwrap_or_else(|| panic!("{}: {statuses:#?}", ids[i])).phase;
    assert_eq!(phase(0), DriverPhase::Succeeded);
    // Not listed, long after its creation: deleted, as `status` says of a 404.
    assert_eq!(phase(1), DriverPhase::Killed);
    assert_eq!(statuses[1].as_ref().unwrap().raw_state, "NotFound");
    assert_eq!(phase(2), DriverPhase::Failed);
    // Not listed but just created: not visible yet, or already deleted;
    // it cannot be told, and it is not an end.
    assert_eq!(phase(3), DriverPhase::Unknown);
    assert_eq!(phase(4), DriverPhase::Running);
    // Another namespace: asked one by one, with the same 404 rule.
    assert_eq!(phase(5), DriverPhase::Killed);
    // Ids stored by older versions follow the same rule.
    assert_eq!(phase(6), DriverPhase::Killed);
    assert_eq!(phase(7), DriverPhase::Unknown);
    for (id, st) in ids.iter().zip(&statuses) {
        let one = k8s.status(id).await.unwrap();
        let st = st.as_ref().unwrap();
        assert_eq!((one.phase, &one.raw_state, &one.location), (st.phase, &st.raw_state, &st.location), "{id}");
    }
    d.shutdown().await;
}

/// Issue 13 part 3: the driver pod is named by the submission key alone, so
/// sending the same try again (a lost reply, a restart before the answer was
/// kept) is refused by the API server with 409 AlreadyExists, and the plugin
/// follows the pod the first send made instead of starting a second driver.
#[tokio::test]
async fn a_try_sent_twice_makes_one_driver_pod() {
    use drover_plugin_host::{Limits, PluginHost, Submitted};
    use support::proxy::Proxy;

    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let app = script(dags.path(), "app.sh", "#!/bin/sh\nexit 0\n");
    let server = drover_devcluster::kubernetes::ApiServer::start("127.0.0.1:0".parse().unwrap(), &home.path().join("k8s"), None)
        .await
        .unwrap();
    // Between the plugin and the API server, to see every create it sends.
    let proxy = Proxy::start(server.url().trim_start_matches("http://").parse().unwrap()).await;
    let host = PluginHost::new(Limits::default(), Some(support::drover::plugin_cache())).unwrap();
    let plugin = host.load_named("kubernetes").await.unwrap();
    let authority = proxy.url().trim_start_matches("http://").to_string();
    let backend = host
        .backend("k8s", plugin, vec![("api_url".into(), proxy.url()), ("namespace".into(), "jobs".into())], &[authority.as_str()])
        .unwrap();
    let application = drover_dag::Application {
        name: "Twice Sent".into(),
        resource: app.display().to_string(),
        main_class: None,
        args: vec![],
        conf: Default::default(),
        deploy_mode: drover_dag::DeployMode::Cluster,
        driver: drover_dag::Resources { memory_mb: None, cores: None, instances: None },
        executor: drover_dag::Resources { memory_mb: None, cores: None, instances: None },
        jars: vec![],
        files: vec![],
        py_files: vec![],
        env: Default::default(),
        proxy_user: None,
    };
    let key = "drover-5eb1ce0ffee0000000000000000000ab";
    let submit = |key: &'static str| {
        let (backend, application) = (&backend, &application);
        async move {
            match backend.submit(key, application).await {
                Ok(Submitted::Cluster(id)) => id,
                other => panic!("{key}: {other:?}"),
            }
        }
    };

    let first = submit(key).await;
    let second = submit(key).await;
    assert_eq!(pod_of(&first), pod_of(&second), "the same pod: {first} then {second}");
    let (ns, name) = pod_of(&first);
    assert_eq!(ns, "jobs");
    assert!(name.starts_with("twice-sent-") && name.ends_with("-driver"), "{name}");

    // Both creates reached the API server; the second was refused as existing.
    let creates: Vec<_> = proxy.seen().into_iter().filter(|r| r.is("POST", "*/pods")).collect();
    assert_eq!(creates.iter().map(|r| (r.forwarded, r.status)).collect::<Vec<_>>(), [(true, Some(201)), (true, Some(409))]);
    assert_eq!(creates[0].json()["metadata"]["name"], creates[1].json()["metadata"]["name"]);
    // One pod, created once.
    let subs = server.submissions();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0].submission_key.as_deref(), Some(key));
    let list: Value = reqwest::get(format!("{}/api/v1/namespaces/jobs/pods", server.url())).await.unwrap().json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list:#}");
    // The adopted id is followed like the first: status and find agree on the pod.
    let status = backend.status(&second).await.unwrap();
    assert_ne!(status.raw_state, "NotFound", "{status:?}");
    let found = backend.find(key).await.unwrap().expect("found by its key");
    assert_eq!(pod_of(&found), (ns, name));

    // Another try (another key) of the same application is another pod.
    let other = submit("drover-5eb1ce0ffee0000000000000000000ac").await;
    assert_ne!(pod_of(&other), pod_of(&first));
    assert_eq!(server.submissions().len(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn a_proxy_user_reaches_the_driver_pods_spark_submit() {
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    let app = script(dags.path(), "whoami.sh", "#!/bin/sh\necho \"spark user: ${SPARK_USER:-none}\"\n");
    write(
        dags.path(),
        "as_cluster.toml",
        &format!(
            "id = \"as_cluster\"\n[[tasks]]\nid = \"t\"\nbackend = \"k8s\"\nretries = 0\n\
             [tasks.application]\nresource = \"{}\"\ndeploy_mode = \"cluster\"\nproxy_user = \"analyst\"\n",
            app.display()
        ),
    );
    let d = start(home.path(), dags.path(), None).await.unwrap();
    let api = Api::new(&d);
    let run = api.trigger("as_cluster", json!({})).await.unwrap();
    assert_eq!(api.wait_run("as_cluster", &run, DEADLINE).await.unwrap(), "success");
    let log = api.log("as_cluster", &run, "t", 1).await.unwrap();
    assert!(log.contains("spark user: analyst"), "{log}");
    let driver = &api.tries("as_cluster", &run, "t").await.unwrap()[0]["driver"];
    let (status, pod) = pod(&d.cluster.rest_url(), driver["cluster_id"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{pod:#}");
    let args: Vec<&str> = pod["spec"]["containers"][0]["args"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(args.first(), Some(&"driver"), "{args:?}");
    let at = args.iter().position(|a| *a == "--proxy-user").expect("--proxy-user in the driver's arguments");
    assert_eq!(args[at + 1], "analyst", "{args:?}");
    d.shutdown().await;
}
