//! Envelope types shared by the SMTP session and the spool: [`Mailbox`],
//! [`Envelope`] and the [`SystemId`] of a connected system.

use std::fmt;
use std::net::IpAddr;

use time::OffsetDateTime;

/// A syntactically validated mailbox `local@domain`.
///
/// The local part is kept exactly as received (case preserved, quotes kept
/// for a quoted-string); the domain is lower-cased for comparisons.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    local: String,
    domain: String,
}

impl Mailbox {
    /// Builds a mailbox; the domain is lower-cased. No syntax check here: the
    /// SMTP parser validates before constructing one.
    pub fn new(local: impl Into<String>, domain: impl AsRef<str>) -> Self {
        Self { local: local.into(), domain: domain.as_ref().to_ascii_lowercase() }
    }

    /// The local part, as received.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain (or address literal such as `[192.0.2.1]`), lower-cased.
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// Identifier of a connected government mail system (its row id in the registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SystemId(pub u32);

/// A registry row id that does not fit a [`SystemId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("mail system id {0} is outside 0..=4294967295")]
pub struct SystemIdRange(pub i64);

impl TryFrom<i64> for SystemId {
    type Error = SystemIdRange;

    fn try_from(id: i64) -> Result<SystemId, SystemIdRange> {
        u32::try_from(id).map(SystemId).map_err(|_| SystemIdRange(id))
    }
}

/// The SMTP envelope of one accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Reverse-path; `None` is the null reverse-path `<>` (bounces).
    pub sender: Option<Mailbox>,
    /// Forward-paths, in RCPT order; never empty for a queued message.
    pub recipients: Vec<Mailbox>,
    /// When the final dot was received.
    pub received_at: OffsetDateTime,
    /// The connecting client's address.
    pub client_ip: IpAddr,
    /// The EHLO/HELO argument given by the client.
    pub helo: String,
    /// The connected system the client belongs to, once known.
    pub system_id: Option<SystemId>,
}
