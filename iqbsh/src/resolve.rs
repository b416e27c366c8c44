//! Finding and reaching origins: the gateway resolves every host itself
//! (static hosts first, then DNS through hickory) and connects only to the
//! addresses it resolved, never to one the client named, minus the
//! configured forbidden destinations. A host with any address in a threat
//! feed's ranges is refused before a connection is tried.
//!
//! Must not: trust the client's idea of where a host lives.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use snapshot::Net;
use tokio::net::TcpStream;

use crate::config::{ConfigError, DnsConfig};
use crate::denial::{Denial, DenyKind};
use crate::threats::{ThreatsHandle, addr_denial};

/// Resolves host names and connects to origins.
pub(crate) struct Resolver {
    hosts: HashMap<String, Vec<IpAddr>>,
    dns: Option<TokioResolver>,
    deny: Vec<Net>,
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
    /// Builds from the `[dns]` section (reads the hosts file).
    pub(crate) fn new(cfg: &DnsConfig, threats: ThreatsHandle) -> Result<Self, ConfigError> {
        let hosts = crate::hosts::load(cfg)?;
        Ok(Self { hosts, dns: dns_resolver(&cfg.nameservers), deny: cfg.deny_destinations.clone(), threats })
    }

    /// The addresses of `host` that the proxy may connect to.
    pub(crate) async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, Denial> {
        let found = self.lookup(host).await?;
        let threats = self.threats.current();
        if let Some(denial) = found.iter().find_map(|ip| addr_denial(&threats, host, *ip)) {
            return Err(denial);
        }
        let allowed: Vec<IpAddr> = found.iter().copied().filter(|ip| !self.denied(*ip)).collect();
        if allowed.is_empty() {
            return Err(Denial::new(DenyKind::Destination, format!("{host} resolves only to forbidden destinations")));
        }
        Ok(allowed)
    }

    fn denied(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.deny.iter().any(|net| net.contains_ip(ip))
    }

    async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, Denial> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let Some(name) = crate::hostname::normalise(host) else {
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
        let addrs = self.resolve(host).await?;
        let mut last = String::new();
        for ip in addrs {
            let addr = SocketAddr::new(ip, port);
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
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
        cfg.deny_destinations = deny.iter().map(|d| d.parse().expect("net")).collect();
        Resolver::new(&cfg, ThreatsHandle::default()).expect("resolver")
    }

    #[tokio::test]
    async fn static_hosts_come_first_and_forbidden_destinations_are_removed() {
        let r = resolver(&["127.0.0.0/8"]);
        let ips = r.resolve("Origin.Test.").await.expect("resolves");
        assert_eq!(ips, vec!["192.0.2.7".parse::<IpAddr>().expect("ip")]);
        let err = r.resolve("127.0.0.5").await.expect_err("loopback forbidden");
        assert_eq!(err.kind, DenyKind::Destination);
        let err = r.resolve("::ffff:127.0.0.1").await.expect_err("mapped loopback forbidden");
        assert_eq!(err.kind, DenyKind::Destination);
        let err = r.resolve("bad name").await.expect_err("invalid");
        assert_eq!(err.kind, DenyKind::BadRequest);
    }
}
