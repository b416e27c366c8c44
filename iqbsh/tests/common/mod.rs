//! Shared harness of the proxy's integration tests: origins, the catalog
//! world, the running proxy and curl.

#![allow(dead_code)]

pub mod curl;
pub mod icap;
pub mod origin;
pub mod shaped;
pub mod tunnel;
pub mod world;
