//! [`AuthConfig`]: the mail-authentication settings (`[relay.auth]` in the binary's config,
//! `[auth]` of the relay's own TOML): the DNS resolver the checks use, the mode of each
//! check, DKIM signing and its key directory, the anti-spoofing rule and per-domain
//! overrides. Every field has a named default; unknown keys are refused; [`AuthConfig::check`]
//! reports every problem. Must not: read keys or ask DNS (that happens at start).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;

/// What a check does with its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Not run, not reported.
    Off,
    /// Run and reported in `Authentication-Results`; never refuses or holds by itself.
    Report,
    /// Run, reported, and acted on (see each check).
    Enforce,
}

/// Overrides for one domain (ours or an outside one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DomainOverride {
    /// Sign this (registered) domain's outbound mail (default: `sign`).
    pub sign: Option<bool>,
    /// Refuse mail from outside in this (registered) domain's name unless it passes DMARC
    /// (default: `anti_spoofing`).
    pub anti_spoofing: Option<bool>,
    /// DMARC for mail from this domain (default: `dmarc`).
    pub dmarc: Option<Mode>,
}

/// Mail authentication settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Name servers the checks ask, tried in order: resolvers the duty team trusts (for
    /// DANE, one that validates DNSSEC). Default none: no check that needs DNS runs (SPF,
    /// DKIM, ARC, DMARC; the results header says `none`), and mail from outside in the
    /// name of one of our domains is refused all the same (it cannot pass DMARC).
    pub resolvers: Vec<SocketAddr>,
    /// Longest wait for one DNS answer (default `5s`); a lookup that times out is a
    /// temporary failure (the sender is answered 451 and retries), never a pass.
    #[serde(with = "duration::one")]
    pub dns_timeout: Duration,
    /// Longest time all checks of one message may take together (default `30s`); past it
    /// the message gets 451 4.4.3.
    #[serde(with = "duration::one")]
    pub check_timeout: Duration,
    /// The authserv-id of our `Authentication-Results` headers (default: the relay's
    /// hostname). Such headers from outside that claim it are removed.
    pub authserv_id: Option<String>,
    /// DKIM-sign connected systems' outbound mail (default true) with the key of the
    /// domain in `From` (or of the envelope sender) that is active now.
    pub sign: bool,
    /// Where the DKIM keys are kept, one directory per domain (default `dkim`; relative to
    /// the working directory, or to `data_dir` when `perimeter up` runs the relay).
    pub keys_dir: PathBuf,
    /// SPF of the connecting address for the envelope sender (or the HELO name for `<>`):
    /// `report` (default) or `enforce` (an SPF `fail` is refused with 550 5.7.23 even
    /// without DMARC), or `off`.
    pub spf: Mode,
    /// DKIM signatures of mail from outside: `report` (default) or `off`.
    pub dkim: Mode,
    /// ARC chains of mail from outside: `report` (default) or `off`.
    pub arc: Mode,
    /// DMARC of the `From` domain: `enforce` (default: outside domains' `reject` → 550
    /// 5.7.1, `quarantine` → held, `none` → delivered), `report` or `off`.
    pub dmarc: Mode,
    /// Mail from outside whose `From` or envelope sender is in a domain of a connected
    /// system is refused (550 5.7.1) unless it passes DMARC for that domain (default true).
    pub anti_spoofing: bool,
    /// Per-domain overrides, by lower-case domain name.
    pub domains: BTreeMap<String, DomainOverride>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            resolvers: Vec::new(),
            dns_timeout: Duration::from_secs(5),
            check_timeout: Duration::from_secs(30),
            authserv_id: None,
            sign: true,
            keys_dir: PathBuf::from("dkim"),
            spf: Mode::Report,
            dkim: Mode::Report,
            arc: Mode::Report,
            dmarc: Mode::Enforce,
            anti_spoofing: true,
            domains: BTreeMap::new(),
        }
    }
}

impl AuthConfig {
    /// Reports each problem through `bad(field, problem)`.
    pub fn check(&self, bad: &mut impl FnMut(&str, &str)) {
        if self.dns_timeout.is_zero() || self.dns_timeout > Duration::from_secs(60) {
            bad("auth.dns_timeout", "must be between 1ms and 60s");
        }
        if self.check_timeout < self.dns_timeout {
            bad("auth.check_timeout", "must be at least dns_timeout");
        }
        if self.authserv_id.as_deref().is_some_and(|id| !crate::smtp::is_domain(id)) {
            bad("auth.authserv_id", "must be a domain name");
        }
        if self.dkim == Mode::Enforce {
            bad("auth.dkim", "off or report: DKIM results are enforced through DMARC");
        }
        if self.arc == Mode::Enforce {
            bad("auth.arc", "off or report: ARC results are reported, not enforced");
        }
        let needs_inputs = self.dmarc != Mode::Off || self.anti_spoofing;
        if needs_inputs && (self.spf == Mode::Off || self.dkim == Mode::Off) {
            bad("auth.spf", "DMARC and anti-spoofing need SPF and DKIM: set both to report or enforce");
        }
        for (domain, o) in &self.domains {
            if domain.to_ascii_lowercase() != *domain || !crate::smtp::is_domain(domain) {
                bad(&format!("auth.domains.{domain}"), "must be a lower-case domain name");
            }
            if o.dmarc == Some(Mode::Enforce) && self.spf == Mode::Off {
                bad(&format!("auth.domains.{domain}.dmarc"), "DMARC needs SPF and DKIM");
            }
        }
    }

    /// Whether `domain`'s outbound mail is signed.
    pub fn signs(&self, domain: &str) -> bool {
        self.domains.get(domain).and_then(|o| o.sign).unwrap_or(self.sign)
    }

    /// Whether mail from outside in `domain`'s name (one of ours) must pass DMARC.
    pub fn guards(&self, domain: &str) -> bool {
        self.domains.get(domain).and_then(|o| o.anti_spoofing).unwrap_or(self.anti_spoofing)
    }

    /// The DMARC mode for mail whose `From` is in `domain`.
    pub fn dmarc_for(&self, domain: &str) -> Mode {
        self.domains.get(domain).and_then(|o| o.dmarc).unwrap_or(self.dmarc)
    }

    /// True when any inbound check runs.
    pub fn checks_inbound(&self) -> bool {
        self.anti_spoofing
            || [self.spf, self.dkim, self.arc, self.dmarc].iter().any(|m| *m != Mode::Off)
            || self.domains.values().any(|o| o.anti_spoofing == Some(true) || o.dmarc.is_some_and(|m| m != Mode::Off))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(cfg: &AuthConfig) -> Vec<String> {
        let mut out = Vec::new();
        cfg.check(&mut |f: &str, _: &str| out.push(f.to_string()));
        out
    }

    #[test]
    fn defaults_are_valid_and_overrides_apply() {
        let d = AuthConfig::default();
        assert!(problems(&d).is_empty());
        assert!(d.signs("a.gov.test") && d.guards("a.gov.test"));
        assert_eq!(d.dmarc_for("x.example"), Mode::Enforce);
        let text = "anti_spoofing = true\n[domains.\"a.gov.test\"]\nsign = false\nanti_spoofing = false\n\
                    [domains.\"x.example\"]\ndmarc = \"report\"\n";
        let cfg: AuthConfig = toml::from_str(text).expect("parses");
        assert!(!cfg.signs("a.gov.test") && !cfg.guards("a.gov.test") && cfg.guards("b.gov.test"));
        assert_eq!(cfg.dmarc_for("x.example"), Mode::Report);
    }

    #[test]
    fn every_problem_is_named() {
        let text = "dns_timeout = \"0s\"\nauthserv_id = \"not a name\"\ndkim = \"enforce\"\nspf = \"off\"\n\
                    [domains.\"A.Gov\"]\nsign = true\n";
        let cfg: AuthConfig = toml::from_str(text).expect("parses");
        assert_eq!(
            problems(&cfg),
            ["auth.dns_timeout", "auth.authserv_id", "auth.dkim", "auth.spf", "auth.domains.A.Gov"]
        );
        assert!(toml::from_str::<AuthConfig>("bogus = 1\n").is_err());
        assert!(toml::from_str::<AuthConfig>("[domains.\"a.test\"]\nbogus = 1\n").is_err());
        assert!(toml::from_str::<AuthConfig>("dmarc = \"sometimes\"\n").is_err());
    }
}
