//! EPBSH, the e-government mail gateway: SMTP relay, spool, delivery, anomaly detection.
//!
//! This crate currently holds two foundations of the relay:
//! - [`spool`]: the durable, group-committed message queue on disk;
//! - [`smtp`]: the inbound SMTP server session, generic over its stream, which
//!   consults a [`smtp::Policy`] for every relay decision and hands accepted
//!   messages to a [`smtp::Sink`] (normally the spool).
//!
//! The shared envelope types live in [`envelope`]; the registry of connected systems as
//! the relay reads it in [`registry`]; the seam to traffic watching in [`hooks`].
//!
//! [`watch`] is the guard `perimeter up` runs: per-system counters, abnormal-traffic
//! detection, throttling and suspension.
//!
//! [`auth`] authenticates mail both ways: DKIM signing of connected systems' mail, SPF,
//! DKIM, ARC and DMARC checks of mail from outside, anti-spoofing of our domains.
//!
//! [`relay`] puts them together: [`relay::start`] runs the listener with the relay policy,
//! the spool and the [`delivery`] queue (routing, retries, DSNs, held mail of suspended
//! systems).

pub mod auth;
pub mod delivery;
pub(crate) use policies::duration;
pub mod envelope;
pub mod hooks;
pub mod metrics;
pub mod registry;
pub mod relay;
pub mod smtp;
pub mod spool;
pub mod watch;

/// Entry points for the fuzz targets (`fuzz/`); not an API.
#[doc(hidden)]
pub mod fuzzing;

pub use envelope::{Envelope, Mailbox, SystemId};
