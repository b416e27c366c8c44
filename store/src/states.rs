//! The states the store keeps, each one type stored as itself (its lowercase name), as
//! `MailStatus` is: an unknown address's, a notice's, a block's kind, an outbox
//! message's, and an exclusion proposal's. Reading a name the type does not know is an error, never a guess.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// One enum of named states: its names, `FromStr`, `Display` and serde as the name.
macro_rules! states {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name it is stored and shown as.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = StoreError;

            fn from_str(text: &str) -> Result<$name, StoreError> {
                $name::ALL.iter().copied().find(|s| s.as_str() == text).ok_or_else(|| {
                    StoreError::Invalid(format!("stored {} '{text}' is not one of {:?}", stringify!($name), $name::ALL))
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

states! {
    /// Where an unknown address stands (rule 1).
    ObservationStatus {
        /// Seen, in no notice yet.
        Open = "open",
        /// In a sent or pending notice; its deadline runs.
        Noticed = "noticed",
        /// Still uncovered when the deadline passed: blocked.
        Blocked = "blocked",
        /// Covered by an operator's list (or its block lifted): closed.
        Resolved = "resolved",
    }
}

states! {
    /// Where a notice to an operator (or any outbox message) stands.
    NoticeStatus {
        /// To be sent, or sent again after a failure.
        Pending = "pending",
        /// Accepted by the SMTP server.
        Sent = "sent",
        /// Given up.
        Failed = "failed",
    }
}

states! {
    /// Who made a block.
    BlockKind {
        /// The reconciler, at a passed deadline; lifted when the operator registers it.
        Auto = "auto",
        /// The duty team, with a reason.
        Manual = "manual",
    }
}

states! {
    /// Where an exclusion proposed from a WAF event stands.
    ProposalStatus {
        /// Waiting for the duty team.
        Proposed = "proposed",
        /// Confirmed: the exclusion is in the site's settings.
        Confirmed = "confirmed",
        /// Declined.
        Declined = "declined",
    }
}

/// The desk's outbox messages move through the same states as notices.
pub type OutboxStatus = NoticeStatus;

/// Reads a state stored in `column` of `row`.
pub(crate) fn read<T: FromStr<Err = StoreError>>(row: &sqlx::any::AnyRow, column: &str) -> Result<T, StoreError> {
    use sqlx::Row;
    row.try_get::<String, _>(column)?.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_as_themselves_and_unknown_names_are_refused() {
        for s in ObservationStatus::ALL {
            assert_eq!(s.as_str().parse::<ObservationStatus>().unwrap(), *s);
        }
        assert_eq!(serde_json::to_string(&BlockKind::Auto).unwrap(), "\"auto\"");
        assert_eq!(format!("{:<7}|", NoticeStatus::Sent), "sent   |");
        assert!("closed".parse::<NoticeStatus>().is_err());
    }
}
