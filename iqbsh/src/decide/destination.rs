//! The one destination policy for every way out of the proxy (`CONNECT`,
//! plain `http://`, the transparent listener, bumped requests, WebSocket
//! upgrades): which ports, and which addresses, decided on each address a
//! host resolves to or on the address a literal names. `Resolver::connect`,
//! the only place that opens origin connections, asks [`Destinations`] for
//! every address before connecting, and afterwards whether the peer turned
//! out to be one of the gateway's own listeners (one bound to an unspecified
//! address answers on every address of the host). The gateway's own
//! addresses are those configured and, unless turned off, every address of
//! the host's interfaces as the kernel reports them now (`interfaces`).
//!
//! Must not: resolve names or open connections; a pure decision over addresses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use snapshot::Net;

use crate::config::DestinationConfig;
use crate::decide::denial::{Denial, DenyKind};
use crate::decide::interfaces::LocalAddrs;

/// Where the proxy may connect.
#[derive(Debug, Clone)]
pub(crate) struct Destinations {
    ports: Vec<u16>,
    deny: Vec<Net>,
    allow: Vec<Net>,
    own: Vec<IpAddr>,
    /// The host's interface addresses, kept current.
    interfaces: LocalAddrs,
    listeners: Vec<SocketAddr>,
}

impl Destinations {
    /// The policy of `[destinations]`, with the addresses the proxy's listeners are
    /// bound to and the host's interface addresses (`interfaces`).
    pub(crate) fn new(cfg: &DestinationConfig, listeners: Vec<SocketAddr>, interfaces: LocalAddrs) -> Self {
        let own = cfg.own.iter().map(|ip| canonical(*ip)).collect();
        let listeners = listeners.into_iter().map(|a| SocketAddr::new(canonical(a.ip()), a.port())).collect();
        Self { ports: cfg.ports.clone(), deny: cfg.deny.clone(), allow: cfg.allow.clone(), own, interfaces, listeners }
    }

    /// The gateway's own addresses now: configured, then the host's interfaces.
    pub(crate) fn own(&self) -> Vec<IpAddr> {
        let mut own = self.own.clone();
        own.extend(self.interfaces.current().iter().copied());
        own
    }

    /// Whether `port` may be reached at all.
    pub(crate) fn port(&self, port: u16) -> Result<(), Denial> {
        if self.ports.contains(&port) {
            return Ok(());
        }
        Err(Denial::new(DenyKind::Destination, format!("port {port} is not open through the gateway")))
    }

    /// Whether `ip` at `port` may be connected to.
    pub(crate) fn check(&self, ip: IpAddr, port: u16) -> Result<(), Denial> {
        self.port(port)?;
        let denied = |why: &str| Err(Denial::new(DenyKind::Destination, format!("{ip} is {why}")));
        let ip = canonical(ip);
        let embedded = nat64(ip);
        let addrs = [Some(ip), embedded];
        let addrs = addrs.iter().flatten();
        let interfaces = self.interfaces.current();
        let own = |a: &IpAddr| self.own.contains(a) || interfaces.contains(a);
        if addrs.clone().any(|a| own(a) || self.listeners.contains(&SocketAddr::new(*a, port))) {
            return denied("the gateway's own address");
        }
        let inside = |nets: &[Net], a: &IpAddr| nets.iter().any(|n| n.contains_ip(*a));
        if addrs.clone().any(|a| inside(&self.deny, a) && !inside(&self.allow, a)) {
            return denied("not an Internet destination the gateway connects to");
        }
        Ok(())
    }

    /// Whether a connection from `local` reached one of the proxy's own listeners at `peer`.
    pub(crate) fn is_listener(&self, local: SocketAddr, peer: SocketAddr) -> bool {
        let (local_ip, peer_ip) = (canonical(local.ip()), canonical(peer.ip()));
        self.listeners
            .iter()
            .any(|l| l.port() == peer.port() && (l.ip() == peer_ip || (l.ip().is_unspecified() && local_ip == peer_ip)))
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The IPv4 address inside a NAT64 well-known-prefix address (64:ff9b::/96).
fn nat64(ip: IpAddr) -> Option<IpAddr> {
    let IpAddr::V6(v6) = ip else { return None };
    let bits = u128::from(v6);
    (bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000).then(|| IpAddr::V4(Ipv4Addr::from(bits as u32)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn policy(allow: &[&str]) -> Destinations {
        let cfg = DestinationConfig {
            allow: allow.iter().map(|n| n.parse().expect("net")).collect(),
            own: vec![ip("198.18.0.9")],
            ports: vec![80, 443, 3130],
            ..DestinationConfig::default()
        };
        let listeners = vec!["0.0.0.0:3128".parse().expect("addr"), "127.0.0.1:3130".parse().expect("addr")];
        Destinations::new(&cfg, listeners, LocalAddrs::fixed(vec![ip("203.0.113.50")]))
    }

    #[test]
    fn private_loopback_cgnat_ula_and_mapped_forms_are_denied_by_default() {
        let p = policy(&[]);
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "224.0.0.1",
            "240.0.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "::",
        ] {
            let denial = p.check(ip(bad), 443).expect_err(bad);
            assert_eq!(denial.kind, DenyKind::Destination, "{bad}");
        }
        for good in ["93.184.215.14", "2a00:1450::1"] {
            p.check(ip(good), 443).expect(good);
            p.check(ip(good), 80).expect(good);
            p.check(ip(good), 22).expect_err("port 22 is closed");
        }
    }

    #[test]
    fn the_allow_list_opens_ranges_but_never_the_gateways_own_addresses() {
        let p = policy(&["127.0.0.0/8", "198.18.0.0/15"]);
        p.check(ip("127.0.0.5"), 443).expect("allowed");
        p.check(ip("198.18.0.8"), 443).expect("allowed");
        assert!(p.check(ip("198.18.0.9"), 443).is_err(), "own address");
        let allowed = policy(&["203.0.113.0/24"]);
        allowed.check(ip("203.0.113.51"), 443).expect("allowed");
        assert!(allowed.check(ip("203.0.113.50"), 443).is_err(), "an interface's address");
        assert!(allowed.check(ip("::ffff:203.0.113.50"), 443).is_err(), "mapped");
        assert!(p.check(ip("127.0.0.1"), 3130).is_err(), "a listener");
        p.check(ip("127.0.0.1"), 443).expect("loopback allowed on another port");
        let local: SocketAddr = "192.0.2.1:50000".parse().expect("addr");
        assert!(p.is_listener(local, "192.0.2.1:3128".parse().expect("addr")), "unspecified listener");
        assert!(!p.is_listener(local, "192.0.2.2:3128".parse().expect("addr")), "another host");
        assert!(p.is_listener(local, "127.0.0.1:3130".parse().expect("addr")));
    }
}
