//! Why an ICAP exchange failed: [`ExchangeError`], a typed value the access
//! log, the block page and the metrics all show.
//!
//! Must not: decide what a failure means for the user (`scan` does, from the
//! service's `on_failure`).

use super::wire::WireError;

/// An ICAP exchange that gave no verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The TCP connection could not be opened.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// Every connection the service allows was in use for the whole time limit.
    #[error("all {0} connections were busy")]
    Busy(usize),
    /// A step took longer than the service's time limit.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// The connection failed while in use.
    #[error("connection failed: {0}")]
    Io(String),
    /// The service closed the connection before its answer was complete.
    #[error("the service closed the connection")]
    Closed,
    /// The service answered with an error status.
    #[error("answered {0} {1}")]
    Status(u16, String),
    /// The service's answer broke the protocol.
    #[error("unreadable answer: {0}")]
    Protocol(#[from] WireError),
}
