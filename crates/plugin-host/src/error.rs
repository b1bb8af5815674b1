use std::time::Duration;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("plugin `{plugin}` is not a valid drover plugin component: {reason}")]
    Invalid { plugin: String, reason: String },
    /// The component was built for a version of the contract this host does not speak.
    #[error(
        "plugin `{plugin}` was built for drover plugin contract {found}, which this drover does not support (supported: {}); rebuild it against one of those (plugins/wit/drover-plugin@VERSION)",
        .supported.join(", ")
    )]
    UnsupportedContract {
        plugin: String,
        /// The version the component exports, or a description of what it exports instead.
        found: String,
        supported: Vec<String>,
    },
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
    #[error("{}", describe_plugin_error(*.kind, .message))]
    Plugin { kind: ErrorKind, message: String },
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
            CallError::Plugin { kind: ErrorKind::Unavailable, .. } => true,
            CallError::TimedOut { .. } => true,
            CallError::Plugin { .. }
            | CallError::Denied { .. }
            | CallError::Trapped { .. }
            | CallError::OutOfMemory { .. } => false,
        }
    }

    /// The cluster said it does not know the id.
    pub fn is_not_found(&self) -> bool {
        self.kind() == Some(ErrorKind::NotFound)
    }

    /// The kind of a plugin's own error; `None` for what the host saw
    /// happen (a denial, a crash, a timeout, running out of memory).
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            CallError::Plugin { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// Why a plugin says a call failed: the contract's `plugin-error` cases,
/// as drover's own type. The host decides about retrying from the kind,
/// never from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong and will stay wrong (bad settings, bad application).
    Invalid,
    /// The cluster could not be reached or is busy; worth trying again.
    Unavailable,
    /// The cluster answered and refused.
    Rejected,
    /// The cluster answered something the plugin cannot understand.
    Protocol,
    /// The request was sent but its answer was lost: a submission may
    /// have been applied.
    InDoubt,
    /// The cluster does not know this id.
    NotFound,
    /// This plugin cannot do that.
    Unsupported,
}

fn describe_plugin_error(kind: ErrorKind, m: &str) -> String {
    match kind {
        ErrorKind::Invalid => format!("invalid request: {m}"),
        ErrorKind::Unavailable => format!("cluster unavailable: {m}"),
        ErrorKind::Rejected => format!("cluster refused: {m}"),
        ErrorKind::Protocol => format!("cluster answered something unexpected: {m}"),
        ErrorKind::InDoubt => format!("cluster's answer lost: {m}"),
        ErrorKind::NotFound => format!("not found on the cluster: {m}"),
        ErrorKind::Unsupported => format!("not supported by this plugin: {m}"),
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
