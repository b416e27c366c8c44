//! Typed errors of the root CA store and of leaf forging.
//!
//! Lives here: [`CaError`] (files, keys, state, configuration) and
//! [`ForgeError`] (upstream certificate, host name, signing, service). Each
//! variant names the file, field or host it is about. Must not: carry key
//! material or certificate bytes, since errors end up in logs.

use std::io;
use std::path::PathBuf;

use time::OffsetDateTime;

use crate::Fingerprint;

/// Errors of creating, loading, exporting or rotating the root CA.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A file system operation failed on the named path.
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The private key file can be read or written by group or other.
    #[error("private key file {path} has mode {mode:04o}; group and other must have no access (expected 0600)")]
    KeyFilePermissions { path: PathBuf, mode: u32 },
    /// The private key does not belong to the certificate.
    #[error("private key {key} does not match certificate {cert}")]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    /// The certificate file holds no usable CA certificate.
    #[error("certificate file {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    /// The key file holds no usable private key.
    #[error("private key file {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    /// The state file is malformed or inconsistent with the files it names.
    #[error("state file {path}: {reason}")]
    State { path: PathBuf, reason: String },
    /// Key or certificate generation failed.
    #[error("cannot generate {what}: {reason}")]
    Generate { what: &'static str, reason: String },
    /// A configuration field has an unusable value.
    #[error("invalid CA configuration field `{field}`: {reason}")]
    Config { field: &'static str, reason: String },
    /// `init` found an existing CA in the directory.
    #[error("a root CA already exists in {path}; refusing to overwrite it")]
    AlreadyInitialised { path: PathBuf },
    /// `rotate` was asked while the previous rotation's overlap still runs.
    #[error("previous root {previous} is still in its overlap until {overlap_end}; rotate again after that")]
    OverlapInProgress { previous: Fingerprint, overlap_end: OffsetDateTime },
}

/// Errors of forging a leaf certificate. Cloneable so one result can be
/// handed to every coalesced caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    /// The client's server name is not a valid DNS name or IP address.
    #[error("invalid host name {host:?}")]
    InvalidHost { host: String },
    /// The upstream certificate could not be parsed.
    #[error("cannot parse upstream certificate: {reason}")]
    UpstreamParse { reason: String },
    /// The upstream certificate has no DNS or IP subject alternative name.
    #[error("upstream certificate has no DNS or IP subject alternative name")]
    UpstreamNoNames,
    /// The host is not covered by the upstream certificate's names.
    #[error("host {host:?} is not covered by the upstream certificate's names")]
    NameNotCovered { host: String },
    /// The leaf would have an empty validity window.
    #[error("no validity left: upstream certificate valid until {not_after}")]
    UpstreamExpired { not_after: OffsetDateTime },
    /// Generating a leaf key failed.
    #[error("cannot create leaf key: {reason}")]
    LeafKey { reason: String },
    /// Signing the leaf certificate failed.
    #[error("cannot sign leaf for {host:?}: {reason}")]
    Sign { host: String, reason: String },
    /// The signing queue is full.
    #[error("leaf signing queue is full")]
    Overloaded,
    /// The forge service has shut down.
    #[error("leaf forge has shut down")]
    Shutdown,
    /// Signing failed unexpectedly (a panic on the signing thread).
    #[error("leaf signing failed unexpectedly on the signing thread")]
    WorkerLost,
    /// The forge service could not start its signing threads.
    #[error("cannot start leaf signing thread: {reason}")]
    Spawn { reason: String },
}
