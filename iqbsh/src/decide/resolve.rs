//! Finding and reaching origins: the gateway resolves every host itself
//! (an address literal in any textual form is its own address; then static
//! hosts, then DNS through hickory) and connects only to the addresses it
//! resolved, never to one the client named, and only to those the
//! destination policy (`destination`) allows; a connection that reaches one
//! of the gateway's own listeners is dropped. A host with any address in a
//! threat feed's ranges is refused before a connection is tried.
//!
//! Must not: trust the client's idea of where a host lives.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use tokio::net::TcpStream;

use crate::config::{ConfigError, DnsConfig};
use crate::decide::denial::{Denial, DenyKind};
use crate::decide::destination::Destinations;
use crate::decide::literal::HostKind;
use crate::decide::threats::{ThreatsHandle, addr_denial};

/// Resolves host names and connects to origins.
pub(crate) struct Resolver {
    hosts: HashMap<String, Vec<IpAddr>>,
    dns: Option<TokioResolver>,
    destinations: Destinations,
    threats: ThreatsHandle,
}

fn dns_resolver(nameservers: &[std::net::SocketAddr]) -> Option<TokioResolver> {
    if !nameservers.is_empty() {
        let servers: Vec<NameServerConfig> =
            nameservers.iter().map(|addr| NameServerConfig::new(*addr, Protocol::Udp)).collect();
        let config = ResolverConfig::from_parts(None, Vec::new(), servers);
        return Some(TokioResolver::builder_with_config(config, TokioConnectionProvider::default()).build());
    }
    match TokioResolver::builder_tokio() {
        Ok(builder) => Some(builder.build()),
        Err(e) => {
            tracing::warn!(error = %e, "no system DNS configuration; only static hosts resolve");
            None
        }
    }
}

impl Resolver {
    /// Builds from the `[dns]` section (reads the hosts file) and the destination policy.
    pub(crate) fn new(
        cfg: &DnsConfig,
        destinations: Destinations,
        threats: ThreatsHandle,
    ) -> Result<Self, ConfigError> {
        let hosts = crate::decide::hosts::load(cfg)?;
        Ok(Self { hosts, dns: dns_resolver(&cfg.nameservers), destinations, threats })
    }

    /// The destination policy.
    pub(crate) fn destinations(&self) -> &Destinations {
        &self.destinations
    }

    /// The addresses of `host` that the proxy may connect to at `port`.
    pub(crate) async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, Denial> {
        self.destinations.port(port)?;
        let found = self.lookup(host).await?;
        let threats = self.threats.current();
        if let Some(denial) = found.iter().find_map(|ip| addr_denial(&threats, host, *ip)) {
            return Err(denial);
        }
        let mut first_denial = None;
        let mut allowed = Vec::with_capacity(found.len());
        for ip in found {
            match self.destinations.check(ip, port) {
                Ok(()) => allowed.push(ip),
                Err(denial) => {
                    first_denial.get_or_insert(denial);
                }
            }
        }
        match (allowed.is_empty(), first_denial) {
            (true, Some(denial)) => {
                let why = format!("{host} resolves only to forbidden destinations ({})", denial.reason);
                Err(Denial::new(DenyKind::Destination, why))
            }
            (true, None) => Err(Denial::new(DenyKind::Upstream, format!("{host} has no address"))),
            (false, _) => Ok(allowed),
        }
    }

    async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, Denial> {
        match crate::decide::literal::kind(host) {
            HostKind::Literal(ip) => return Ok(vec![ip]),
            HostKind::Malformed => {
                return Err(Denial::new(DenyKind::BadRequest, format!("{host:?} is neither an address nor a name")));
            }
            HostKind::Name => {}
        }
        let Some(name) = crate::decide::hostname::normalise(host) else {
            return Err(Denial::new(DenyKind::BadRequest, format!("{host:?} is not a valid host name")));
        };
        if let Some(ips) = self.hosts.get(&name) {
            return Ok(ips.clone());
        }
        let unresolved = |why: String| Denial::new(DenyKind::Upstream, format!("cannot resolve {name}: {why}"));
        let Some(dns) = &self.dns else { return Err(unresolved("no DNS resolver is configured".into())) };
        let fqdn = format!("{name}.");
        let lookup = dns.lookup_ip(fqdn.as_str()).await.map_err(|e| unresolved(e.to_string()))?;
        Ok(lookup.iter().collect())
    }

    /// Resolves `host` and connects to the first address that answers.
    pub(crate) async fn connect(&self, host: &str, port: u16, timeout: Duration) -> Result<TcpStream, Denial> {
        let addrs = self.resolve(host, port).await?;
        let mut last = String::new();
        for ip in addrs {
            let addr = SocketAddr::new(ip, port);
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    if let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr())
                        && self.destinations.is_listener(local, peer)
                    {
                        let why = format!("{host}:{port} is the gateway itself");
                        return Err(Denial::new(DenyKind::Destination, why));
                    }
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Ok(Err(e)) => last = format!("{addr}: {e}"),
                Err(_) => last = format!("{addr}: no answer within {}s", timeout.as_secs()),
            }
        }
        Err(Denial::new(DenyKind::Upstream, format!("cannot connect to {host}:{port} ({last})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(deny: &[&str]) -> Resolver {
        let mut cfg = DnsConfig { nameservers: vec!["127.0.0.1:9".parse().expect("addr")], ..DnsConfig::default() };
        cfg.hosts
            .insert("origin.test".into(), vec!["127.0.0.1".parse().expect("ip"), "192.0.2.7".parse().expect("ip")]);
        let destinations = crate::config::DestinationConfig {
            deny: deny.iter().map(|d| d.parse().expect("net")).collect(),
            ..crate::config::DestinationConfig::default()
        };
        let destinations = Destinations::new(&destinations, Vec::new(), Default::default());
        Resolver::new(&cfg, destinations, ThreatsHandle::default()).expect("resolver")
    }

    #[tokio::test]
    async fn static_hosts_come_first_and_forbidden_destinations_are_removed() {
        let r = resolver(&["127.0.0.0/8"]);
        let ips = r.resolve("Origin.Test.", 443).await.expect("resolves");
        assert_eq!(ips, vec!["192.0.2.7".parse::<IpAddr>().expect("ip")]);
        for literal in
            ["127.0.0.5", "::ffff:127.0.0.1", "[::ffff:7f00:1]", "2130706433", "0x7f.1", "0177.0.0.1", "127.1"]
        {
            let err = r.resolve(literal, 443).await.expect_err(literal);
            assert_eq!(err.kind, DenyKind::Destination, "{literal}");
        }
        let err = r.resolve("origin.test", 8080).await.expect_err("port closed");
        assert_eq!(err.kind, DenyKind::Destination);
        let err = r.resolve("bad name", 443).await.expect_err("invalid");
        assert_eq!(err.kind, DenyKind::BadRequest);
    }
}
