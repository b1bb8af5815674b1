//! The WebAssembly plugin host: how drover talks to cluster managers.
//!
//! Every cluster manager (Spark standalone, YARN, Kubernetes, a serverless
//! service) is reached through a plugin, a WebAssembly component that exports
//! the `backend` interface of the contract in `plugins/wit/drover-plugin@VERSION`
//! (the versions in [`SUPPORTED_CONTRACTS`]). This crate is the port to that
//! contract: [`Backend`] takes and returns drover's own types, and the
//! translation to and from WIT lives in one private module (`convert`). It
//! also keeps every plugin in its sandbox:
//!
//! - components are compiled once per process and cached on disk by content
//!   hash, so a restart does not pay for compilation again;
//! - every call gets a fresh `Store` (a trapped instance is simply dropped),
//!   an epoch deadline plus a wall-clock timeout, and a memory cap;
//! - the only way out is `wasi:http`, and only to the hosts configured for
//!   the backend ([`policy`]);
//! - failures come back as [`CallError`], whose variant and [`ErrorKind`]
//!   (not its message) say whether trying again can help;
//! - a backend whose plugin is a `.wasm` file takes a changed file without
//!   a restart, once the new component loads and checks out ([`watch`]);
//! - in cluster mode, the application's local files are uploaded to the
//!   cluster's staging area by the host, never by the plugin ([`staging`]);
//! - a component built for a contract version the host does not support is
//!   refused at load time ([`HostError::UnsupportedContract`]).

mod bindings;
pub mod bundled;
mod call;
pub mod config;
mod convert;
mod engine;
mod error;
pub mod policy;
mod reload;
pub mod staging;
mod stats;
mod types;

pub use call::Backend;
pub use config::{BackendConfig, BackendSet, ConfigError};
pub use staging::{S3Credentials, StagingConfig};
pub use reload::{PluginWatcher, Reload, ReloadError, watch};
pub use engine::{Limits, Plugin, PluginHost, SUPPORTED_CONTRACTS};
pub use stats::{CALLS, CallStats, LATENCY_BUCKETS};
pub use error::{CallError, ErrorKind, HostError};
pub use types::{
    ConfigKey, DriverPhase, DriverStatus, LocalLaunch, LogChunk, PluginInfo, Problem, Submitted,
};
