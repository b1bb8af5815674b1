//! Plugins built from `plugins/` by this crate's build script and embedded in
//! the binary, so `drover` runs with no plugin files lying around.

/// The Spark standalone plugin (REST submission protocol + spark-submit client mode).
pub const SPARK_STANDALONE: &[u8] =
    include_bytes!(concat!(env!("DROVER_PLUGIN_DIR"), "/spark_standalone.wasm"));

/// The YARN plugin (ResourceManager REST API + spark-submit client mode).
pub const YARN: &[u8] = include_bytes!(concat!(env!("DROVER_PLUGIN_DIR"), "/yarn.wasm"));

/// The Kubernetes plugin (driver pods through the Kubernetes API).
pub const KUBERNETES: &[u8] = include_bytes!(concat!(env!("DROVER_PLUGIN_DIR"), "/kubernetes.wasm"));

/// The serverless plugin (EMR Serverless job runs, SigV4-signed).
pub const EMR_SERVERLESS: &[u8] =
    include_bytes!(concat!(env!("DROVER_PLUGIN_DIR"), "/emr_serverless.wasm"));

/// The EMR on EKS plugin (emr-containers job runs on a virtual cluster, SigV4-signed).
pub const EMR_CONTAINERS: &[u8] =
    include_bytes!(concat!(env!("DROVER_PLUGIN_DIR"), "/emr_containers.wasm"));

/// The Livy plugin (Apache Livy's batch REST API; cluster mode only).
pub const LIVY: &[u8] = include_bytes!(concat!(env!("DROVER_PLUGIN_DIR"), "/livy.wasm"));

/// A deliberately broken plugin (traps, loops, hogs memory, calls forbidden
/// hosts) that the host's tests use to prove the sandbox holds.
#[doc(hidden)]
pub const MISBEHAVE: &[u8] = include_bytes!(concat!(env!("DROVER_PLUGIN_DIR"), "/misbehave.wasm"));

/// Plugins a backend can name by plugin name instead of a file path.
pub fn lookup(name: &str) -> Option<&'static [u8]> {
    match name {
        "spark-standalone" => Some(SPARK_STANDALONE),
        "yarn" => Some(YARN),
        "kubernetes" => Some(KUBERNETES),
        "emr-serverless" => Some(EMR_SERVERLESS),
        "emr-containers" => Some(EMR_CONTAINERS),
        "livy" => Some(LIVY),
        _ => None,
    }
}

/// Names of the bundled plugins, for hints.
pub const NAMES: &[&str] = &["spark-standalone", "yarn", "kubernetes", "emr-serverless", "emr-containers", "livy"];
