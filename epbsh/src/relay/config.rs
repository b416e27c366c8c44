//! [`RelayConfig`]: the relay's settings (listener, identity, TLS, limits, delivery), read
//! with serde from TOML. Every field has a named default; unknown keys are refused; a
//! config is checked whole by [`RelayConfig::validate`], which reports every problem.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use crate::delivery::NextHop;
use crate::smtp::SessionConfig;

/// Largest `limits.max_message_size` allowed: below the spool's largest record.
const MAX_MESSAGE_SIZE: usize = 100 << 20;

/// The whole relay configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Address the SMTP listener binds (default `127.0.0.1:2525`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// Name in the greeting, EHLO and Received headers, and in DSNs (default `localhost`).
    pub hostname: String,
    /// Spool directory (default `/var/spool/epbsh`).
    pub spool_dir: PathBuf,
    /// PEM certificate chain for STARTTLS; with `tls_key`. Both absent: a self-signed
    /// certificate for `hostname` is generated at start.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    pub limits: Limits,
    pub delivery: DeliveryConfig,
    /// Abnormal-traffic detection for connected systems.
    pub watch: crate::watch::WatchConfig,
}

/// Protocol limits of the listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest message content accepted, advertised as SIZE (default 25 MiB).
    pub max_message_size: usize,
    /// Most recipients per message (default 100); more get 452 4.5.3.
    pub max_recipients: usize,
    /// Longest command or text line including CRLF (default 1000).
    pub max_line_length: usize,
    /// Longest wait for client input (default `5m`).
    #[serde(with = "duration::one")]
    pub idle_timeout: Duration,
    /// Concurrent SMTP sessions (default 200); more are answered 421 4.3.2 and closed.
    pub max_sessions: usize,
    /// 5xx replies tolerated in one session before 421 (default 10).
    pub max_errors: u32,
}

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
    /// How long a message may stay queued before it expires and is bounced (default `5d`).
    #[serde(with = "duration::one")]
    pub queue_lifetime: Duration,
    /// Waits before the 1st, 2nd, … retry; the last repeats (default 1m 5m 15m 30m 1h).
    #[serde(with = "duration::list")]
    pub retry: Vec<Duration>,
    /// Messages being delivered at once (default 20).
    pub max_concurrent: usize,
    /// TCP connect limit per address (default `30s`).
    #[serde(with = "duration::one")]
    pub connect_timeout: Duration,
    /// Limit for each SMTP reply from the remote server (default `5m`).
    #[serde(with = "duration::one")]
    pub command_timeout: Duration,
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
    /// How long an idle connection is kept for reuse (default `10s`; `0s` disables reuse).
    #[serde(with = "duration::one")]
    pub reuse_idle: Duration,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 2525))
}

fn default_retry() -> Vec<Duration> {
    [60, 300, 900, 1800, 3600].map(Duration::from_secs).to_vec()
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            hostname: "localhost".into(),
            spool_dir: PathBuf::from("/var/spool/epbsh"),
            tls_cert: None,
            tls_key: None,
            limits: Limits::default(),
            delivery: DeliveryConfig::default(),
            watch: crate::watch::WatchConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 25 << 20,
            max_recipients: 100,
            max_line_length: 1000,
            idle_timeout: Duration::from_secs(300),
            max_sessions: 200,
            max_errors: 10,
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            smarthost: None,
            transport: BTreeMap::new(),
            queue_lifetime: Duration::from_secs(5 * 86_400),
            retry: default_retry(),
            max_concurrent: 20,
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(300),
            starttls: true,
            ca_file: None,
            dns_servers: Vec::new(),
            mx_port: 25,
            max_hosts: 5,
            reuse_idle: Duration::from_secs(10),
        }
    }
}

/// One problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ConfigProblem {
    pub field: String,
    pub problem: String,
}

impl RelayConfig {
    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<RelayConfig, Vec<ConfigProblem>> {
        let cfg: RelayConfig = toml::from_str(text).map_err(|e| {
            vec![ConfigProblem {
                field: e.span().map_or("?".into(), |s| format!("at {s:?}")),
                problem: e.message().into(),
            }]
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks everything and reports every problem found.
    pub fn validate(&self) -> Result<(), Vec<ConfigProblem>> {
        let mut out = Vec::new();
        let mut bad =
            |field: &str, problem: &str| out.push(ConfigProblem { field: field.into(), problem: problem.into() });
        if !crate::smtp::is_domain(&self.hostname) {
            bad("hostname", "must be a domain name");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bad("tls_cert", "tls_cert and tls_key go together");
        }
        let l = &self.limits;
        for (field, v) in [
            ("limits.max_message_size", l.max_message_size),
            ("limits.max_recipients", l.max_recipients),
            ("limits.max_sessions", l.max_sessions),
            ("delivery.max_concurrent", self.delivery.max_concurrent),
            ("delivery.max_hosts", self.delivery.max_hosts),
        ] {
            if v == 0 {
                bad(field, "must be at least 1");
            }
        }
        if l.max_message_size > MAX_MESSAGE_SIZE {
            bad("limits.max_message_size", "must be at most 100 MiB (the spool's record limit is 128 MiB)");
        }
        if l.max_line_length < 512 {
            bad("limits.max_line_length", "must be at least 512");
        }
        self.delivery.check(&mut bad);
        self.watch.check(&mut bad);
        if out.is_empty() { Ok(()) } else { Err(out) }
    }

    /// The SMTP session settings this config gives (TLS is added by the listener).
    pub(crate) fn session(&self) -> SessionConfig {
        let mut s = SessionConfig::new(self.hostname.clone());
        s.max_message_size = self.limits.max_message_size;
        s.max_recipients = self.limits.max_recipients;
        s.max_line_length = self.limits.max_line_length;
        s.idle_timeout = self.limits.idle_timeout;
        s.max_errors = self.limits.max_errors;
        s
    }
}

impl DeliveryConfig {
    fn check(&self, bad: &mut impl FnMut(&str, &str)) {
        if self.retry.is_empty() || self.retry.iter().any(Duration::is_zero) {
            bad("delivery.retry", "needs at least one non-zero wait");
        }
        if self.queue_lifetime.is_zero() {
            bad("delivery.queue_lifetime", "must be more than 0s");
        }
        for key in self.transport.keys() {
            let domain = key.strip_prefix('.').unwrap_or(key);
            if !crate::smtp::is_domain(domain) || domain != domain.to_ascii_lowercase() {
                bad(&format!("delivery.transport.{key}"), "key must be a lower-case domain or .domain");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../relay.example.toml");

    #[test]
    fn example_parses_and_defaults_hold() {
        let cfg = RelayConfig::from_toml(EXAMPLE).expect("example config");
        assert_eq!(cfg.delivery.transport["partner.example"].to_string(), "192.0.2.25:25");
        assert_eq!(RelayConfig::from_toml("").expect("empty"), RelayConfig::default());
        let d = RelayConfig::default();
        assert_eq!((d.listen.port(), d.limits.max_message_size, d.limits.max_recipients), (2525, 25 << 20, 100));
        assert_eq!(d.delivery.queue_lifetime, Duration::from_secs(432_000));
    }

    #[test]
    fn junk_keys_are_rejected_everywhere() {
        for junk in ["bogus = 1\n", "[limits]\nbogus = 1\n", "[delivery]\nbogus = 1\n"] {
            let text = format!("{junk}{EXAMPLE}");
            let text = if junk.starts_with('[') { format!("{EXAMPLE}\n{junk}") } else { text };
            assert!(RelayConfig::from_toml(&text).is_err(), "{junk} accepted");
        }
    }

    #[test]
    fn every_problem_is_reported() {
        let text = "hostname = \"not a host\"\ntls_key = \"k.pem\"\n[limits]\nmax_recipients = 0\n\
                    [delivery]\nretry = []\ntransport = { \"Bad..Key\" = \"h:25\" }\n";
        let problems = RelayConfig::from_toml(text).expect_err("invalid");
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["hostname", "tls_cert", "limits.max_recipients", "delivery.retry", "delivery.transport.Bad..Key"]
        );
    }
}
