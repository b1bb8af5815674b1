//! Plugins built from `plugins/` by this crate's build script and embedded in
//! the binary, so `drover` runs with no plugin files lying around.

/// The Spark standalone plugin (REST submission protocol + spark-submit client mode).
pub const SPARK_STANDALONE: &[u8] =
    include_bytes!(concat!(env!("DROVER_PLUGIN_DIR"), "/spark_standalone.wasm"));

/// A deliberately broken plugin (traps, loops, hogs memory, calls forbidden
/// hosts) that the host's tests use to prove the sandbox holds.
#[doc(hidden)]
pub const MISBEHAVE: &[u8] = include_bytes!(concat!(env!("DROVER_PLUGIN_DIR"), "/misbehave.wasm"));

/// Plugins a backend can name by plugin name instead of a file path.
pub fn lookup(name: &str) -> Option<&'static [u8]> {
    match name {
        "spark-standalone" => Some(SPARK_STANDALONE),
        _ => None,
    }
}

/// Names of the bundled plugins, for hints.
pub const NAMES: &[&str] = &["spark-standalone"];
