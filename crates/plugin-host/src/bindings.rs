//! Generated bindings for the `backend` world (wit/plugin.wit).

wasmtime::component::bindgen!({
    path: "wit",
    world: "backend",
    exports: { default: async },
});

pub use drover::plugin::types::*;
