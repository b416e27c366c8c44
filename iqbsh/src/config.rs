//! The proxy's configuration: [`ProxyConfig`] as read from TOML (serde,
//! unknown keys rejected, every field defaulted by a named function), and its
//! validation into the runtime [`Settings`] with every problem collected and
//! named by field or file.
//!
//! Must not: open sockets or start tasks; `serve` does that with the result.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use policies::duration;
use serde::{Deserialize, Serialize};
use snapshot::Net;

use crate::icap::IcapConfig;

/// Everything the web proxy needs to know at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// The explicit (forward) proxy listener: plain HTTP and `CONNECT`.
    pub explicit: ExplicitConfig,
    /// The transparent TLS listener; off unless configured.
    pub transparent: Option<TransparentConfig>,
    /// Where the proxy may connect, for every way out.
    pub destinations: DestinationConfig,
    /// Trust in origin certificates.
    pub upstream: UpstreamConfig,
    /// Name resolution and destinations the proxy never connects to.
    pub dns: DnsConfig,
    /// Limits on new client connections per source, per organisation, for refused sources.
    pub rate_limit: RateLimitConfig,
    /// Where the access log goes.
    pub access_log: AccessLogConfig,
    /// Time limits.
    pub timeouts: TimeoutConfig,
    /// Largest request header block a client may send, in bytes. Default 65536.
    pub max_header_bytes: usize,
    /// Public names of Encrypted Client Hello providers (their client-facing
    /// servers, which front many sites): a ClientHello with ECH whose outer name is
    /// one of these (or under one) is always inspected, whatever category the name
    /// has. Default: the public names of the providers that deploy ECH today.
    pub ech_fronts: Vec<String>,
    /// At shutdown, how long open connections may go on relaying before the process
    /// exits (keep-alive connections close after their request). Default 30 s.
    #[serde(with = "duration::one")]
    pub shutdown_grace: Duration,
    /// The ICAP services bumped and plain-HTTP bodies are scanned by; none by default.
    pub icap: IcapConfig,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            explicit: ExplicitConfig::default(),
            transparent: None,
            destinations: DestinationConfig::default(),
            upstream: UpstreamConfig::default(),
            dns: DnsConfig::default(),
            rate_limit: RateLimitConfig::default(),
            access_log: AccessLogConfig::default(),
            timeouts: TimeoutConfig::default(),
            max_header_bytes: default_max_header_bytes(),
            ech_fronts: default_ech_fronts(),
            shutdown_grace: Duration::from_secs(30),
            icap: IcapConfig::default(),
        }
    }
}

/// `[explicit]`: the forward proxy listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExplicitConfig {
    /// Listen address. Default `127.0.0.1:3128`.
    pub listen: SocketAddr,
    /// Catalog link name reported with unknown sources seen here. Default `iqbsh-explicit`.
    pub link: String,
}

impl Default for ExplicitConfig {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 3128)), link: "iqbsh-explicit".to_owned() }
    }
}

/// `[transparent]`: connections redirected to the proxy by a firewall (the packet
/// gate's redirect, or the operator's own): TLS on `listen`, plain HTTP on `http_listen`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransparentConfig {
    /// Listen address for redirected TLS. Default `127.0.0.1:3130`.
    pub listen: SocketAddr,
    /// Catalog link name reported with unknown sources seen here. Default `iqbsh-transparent`.
    pub link: String,
    /// Port of the origin the proxy connects to for TLS. Default 443.
    pub upstream_port: u16,
    /// Listen address for redirected plain HTTP; off unless set (e.g. `"[::]:3129"`).
    pub http_listen: Option<SocketAddr>,
    /// Port of the origin the proxy connects to for plain HTTP. Default 80.
    pub http_upstream_port: u16,
}

impl Default for TransparentConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3130)),
            link: "iqbsh-transparent".to_owned(),
            upstream_port: 443,
            http_listen: None,
            http_upstream_port: 80,
        }
    }
}

/// `[upstream]`: which origin certificates are trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// Trust the system's root store. Default true.
    pub system_roots: bool,
    /// PEM files of extra trust anchors. Default none.
    pub extra_anchors: Vec<PathBuf>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self { system_roots: true, extra_anchors: Vec::new() }
    }
}

/// `[dns]`: how the proxy finds origins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// A hosts-format file (`address name...`) consulted before DNS. Default none.
    pub hosts_file: Option<PathBuf>,
    /// Static names (`name = ["address", ...]`) consulted before the file and DNS.
    pub hosts: BTreeMap<String, Vec<IpAddr>>,
    /// Name servers to ask; empty means the system's (`/etc/resolv.conf`). Default empty.
    pub nameservers: Vec<SocketAddr>,
}

/// `[destinations]`: the one policy on where the proxy connects, for `CONNECT`,
/// plain `http://`, the transparent listener, bumped requests and WebSocket
/// upgrades alike, decided on each address a host resolves to (or its literal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DestinationConfig {
    /// Ports any way out may reach. Default `[80, 443]`.
    pub ports: Vec<u16>,
    /// Ranges never connected to unless `allow` names them. Default: unspecified,
    /// loopback, private (RFC 1918), shared address space (CGNAT, 100.64.0.0/10),
    /// link-local, IETF protocol assignments, benchmarking, documentation, multicast,
    /// reserved and broadcast; for IPv6 unspecified, loopback, IPv4-compatible, discard-only,
    /// unique local (ULA), the local-use NAT64 prefix, documentation, link-local and
    /// multicast.
    pub deny: Vec<Net>,
    /// Ranges inside `deny` that may be reached after all. Default none.
    pub allow: Vec<Net>,
    /// The gateway's own addresses besides its listeners and interfaces (public and
    /// NAT addresses), never connected to whatever `allow` says. Default none.
    pub own: Vec<IpAddr>,
    /// Every address of the host's interfaces (loopback aside, which `deny` closes) is
    /// own too: read from the kernel at start and again whenever an address is added
    /// or removed. Default true.
    pub own_interfaces: bool,
}

impl Default for DestinationConfig {
    fn default() -> Self {
        Self {
            ports: vec![80, 443],
            deny: default_deny_destinations(),
            allow: Vec::new(),
            own: Vec::new(),
            own_interfaces: true,
        }
    }
}

/// `[rate_limit]`: new client connections per second, kept by token buckets
/// (a sustained rate and a burst above it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Per organisation, sustained. Default 50.
    pub per_second: u32,
    /// Per organisation, at once above the sustained rate. Default 200.
    pub burst: u32,
    /// Per source address (an IPv6 source by its /64), sustained. Default 20.
    pub per_source_per_second: u32,
    /// Per source address, at once above the sustained rate. Default 100.
    pub per_source_burst: u32,
    /// Per source the catalog refuses (unknown or blocked), sustained. Default 1.
    pub refused_per_second: u32,
    /// Per refused source, at once above the sustained rate. Default 10.
    pub refused_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_second: 50,
            burst: 200,
            per_source_per_second: 20,
            per_source_burst: 100,
            refused_per_second: 1,
            refused_burst: 10,
        }
    }
}

/// `[access_log]`: the two access-log writers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessLogConfig {
    /// Squid native `access.log` format. Default none (off).
    pub squid: Option<PathBuf>,
    /// One JSON object per line. Default none (off).
    pub json: Option<PathBuf>,
    /// Records buffered for the writer before new ones are dropped (and counted). Default 65536.
    pub queue: usize,
}

impl Default for AccessLogConfig {
    fn default() -> Self {
        Self { squid: None, json: None, queue: 65_536 }
    }
}

/// `[timeouts]`, written like `"10s"` or `"5m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutConfig {
    /// Connecting to an origin (per address). Default 10 s.
    #[serde(with = "duration::one")]
    pub connect: Duration,
    /// Receiving the ClientHello and completing each TLS handshake. Default 10 s.
    #[serde(with = "duration::one")]
    pub handshake: Duration,
    /// Waiting for a request's header block. Default 30 s.
    #[serde(with = "duration::one")]
    pub header: Duration,
    /// Idle time of a spliced tunnel before it is closed. Default 5 min.
    #[serde(with = "duration::one")]
    pub tunnel_idle: Duration,
    /// Longest life of any client connection (tunnels, keep-alive and HTTP/2
    /// connections, WebSockets), however busy. Default 8 h.
    #[serde(with = "duration::one")]
    pub max_lifetime: Duration,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        let secs = Duration::from_secs;
        Self {
            connect: secs(10),
            handshake: secs(10),
            header: secs(30),
            tunnel_idle: secs(300),
            max_lifetime: secs(8 * 3600),
        }
    }
}

fn default_ech_fronts() -> Vec<String> {
    ["cloudflare-ech.com", "public.tls-ech.dev", "public.test.defo.ie"].map(String::from).to_vec()
}

fn default_max_header_bytes() -> usize {
    65_536
}

/// Ranges no origin on the Internet holds, besides the catalog's reserved ones.
const NOT_INTERNET: [&str; 15] = [
    "10.0.0.0/8",
    "100.64.0.0/10",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "198.18.0.0/15",
    "255.255.255.255/32",
    "::/96",
    "100::/64",
    "fc00::/7",
    "64:ff9b:1::/48",
    "2001:db8::/32",
];

fn default_deny_destinations() -> Vec<Net> {
    let reserved = snapshot::net::RESERVED.iter().map(|r| r.net());
    reserved.chain(NOT_INTERNET.iter().filter_map(|n| n.parse().ok())).collect()
}

/// One thing wrong with the configuration, named by field or file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field (`rate_limit.per_second`) or file (`/etc/x.pem`, `hosts:12`).
    pub location: String,
    /// What is wrong.
    pub message: String,
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in the order found.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid proxy configuration:")?;
        for p in &self.problems {
            write!(f, "\n  {}: {}", p.location, p.message)?;
        }
        Ok(())
    }
}

impl ConfigError {
    pub(crate) fn one(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self { problems: vec![Problem { location: location.into(), message: message.into() }] }
    }
}

impl ProxyConfig {
    /// Parses TOML text; unknown keys and bad values are errors naming the key.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::one("toml", e.to_string()))
    }

    /// Checks the fields that need no file access; every problem is reported.
    pub fn check(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut bad = |location: &str, message: &str| {
            problems.push(Problem { location: location.to_owned(), message: message.to_owned() })
        };
        if self.explicit.link.trim().is_empty() {
            bad("explicit.link", "must name a catalog link");
        }
        if let Some(t) = &self.transparent {
            if t.link.trim().is_empty() {
                bad("transparent.link", "must name a catalog link");
            }
            if t.upstream_port == 0 {
                bad("transparent.upstream_port", "must be a port number (1-65535)");
            }
            if t.listen == self.explicit.listen && t.listen.port() != 0 {
                bad("transparent.listen", "must differ from explicit.listen");
            }
            if t.http_upstream_port == 0 {
                bad("transparent.http_upstream_port", "must be a port number (1-65535)");
            }
            if let Some(http) = t.http_listen
                && http.port() != 0
                && (http == t.listen || http == self.explicit.listen)
            {
                bad("transparent.http_listen", "must differ from transparent.listen and explicit.listen");
            }
        }
        if self.destinations.ports.contains(&0) {
            bad("destinations.ports", "0 is not a port");
        }
        let r = &self.rate_limit;
        for (name, value) in [
            ("rate_limit.per_second", r.per_second),
            ("rate_limit.burst", r.burst),
            ("rate_limit.per_source_per_second", r.per_source_per_second),
            ("rate_limit.per_source_burst", r.per_source_burst),
            ("rate_limit.refused_per_second", r.refused_per_second),
            ("rate_limit.refused_burst", r.refused_burst),
        ] {
            if value == 0 {
                bad(name, "must be at least 1");
            }
        }
        if self.access_log.queue == 0 {
            bad("access_log.queue", "must be at least 1");
        }
        let t = &self.timeouts;
        for (name, value) in [
            ("timeouts.connect", t.connect),
            ("timeouts.handshake", t.handshake),
            ("timeouts.header", t.header),
            ("timeouts.tunnel_idle", t.tunnel_idle),
            ("timeouts.max_lifetime", t.max_lifetime),
        ] {
            if value < Duration::from_secs(1) {
                bad(name, "must be at least 1s");
            }
        }
        if self.max_header_bytes < 8192 {
            bad("max_header_bytes", "must be at least 8192");
        }
        for name in &self.ech_fronts {
            if crate::decide::hostname::normalise(name).is_none() {
                bad(&format!("ech_fronts.{name:?}"), "is not a valid host name");
            }
        }
        for name in self.dns.hosts.keys() {
            if crate::decide::hostname::normalise(name).is_none() {
                bad(&format!("dns.hosts.{name:?}"), "is not a valid host name");
            }
        }
        for (location, message) in self.icap.problems() {
            bad(&location, &message);
        }
        if problems.is_empty() { Ok(()) } else { Err(ConfigError { problems }) }
    }

    pub(crate) fn settings(&self) -> Settings {
        let t = &self.timeouts;
        Settings {
            connect_timeout: t.connect,
            handshake_timeout: t.handshake,
            header_timeout: t.header,
            tunnel_idle: t.tunnel_idle,
            max_lifetime: t.max_lifetime,
            max_header_bytes: self.max_header_bytes,
            ech_fronts: self.ech_fronts.iter().filter_map(|n| crate::decide::hostname::normalise(n)).collect(),
        }
    }
}

/// The validated values the data plane reads.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub connect_timeout: Duration,
    pub handshake_timeout: Duration,
    pub header_timeout: Duration,
    pub tunnel_idle: Duration,
    pub max_lifetime: Duration,
    pub max_header_bytes: usize,
    /// Normalised ECH provider names (see [`ProxyConfig::ech_fronts`]).
    pub ech_fronts: Vec<String>,
}

impl Settings {
    /// Whether `name` is an ECH provider's public name or a name under one.
    pub(crate) fn is_ech_front(&self, name: &str) -> bool {
        self.ech_fronts.iter().any(|f| name == f || name.strip_suffix(f.as_str()).is_some_and(|p| p.ends_with('.')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_gives_the_defaults() {
        let cfg = ProxyConfig::from_toml("").expect("empty config parses");
        assert_eq!(cfg, ProxyConfig::default());
        assert_eq!(cfg.explicit.listen.to_string(), "127.0.0.1:3128");
        assert!(cfg.transparent.is_none());
        assert_eq!(cfg.destinations.ports, vec![80, 443]);
        for range in ["127.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "fc00::/7", "169.254.0.0/16"] {
            assert!(cfg.destinations.deny.iter().any(|n| n.to_string() == range), "{range}");
        }
        cfg.check().expect("defaults are valid");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        for text in ["junk = 1", "[explicit]\nlisten_addr = \"127.0.0.1:1\"", "[transparent]\nport = 1"] {
            let err = ProxyConfig::from_toml(text).expect_err(text).to_string();
            assert!(err.contains("unknown field"), "{text}: {err}");
        }
    }

    #[test]
    fn a_partial_section_keeps_the_other_defaults() {
        let cfg = ProxyConfig::from_toml("[transparent]\nupstream_port = 8443\n").expect("parses");
        let t = cfg.transparent.expect("transparent on");
        assert_eq!((t.upstream_port, t.link.as_str()), (8443, "iqbsh-transparent"));
    }

    #[test]
    fn every_bad_field_is_named() {
        let text = "max_header_bytes = 10\n[destinations]\nports = [0]\n[rate_limit]\nper_second = 0\n\
                    [timeouts]\nconnect = \"0s\"\n[dns.hosts]\n\"bad name\" = [\"127.0.0.1\"]\n";
        let err = ProxyConfig::from_toml(text).expect("parses").check().expect_err("invalid");
        let fields: Vec<&str> = err.problems.iter().map(|p| p.location.as_str()).collect();
        for want in ["max_header_bytes", "destinations.ports", "rate_limit.per_second", "timeouts.connect"] {
            assert!(fields.contains(&want), "{want} missing from {fields:?}");
        }
        assert!(fields.iter().any(|f| f.contains("bad name")), "{fields:?}");
    }
}
