//! The WebAssembly plugin host: how drover talks to cluster managers.
//!
//! Every cluster manager (Spark standalone, YARN, Kubernetes, a serverless
//! service) is reached through a plugin, a WebAssembly component that exports
//! the `backend` world of the WIT package in `wit/`. This crate owns that
//! contract and everything that keeps a plugin in its sandbox:
//!
//! - components are compiled once per process and cached on disk by content
//!   hash, so a restart does not pay for compilation again;
//! - every call gets a fresh `Store` (a trapped instance is simply dropped),
//!   an epoch deadline plus a wall-clock timeout, and a memory cap;
//! - the only way out is `wasi:http`, and only to the hosts configured for
//!   the backend ([`policy`]);
//! - failures come back as [`CallError`], whose variant (not its message)
//!   says whether trying again can help.

mod bindings;
pub mod bundled;
mod call;
pub mod config;
pub mod convert;
mod engine;
mod error;
pub mod policy;

pub use bindings::{
    DeployMode as WitDeployMode, DriverPhase, DriverStatus, Info as PluginInfo, LocalLaunch,
    LogChunk, PluginError, Problem, Resources, Submitted,
};
pub use call::Backend;
pub use config::{BackendConfig, BackendSet, ConfigError};
pub use engine::{Limits, Plugin, PluginHost};
pub use error::{CallError, HostError};
