//! Who is connecting: the client's organisation from its source address
//! through the catalog snapshot (rule 1), reporting unknown sources to the
//! catalog's observation sink, and the per-organisation rate limit on new
//! connections.
//!
//! Must not: block. Classification reads one immutable snapshot, reporting
//! is a non-blocking send, the limiter is lock-free per key.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use snapshot::{Class, ObservationSink, SnapshotHandle};

use crate::config::RateLimitConfig;
use crate::denial::{Denial, DenyKind};
use crate::metrics::Metrics;

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
    limiter: DefaultKeyedRateLimiter<String>,
    per_second: u32,
    metrics: Arc<Metrics>,
}

impl Gate {
    pub(crate) fn new(
        snapshot: SnapshotHandle,
        sink: ObservationSink,
        limit: RateLimitConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        let per_second = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        let limiter = RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst));
        Self { snapshot, sink, limiter, per_second: limit.per_second, metrics }
    }

    /// Classifies the source of a new connection seen on `link` and applies the rate limit.
    pub(crate) fn admit(&self, ip: IpAddr, link: &str) -> Admission {
        let snapshot = self.snapshot.current();
        let refuse = |org: Option<String>, denial| Admission { client: Client { ip, org }, denial: Some(denial) };
        let bin = match snapshot.classify(ip) {
            Class::Known { organisation, .. } => organisation.bin.clone(),
            Class::Blocked { reason, prefix, .. } => {
                let why = format!("source address {ip} is blocked ({prefix}): {reason}");
                return refuse(None, Denial::new(DenyKind::BlockedSource, why));
            }
            Class::Unknown => {
                self.report(ip, link);
                let why = format!(
                    "source address {ip} is not in the IP catalog; access opens once the operator registers it"
                );
                return refuse(None, Denial::new(DenyKind::UnknownSource, why));
            }
        };
        if self.limiter.check_key(&bin).is_err() {
            let why = format!("organisation {bin} opened more than {} connections per second", self.per_second);
            return refuse(Some(bin), Denial::new(DenyKind::RateLimited, why));
        }
        Admission { client: Client { ip, org: Some(bin) }, denial: None }
    }

    fn report(&self, ip: IpAddr, link: &str) {
        self.sink.report(snapshot::Observation::now(ip, link));
        self.metrics.unknown_reported();
    }

    /// Forgets organisations that have not connected lately (bounds the limiter's memory).
    pub(crate) fn tidy(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}
