//! Counters of the proxy and their Prometheus text rendering.
//!
//! Lives here: [`Metrics`], lock-free counters bumped on the data path, and
//! `render`, which also reads the leaf forge's cache statistics. Must not:
//! lock or allocate on the data path (only `render` allocates).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use certs::ForgeStats;

use crate::decide::denial::DenyKind;
use crate::report::accesslog::Action;

/// The proxy's counters, totals since start except `active`.
#[derive(Debug, Default)]
pub struct Metrics {
    connections: [AtomicU64; Action::ALL.len()],
    requests: [AtomicU64; Action::ALL.len()],
    denials: [AtomicU64; DenyKind::ALL.len()],
    upstream_cert_errors: AtomicU64,
    rate_limited: AtomicU64,
    unknown_reported: AtomicU64,
    bytes_to_client: AtomicU64,
    bytes_from_client: AtomicU64,
    active: AtomicI64,
}

impl Metrics {
    pub(crate) fn connection(&self, action: Action) {
        self.connections[action.index()].fetch_add(1, Relaxed);
    }

    pub(crate) fn request(&self, action: Action) {
        self.requests[action.index()].fetch_add(1, Relaxed);
    }

    pub(crate) fn denial(&self, kind: DenyKind) {
        self.denials[kind.index()].fetch_add(1, Relaxed);
        match kind {
            DenyKind::UpstreamCert => self.upstream_cert_errors.fetch_add(1, Relaxed),
            DenyKind::RateLimited => self.rate_limited.fetch_add(1, Relaxed),
            _ => 0,
        };
    }

    pub(crate) fn unknown_reported(&self) {
        self.unknown_reported.fetch_add(1, Relaxed);
    }

    pub(crate) fn bytes(&self, to_client: u64, from_client: u64) {
        self.bytes_to_client.fetch_add(to_client, Relaxed);
        self.bytes_from_client.fetch_add(from_client, Relaxed);
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

    /// Connections handled with `action` so far.
    pub fn connections(&self, action: Action) -> u64 {
        self.connections[action.index()].load(Relaxed)
    }

    /// Refusals of `kind` so far.
    pub fn denials(&self, kind: DenyKind) -> u64 {
        self.denials[kind.index()].load(Relaxed)
    }

    /// Prometheus text exposition of every counter, with the forge's cache stats and
    /// the number of access-log records dropped.
    pub fn render(&self, forge: ForgeStats, log_dropped: u64) -> String {
        let mut out = String::with_capacity(4096);
        family(&mut out, "iqbsh_connections_total", "counter", "Client connections by action.");
        for action in Action::ALL {
            let v = self.connections[action.index()].load(Relaxed);
            let _ = writeln!(out, "iqbsh_connections_total{{action=\"{}\"}} {v}", action.label());
        }
        family(&mut out, "iqbsh_requests_total", "counter", "HTTP requests by action.");
        for action in [Action::Allow, Action::Deny] {
            let v = self.requests[action.index()].load(Relaxed);
            let _ = writeln!(out, "iqbsh_requests_total{{action=\"{}\"}} {v}", action.label());
        }
        family(&mut out, "iqbsh_denials_total", "counter", "Refusals by reason kind.");
        for kind in DenyKind::ALL {
            let v = self.denials[kind.index()].load(Relaxed);
            let _ = writeln!(out, "iqbsh_denials_total{{kind=\"{}\"}} {v}", kind.label());
        }
        let singles = [
            (
                "iqbsh_upstream_cert_errors_total",
                "Origin certificates that failed verification.",
                &self.upstream_cert_errors,
            ),
            ("iqbsh_rate_limited_total", "Connections refused by the per-organisation rate limit.", &self.rate_limited),
            (
                "iqbsh_unknown_sources_reported_total",
                "Unknown source addresses reported to the catalog.",
                &self.unknown_reported,
            ),
        ];
        for (name, help, counter) in singles {
            family(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", counter.load(Relaxed));
        }
        let (name, help) =
            ("iqbsh_access_log_dropped_total", "Access-log records dropped because the writer fell behind.");
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {log_dropped}");
        family(&mut out, "iqbsh_bytes_total", "counter", "Payload bytes relayed, by direction.");
        let _ = writeln!(out, "iqbsh_bytes_total{{direction=\"to_client\"}} {}", self.bytes_to_client.load(Relaxed));
        let _ =
            writeln!(out, "iqbsh_bytes_total{{direction=\"from_client\"}} {}", self.bytes_from_client.load(Relaxed));
        family(&mut out, "iqbsh_active_connections", "gauge", "Client connections open now.");
        let _ = writeln!(out, "iqbsh_active_connections {}", self.active.load(Relaxed));
        render_forge(&mut out, forge);
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn render_forge(out: &mut String, s: ForgeStats) {
    let counters = [
        ("iqbsh_forge_cache_hits_total", "Forged leaves answered from the cache.", s.hits),
        ("iqbsh_forge_cache_misses_total", "Forged leaves not in the cache.", s.misses),
        ("iqbsh_forge_coalesced_total", "Forge requests that joined one already running.", s.coalesced),
        ("iqbsh_forge_failures_total", "Forges that failed.", s.failures),
    ];
    for (name, help, v) in counters {
        family(out, name, "counter", help);
        let _ = writeln!(out, "{name} {v}");
    }
    family(out, "iqbsh_forge_cached_leaves", "gauge", "Forged leaves in the cache now.");
    let _ = writeln!(out, "iqbsh_forge_cached_leaves {}", s.cached);
}
