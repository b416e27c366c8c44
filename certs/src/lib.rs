//! Gateway root CA and forged leaf certificates for TLS inspection.
//!
//! Lives here: creating, loading, exporting and rotating the gateway's own
//! root CA ([`CaStore`], [`RootCa`]), and forging short-lived leaf
//! certificates that mirror an upstream origin's names ([`Forger`], and the
//! async, cached, off-worker-thread [`LeafForge`]); and verifying the signed
//! documents (CMS) applicants attach at the request desk against the desk's own
//! trust anchors ([`signed`]).
//!
//! Must not: decide whether an upstream certificate is trustworthy (signed documents
//! aside, against anchors the caller gives). Every
//! forging entry point assumes the caller has already verified the upstream
//! chain and the host name against its own trust store; this crate copies
//! names and validity from that certificate and signs, nothing more. It must
//! also never log, print or serve a private key.

mod cache;
mod error;
mod fingerprint;
mod fsutil;
mod leaf;
mod names;
pub mod pair;
mod pem;
mod root;
mod serial;
mod service;
pub mod signed;
mod state;
mod store;
mod upstream;

pub use error::{CaError, ForgeError};
pub use fingerprint::Fingerprint;
pub use leaf::{Clock, Forger, LeafPolicy, system_clock};
pub use root::{CaConfig, ExportFormat, KeyAlgorithm, RootCa};
pub use service::{ForgeConfig, ForgeStats, LeafForge};
pub use store::{CaStore, PreviousRoot, Rotation};
pub use upstream::UpstreamCert;
