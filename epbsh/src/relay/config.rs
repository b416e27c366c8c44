//! [`RelayConfig`]: the relay's settings (listener, identity, TLS, limits, delivery), read
//! with serde from TOML. Every field has a named default; unknown keys are refused; a
//! config is checked whole by [`RelayConfig::validate`], which reports every problem.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use super::limits::Limits;
pub use super::verify::VerifyConfig;
use crate::delivery::DeliveryConfig;
use crate::envelope::Mailbox;
use crate::smtp::{DataMemory, SessionConfig};

/// The whole relay configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Address the SMTP listener binds (default `127.0.0.1:2525`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// Name in the greeting, EHLO and Received headers, and in DSNs (default `localhost`).
    pub hostname: String,
    /// Where mail to this relay's postmaster (`<postmaster>`, `postmaster@hostname`) goes,
    /// e.g. the duty team's mailbox (default none: `postmaster@hostname` itself, routed
    /// like any other address: transport map, smarthost or MX).
    pub postmaster: Option<String>,
    /// Spool directory (default `spool`; a relative path is under the working
    /// directory, or under `data_dir` when `perimeter up` runs the relay).
    pub spool_dir: PathBuf,
    /// PEM certificate chain for STARTTLS; with `tls_key`. Both absent: a self-signed
    /// certificate for `hostname` is generated at start.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    pub limits: Limits,
    /// How recipients of connected systems are verified for senders from outside.
    pub verify: VerifyConfig,
    pub delivery: DeliveryConfig,
    /// Abnormal-traffic detection for connected systems.
    pub watch: crate::watch::WatchConfig,
    /// Mail authentication: DKIM signing, SPF/DKIM/ARC/DMARC checks, anti-spoofing.
    pub auth: crate::auth::AuthConfig,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 2525))
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            hostname: "localhost".into(),
            postmaster: None,
            spool_dir: PathBuf::from("spool"),
            tls_cert: None,
            tls_key: None,
            limits: Limits::default(),
            verify: VerifyConfig::default(),
            delivery: DeliveryConfig::default(),
            watch: crate::watch::WatchConfig::default(),
            auth: crate::auth::AuthConfig::default(),
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
        if self.postmaster.as_deref().is_some_and(|p| crate::smtp::parse_mailbox(p).is_none()) {
            bad("postmaster", "must be an address local@domain");
        }
        self.limits.check(&mut bad);
        self.verify.check(&mut bad);
        self.delivery.check(&mut bad);
        self.watch.check(&mut bad);
        self.auth.check(&mut bad);
        if out.is_empty() { Ok(()) } else { Err(out) }
    }

    /// The SMTP session settings this config gives (TLS is added by the listener).
    pub(crate) fn session(&self) -> SessionConfig {
        let l = &self.limits;
        let mut s = SessionConfig::new(self.hostname.clone());
        s.max_message_size = l.max_message_size;
        s.max_recipients = l.max_recipients;
        s.max_line_length = l.max_line_length;
        s.idle_timeout = l.idle_timeout;
        s.min_data_rate = l.min_data_rate;
        s.max_session_time = l.max_session_time;
        s.data_memory = DataMemory::new(l.max_data_memory);
        s.max_errors = l.max_errors;
        s
    }

    /// The mailbox mail to this relay's postmaster is delivered to.
    pub(crate) fn postmaster_mailbox(&self) -> Mailbox {
        let configured = self.postmaster.as_deref().and_then(crate::smtp::parse_mailbox);
        configured.unwrap_or_else(|| Mailbox::new("postmaster", &self.hostname))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
        assert_eq!((cfg.limits, cfg.verify), (d.limits, d.verify), "the example shows the defaults");
        assert_eq!(cfg.auth, d.auth, "the example shows the defaults of [auth]");
        assert_eq!(cfg.delivery.data_timeout, d.delivery.data_timeout);
        assert_eq!(cfg.delivery.max_per_destination, d.delivery.max_per_destination);
        assert_eq!((cfg.delivery.mta_sts, cfg.delivery.mta_sts_port), (d.delivery.mta_sts, d.delivery.mta_sts_port));
    }

    #[test]
    fn junk_keys_are_rejected_everywhere() {
        for junk in [
            "bogus = 1\n",
            "[limits]\nbogus = 1\n",
            "[delivery]\nbogus = 1\n",
            "[verify]\nbogus = 1\n",
            "[auth]\nbogus = 1\n",
        ] {
            let text = format!("{junk}{EXAMPLE}");
            let text = if junk.starts_with('[') { format!("{EXAMPLE}\n{junk}") } else { text };
            assert!(RelayConfig::from_toml(&text).is_err(), "{junk} accepted");
        }
    }

    #[test]
    fn new_limits_and_verification_are_checked() {
        let text = "postmaster = \"not an address\"\n[limits]\nmax_sessions_per_network = 0\nmin_data_rate = 0\n\
                    max_data_memory = 1000\n[verify]\nmode = \"callout\"\nmax_probes = 0\n\
                    recipients = { \"A.Gov\" = [\"x\"] }\n[delivery]\ndata_timeout = \"1m\"\n";
        let problems = RelayConfig::from_toml(text).expect_err("invalid");
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "postmaster",
                "limits.max_sessions_per_network",
                "limits.min_data_rate",
                "limits.max_data_memory",
                "verify.max_probes",
                "verify.recipients.A.Gov",
                "delivery.data_timeout",
            ]
        );
        assert!(RelayConfig::from_toml("[verify]\nmode = \"sometimes\"\n").is_err());
        let ok = RelayConfig::from_toml("postmaster = \"duty@ops.example\"\n").expect("valid");
        assert_eq!(ok.postmaster_mailbox().to_string(), "duty@ops.example");
        assert_eq!(RelayConfig::default().postmaster_mailbox().to_string(), "postmaster@localhost");
    }

    #[test]
    fn slots_kept_for_systems_are_checked() {
        let fields = |text: &str| -> Vec<String> {
            RelayConfig::from_toml(text).expect_err("invalid").into_iter().map(|p| p.field).collect()
        };
        assert_eq!(
            fields("[limits]\nmax_sessions = 50\nreserved_for_systems = 50\nmax_sessions_per_system = 26\n"),
            ["limits.reserved_for_systems", "limits.max_sessions_per_system"]
        );
        assert_eq!(
            fields("[limits]\nmax_connection_rate_per_network = 0\nmax_sessions_per_system = 0\n"),
            ["limits.max_sessions_per_system", "limits.max_connection_rate_per_network"]
        );
        let ok = "[limits]\nmax_sessions = 20\nreserved_for_systems = 4\nmax_sessions_per_system = 2\n";
        assert_eq!(RelayConfig::from_toml(ok).expect("valid").limits.max_sessions_per_network, 10);
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
