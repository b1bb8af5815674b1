//! The guest side of drover's plugin contract, shared by every cluster-manager plugin.
//!
//! A plugin is a `cdylib` built for `wasm32-wasip2` that implements
//! [`Backend`] and calls [`export!`]; [`backend`] turns the contract's raw
//! arguments into what its methods take, once for every plugin. The WIT lives in the contract's
//! versioned home (`plugins/wit/drover-plugin@0.2.0`), which the host reads
//! too, so host and guests cannot drift apart: this crate only generates the
//! guest bindings from it.
//!
//! Besides the bindings, this crate holds what every plugin needs and what is
//! easy to get subtly wrong: HTTP over `wasi:http` with errors mapped onto
//! [`PluginError`] ([`http`]), typed access to the backend's settings
//! ([`settings`]), and the spark-submit command line and Spark properties an
//! [`Application`] stands for ([`spark`]); with the `aws` feature, SigV4
//! signing and AWS's error replies ([`aws`]). Everything except the HTTP
//! transport is plain Rust, so `cargo test` on the host target covers it.
//!
//! ```ignore
//! use drover_plugin_sdk::{Backend, Settings};
//! struct MyPlugin;
//! impl Backend for MyPlugin { /* describe, validate, submit, find, status, status_many, kill, logs */ }
//! drover_plugin_sdk::export!(MyPlugin);
//! ```
//!
//! Unit tests of a plugin start from the fixtures in [`testing`] (cargo
//! feature `testing`, for a dev-dependency).

#[cfg(feature = "aws")]
pub mod aws;
pub mod backend;
pub mod batch;
pub mod http;
pub mod settings;
pub mod spark;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// Bindings generated from `plugins/wit/drover-plugin@0.2.0/plugin.wit`
/// (world `plugin`, which exports the `backend` interface).
///
/// The contract's types are at this module's root (`bindings::Application`,
/// `bindings::PluginError`, ...) and in [`bindings::types`]; the trait to
/// implement is [`Backend`](super::Backend), which implements the generated
/// [`bindings::Guest`].
pub mod bindings {
    /// The generated tree, which starts at the package's namespace (`drover`,
    /// like the CLI crate): hidden, and reached through the names below.
    #[doc(hidden)]
    #[allow(missing_docs, clippy::all)]
    pub mod generated {
        wit_bindgen::generate!({
            path: "../wit/drover-plugin@0.2.0",
            world: "plugin",
            pub_export_macro: true,
            default_bindings_module: "drover_plugin_sdk::bindings::generated",
            additional_derives: [PartialEq],
        });
    }

    /// The contract's `types` interface.
    pub use self::generated::drover::plugin::types;
    pub use self::generated::exports::drover::plugin::backend::Guest;
    pub use self::types::*;
}

/// Exports a type implementing [`Backend`] as the component's
/// `backend`. Only in the component itself: on the host, where a plugin's
/// unit tests run, the export symbols (named `drover:plugin/backend@…#…`)
/// cannot be linked, and nothing would call them.
#[macro_export]
macro_rules! export {
    ($plugin:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::generated::export!($plugin);
    };
}
pub use bindings::types::{
    Application, ConfigKey, DeployMode, DriverPhase, DriverStatus, Info, LocalLaunch, LogChunk,
    PluginError, Problem, Resources, Submitted,
};
pub use backend::Backend;
pub use settings::Settings;

impl PluginError {
    /// The message, whatever the variant.
    pub fn message(&self) -> &str {
        match self {
            PluginError::Invalid(m)
            | PluginError::Unavailable(m)
            | PluginError::Rejected(m)
            | PluginError::Protocol(m)
            | PluginError::InDoubt(m)
            | PluginError::NotFound(m)
            | PluginError::Unsupported(m) => m,
        }
    }
}

impl DeployMode {
    /// The name spark-submit and the DAG file use: "client", "cluster", "service".
    pub fn as_str(self) -> &'static str {
        match self {
            DeployMode::Client => "client",
            DeployMode::Cluster => "cluster",
            DeployMode::Service => "service",
        }
    }
}

impl DriverPhase {
    /// Whether the driver has ended for good (succeeded, failed, killed or
    /// lost): what a plugin checks before it calls a refused kill done.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DriverPhase::Succeeded | DriverPhase::Failed | DriverPhase::Killed | DriverPhase::Lost
        )
    }
}

impl Problem {
    pub fn new(
        field: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Problem {
            field: field.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl ConfigKey {
    /// A non-secret key.
    pub fn new(name: &str, description: &str, required: bool) -> Self {
        ConfigKey {
            name: name.to_string(),
            description: description.to_string(),
            required,
            secret: false,
        }
    }

    /// An optional secret key: the host reads its value from the environment
    /// (`secret_env`) and never shows it.
    pub fn secret(name: &str, description: &str) -> Self {
        ConfigKey {
            name: name.to_string(),
            description: description.to_string(),
            required: false,
            secret: true,
        }
    }
}

/// `s` cut to at most `max` bytes (on a char boundary), with "…" when cut: for
/// quoting a server's reply in an error message without flooding it.
pub fn excerpt(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_cuts_on_a_char_boundary() {
        assert_eq!(excerpt("  short  ", 10), "short");
        assert_eq!(excerpt("ééé", 3), "é…");
    }
}
