//! [`Auth::explain`]: what the relay would do with a message from an address at a
//! connecting IP (`perimeter mail explain --from ADDR --ip ADDR [--message FILE]`): for a
//! connected system's server, whether and with which key it is signed; for anyone else,
//! every check's result and the decision, from the same code the relay runs. It asks DNS
//! like a real message would, and counts nothing.
//!
//! Must not: spool, deliver or count anything.

use serde::Serialize;
use time::OffsetDateTime;

use super::check::{self, Findings};
use super::decide::{Action, Decision};
use super::{Auth, Probe, from_domain, sign};
use crate::registry::Registry;

/// How an outbound message would be signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signing {
    /// The domain whose key would sign (`None`: the sender is not one of the system's).
    pub domain: Option<String>,
    /// The selector of the key that signs now (`None`: no key, or signing off).
    pub selector: Option<String>,
    pub note: String,
}

/// What the relay would do, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The connected system whose server the IP is (outbound mail), if any.
    pub system: Option<String>,
    pub signing: Option<Signing>,
    pub findings: Option<Findings>,
    pub decision: Option<Decision>,
    /// The header the relay would add (inbound).
    pub authentication_results: Option<String>,
    /// One sentence: the outcome.
    pub summary: String,
}

impl Auth {
    /// Explains what the relay would do (see the module doc).
    pub async fn explain(&self, registry: &Registry, probe: &Probe<'_>) -> Explanation {
        let made;
        let message = match probe.message {
            Some(m) => m,
            None => {
                made = format!("From: <{}>\r\nSubject: explain\r\n\r\n.\r\n", probe.from).into_bytes();
                &made
            }
        };
        if let Some(sys) = registry.by_server(probe.ip) {
            let signing = self.explain_signing(&sys.domains, probe.from, message);
            let summary = match (&signing.domain, &signing.selector) {
                (None, _) => format!("refused: {} is not a domain of system {}", domain_of(probe.from), sys.name),
                (Some(d), Some(s)) => format!("accepted from system {} and signed by {d} (selector {s})", sys.name),
                (Some(_), None) => format!("accepted from system {} and sent unsigned: {}", sys.name, signing.note),
            };
            return Explanation {
                system: Some(sys.name.clone()),
                signing: Some(signing),
                findings: None,
                decision: None,
                authentication_results: None,
                summary,
            };
        }
        let input = check::Input { ip: probe.ip, helo: probe.helo, sender: probe.from, message };
        let ours = |d: &str| super::owned_domain(registry, d);
        let (findings, header) = match self.evaluate(registry, &input).await {
            Ok(found) => (found.findings, found.header),
            Err(decision) => {
                let summary = decision.reason.clone();
                return Explanation {
                    system: None,
                    signing: None,
                    findings: None,
                    decision: Some(decision),
                    authentication_results: None,
                    summary,
                };
            }
        };
        let decision = super::decide::decide(&findings, &self.cfg, ours);
        let summary = match &decision.action {
            Action::Deliver => format!("delivered ({})", decision.reason),
            Action::Hold => format!("held for the recipient system's owner ({})", decision.reason),
            Action::Refuse { code, enhanced: (a, b, c) } => format!("refused {code} {a}.{b}.{c}: {}", decision.reason),
            Action::Defer { code, enhanced: (a, b, c) } => format!("deferred {code} {a}.{b}.{c}: {}", decision.reason),
        };
        Explanation {
            system: None,
            signing: None,
            findings: Some(findings),
            decision: Some(decision),
            authentication_results: Some(header),
            summary,
        }
    }

    fn explain_signing(&self, domains: &[String], from: &str, message: &[u8]) -> Signing {
        let header_from = from_domain(message);
        let sender = Some(domain_of(from));
        let Some(domain) = sign::signing_domain(domains, header_from.as_deref(), sender) else {
            return Signing { domain: None, selector: None, note: "not one of the system's domains".into() };
        };
        if !self.cfg.signs(domain) {
            let note = format!("signing is off for {domain}");
            return Signing { domain: Some(domain.into()), selector: None, note };
        }
        let signers = self.signers.load();
        match signers.sign(domain, message, OffsetDateTime::now_utc()) {
            Some(Ok(s)) => Signing { domain: Some(domain.into()), selector: Some(s.selector), note: "signed".into() },
            Some(Err(e)) => {
                Signing { domain: Some(domain.into()), selector: None, note: format!("signing failed: {e}") }
            }
            None => {
                let note = format!("{domain} has no key that signs now (perimeter mail dkim keygen {domain})");
                Signing { domain: Some(domain.into()), selector: None, note }
            }
        }
    }
}

fn domain_of(addr: &str) -> &str {
    addr.rsplit_once('@').map_or(addr, |(_, d)| d)
}
