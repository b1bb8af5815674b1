use std::time::Duration;

use crate::bindings::PluginError;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("plugin `{plugin}` is not a valid drover plugin component: {reason}")]
    Invalid { plugin: String, reason: String },
    #[error("plugin `{plugin}` failed while describing itself: {source}")]
    Describe {
        plugin: String,
        #[source]
        source: Box<CallError>,
    },
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}

/// Why one call into a plugin failed. The variant decides retrying
/// ([`CallError::is_retryable`]); messages are for people.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The plugin ran and reported an error of its own.
    #[error("{}", describe_plugin_error(.0))]
    Plugin(PluginError),
    /// The plugin tried to reach a host its backend does not allow.
    #[error(
        "plugin `{plugin}` tried to reach {host}, which backend `{backend}` does not allow; add it to the backend's allowed_hosts if it is intended"
    )]
    Denied {
        plugin: String,
        backend: String,
        host: String,
    },
    /// The plugin crashed (a WebAssembly trap, e.g. a panic).
    #[error("plugin `{plugin}` crashed in `{call}`: {message}{}", stderr_suffix(.stderr))]
    Trapped {
        plugin: String,
        call: &'static str,
        message: String,
        stderr: String,
    },
    /// The plugin ran past its deadline (an endless loop or a hung request).
    #[error("plugin `{plugin}` did not finish `{call}` within {after:?} and was stopped")]
    TimedOut {
        plugin: String,
        call: &'static str,
        after: Duration,
    },
    /// The plugin asked for more memory than its cap.
    #[error("plugin `{plugin}` exceeded its memory limit of {limit_mb} MiB in `{call}` and was stopped")]
    OutOfMemory {
        plugin: String,
        call: &'static str,
        limit_mb: usize,
    },
}

impl CallError {
    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            CallError::Plugin(PluginError::Unavailable(_)) => true,
            CallError::TimedOut { .. } => true,
            CallError::Plugin(_)
            | CallError::Denied { .. }
            | CallError::Trapped { .. }
            | CallError::OutOfMemory { .. } => false,
        }
    }

    /// The cluster said it does not know the id.
    pub fn is_not_found(&self) -> bool {
        matches!(self, CallError::Plugin(PluginError::NotFound(_)))
    }
}

fn describe_plugin_error(e: &PluginError) -> String {
    match e {
        PluginError::Invalid(m) => format!("invalid request: {m}"),
        PluginError::Unavailable(m) => format!("cluster unavailable: {m}"),
        PluginError::Rejected(m) => format!("cluster refused: {m}"),
        PluginError::Protocol(m) => format!("cluster answered something unexpected: {m}"),
        PluginError::InDoubt(m) => format!("cluster's answer lost: {m}"),
        PluginError::NotFound(m) => format!("not found on the cluster: {m}"),
        PluginError::Unsupported(m) => format!("not supported by this plugin: {m}"),
    }
}

fn stderr_suffix(stderr: &str) -> String {
    let s = stderr.trim();
    if s.is_empty() {
        String::new()
    } else {
        format!(" (plugin stderr: {s})")
    }
}
