//! The WAF's counters and their Prometheus text: requests, blocked and matched
//! transactions and refusals per site, refusals by reason, rule matches by rule id, the
//! engine's time per transaction as a histogram, open connections and audit lines
//! dropped.
//!
//! Must not: lock or allocate on the path of a request the engine passed without a
//! match (the by-rule map is locked only for transactions that matched a rule).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::sites::Sites;

/// Why the WAF answered a request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The rule engine intervened.
    Rules,
    DenyList,
    AllowList,
    RateLimit,
    BodyLimit,
    BodyPace,
    /// The engine's queue was full or its time budget spent.
    EngineBusy,
    /// Not an HTTP request the WAF passes on (framing, missing Host, smuggling signs).
    BadRequest,
    /// The Host is no site's, or another site's than the connection's.
    Misdirected,
    /// No origin answered.
    Origin,
}

impl Reason {
    const ALL: [Reason; 10] = [
        Reason::Rules,
        Reason::DenyList,
        Reason::AllowList,
        Reason::RateLimit,
        Reason::BodyLimit,
        Reason::BodyPace,
        Reason::EngineBusy,
        Reason::BadRequest,
        Reason::Misdirected,
        Reason::Origin,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Reason::Rules => "rules",
            Reason::DenyList => "deny_list",
            Reason::AllowList => "allow_list",
            Reason::RateLimit => "rate_limit",
            Reason::BodyLimit => "body_limit",
            Reason::BodyPace => "body_pace",
            Reason::EngineBusy => "engine_busy",
            Reason::BadRequest => "bad_request",
            Reason::Misdirected => "misdirected",
            Reason::Origin => "origin",
        }
    }
}

/// One site's counters; kept across reloads while the site stays.
#[derive(Debug, Default)]
pub(crate) struct SiteCounters {
    pub requests: AtomicU64,
    pub blocked: AtomicU64,
    pub matched: AtomicU64,
    pub refused: AtomicU64,
}

/// Picks one of a site's counters.
type Counter = fn(&SiteCounters) -> &AtomicU64;

/// Upper bounds of the engine-time buckets, in microseconds.
const BUCKETS_US: [u64; 12] =
    [500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000];

/// The WAF's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    refused: [AtomicU64; Reason::ALL.len()],
    by_rule: Mutex<BTreeMap<u32, u64>>,
    engine_buckets: [AtomicU64; BUCKETS_US.len()],
    engine_count: AtomicU64,
    engine_sum_us: AtomicU64,
    active: AtomicI64,
}

impl Metrics {
    pub(crate) fn refused(&self, reason: Reason) {
        self.refused[Reason::ALL.iter().position(|r| *r == reason).unwrap_or(0)].fetch_add(1, Relaxed);
    }

    pub(crate) fn rules_matched(&self, ids: impl Iterator<Item = u32>) {
        let mut map = self.by_rule.lock().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            *map.entry(id).or_default() += 1;
        }
    }

    pub(crate) fn engine_time(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        if let Some(i) = BUCKETS_US.iter().position(|&b| us <= b) {
            self.engine_buckets[i].fetch_add(1, Relaxed);
        }
        self.engine_count.fetch_add(1, Relaxed);
        self.engine_sum_us.fetch_add(us, Relaxed);
    }

    pub(crate) fn opened(&self) {
        self.active.fetch_add(1, Relaxed);
    }

    pub(crate) fn closed(&self) {
        self.active.fetch_sub(1, Relaxed);
    }

    /// Client connections open now.
    pub fn active(&self) -> i64 {
        self.active.load(Relaxed)
    }

    /// Prometheus text of every counter, per site for `sites`.
    pub(crate) fn render(&self, sites: &Sites, audit_dropped: u64) -> String {
        let mut out = String::with_capacity(4096);
        let per_site: [(&str, &str, Counter); 4] = [
            ("waf_requests_total", "Requests received, by site.", |c| &c.requests),
            ("waf_blocked_total", "Requests the rule engine refused, by site.", |c| &c.blocked),
            (
                "waf_matched_total",
                "Requests that matched rules and were let through (detect mode or under the threshold), by site.",
                |c| &c.matched,
            ),
            ("waf_refused_total", "Requests the WAF answered itself for any other reason, by site.", |c| &c.refused),
        ];
        for (name, help, counter) in per_site {
            family(&mut out, name, "counter", help);
            for site in sites.each() {
                let _ = writeln!(
                    out,
                    "{name}{{site=\"{}\"}} {}",
                    site.config.domain,
                    counter(&site.counters).load(Relaxed)
                );
            }
        }
        family(&mut out, "waf_refusals_total", "counter", "Requests answered by the WAF itself, by reason.");
        for (i, reason) in Reason::ALL.iter().enumerate() {
            let _ =
                writeln!(out, "waf_refusals_total{{reason=\"{}\"}} {}", reason.label(), self.refused[i].load(Relaxed));
        }
        family(&mut out, "waf_rule_matches_total", "counter", "Matches of each rule id.");
        for (id, n) in self.by_rule.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "waf_rule_matches_total{{rule=\"{id}\"}} {n}");
        }
        self.render_engine_time(&mut out);
        family(&mut out, "waf_active_connections", "gauge", "Client connections open now.");
        let _ = writeln!(out, "waf_active_connections {}", self.active());
        family(&mut out, "waf_audit_dropped_total", "counter", "Audit lines dropped because the writer fell behind.");
        let _ = writeln!(out, "waf_audit_dropped_total {audit_dropped}");
        out
    }

    fn render_engine_time(&self, out: &mut String) {
        let name = "waf_engine_seconds";
        family(out, name, "histogram", "Rule engine time per transaction.");
        let mut cumulative = 0;
        for (i, bound) in BUCKETS_US.iter().enumerate() {
            cumulative += self.engine_buckets[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {cumulative}", *bound as f64 / 1e6);
        }
        let count = self.engine_count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.engine_sum_us.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative() {
        let m = Metrics::default();
        m.engine_time(Duration::from_micros(400));
        m.engine_time(Duration::from_millis(3));
        m.engine_time(Duration::from_secs(5));
        m.rules_matched([942100, 949110, 942100].into_iter());
        m.refused(Reason::RateLimit);
        let text = m.render(&Sites::default(), 0);
        assert!(text.contains("waf_engine_seconds_bucket{le=\"0.0005\"} 1"), "{text}");
        assert!(text.contains("waf_engine_seconds_bucket{le=\"0.005\"} 2"), "{text}");
        assert!(text.contains("waf_engine_seconds_bucket{le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains("waf_rule_matches_total{rule=\"942100\"} 2"), "{text}");
        assert!(text.contains("waf_refusals_total{reason=\"rate_limit\"} 1"), "{text}");
    }
}
