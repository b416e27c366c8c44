//! Mail authentication (issue 28), with Stalwart's `mail-auth` crate doing the DKIM, SPF,
//! ARC and DMARC work:
//! - **outbound**: a connected system's message is DKIM-signed by the relay at acceptance,
//!   before the 250, so the spooled copy is the signed one ([`Auth::sign_outbound`]);
//! - **inbound**: a message from outside is checked (SPF, DKIM, ARC, DMARC), our
//!   `Authentication-Results` header replaces any claiming our name, and [`decide`] says
//!   whether it is delivered, held, deferred or refused ([`Auth::check_inbound`]);
//! - per-domain [`counters`] for the duty team; [`Auth::explain`] for `mail explain`.
//!
//! Files: `config` (`[auth]`), `keys` (key files, keygen, rotation, listing), `sign`
//! (signers), `dns` (resolver, caches, void-lookup count), `check` (the checks),
//! `decide` (the rule, pure), `results` (our results header), `counters`, `explain`.
//! Must not: make a bounce for a refused message (no backscatter), pass a message whose
//! check failed for want of DNS, or sign for a domain the sending system does not own.

pub mod check;
pub mod config;
pub mod counters;
pub mod decide;
pub mod dns;
mod explain;
pub mod keys;
pub mod reports;
pub mod results;
pub mod sign;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use mail_auth::MessageAuthenticator;
use time::OffsetDateTime;

pub use check::{Check, Findings, Res};
pub use config::{AuthConfig, DomainOverride, Mode};
pub use counters::{DomainCounts, Event};
pub use decide::{Action, Decision};
pub use explain::{Explanation, Signing};
pub use keys::{Algorithm, DomainKeys, KeyError, KeyInfo, KeyState, Rotation};

use crate::envelope::Envelope;
use crate::registry::{MailSystem, Registry};

/// The mail-authentication engine of one relay.
pub struct Auth {
    cfg: AuthConfig,
    authserv_id: String,
    keys_dir: PathBuf,
    signers: ArcSwap<sign::Signers>,
    /// Absent when no inbound check is on.
    dns: Option<MessageAuthenticator>,
    caches: dns::Caches,
    counters: counters::Counters,
    dmarc_log: reports::DmarcLog,
}

/// A message from outside after the checks: the content to spool (results header on
/// top) and what to do with it.
pub struct Inbound {
    pub body: Bytes,
    pub decision: Decision,
}

impl Auth {
    /// Loads the keys and builds the resolver. `hostname` is the default authserv-id;
    /// a relative `keys_dir` is taken under `base` when given. Keys that cannot be used
    /// are returned as problems (their domains stay unsigned), not as an error.
    pub fn new(cfg: AuthConfig, hostname: &str, base: Option<&Path>) -> Result<(Auth, Vec<KeyError>), String> {
        let keys_dir = match base {
            Some(base) if cfg.keys_dir.is_relative() => base.join(&cfg.keys_dir),
            _ => cfg.keys_dir.clone(),
        };
        let (signers, problems) = sign::Signers::load(&keys_dir);
        let dns = match cfg.checks_inbound() && !cfg.resolvers.is_empty() {
            true => Some(dns::authenticator(&cfg.resolvers, cfg.dns_timeout)?),
            false => None,
        };
        let authserv_id = cfg.authserv_id.clone().unwrap_or_else(|| hostname.to_ascii_lowercase());
        let auth = Auth {
            cfg,
            authserv_id,
            keys_dir,
            signers: ArcSwap::from_pointee(signers),
            dns,
            caches: dns::Caches::default(),
            counters: counters::Counters::default(),
            dmarc_log: reports::DmarcLog::default(),
        };
        Ok((auth, problems))
    }

    /// Reads the key directory again (after `keygen` or `rotate`); keys that cannot be
    /// used are returned and left out.
    pub fn reload_keys(&self) -> Vec<KeyError> {
        let (signers, problems) = sign::Signers::load(&self.keys_dir);
        self.signers.store(Arc::new(signers));
        problems
    }

    /// The key directory in use.
    pub fn keys_dir(&self) -> &Path {
        &self.keys_dir
    }

    /// Our authserv-id.
    pub fn authserv_id(&self) -> &str {
        &self.authserv_id
    }

    pub fn config(&self) -> &AuthConfig {
        &self.cfg
    }

    /// The message of `system` signed by the key of its domain that signs now (the
    /// signature on top), or as it was when that domain has no key or signing is off for
    /// it. Counted under the domain either way.
    pub fn sign_outbound(&self, system: &MailSystem, envelope: &Envelope, body: &Bytes) -> Bytes {
        let from = from_domain(body);
        let sender = envelope.sender.as_ref().map(|s| s.domain());
        let Some(domain) = sign::signing_domain(&system.domains, from.as_deref(), sender) else {
            return body.clone();
        };
        if !self.cfg.signs(domain) {
            return body.clone();
        }
        match self.signers.load().sign(domain, body, OffsetDateTime::now_utc()) {
            Some(Ok(signed)) => {
                self.counters.count(Some(domain), true, Event::Signed);
                results::prepend(&signed.header, body)
            }
            Some(Err(e)) => {
                tracing::warn!(domain, error = %e, "DKIM signing failed; the message leaves unsigned");
                self.counters.count(Some(domain), true, Event::Unsigned);
                body.clone()
            }
            None => {
                self.counters.count(Some(domain), true, Event::Unsigned);
                body.clone()
            }
        }
    }

    /// Checks a message from outside and decides; counts the decision.
    pub async fn check_inbound(&self, registry: &Registry, envelope: &Envelope, body: &Bytes) -> Inbound {
        let sender = envelope.sender.as_ref().map(ToString::to_string).unwrap_or_default();
        let input = check::Input { ip: envelope.client_ip, helo: &envelope.helo, sender: &sender, message: body };
        let (decision, header) = match self.evaluate(registry, &input).await {
            Ok(checked) => {
                let decision = decide::decide(&checked.findings, &self.cfg, |d| owned_domain(registry, d));
                self.log_for_report(registry, &checked, &decision);
                (decision, checked.header)
            }
            Err(decision) => (decision, String::new()),
        };
        let event = match decision.action {
            Action::Deliver => Event::Delivered,
            Action::Hold => Event::Held,
            Action::Defer { .. } => Event::Deferred,
            Action::Refuse { .. } => Event::Refused,
        };
        self.counters.count(decision.domain.as_deref(), decision.ours, event);
        let body = match decision.action {
            Action::Deliver | Action::Hold => {
                let (stripped, _) = results::strip_claims(body, &self.authserv_id);
                results::prepend(&header, &stripped)
            }
            _ => body.clone(),
        };
        Inbound { body, decision }
    }

    /// Keeps the DMARC report row of a message whose `From` is one of our domains.
    fn log_for_report(&self, registry: &Registry, checked: &check::Checked, decision: &Decision) {
        let Some(row) = &checked.row else { return };
        let Some(domain) = checked.findings.from_domains.first().and_then(|d| owned_domain(registry, d)) else {
            return;
        };
        use mail_auth::report::ActionDisposition as D;
        let did = match decision.action {
            Action::Deliver => D::Pass,
            Action::Hold => D::Quarantine,
            Action::Refuse { .. } => D::Reject,
            Action::Defer { .. } => return,
        };
        let row = reports::Row { record: row.record.clone(), rua: row.rua.clone(), policy: row.policy };
        self.dmarc_log.add(domain, row, did, OffsetDateTime::now_utc());
    }

    /// The DMARC aggregate report of our `domain` since its last one (then rows start
    /// afresh), by this relay (`email`: its contact address); `None` when nothing was seen.
    pub fn dmarc_report(&self, domain: &str, email: &str) -> Option<reports::AggregateReport> {
        self.dmarc_log.take(domain, &self.authserv_id, email, OffsetDateTime::now_utc())
    }

    /// Our domains with DMARC report rows waiting.
    pub fn dmarc_report_domains(&self) -> Vec<String> {
        self.dmarc_log.domains()
    }

    /// Runs the checks within `check_timeout` (only the `From` domains when there is no
    /// resolver); the findings and the results header, or a deferral when time ran out.
    async fn evaluate(&self, registry: &Registry, input: &check::Input<'_>) -> Result<check::Checked, Decision> {
        let Some(resolver) = &self.dns else {
            return Ok(check::without_dns(&self.authserv_id, input));
        };
        let ours = |d: &str| owned_domain(registry, d).is_some();
        let wanted = |d: &str| self.cfg.dmarc_for(d) != Mode::Off || (ours(d) && self.cfg.anti_spoofing);
        let run = check::run(resolver, &self.caches, &self.cfg, &self.authserv_id, input, wanted);
        tokio::time::timeout(self.cfg.check_timeout, run).await.map_err(|_| {
            let reason = format!("the checks took longer than {:?}; try again later", self.cfg.check_timeout);
            let action = Action::Defer { code: 451, enhanced: (4, 4, 3) };
            Decision { action, reason, domain: None, ours: false }
        })
    }

    /// The counters per domain since start.
    pub fn counters(&self) -> Vec<(String, DomainCounts)> {
        self.counters.snapshot()
    }

    /// True when `domain` has a key that signs now.
    pub fn has_key(&self, domain: &str) -> bool {
        self.signers.load().has_key(domain, OffsetDateTime::now_utc())
    }
}

/// The registered domain `d` is in (itself or a parent), if any.
pub fn owned_domain<'r>(registry: &'r Registry, d: &str) -> Option<&'r str> {
    let mut name = d;
    loop {
        if let Some(sys) = registry.by_domain(name) {
            return sys.domains.iter().find(|own| own.as_str() == name).map(String::as_str);
        }
        name = name.split_once('.')?.1;
    }
}

/// The domain of the first `From` address of a message, lower-case.
pub fn from_domain(message: &[u8]) -> Option<String> {
    let parsed = mail_auth::AuthenticatedMessage::parse(message)?;
    let addr = parsed.from.first()?;
    addr.rsplit_once('@').map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
}

/// The connecting address and names a check is about (for [`Auth::explain`]).
pub struct Probe<'a> {
    pub from: &'a str,
    pub ip: IpAddr,
    pub helo: &'a str,
    pub message: Option<&'a [u8]>,
}
