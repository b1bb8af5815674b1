//! Generated bindings for the `plugin` world of the contract's versioned home,
//! `plugins/wit/drover-plugin@0.1.0`. Only [`crate::convert`] and the call
//! machinery see these types; everything outside the crate gets drover's own.
//!
//! The generated module tree starts at the package's namespace, `drover`,
//! which would read like the CLI crate: it stays private, and each contract
//! version is offered under its version instead (`v0_1_0`), the way a second
//! version will sit beside it.

mod generated {
    wasmtime::component::bindgen!({
        path: "../../plugins/wit/drover-plugin@0.1.0",
        world: "plugin",
        exports: { default: async },
    });
}

/// Contract 0.1.0.
pub(crate) mod v0_1_0 {
    pub(crate) use super::generated::PluginPre;
    pub(crate) use super::generated::drover::plugin::types::*;
}
