//! Errors of the delivery client: [`ClientError`] (a connection or command failed as a
//! whole) and [`SendError`] (a transaction failed, and whether the message may have been
//! taken). Shared by the client and the reply reader, which depend on this file only.

use std::io;
use std::net::SocketAddr;

use super::reply::{ReadError, Reply};

/// Why a connection or transaction failed as a whole.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("connect to {0}: {1}")]
    Connect(SocketAddr, io::Error),
    #[error("timeout waiting for the reply to {0}")]
    Timeout(&'static str),
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error("{stage} refused: {reply}")]
    Refused { stage: &'static str, reply: Reply },
    #[error("TLS failed: {0}")]
    Tls(String),
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl From<ReadError> for ClientError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => ClientError::Io(e),
            ReadError::Protocol(p) => ClientError::Protocol(p),
        }
    }
}

/// A failed transaction; `committed` when the final dot was sent (the message may have
/// been taken: do not try another host now).
#[derive(Debug)]
pub(crate) struct SendError {
    pub error: ClientError,
    pub committed: bool,
}
