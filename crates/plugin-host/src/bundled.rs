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

/// The Livy plugin (Apache Livy's batch REST API; cluster mode only), in
/// Python: built by `plugins/livy-py/build.sh` with componentize-py and
/// committed, so a build needs no Python toolchain; a test fails when it is
/// older than its sources (`livy.wasm.inputs`). Give its backend more memory
/// than a Rust plugin's (`memory_mb`, see [`LIVY_MEMORY_MB`]).
pub const LIVY: &[u8] = include_bytes!("../../../plugins/livy-py/livy.wasm");

/// The sandbox memory cap, in MiB, the Python `livy` plugin is given where
/// drover configures it (a CPython runtime; one call's peak is about 16 MiB
/// per linear memory, and a large log read needs more).
pub const LIVY_MEMORY_MB: u32 = 128;

/// The same Livy plugin in Rust (`plugins/livy`), the model of the Rust scaffold.
pub const LIVY_RUST: &[u8] = include_bytes!(concat!(env!("DROVER_PLUGIN_DIR"), "/livy.wasm"));

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
        "livy-rust" => Some(LIVY_RUST),
        _ => None,
    }
}

/// The compile cache's key of a bundled plugin whose bytes are large enough
/// that hashing them at every start would cost memory (they are touched, so
/// resident): computed by the build script.
pub(crate) fn digest(name: &str) -> Option<&'static str> {
    match name {
        "livy" => Some(env!("DROVER_LIVY_PY_SHA256")),
        _ => None,
    }
}

/// Names of the bundled plugins, for hints.
pub const NAMES: &[&str] = &["spark-standalone", "yarn", "kubernetes", "emr-serverless", "emr-containers", "livy", "livy-rust"];

/// A plugin built for contract 0.1.0, from the WIT directly, that the host's
/// tests load to prove older plugins keep working.
#[doc(hidden)]
pub const OLD_CONTRACT: &[u8] = include_bytes!(concat!(env!("DROVER_PLUGIN_DIR"), "/old_contract.wasm"));
