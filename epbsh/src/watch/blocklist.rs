//! DNS blocklist checks of the gateway's own sending addresses. An answer counts as a
//! listing only when it is a real listing code (127.0.0.2 and up within 127.0.0.0/8);
//! 127.255.255.x answers are the list's error codes (query refused, public resolver,
//! rate limit) and answers outside 127.0.0.0/8 are a resolver rewriting NXDOMAIN: both
//! are reported as errors, never as listings.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hickory_resolver::ResolveErrorKind;
use hickory_resolver::TokioResolver;
use hickory_resolver::proto::ProtoErrorKind;

use super::Watch;

/// What a blocklist said about one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    NotListed,
    /// Listed, with the return code(s).
    Listed(Vec<Ipv4Addr>),
    /// The list could not answer properly.
    Error(String),
}

/// The name to query for `addr` in `zone`: `4.3.2.1.zone.`.
pub fn query_name(addr: Ipv4Addr, zone: &str) -> String {
    let [a, b, c, d] = addr.octets();
    format!("{d}.{c}.{b}.{a}.{}.", zone.trim_end_matches('.'))
}

/// Classifies the A records a blocklist returned for one query.
pub fn classify(records: &[Ipv4Addr]) -> Answer {
    if records.is_empty() {
        return Answer::NotListed;
    }
    if let Some(e) = records.iter().find(|r| r.octets()[..3] == [127, 255, 255]) {
        return Answer::Error(format!("the list answered with its error code {e}"));
    }
    if let Some(e) = records.iter().find(|r| r.octets()[0] != 127 || **r == Ipv4Addr::LOCALHOST) {
        return Answer::Error(format!("{e} is not a listing code (a resolver rewriting NXDOMAIN?)"));
    }
    Answer::Listed(records.to_vec())
}

/// Asks `zone` about `addr`.
pub async fn check(resolver: &TokioResolver, addr: Ipv4Addr, zone: &str) -> Answer {
    match resolver.ipv4_lookup(query_name(addr, zone)).await {
        Ok(found) => classify(&found.iter().map(|a| a.0).collect::<Vec<_>>()),
        Err(e) if no_records(&e) => Answer::NotListed,
        Err(e) => Answer::Error(e.to_string()),
    }
}

fn no_records(e: &hickory_resolver::ResolveError) -> bool {
    match e.kind() {
        ResolveErrorKind::Proto(p) => matches!(p.kind(), ProtoErrorKind::NoRecordsFound { .. }),
        _ => false,
    }
}

/// Checks every configured address in every zone now and then; a listing tightens the
/// watch's limits until a check finds none. Runs until the watch is dropped.
pub fn spawn(watch: &Arc<Watch>, dns_servers: &[SocketAddr]) -> Option<tokio::task::JoinHandle<()>> {
    let cfg = watch.cfg.blocklist.clone();
    if cfg.zones.is_empty() {
        return None;
    }
    let resolver = match crate::delivery::resolve::dns_resolver(dns_servers) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "no DNS resolver: the gateway's addresses are not checked against blocklists");
            return None;
        }
    };
    let weak = Arc::downgrade(watch);
    Some(tokio::spawn(async move {
        loop {
            let mut listed = Vec::new();
            for zone in &cfg.zones {
                for &addr in &cfg.addresses {
                    match check(&resolver, addr, zone).await {
                        Answer::Listed(codes) => listed.push(format!("{addr} is listed on {zone} ({codes:?})")),
                        Answer::NotListed => {}
                        Answer::Error(e) => tracing::warn!(%addr, zone, error = %e, "blocklist check failed"),
                    }
                }
            }
            let Some(watch) = weak.upgrade() else { return };
            watch.set_listing((!listed.is_empty()).then(|| listed.join("; ")));
            drop(watch);
            tokio::time::sleep(cfg.every).await;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_listing_codes_count() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(classify(&[]), Answer::NotListed);
        assert_eq!(classify(&[ip("127.0.0.2")]), Answer::Listed(vec![ip("127.0.0.2")]));
        assert_eq!(
            classify(&[ip("127.0.0.4"), ip("127.0.0.10")]).clone(),
            Answer::Listed(vec![ip("127.0.0.4"), ip("127.0.0.10")])
        );
        for error in ["127.255.255.254", "127.255.255.252", "127.255.255.255", "127.0.0.1", "198.51.100.7"] {
            assert!(matches!(classify(&[ip(error)]), Answer::Error(_)), "{error} is an error, not a listing");
        }
        assert!(matches!(classify(&[ip("127.0.0.2"), ip("127.255.255.254")]), Answer::Error(_)));
    }

    #[test]
    fn query_names_reverse_the_octets() {
        assert_eq!(query_name(Ipv4Addr::new(192, 0, 2, 99), "zen.example."), "99.2.0.192.zen.example.");
    }
}
