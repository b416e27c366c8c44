//! Why a connection or request was refused: [`Denial`], a typed value with
//! a reason that the block page, the access log and the metrics all show.
//!
//! Must not: format pages or write logs; it only describes the refusal.

use std::fmt;

/// The kind of a refusal; each maps to an HTTP status and a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyKind {
    /// The source address is not in the catalog (rule 1).
    UnknownSource,
    /// The source address is blocked in the catalog.
    BlockedSource,
    /// The organisation's policy does not allow the host or URL.
    Policy,
    /// The organisation opened connections faster than its limit.
    RateLimited,
    /// The origin's certificate failed verification.
    UpstreamCert,
    /// The origin could not be resolved or reached.
    Upstream,
    /// The destination address or port is not allowed.
    Destination,
    /// The client sent something the proxy does not accept.
    BadRequest,
    /// The request's host is not the one the TLS connection was made for.
    Misdirected,
    /// The host, URL or destination address is in a threat feed (`malware`, `phishing`).
    ThreatFeed,
    /// The content scan found a threat (or the scanning service refused the content).
    Threat,
    /// The content could not be scanned and its scanning service fails closed.
    ScanFailed,
    /// The content is larger than its scan limit and such content is refused.
    TooLargeToScan,
    /// The connection reached its maximum lifetime.
    Lifetime,
}

impl DenyKind {
    /// Every kind, for metrics.
    pub const ALL: [DenyKind; 14] = [
        Self::UnknownSource,
        Self::BlockedSource,
        Self::Policy,
        Self::RateLimited,
        Self::UpstreamCert,
        Self::Upstream,
        Self::Destination,
        Self::BadRequest,
        Self::Misdirected,
        Self::ThreatFeed,
        Self::Threat,
        Self::ScanFailed,
        Self::TooLargeToScan,
        Self::Lifetime,
    ];

    /// Label used in metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::UnknownSource => "unknown_source",
            Self::BlockedSource => "blocked_source",
            Self::Policy => "policy",
            Self::RateLimited => "rate_limited",
            Self::UpstreamCert => "upstream_cert",
            Self::Upstream => "upstream",
            Self::Destination => "destination",
            Self::BadRequest => "bad_request",
            Self::Misdirected => "misdirected",
            Self::ThreatFeed => "threat_feed",
            Self::Threat => "threat",
            Self::ScanFailed => "scan_failed",
            Self::TooLargeToScan => "too_large_to_scan",
            Self::Lifetime => "max_lifetime",
        }
    }

    /// HTTP status of the page that answers this refusal.
    pub fn status(self) -> u16 {
        match self {
            Self::UnknownSource
            | Self::BlockedSource
            | Self::Policy
            | Self::Destination
            | Self::ThreatFeed
            | Self::Threat
            | Self::TooLargeToScan => 403,
            Self::ScanFailed => 503,
            Self::RateLimited => 429,
            Self::UpstreamCert | Self::Upstream => 502,
            Self::BadRequest => 400,
            Self::Lifetime => 408,
            Self::Misdirected => 421,
        }
    }

    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or_default()
    }
}

/// A refusal and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// What kind of refusal.
    pub kind: DenyKind,
    /// Why, in words a person can act on.
    pub reason: String,
    /// The threat a content scan named, shown on its own line of the block page.
    pub threat: Option<String>,
}

impl Denial {
    /// A refusal of `kind` because of `reason`.
    pub fn new(kind: DenyKind, reason: impl Into<String>) -> Self {
        Self { kind, reason: reason.into(), threat: None }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.label(), self.reason)
    }
}
