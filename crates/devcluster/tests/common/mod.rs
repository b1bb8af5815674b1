//! What the stand-in tests share: the venv with the real third-party clients,
//! and whether a driver's process is still there.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The venv's python with `module` importable (`bash .ci/run` installs the
/// clients there); panics, never skips, when it is missing.
pub fn python_with(module: &str) -> PathBuf {
    let venv = match std::env::var_os("DROVER_SPARK_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => {
            let cache = match std::env::var_os("DROVER_CI_CACHE") {
                Some(c) if !c.is_empty() => PathBuf::from(c),
                _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/drover-ci"),
            };
            cache.join("venv")
        }
    };
    let python = venv.join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no python with `{module}` at {}: run `bash .ci/run` once (it installs the clients), or set DROVER_SPARK_VENV",
        python.display()
    );
    python
}

/// Whether the process is alive (a zombie waiting to be reaped is not).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// A stand-in cluster on a free port with its own folder, and an HTTP client.
/// Each test file's `Fixture` derefs to it and adds its protocol's calls.
pub struct Stand {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub cluster: drover_devcluster::DevCluster,
    pub http: reqwest::Client,
}

impl Stand {
    /// With the default worker (8 cores, 16 GiB).
    pub async fn start() -> Stand {
        let d = drover_devcluster::DevClusterConfig::default();
        Stand::with_worker(d.worker_cores, d.worker_memory_mb).await
    }

    pub async fn with_worker(cores: u32, memory_mb: u32) -> Stand {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let cluster = drover_devcluster::DevCluster::start(drover_devcluster::DevClusterConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            work_dir: root.join("work"),
            worker_cores: cores,
            worker_memory_mb: memory_mb,
            s3: None,
            s3_bind: None,
        })
        .await
        .unwrap();
        Stand {
            _dir: dir,
            root,
            cluster,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cluster.rest_url())
    }

    /// An executable file in the fixture's folder.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.root.join(name);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// GET with the status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let reply = self.http.get(self.url(path)).send().await.unwrap();
        (reply.status().as_u16(), reply.json().await.unwrap())
    }
}

/// `struct Fixture(Stand)` derefs to the stand-in.
macro_rules! fixture_on_stand {
    () => {
        struct Fixture(common::Stand);

        impl std::ops::Deref for Fixture {
            type Target = common::Stand;
            fn deref(&self) -> &common::Stand {
                &self.0
            }
        }
    };
}
