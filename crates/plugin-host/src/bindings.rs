//! Generated bindings for the `plugin` world of each contract version the
//! host speaks, from their versioned homes, `plugins/wit/drover-plugin@VERSION`.
//! Only [`crate::convert`] and the call machinery see these types; everything
//! outside the crate gets drover's own.
//!
//! The generated module tree starts at the package's namespace, `drover`,
//! which would read like the CLI crate: it stays private, and each contract
//! version is offered under its version instead (`v0_1_0`, `v0_2_0`).

mod generated_0_1_0 {
    wasmtime::component::bindgen!({
        path: "../../plugins/wit/drover-plugin@0.1.0",
        world: "plugin",
        exports: { default: async },
    });
}

mod generated_0_2_0 {
    wasmtime::component::bindgen!({
        path: "../../plugins/wit/drover-plugin@0.2.0",
        world: "plugin",
        exports: { default: async },
    });
}

/// Contract 0.1.0: no `proxy-user` in `application`.
pub(crate) mod v0_1_0 {
    pub(crate) use super::generated_0_1_0::PluginPre;
    pub(crate) use super::generated_0_1_0::drover::plugin::types::*;
}

/// Contract 0.2.0, the current one.
pub(crate) mod v0_2_0 {
    pub(crate) use super::generated_0_2_0::PluginPre;
    pub(crate) use super::generated_0_2_0::drover::plugin::types::*;
}
