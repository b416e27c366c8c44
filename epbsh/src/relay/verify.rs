//! Recipient verification for mail from outside to a connected system: a recipient the
//! system's server would refuse is refused in the SMTP dialogue (550 5.1.1), so that the
//! relay never takes mail it would later have to bounce to an unauthenticated sender.
//!
//! A domain with a configured list ([`VerifyConfig::recipients`]) is checked against the
//! list only; otherwise, in `callout` mode, the system's inbound server is asked with an
//! RCPT probe (null sender, then RSET), whose answer is remembered for a while (found and
//! not-found each for their own time). A probe that gets no answer (server down, 4xx,
//! timeout, too many probes at once) counts as unavailable: 450 4.1.1 by default, so the
//! sender keeps the mail and retries. `postmaster@` is never checked (RFC 5321 §4.5.1).
//! Must not: verify recipients of connected systems' own outbound mail (their senders are
//! known and get DSNs), or remember an unavailable answer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::delivery::{Probe, Shared};
use crate::duration;
use crate::envelope::Mailbox;
use crate::metrics::bump;
use crate::registry::MailSystem;
use crate::smtp::Verdict;

/// Answers remembered at most; when full, expired ones go first, then all.
const MAX_REMEMBERED: usize = 20_000;

/// How recipients are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyMode {
    /// The configured lists, else an RCPT probe to the system's server.
    Callout,
    /// The configured lists only; a domain without one takes any recipient.
    List,
    /// No verification.
    Off,
}

/// What a sender gets when a probe gives no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unavailable {
    /// 450 4.1.1: the sender keeps the message and retries.
    Defer,
    /// 250: the relay takes it; a later failure is logged, not bounced.
    Accept,
}

/// Recipient verification settings (`[verify]` of the relay's TOML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyConfig {
    /// `callout` (default), `list` or `off`.
    pub mode: VerifyMode,
    /// Longest probe: connection, greeting and replies (default `10s`).
    #[serde(with = "duration::one")]
    pub timeout: Duration,
    /// How long "the recipient exists" is remembered (default `1h`).
    #[serde(with = "duration::one")]
    pub cache_valid: Duration,
    /// How long "no such recipient" is remembered (default `10m`).
    #[serde(with = "duration::one")]
    pub cache_invalid: Duration,
    /// `defer` (default) or `accept`, when a probe gets no answer.
    pub unavailable: Unavailable,
    /// Most probes at once (default 20); more count as unavailable.
    pub max_probes: usize,
    /// Valid local parts per registered domain (compared without case); a listed domain
    /// is checked against its list only, never probed.
    pub recipients: BTreeMap<String, Vec<String>>,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            mode: VerifyMode::Callout,
            timeout: Duration::from_secs(10),
            cache_valid: Duration::from_secs(3600),
            cache_invalid: Duration::from_secs(600),
            unavailable: Unavailable::Defer,
            max_probes: 20,
            recipients: BTreeMap::new(),
        }
    }
}

impl VerifyConfig {
    /// Reports every problem through `bad(field, problem)`.
    pub(crate) fn check(&self, bad: &mut impl FnMut(&str, &str)) {
        if self.timeout.is_zero() {
            bad("verify.timeout", "must be more than 0s");
        }
        if self.max_probes == 0 {
            bad("verify.max_probes", "must be at least 1");
        }
        for domain in self.recipients.keys() {
            if !crate::smtp::is_domain(domain) || *domain != domain.to_ascii_lowercase() {
                bad(&format!("verify.recipients.{domain}"), "key must be a lower-case domain");
            }
        }
    }
}

/// The verifier the relay policy asks.
pub(crate) struct Verifier {
    cfg: VerifyConfig,
    lists: HashMap<String, HashSet<String>>,
    remembered: Mutex<HashMap<Mailbox, (bool, Instant)>>,
    probes: Semaphore,
    /// The delivery side the probes go through; none: every probe is unavailable.
    delivery: Option<Arc<Shared>>,
}

impl Verifier {
    pub fn new(cfg: VerifyConfig, delivery: Option<Arc<Shared>>) -> Verifier {
        let lists = cfg
            .recipients
            .iter()
            .map(|(d, locals)| (d.clone(), locals.iter().map(|l| l.to_ascii_lowercase()).collect()))
            .collect();
        let probes = Semaphore::new(cfg.max_probes);
        Verifier { cfg, lists, remembered: Mutex::new(HashMap::new()), probes, delivery }
    }

    /// The verdict on `rcpt`, a recipient in a domain of `system`, from an outside sender.
    pub async fn check(&self, rcpt: &Mailbox, system: &MailSystem) -> Verdict {
        if crate::smtp::is_postmaster(rcpt, rcpt.domain()) || self.cfg.mode == VerifyMode::Off {
            return Verdict::Accept;
        }
        if let Some(list) = self.lists.get(rcpt.domain()) {
            return verdict(rcpt, list.contains(&rcpt.local().to_ascii_lowercase()));
        }
        let Some(target) = system.inbound_target().filter(|_| self.cfg.mode == VerifyMode::Callout) else {
            return Verdict::Accept;
        };
        if let Some(known) = self.recall(rcpt) {
            return verdict(rcpt, known);
        }
        match self.probe(target, rcpt).await {
            Probe::Valid => self.remember(rcpt, true),
            Probe::Invalid(reply) => {
                tracing::info!(%rcpt, system = %system.name, %reply, "recipient refused by the system's server");
                self.remember(rcpt, false)
            }
            Probe::Unavailable(why) => {
                tracing::info!(%rcpt, system = %system.name, %why, "recipient could not be verified");
                self.unavailable(rcpt)
            }
        }
    }

    async fn probe(&self, target: SocketAddr, rcpt: &Mailbox) -> Probe {
        let Some(delivery) = &self.delivery else {
            return Probe::Unavailable("no delivery agent to probe with".into());
        };
        let Ok(_permit) = self.probes.try_acquire() else {
            return Probe::Unavailable("too many verification probes at once".into());
        };
        bump(&delivery.metrics.verify_probes);
        match tokio::time::timeout(self.cfg.timeout, delivery.probe(target, rcpt)).await {
            Ok(p) => p,
            Err(_) => Probe::Unavailable(format!("no answer from {target} within {:?}", self.cfg.timeout)),
        }
    }

    fn unavailable(&self, rcpt: &Mailbox) -> Verdict {
        match self.cfg.unavailable {
            Unavailable::Accept => Verdict::Accept,
            Unavailable::Defer => {
                Verdict::temp_fail(450, (4, 1, 1), format!("<{rcpt}>: recipient not verified now; try again later"))
            }
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<Mailbox, (bool, Instant)>> {
        self.remembered.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn recall(&self, rcpt: &Mailbox) -> Option<bool> {
        self.table().get(rcpt).filter(|(_, until)| *until > Instant::now()).map(|(known, _)| *known)
    }

    fn remember(&self, rcpt: &Mailbox, known: bool) -> Verdict {
        let now = Instant::now();
        let until = now + if known { self.cfg.cache_valid } else { self.cfg.cache_invalid };
        let mut table = self.table();
        if table.len() >= MAX_REMEMBERED {
            table.retain(|_, (_, t)| *t > now);
            if table.len() >= MAX_REMEMBERED {
                table.clear();
            }
        }
        table.insert(rcpt.clone(), (known, until));
        verdict(rcpt, known)
    }
}

fn verdict(rcpt: &Mailbox, known: bool) -> Verdict {
    match known {
        true => Verdict::Accept,
        false => Verdict::reject(550, (5, 1, 1), format!("<{rcpt}>: recipient address unknown")),
    }
}
