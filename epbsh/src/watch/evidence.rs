//! [`Evidence`]: what the watch tells a suspended system's owner and the duty team: the
//! signals that fired, the window's counters against the baseline, sample messages.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::counters::{Baseline, Counters};
use super::signals::{Finding, Level};

/// The evidence for a suspension (or a throttle).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub findings: Vec<Finding>,
    pub window_start_ms: u64,
    pub messages: u64,
    pub recipients: u64,
    pub domains: usize,
    pub delivered: u64,
    pub rejected: u64,
    pub bounces: u64,
    pub top_content_recipients: u64,
    pub baseline: Baseline,
    /// Queue ids and Message-IDs of sample messages (of the mass mailing when fanout fired).
    pub samples: Vec<String>,
    /// The gateway's blocklist listing, when limits were tightened because of it.
    pub listing: Option<String>,
}

impl Evidence {
    pub fn new(findings: Vec<Finding>, c: &Counters, listing: Option<String>) -> Evidence {
        let w = &c.window;
        let fanout = findings.iter().any(|f| f.signal == "fanout");
        let local_top = w.content.values().max_by_key(|c| c.recipients);
        let samples = match local_top {
            Some(t) if fanout => t.samples.clone(),
            _ => w.samples.clone(),
        };
        Evidence {
            findings,
            window_start_ms: w.start_ms,
            messages: w.total_messages(),
            recipients: w.total_recipients(),
            domains: usize::try_from(w.total_domains()).unwrap_or(usize::MAX),
            delivered: w.delivered + w.peers.delivered,
            rejected: w.total_rejected(),
            bounces: w.total_bounces(),
            top_content_recipients: w.top_content().map_or(0, |(n, _)| n),
            baseline: c.baseline,
            samples,
            listing,
        }
    }

    /// The signals that fired, comma-separated (`volume, fanout`).
    pub fn signals(&self) -> String {
        self.findings.iter().map(|f| f.signal.as_str()).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let start = time::OffsetDateTime::from_unix_timestamp(i64::try_from(self.window_start_ms / 1000).unwrap_or(0))
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default();
        writeln!(f, "Signals that fired:")?;
        for x in &self.findings {
            let level = match x.level {
                Level::Throttle => "throttle",
                Level::Suspend => "suspend",
            };
            writeln!(f, "  - {} ({level}): {}", x.signal, x.detail)?;
        }
        writeln!(f, "\nCounters of the window that started {start}:")?;
        writeln!(
            f,
            "  messages {}, recipients {}, recipient domains {}",
            self.messages, self.recipients, self.domains
        )?;
        writeln!(
            f,
            "  delivered {}, refused by remote servers {}, bounces sent {}",
            self.delivered, self.rejected, self.bounces
        )?;
        writeln!(f, "  most recipients of one content: {}", self.top_content_recipients)?;
        let b = &self.baseline;
        match b.windows {
            0 => writeln!(f, "Usual window: not learnt yet (this is the system's first window)")?,
            n => writeln!(
                f,
                "Usual window (learnt over {n} windows): {:.1} messages, {:.1} recipients, {:.1} domains",
                b.messages, b.recipients, b.domains
            )?,
        }
        if let Some(l) = &self.listing {
            writeln!(f, "Limits were tightened because the gateway is on a blocklist: {l}")?;
        }
        writeln!(f, "\nSample messages (queue id, Message-ID):")?;
        for s in &self.samples {
            writeln!(f, "  {s}")?;
        }
        Ok(())
    }
}
