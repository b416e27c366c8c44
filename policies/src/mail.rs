//! The status of a connected mail system (rule 5): one type, stored and sent as
//! itself, for the store, the relay, the API and the CLI.
//!
//! Must not: know what a status does to mail (the relay decides that).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a connected mail system stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailStatus {
    /// Relays both ways.
    Active,
    /// Abnormal traffic: new mail from it gets 4xx, its queued outbound mail is held.
    Suspended,
    /// No longer connected: treated as unknown (its addresses and domains relay nothing).
    Disconnected,
}

/// A text that names no status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status '{0}': use active, suspended or disconnected")]
pub struct UnknownStatus(pub String);

impl MailStatus {
    pub const ALL: [MailStatus; 3] = [MailStatus::Active, MailStatus::Suspended, MailStatus::Disconnected];

    pub fn as_str(self) -> &'static str {
        match self {
            MailStatus::Active => "active",
            MailStatus::Suspended => "suspended",
            MailStatus::Disconnected => "disconnected",
        }
    }

    /// The audit action of a move to this status: `mail.resume`, `mail.suspend`,
    /// `mail.disconnect`.
    pub fn audit_action(self) -> &'static str {
        match self {
            MailStatus::Active => "mail.resume",
            MailStatus::Suspended => "mail.suspend",
            MailStatus::Disconnected => "mail.disconnect",
        }
    }
}

impl FromStr for MailStatus {
    type Err = UnknownStatus;

    fn from_str(text: &str) -> Result<MailStatus, UnknownStatus> {
        MailStatus::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| UnknownStatus(text.to_string()))
    }
}

impl fmt::Display for MailStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_unknown_text_is_an_error() {
        for s in MailStatus::ALL {
            assert_eq!(s.as_str().parse::<MailStatus>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!("Suspended".parse::<MailStatus>(), Err(UnknownStatus("Suspended".into())));
        assert_eq!(MailStatus::Suspended.audit_action(), "mail.suspend");
    }
}
