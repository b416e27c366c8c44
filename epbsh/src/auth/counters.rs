//! Counters per domain for the duty team: what was signed (and what left unsigned for
//! want of a key), what was checked, delivered, held, deferred and refused. Our own
//! domains each have their line; outside domains too, up to [`MAX_DOMAINS`] lines, after
//! which they are counted together under `(other)` so that senders cannot grow the map.
//!
//! Must not: block for long (one short lock per message).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

/// Lines kept at most before outside domains are counted as `(other)`.
pub const MAX_DOMAINS: usize = 10_000;
/// The line of outside domains past [`MAX_DOMAINS`].
pub const OTHER: &str = "(other)";
/// The line of messages without a `From` domain.
pub const NONE: &str = "(none)";

/// One domain's counts since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DomainCounts {
    /// Outbound messages signed with its key.
    pub signed: u64,
    /// Outbound messages that left unsigned: no key signs for it now.
    pub unsigned: u64,
    /// Inbound messages checked in its name.
    pub checked: u64,
    pub delivered: u64,
    /// Held (DMARC quarantine).
    pub held: u64,
    /// Answered 4xx (DNS failed).
    pub deferred: u64,
    /// Refused 5xx (anti-spoofing, DMARC reject, SPF fail).
    pub refused: u64,
}

/// What to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Signed,
    Unsigned,
    Delivered,
    Held,
    Deferred,
    Refused,
}

/// The counters.
#[derive(Default)]
pub struct Counters {
    map: Mutex<BTreeMap<String, DomainCounts>>,
}

impl Counters {
    /// Counts `event` for `domain` (`ours`: a domain of a connected system, always kept).
    pub fn count(&self, domain: Option<&str>, ours: bool, event: Event) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let name = domain.unwrap_or(NONE);
        let key = if ours || map.contains_key(name) || map.len() < MAX_DOMAINS { name } else { OTHER };
        let c = map.entry(key.to_string()).or_default();
        match event {
            Event::Signed => c.signed += 1,
            Event::Unsigned => c.unsigned += 1,
            Event::Delivered => c.delivered += 1,
            Event::Held => c.held += 1,
            Event::Deferred => c.deferred += 1,
            Event::Refused => c.refused += 1,
        }
        if !matches!(event, Event::Signed | Event::Unsigned) {
            c.checked += 1;
        }
    }

    /// Every line, by domain name.
    pub fn snapshot(&self) -> Vec<(String, DomainCounts)> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_domains_are_bounded_ours_never() {
        let c = Counters::default();
        for i in 0..MAX_DOMAINS + 5 {
            c.count(Some(&format!("d{i}.example")), false, Event::Delivered);
        }
        c.count(Some("minfin.gov.test"), true, Event::Refused);
        c.count(Some("minfin.gov.test"), true, Event::Signed);
        c.count(None, false, Event::Delivered);
        let snap: BTreeMap<_, _> = c.snapshot().into_iter().collect();
        assert_eq!(snap[OTHER].delivered, 6, "five past the cap and the message without From");
        let m = snap["minfin.gov.test"];
        assert_eq!((m.refused, m.checked, m.signed), (1, 1, 1));
        assert_eq!(snap.len(), MAX_DOMAINS + 2);
    }
}
