//! moto's server (`moto_server` from the venv), an implementation of the AWS
//! APIs nobody here wrote, for proving the AWS plugins' wire format; and
//! boto3 snippets, the AWS client everybody uses, for driving a stand-in.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `moto_server` on a port picked here; killed on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub async fn start() -> Moto {
        let python = super::peers::python_with("moto").expect("moto[server] in the venv");
        let server = python.with_file_name("moto_server");
        assert!(server.exists(), "no moto_server next to {}", python.display());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
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
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `script` with the venv's python (boto3 importable, no AWS config
/// files read) and `args` as sys.argv[1..]; its stdout, or a panic with its
/// stderr. Off the runtime's thread, which may be serving what it calls.
pub async fn boto3(script: &str, args: &[&str]) -> String {
    let python = super::peers::python_with("boto3").expect("boto3 in the venv");
    let mut cmd = Command::new(python);
    cmd.arg("-c")
        .arg(script)
        .args(args)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    assert!(
        out.status.success(),
        "boto3 script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A Spark application for the AWS plugins on moto, in `deploy_mode`.
pub fn app(resource: &str, deploy_mode: drover_dag::DeployMode) -> drover_dag::Application {
    drover_dag::Application {
        name: "moto job".into(),
        resource: resource.into(),
        main_class: Some("com.example.Main".into()),
        args: vec!["--day".into(), "2026-01-01".into()],
        conf: [("spark.sql.shuffle.partitions".into(), "4".into())].into(),
        deploy_mode,
        driver: drover_dag::Resources { memory_mb: Some(2048), cores: Some(1), instances: None },
        executor: drover_dag::Resources { memory_mb: Some(4096), cores: Some(2), instances: Some(2) },
        jars: vec!["s3://bucket/dep.jar".into()],
        files: vec![],
        py_files: vec![],
        env: [("TZ".into(), "UTC".into())].into(),
        proxy_user: None,
    }
}

/// The bundled `plugin` as a backend on `moto` with `settings` (moto's own
/// credentials, `testing`, are added), allowed to reach moto only.
pub async fn backend(moto: &Moto, plugin: &str, settings: &[(&str, &str)]) -> drover_plugin_host::Backend {
    let host = drover_plugin_host::PluginHost::new(drover_plugin_host::Limits::default(), Some(super::drover::plugin_cache()))
        .expect("plugin host");
    let plugin = host.load_named(plugin).await.expect("the bundled plugin loads");
    let credentials = [("endpoint", moto.url.as_str()), ("access_key_id", "testing"), ("secret_access_key", "testing")];
    let settings = credentials.iter().chain(settings).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let authority = moto.url.trim_start_matches("http://").to_string();
    host.backend("moto", plugin, settings, &[authority.as_str()]).expect("backend")
}
