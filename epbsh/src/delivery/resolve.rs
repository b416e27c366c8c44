//! From a [`Route`] to the addresses to try, in order: a system's inbound server as is, a
//! configured next hop by A/AAAA, a domain by MX (sorted by preference) with the implicit
//! MX of RFC 5321 §5.1 (its own A/AAAA) when it has none, and RFC 7505 null MX refused.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, TokioResolver};

use super::route::Route;

/// One address to try and the name it is known by (for TLS verification and reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub addr: SocketAddr,
    pub name: String,
}

/// Why a route gave no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// Will not change by retrying (no such domain, null MX, unroutable): bounce.
    Permanent(String),
    /// DNS failure or timeout: retry later.
    Temporary(String),
}

/// A hickory resolver on `servers`, or on the system configuration when none are given.
pub(crate) fn dns_resolver(servers: &[SocketAddr]) -> Result<TokioResolver, String> {
    if servers.is_empty() {
        return TokioResolver::builder_tokio().map(|b| b.build()).map_err(|e| format!("system resolver: {e}"));
    }
    let ns: Vec<_> = servers
        .iter()
        .flat_map(|a| [NameServerConfig::new(*a, Protocol::Udp), NameServerConfig::new(*a, Protocol::Tcp)])
        .collect();
    let config = ResolverConfig::from_parts(None, vec![], ns);
    Ok(TokioResolver::builder_with_config(config, TokioConnectionProvider::default()).build())
}

/// Resolves routes with hickory.
pub(crate) struct Resolver {
    dns: Result<TokioResolver, String>,
    mx_port: u16,
    max_hosts: usize,
}

impl Resolver {
    /// Uses `servers` when given, else the system configuration. A system without a usable
    /// configuration still starts; MX and host lookups then defer.
    pub fn new(servers: &[SocketAddr], mx_port: u16, max_hosts: usize) -> Resolver {
        let dns = dns_resolver(servers);
        if let Err(e) = &dns {
            tracing::warn!(error = %e, "no DNS resolver; MX deliveries will be deferred");
        }
        Resolver { dns, mx_port, max_hosts: max_hosts.max(1) }
    }

    /// The addresses to try for `route`, at most `max_hosts`.
    pub async fn targets(&self, route: &Route) -> Result<Vec<Target>, Unresolved> {
        let mut out = match route {
            Route::System { target, .. } => vec![Target { addr: *target, name: target.ip().to_string() }],
            Route::Hop(hop) => self.host(&hop.host, hop.port).await?,
            Route::Mx(domain) => self.mx(domain).await?,
            Route::Unroutable(why) => return Err(Unresolved::Permanent(why.clone())),
        };
        out.truncate(self.max_hosts);
        Ok(out)
    }

    fn dns(&self) -> Result<&TokioResolver, Unresolved> {
        self.dns.as_ref().map_err(|e| Unresolved::Temporary(e.clone()))
    }

    /// The addresses of `host` on `port` (A/AAAA only).
    pub async fn host_targets(&self, host: &str, port: u16) -> Result<Vec<Target>, Unresolved> {
        self.host(host, port).await
    }

    /// The texts of `name`'s TXT records (strings of one record joined).
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, Unresolved> {
        let lookup = self.dns()?.txt_lookup(name).await.map_err(|e| classify(name, &e))?;
        Ok(lookup
            .iter()
            .map(|txt| txt.txt_data().iter().map(|d| String::from_utf8_lossy(d).into_owned()).collect::<String>())
            .collect())
    }

    async fn host(&self, host: &str, port: u16) -> Result<Vec<Target>, Unresolved> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![Target { addr: SocketAddr::new(ip, port), name: host.to_string() }]);
        }
        let ips = self.dns()?.lookup_ip(host).await.map_err(|e| classify(host, &e))?;
        Ok(ips.iter().map(|ip| Target { addr: SocketAddr::new(ip, port), name: host.to_string() }).collect())
    }

    async fn mx(&self, domain: &str) -> Result<Vec<Target>, Unresolved> {
        let fqdn = format!("{domain}.");
        let lookup = match self.dns()?.mx_lookup(fqdn.as_str()).await {
            Ok(l) => l,
            Err(e) if e.is_no_records_found() && !e.is_nx_domain() => return self.host(&fqdn, self.mx_port).await,
            Err(e) => return Err(classify(domain, &e)),
        };
        let mut mxs: Vec<_> = lookup.iter().map(|mx| (mx.preference(), mx.exchange().clone())).collect();
        mxs.sort_by_key(|(pref, _)| *pref);
        if mxs.len() == 1 && mxs[0].1.is_root() {
            return Err(Unresolved::Permanent(format!("5.1.10 {domain} accepts no mail (null MX)")));
        }
        let mut out = Vec::new();
        let mut last_err = None;
        for (_, name) in mxs.into_iter().filter(|(_, n)| !n.is_root()) {
            match self.host(&name.to_ascii(), self.mx_port).await {
                Ok(t) => out.extend(t.into_iter().map(|t| Target { name: t.name.trim_end_matches('.').into(), ..t })),
                Err(e) => last_err = Some(e),
            }
            if out.len() >= self.max_hosts {
                break;
            }
        }
        match (out.is_empty(), last_err) {
            (true, Some(Unresolved::Permanent(e)) | Some(Unresolved::Temporary(e))) => {
                Err(Unresolved::Temporary(format!("no address for the MX hosts of {domain}: {e}")))
            }
            (true, None) => Err(Unresolved::Temporary(format!("no MX host of {domain} has an address"))),
            (false, _) => Ok(out),
        }
    }
}

fn classify(name: &str, e: &ResolveError) -> Unresolved {
    if e.is_nx_domain() {
        Unresolved::Permanent(format!("5.1.2 {} does not exist", name.trim_end_matches('.')))
    } else if e.is_no_records_found() {
        Unresolved::Permanent(format!("5.1.2 {} has no address", name.trim_end_matches('.')))
    } else {
        Unresolved::Temporary(format!("DNS lookup of {} failed: {e}", name.trim_end_matches('.')))
    }
}
