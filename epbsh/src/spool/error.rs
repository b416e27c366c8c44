//! Typed errors of the spool.

use std::io;
use std::path::PathBuf;

use super::MessageId;

/// Everything that can go wrong in the spool.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file-system operation failed.
    #[error("spool i/o error during {op} on {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Another process (or another `Spool`) holds the directory lock.
    #[error("spool directory {0} is locked by another instance")]
    Locked(PathBuf),
    /// A write or fsync failed earlier; the writer refuses all further work
    /// because the state of the page cache is unknown after a failed fsync.
    #[error("spool writer failed and stopped accepting writes: {0}")]
    Poisoned(String),
    /// The writer task has stopped (spool shut down).
    #[error("spool is closed")]
    Closed,
    /// No live message with this id.
    #[error("unknown or finished message {0}")]
    UnknownMessage(MessageId),
    /// The recipient index is out of range for this message.
    #[error("message {id} has no recipient #{index}")]
    NoSuchRecipient {
        /// The message.
        id: MessageId,
        /// The offending index.
        index: usize,
    },
    /// The envelope cannot be stored (no recipients, field too long, ...).
    #[error("invalid envelope: {0}")]
    InvalidEnvelope(&'static str),
    /// The encoded record exceeds the configured maximum record size.
    #[error("record of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// Configured maximum.
        max: u32,
    },
    /// A record read back at run time failed its checksum or did not decode.
    #[error("corrupt record for message {0} on disk")]
    CorruptOnRead(MessageId),
}

impl SpoolError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { op, path: path.into(), source }
    }
}

/// Shorthand result type of the spool.
pub type Result<T, E = SpoolError> = std::result::Result<T, E>;
