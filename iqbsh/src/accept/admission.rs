//! Who is connecting: the client's organisation from its source address
//! through the catalog snapshot (rule 1), reporting unknown sources to the
//! catalog's observation sink, and the rate limits on new connections: per
//! source address (an IPv6 source counts by its /64), per organisation, and
//! hardest for sources the catalog refuses (unknown or blocked), so that no
//! one workstation locks out its organisation and no refused source makes
//! the gateway work (pages, log lines, reports) at its own pace. Also
//! [`Gate::withdrawn`]: when a snapshot swapped in later takes an open
//! connection's standing away.
//!
//! Must not: block. Classification reads one immutable snapshot, reporting
//! is a non-blocking send, the limiters are lock-free per key.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use snapshot::{Class, ObservationSink, Snapshot, SnapshotHandle};

use crate::config::RateLimitConfig;
use crate::decide::denial::{Denial, DenyKind};
use crate::report::metrics::Metrics;

/// The client of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Client {
    /// Source address.
    pub ip: IpAddr,
    /// The organisation's BIN, when the catalog knows the address.
    pub org: Option<String>,
}

/// The outcome of admitting a new connection.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    pub client: Client,
    /// Why the connection is refused, if it is.
    pub denial: Option<Denial>,
}

/// Admits or refuses new connections.
pub(crate) struct Gate {
    snapshot: SnapshotHandle,
    sink: ObservationSink,
    per_org: DefaultKeyedRateLimiter<String>,
    per_source: DefaultKeyedRateLimiter<IpAddr>,
    refused: DefaultKeyedRateLimiter<IpAddr>,
    limit: RateLimitConfig,
    metrics: Arc<Metrics>,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_second: u32, burst: u32) -> DefaultKeyedRateLimiter<K> {
    let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
}

/// The key a source address is limited under: itself, or its /64 for IPv6
/// (one host commonly holds a whole /64).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1)))
        }
        IpAddr::V6(v6) => IpAddr::V4(v6.to_ipv4_mapped().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED)),
        v4 => v4,
    }
}

impl Gate {
    pub(crate) fn new(
        snapshot: SnapshotHandle,
        sink: ObservationSink,
        limit: RateLimitConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            snapshot,
            sink,
            per_org: limiter(limit.per_second, limit.burst),
            per_source: limiter(limit.per_source_per_second, limit.per_source_burst),
            refused: limiter(limit.refused_per_second, limit.refused_burst),
            limit,
            metrics,
        }
    }

    /// Classifies the source of a new connection seen on `link` and applies the rate limits.
    pub(crate) fn admit(&self, ip: IpAddr, link: &str) -> Admission {
        let snapshot = self.snapshot.current();
        let refuse = |org: Option<String>, denial| Admission { client: Client { ip, org }, denial: Some(denial) };
        let bin = match standing(&snapshot, ip) {
            Ok(bin) => bin,
            Err(denial) => {
                if self.refused.check_key(&source_key(ip)).is_err() {
                    let why = format!(
                        "source address {ip} is refused and opened more than {} connections per second",
                        self.limit.refused_per_second
                    );
                    return refuse(None, Denial::new(DenyKind::RateLimited, why));
                }
                if denial.kind == DenyKind::UnknownSource {
                    self.report(ip, link);
                }
                return refuse(None, denial);
            }
        };
        if self.per_source.check_key(&source_key(ip)).is_err() {
            let why = format!(
                "source address {ip} opened more than {} connections per second",
                self.limit.per_source_per_second
            );
            return refuse(Some(bin), Denial::new(DenyKind::RateLimited, why));
        }
        if self.per_org.check_key(&bin).is_err() {
            let why = format!("organisation {bin} opened more than {} connections per second", self.limit.per_second);
            return refuse(Some(bin), Denial::new(DenyKind::RateLimited, why));
        }
        Admission { client: Client { ip, org: Some(bin) }, denial: None }
    }

    /// Completes when a snapshot in force after admission no longer admits
    /// `client` as it was admitted (blocked, unknown, or another organisation's).
    pub(crate) async fn withdrawn(&self, client: &Client) -> Denial {
        let mut swapped = self.snapshot.subscribe();
        loop {
            // Read after subscribing: a swap between admission and here is not missed.
            let now = standing(&self.snapshot.current(), client.ip);
            match now {
                Ok(bin) if Some(&bin) == client.org.as_ref() => {}
                Ok(bin) => {
                    let why = format!("source address {} now belongs to organisation {bin}", client.ip);
                    return Denial::new(DenyKind::Policy, why);
                }
                Err(denial) => return denial,
            }
            if swapped.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    fn report(&self, ip: IpAddr, link: &str) {
        self.sink.report(snapshot::Observation::now(ip, link));
        self.metrics.unknown_reported();
    }

    /// Forgets sources and organisations that have not connected lately (bounds the limiters' memory).
    pub(crate) fn tidy(&self) {
        self.per_org.retain_recent();
        self.per_org.shrink_to_fit();
        self.per_source.retain_recent();
        self.per_source.shrink_to_fit();
        self.refused.retain_recent();
        self.refused.shrink_to_fit();
    }
}

/// The organisation `ip` belongs to in `snapshot`, or why it is refused.
fn standing(snapshot: &Snapshot, ip: IpAddr) -> Result<String, Denial> {
    match snapshot.classify(ip) {
        Class::Known { organisation, .. } => Ok(organisation.bin.clone()),
        Class::Blocked { reason, prefix, .. } => {
            let why = format!("source address {ip} is blocked ({prefix}): {reason}");
            Err(Denial::new(DenyKind::BlockedSource, why))
        }
        Class::Unknown => {
            let why =
                format!("source address {ip} is not in the IP catalog; access opens once the operator registers it");
            Err(Denial::new(DenyKind::UnknownSource, why))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_sources_count_by_their_64_and_mapped_ones_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        assert_eq!(source_key(a), source_key(b));
        assert_eq!(source_key("::ffff:192.0.2.7".parse().expect("ip")), "192.0.2.7".parse::<IpAddr>().expect("ip"));
    }
}
