//! Shared helpers for drover's end-to-end tests (`mod support;` in tests/*.rs).
// Each test target uses only part of the support code.
#![allow(dead_code)]

pub mod child;
pub mod drover;
pub mod emr;
pub mod fixtures;
pub mod measure;
pub mod moto;
pub mod peers;
pub mod proxy;
pub mod records;
pub mod scaffold;
pub mod spark;
pub mod wait;
