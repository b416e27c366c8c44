//! Who may reach a site, decided before the rule engine sees a request: the site's
//! deny list, then its allow list (when it has one), then its per-client rate limit (an
//! IPv6 client counted by its /64).
//!
//! Must not: block or lock; the limiter is lock-free per key.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use crate::site::Site;
use crate::sites::client_key;

/// Why a client was turned away before the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// In the site's deny list.
    Denied,
    /// Not in the site's allow list.
    NotAllowed,
    /// Over the site's per-client rate.
    RateLimited,
}

impl Refusal {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Denied => "client address in the site's deny list",
            Self::NotAllowed => "client address not in the site's allow list",
            Self::RateLimited => "client over the site's request rate",
        }
    }

    pub(crate) fn status(self) -> u16 {
        match self {
            Self::Denied | Self::NotAllowed => 403,
            Self::RateLimited => 429,
        }
    }
}

/// A site's address lists and rate limiter.
pub(crate) struct Access {
    deny: Vec<IpNet>,
    allow: Vec<IpNet>,
    limiter: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

impl Access {
    pub(crate) fn new(site: &Site) -> Access {
        let limiter = site.rate_limit.map(|limit| {
            let per_second = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
            let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
            Arc::new(RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)))
        });
        Access { deny: site.deny.clone(), allow: site.allow.clone(), limiter }
    }

    /// The same limiter (its counts kept) with `site`'s lists.
    pub(crate) fn with_lists(&self, site: &Site) -> Access {
        Access { deny: site.deny.clone(), allow: site.allow.clone(), limiter: self.limiter.clone() }
    }

    /// Whether `client` may send this request to the site.
    pub(crate) fn admit(&self, client: IpAddr) -> Result<(), Refusal> {
        let client = client_key_exact(client);
        if self.deny.iter().any(|n| n.contains(&client)) {
            return Err(Refusal::Denied);
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|n| n.contains(&client)) {
            return Err(Refusal::NotAllowed);
        }
        match &self.limiter {
            Some(limiter) if limiter.check_key(&client_key(client)).is_err() => Err(Refusal::RateLimited),
            _ => Ok(()),
        }
    }

    /// Forgets clients idle long enough to be back at a full burst.
    pub(crate) fn tidy(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
    }
}

/// An IPv4 client reaching an IPv6 listener as `::ffff:a.b.c.d` is matched as `a.b.c.d`.
fn client_key_exact(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::RateLimit;

    fn site(allow: &[&str], deny: &[&str], rate: Option<RateLimit>) -> Site {
        let mut site: Site = serde_json::from_value(serde_json::json!({
            "domain": "a.kz", "origins": ["192.0.2.1:80"], "certificate_pem": "", "key_pem": ""
        }))
        .expect("site");
        site.allow = allow.iter().map(|n| n.parse().expect("net")).collect();
        site.deny = deny.iter().map(|n| n.parse().expect("net")).collect();
        site.rate_limit = rate;
        site
    }

    #[test]
    fn deny_before_allow_then_rate() {
        let access = Access::new(&site(&["198.51.100.0/24"], &["198.51.100.7/32"], None));
        assert_eq!(access.admit("198.51.100.7".parse().expect("ip")), Err(Refusal::Denied));
        assert_eq!(access.admit("::ffff:198.51.100.7".parse().expect("ip")), Err(Refusal::Denied));
        assert_eq!(access.admit("203.0.113.1".parse().expect("ip")), Err(Refusal::NotAllowed));
        assert_eq!(access.admit("198.51.100.8".parse().expect("ip")), Ok(()));
        let limited = Access::new(&site(&[], &[], Some(RateLimit { per_second: 1, burst: 2 })));
        let ip = "2001:db8::1".parse().expect("ip");
        assert!(limited.admit(ip).is_ok() && limited.admit(ip).is_ok());
        // The same /64 shares the budget.
        assert_eq!(limited.admit("2001:db8::2".parse().expect("ip")), Err(Refusal::RateLimited));
        assert_eq!(limited.admit("2001:db8:1::2".parse().expect("ip")), Ok(()));
    }
}
