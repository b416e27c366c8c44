//! Where a recipient's mail goes: [`NextHop`] (a configured `host:port`) and [`Route`], chosen
//! per recipient from the registry snapshot and the configuration. Pure: no I/O here.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::envelope::{Mailbox, SystemId};
use crate::registry::Registry;

/// A configured next hop: a host name or IP address and a port, resolved by A/AAAA only
/// (never MX). Written `host:port`, `[host]:port` or `[ipv6]:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NextHop {
    pub host: String,
    pub port: u16,
}

impl FromStr for NextHop {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not host:port");
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let ok = host.parse::<std::net::IpAddr>().is_ok() || crate::smtp::is_domain(host);
        if !ok || port == 0 {
            return Err(bad());
        }
        Ok(NextHop { host: host.to_ascii_lowercase(), port })
    }
}

impl TryFrom<String> for NextHop {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<NextHop> for String {
    fn from(h: NextHop) -> String {
        h.to_string()
    }
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Where one recipient's copy goes; recipients with equal routes share a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    /// A connected system's inbound server (`MailSystem::inbound_target`).
    System { system: SystemId, target: SocketAddr },
    /// A transport-map entry or the smarthost.
    Hop(NextHop),
    /// The MX hosts of a domain (implicit MX: its own A/AAAA).
    Mx(String),
    /// No way to deliver: a registered domain whose system has no server, or an address
    /// literal. Fails permanently with this text.
    Unroutable(String),
}

/// Chooses the route of `rcpt`: a live registered domain goes to its owner, then the
/// transport map (exact domain, then `.parent` entries from the closest), then the
/// smarthost, then MX.
pub fn choose(
    rcpt: &Mailbox,
    registry: &Registry,
    transport: &BTreeMap<String, NextHop>,
    smarthost: Option<&NextHop>,
) -> Route {
    let domain = rcpt.domain();
    if let Some(sys) = registry.by_domain(domain) {
        return match sys.inbound_target() {
            Some(target) => Route::System { system: sys.id, target },
            None => Route::Unroutable(format!("system {} has no inbound server", sys.name)),
        };
    }
    if domain.starts_with('[') {
        return Route::Unroutable("address literals are not routed".into());
    }
    if let Some(hop) = transport_lookup(domain, transport) {
        return Route::Hop(hop.clone());
    }
    match smarthost {
        Some(hop) => Route::Hop(hop.clone()),
        None => Route::Mx(domain.to_string()),
    }
}

fn transport_lookup<'a>(domain: &str, map: &'a BTreeMap<String, NextHop>) -> Option<&'a NextHop> {
    if let Some(hop) = map.get(domain) {
        return Some(hop);
    }
    let mut rest = domain;
    while let Some((_, parent)) = rest.split_once('.') {
        if let Some(hop) = map.get(&format!(".{parent}")) {
            return Some(hop);
        }
        rest = parent;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{MailSystem, Status};

    fn registry() -> Registry {
        let sys = |id, domain: &str, status, deliver_to: Option<&str>, servers: &[&str]| MailSystem {
            id: SystemId(id),
            name: format!("sys{id}"),
            owner_bin: "000000000000".into(),
            domains: vec![domain.into()],
            servers: servers.iter().map(|s| s.parse().unwrap()).collect(),
            deliver_to: deliver_to.map(|d| d.parse().unwrap()),
            contacts: vec![],
            status,
        };
        Registry::new(vec![
            sys(1, "a.gov.test", Status::Active, Some("127.0.0.1:2600"), &["127.0.0.2"]),
            sys(2, "s.gov.test", Status::Suspended, None, &["127.0.0.3"]),
            sys(3, "gone.gov.test", Status::Disconnected, None, &["127.0.0.4"]),
            sys(4, "empty.gov.test", Status::Active, None, &[]),
        ])
        .unwrap()
    }

    #[test]
    fn chooses_in_order() {
        let reg = registry();
        let mut map = BTreeMap::new();
        map.insert("x.example".to_string(), "127.0.0.1:2700".parse::<NextHop>().unwrap());
        map.insert(".sub.example".to_string(), "[::1]:2701".parse().unwrap());
        let smart: NextHop = "relay.example:587".parse().unwrap();
        let r = |addr: &str, smart: Option<&NextHop>| {
            let (l, d) = addr.split_once('@').unwrap();
            choose(&Mailbox::new(l, d), &reg, &map, smart)
        };
        assert_eq!(
            r("u@A.gov.test", None),
            Route::System { system: SystemId(1), target: "127.0.0.1:2600".parse().unwrap() }
        );
        assert_eq!(
            r("u@s.gov.test", None),
            Route::System { system: SystemId(2), target: "127.0.0.3:25".parse().unwrap() }
        );
        assert_eq!(r("u@gone.gov.test", None), Route::Mx("gone.gov.test".into()));
        assert!(matches!(r("u@empty.gov.test", None), Route::Unroutable(_)));
        assert!(matches!(r("u@[192.0.2.1]", None), Route::Unroutable(_)));
        assert_eq!(r("u@x.example", Some(&smart)).to_owned(), Route::Hop(map["x.example"].clone()));
        assert_eq!(r("u@deep.a.sub.example", None), Route::Hop(map[".sub.example"].clone()));
        assert_eq!(r("u@sub.example", Some(&smart)), Route::Hop(smart.clone()));
        assert_eq!(r("u@other.example", None), Route::Mx("other.example".into()));
    }

    #[test]
    fn next_hop_syntax() {
        assert_eq!("[::1]:25".parse::<NextHop>().unwrap().to_string(), "[::1]:25");
        assert_eq!("[MX.Example]:2525".parse::<NextHop>().unwrap().to_string(), "mx.example:2525");
        for bad in ["host", "host:0", "host:x", "bad host:25", ":25"] {
            assert!(bad.parse::<NextHop>().is_err(), "{bad}");
        }
    }
}
