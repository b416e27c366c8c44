//! [`DeliveryConfig`]: the queue and delivery settings (`[delivery]` of the relay's TOML):
//! routes, retry schedule, lifetime, timeouts, TLS and connection reuse. Every field has a
//! named default; [`DeliveryConfig::check`] reports every problem. Must not: know the
//! listener's settings (the relay's config holds both).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::route::NextHop;
use crate::duration;

/// Queue and delivery settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Next hop for all outbound mail that the transport map does not route (default none:
    /// MX lookup).
    pub smarthost: Option<NextHop>,
    /// Static routes `domain → host:port`, consulted before the smarthost and MX (like a
    /// Postfix transport map). A key `.example.org` matches every subdomain.
    pub transport: BTreeMap<String, NextHop>,
    /// How long a message may stay queued before it expires (default `5d`).
    #[serde(with = "duration::one")]
    pub queue_lifetime: Duration,
    /// Waits before the 1st, 2nd, … retry; the last repeats (default 1m 5m 15m 30m 1h).
    #[serde(with = "duration::list")]
    pub retry: Vec<Duration>,
    /// Messages being delivered at once (default 20).
    pub max_concurrent: usize,
    /// Deliveries at once to one destination: a recipient domain routed by MX, or a
    /// connected system (default 5; a configured hop is not limited by it). One slow or
    /// stalling destination then holds at most this many of `max_concurrent`.
    pub max_per_destination: usize,
    /// TCP connect limit per address (default `30s`).
    #[serde(with = "duration::one")]
    pub connect_timeout: Duration,
    /// Limit for each SMTP reply from the remote server, except the one after the final
    /// dot (default `5m`, RFC 5321 §4.5.3.2).
    #[serde(with = "duration::one")]
    pub command_timeout: Duration,
    /// Limit for the remote server's reply after the final dot (default `10m`, RFC 5321
    /// §4.5.3.2.6). Shorter, a slow next hop that takes the message after this wait gets
    /// it again at the retry.
    #[serde(with = "duration::one")]
    pub data_timeout: Duration,
    /// Use STARTTLS when the remote server offers it (default true).
    pub starttls: bool,
    /// Extra PEM roots trusted when verifying remote servers (besides the system's).
    pub ca_file: Option<PathBuf>,
    /// DNS servers for MX lookups (default empty: the system resolver configuration).
    pub dns_servers: Vec<SocketAddr>,
    /// Port of MX hosts (default 25).
    pub mx_port: u16,
    /// Addresses tried per destination in one attempt (default 5).
    pub max_hosts: usize,
    /// Honour recipient domains' MTA-STS policies (RFC 8461) on deliveries by MX (default
    /// true): an `enforce` domain gets mail only from a host its policy names, over TLS
    /// verified for that host, else the message waits; `testing` is counted only.
    pub mta_sts: bool,
    /// Port of the `mta-sts.DOMAIN` policy hosts (default 443; other values for test rigs).
    pub mta_sts_port: u16,
    /// Longest fetch of one policy (default `30s`).
    #[serde(with = "duration::one")]
    pub mta_sts_timeout: Duration,
    /// How long an idle connection is kept for reuse (default `10s`; `0s` disables reuse).
    #[serde(with = "duration::one")]
    pub reuse_idle: Duration,
}

fn default_retry() -> Vec<Duration> {
    [60, 300, 900, 1800, 3600].map(Duration::from_secs).to_vec()
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            smarthost: None,
            transport: BTreeMap::new(),
            queue_lifetime: Duration::from_secs(5 * 86_400),
            retry: default_retry(),
            max_concurrent: 20,
            max_per_destination: 5,
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            starttls: true,
            ca_file: None,
            dns_servers: Vec::new(),
            mx_port: 25,
            max_hosts: 5,
            reuse_idle: Duration::from_secs(10),
            mta_sts: true,
            mta_sts_port: 443,
            mta_sts_timeout: Duration::from_secs(30),
        }
    }
}

impl DeliveryConfig {
    /// Reports every problem through `bad(field, problem)`.
    pub(crate) fn check(&self, bad: &mut impl FnMut(&str, &str)) {
        if self.retry.is_empty() || self.retry.iter().any(Duration::is_zero) {
            bad("delivery.retry", "needs at least one non-zero wait");
        }
        if self.queue_lifetime.is_zero() {
            bad("delivery.queue_lifetime", "must be more than 0s");
        }
        let counts = [
            ("delivery.max_concurrent", self.max_concurrent),
            ("delivery.max_per_destination", self.max_per_destination),
            ("delivery.max_hosts", self.max_hosts),
        ];
        for (field, v) in counts {
            if v == 0 {
                bad(field, "must be at least 1");
            }
        }
        if self.mta_sts_port == 0 || self.mta_sts_timeout.is_zero() {
            bad("delivery.mta_sts_port", "mta_sts_port and mta_sts_timeout must be more than 0");
        }
        if self.data_timeout < self.command_timeout {
            bad("delivery.data_timeout", "must not be shorter than delivery.command_timeout");
        }
        for key in self.transport.keys() {
            let domain = key.strip_prefix('.').unwrap_or(key);
            if !crate::smtp::is_domain(domain) || domain != domain.to_ascii_lowercase() {
                bad(&format!("delivery.transport.{key}"), "key must be a lower-case domain or .domain");
            }
        }
    }
}
