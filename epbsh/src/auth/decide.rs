//! What the relay does with a message from outside, given what the checks found: a pure
//! function of the [`Findings`], which domains are ours and the config.
//!
//! In order:
//! 1. a `From` or envelope-sender domain of a connected system (anti-spoofing on): the
//!    message must pass DMARC for that `From` domain (for the envelope sender: SPF for it,
//!    or a DKIM signature of it) — else 550 5.7.1; a DNS failure on the way → 451 4.4.3;
//! 2. SPF in `enforce` mode: `fail` → 550 5.7.23; temperror → 451 4.4.3;
//! 3. DMARC of an outside `From` domain in `enforce` mode: a failing message gets what
//!    the domain's record asks — `reject` → 550 5.7.1, `quarantine` → held, `none` →
//!    delivered; temperror → 451 4.4.3;
//! 4. otherwise delivered, with the results header.
//!
//! Must not: do I/O; make a bounce (a refusal is an SMTP reply to the connected client).

use super::check::{Asked, Findings, Res, within};
use super::config::{AuthConfig, Mode};

/// What happens to the message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// Delivered, with the `Authentication-Results` header.
    Deliver,
    /// Spooled and held for the recipient system's owner to release (DMARC quarantine).
    Hold,
    /// Refused at the end of DATA with this permanent reply.
    Refuse { code: u16, enhanced: (u8, u16, u16) },
    /// Refused for now (4xx): the sender retries.
    Defer { code: u16, enhanced: (u8, u16, u16) },
}

/// The action, why, and the domain it is counted under.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    #[serde(flatten)]
    pub action: Action,
    pub reason: String,
    /// Ours (anti-spoofing) or the `From` domain; `None` when the message had none.
    pub domain: Option<String>,
    /// True when `domain` is a domain of a connected system.
    pub ours: bool,
}

fn refuse(reason: String, domain: &str, ours: bool) -> Decision {
    Decision { action: Action::Refuse { code: 550, enhanced: (5, 7, 1) }, reason, domain: Some(domain.into()), ours }
}

fn defer(reason: String, domain: &str, ours: bool) -> Decision {
    Decision { action: Action::Defer { code: 451, enhanced: (4, 4, 3) }, reason, domain: Some(domain.into()), ours }
}

/// Decides; `ours(d)` gives the registered domain `d` is in (itself or a parent), if any.
pub fn decide<'a>(f: &Findings, cfg: &AuthConfig, ours: impl Fn(&str) -> Option<&'a str>) -> Decision {
    if let Some(d) = spoofing(f, cfg, &ours) {
        return d;
    }
    let from = f.from_domains.first().cloned();
    let from_ours = from.as_deref().and_then(&ours).is_some();
    if cfg.spf == Mode::Enforce
        && let Some(spf) = &f.spf
    {
        let domain = spf.domain.clone();
        match spf.result {
            Res::Fail => {
                let reason = format!("SPF fail: {} does not allow this address to send for it", domain);
                return Decision {
                    action: Action::Refuse { code: 550, enhanced: (5, 7, 23) },
                    reason,
                    domain: Some(domain),
                    ours: false,
                };
            }
            Res::TempError => return defer(format!("SPF of {domain}: DNS failed; try again later"), &domain, false),
            _ => {}
        }
    }
    if let (Some(from), Some(dmarc)) = (&from, &f.dmarc)
        && !from_ours
        && cfg.dmarc_for(from) == Mode::Enforce
    {
        match (dmarc.result, f.dmarc_policy) {
            (Res::TempError, _) => {
                return defer(format!("DMARC of {from}: DNS failed; try again later"), from, false);
            }
            (Res::Fail | Res::PermError, Some(Asked::Reject)) => {
                return refuse(format!("DMARC fail for {from}, whose policy is reject"), from, false);
            }
            (Res::Fail | Res::PermError, Some(Asked::Quarantine)) => {
                let reason = format!("DMARC fail for {from}, whose policy is quarantine: held");
                return Decision { action: Action::Hold, reason, domain: Some(from.clone()), ours: false };
            }
            _ => {}
        }
    }
    let reason = match &f.dmarc {
        Some(d) => format!("DMARC {} for {}", d.result, d.domain),
        None => "no DMARC evaluation".into(),
    };
    Decision { action: Action::Deliver, reason, domain: from, ours: from_ours }
}

/// The anti-spoofing rule: a domain of ours in `From` or the envelope sender.
fn spoofing<'a>(f: &Findings, cfg: &AuthConfig, ours: &impl Fn(&str) -> Option<&'a str>) -> Option<Decision> {
    let guarded = |d: &str| ours(d).filter(|own| cfg.guards(own));
    for (i, from) in f.from_domains.iter().enumerate() {
        let Some(own) = guarded(from) else { continue };
        if i > 0 || f.from_domains.len() > 1 {
            return Some(refuse(
                format!("several From domains, one of them {own}, a domain of a connected system"),
                own,
                true,
            ));
        }
        match f.dmarc.as_ref().filter(|d| d.domain == *from).map(|d| d.result) {
            Some(Res::Pass) => {}
            Some(Res::TempError) => {
                return Some(defer(format!("DMARC of {from}: DNS failed; try again later"), own, true));
            }
            other => {
                let got = other.map_or("not evaluated".to_string(), |r| r.to_string());
                let reason = format!(
                    "From {from} is a domain of a connected system; from outside it must pass DMARC (got {got})"
                );
                return Some(refuse(reason, own, true));
            }
        }
    }
    let sender = f.mail_from.as_deref()?;
    let own = guarded(sender)?;
    let spf = f.spf.as_ref().filter(|s| s.domain == sender).map(|s| s.result);
    if spf == Some(Res::Pass)
        || f.dkim_pass_for(sender)
        || f.from_domains
            .iter()
            .any(|d| within(sender, d) && f.dmarc.as_ref().is_some_and(|m| m.result == Res::Pass && m.domain == *d))
    {
        return None;
    }
    if spf == Some(Res::TempError) {
        return Some(defer(format!("SPF of {sender}: DNS failed; try again later"), own, true));
    }
    let got = spf.map_or("not evaluated".to_string(), |r| r.to_string());
    let reason = format!(
        "envelope sender domain {sender} is a domain of a connected system; from outside it must pass SPF or carry its DKIM signature (SPF {got})"
    );
    Some(refuse(reason, own, true))
}

#[cfg(test)]
mod tests {
    use super::super::check::Check;
    use super::*;

    fn check(result: Res, domain: &str) -> Check {
        Check { result, domain: domain.into(), detail: String::new() }
    }

    fn ours(d: &str) -> Option<&'static str> {
        ["minfin.gov.test", "edu.gov.test"].into_iter().find(|own| within(d, own))
    }

    fn findings(from: &str, sender: &str, spf: Res, dmarc: Option<(Res, Asked)>) -> Findings {
        Findings {
            from_domains: vec![from.into()],
            mail_from: Some(sender.into()),
            spf: Some(check(spf, sender)),
            dmarc: dmarc.map(|(r, _)| check(r, from)),
            dmarc_policy: dmarc.map(|(_, p)| p),
            ..Findings::default()
        }
    }

    fn act(f: &Findings, cfg: &AuthConfig) -> Action {
        decide(f, cfg, ours).action
    }

    const REFUSE: Action = Action::Refuse { code: 550, enhanced: (5, 7, 1) };
    const DEFER: Action = Action::Defer { code: 451, enhanced: (4, 4, 3) };

    #[test]
    fn our_domains_from_outside_must_pass_dmarc() {
        let cfg = AuthConfig::default();
        let forged = findings("minfin.gov.test", "x@bad.example", Res::Pass, Some((Res::Fail, Asked::None)));
        let d = decide(&forged, &cfg, ours);
        assert_eq!((d.action, d.domain.as_deref(), d.ours), (REFUSE, Some("minfin.gov.test"), true));
        let no_record = findings("mail.minfin.gov.test", "x@bad.example", Res::Pass, Some((Res::None, Asked::None)));
        assert_eq!(act(&no_record, &cfg), REFUSE, "no DMARC record is no pass");
        let passing = findings("minfin.gov.test", "minfin.gov.test", Res::Pass, Some((Res::Pass, Asked::Reject)));
        assert_eq!(act(&passing, &cfg), Action::Deliver);
        let dns_down = findings("minfin.gov.test", "bad.example", Res::Pass, Some((Res::TempError, Asked::Reject)));
        assert_eq!(act(&dns_down, &cfg), DEFER, "a DNS failure is never a pass");
        let mut off = cfg.clone();
        off.domains.insert(
            "minfin.gov.test".into(),
            super::super::config::DomainOverride { anti_spoofing: Some(false), ..Default::default() },
        );
        assert_eq!(act(&forged, &off), Action::Deliver, "per-domain override");
    }

    #[test]
    fn our_envelope_sender_from_outside_needs_spf_or_its_signature() {
        let cfg = AuthConfig::default();
        let forged = findings("news.example", "edu.gov.test", Res::Fail, None);
        assert_eq!(act(&forged, &cfg), REFUSE);
        let authorised = findings("news.example", "edu.gov.test", Res::Pass, None);
        assert_eq!(act(&authorised, &cfg), Action::Deliver);
        let mut signed = findings("news.example", "edu.gov.test", Res::SoftFail, None);
        signed.dkim.push(check(Res::Pass, "edu.gov.test"));
        assert_eq!(act(&signed, &cfg), Action::Deliver);
        let later = findings("news.example", "edu.gov.test", Res::TempError, None);
        assert_eq!(act(&later, &cfg), DEFER);
        let mut two_froms = findings("x.example", "x.example", Res::Pass, Some((Res::Pass, Asked::None)));
        two_froms.from_domains.push("edu.gov.test".into());
        assert_eq!(act(&two_froms, &cfg), REFUSE);
    }

    #[test]
    fn outside_policies_are_honoured() {
        let cfg = AuthConfig::default();
        let case =
            |dmarc: Res, asked: Asked| act(&findings("x.example", "x.example", Res::Fail, Some((dmarc, asked))), &cfg);
        assert_eq!(case(Res::Fail, Asked::Reject), REFUSE);
        assert_eq!(case(Res::Fail, Asked::Quarantine), Action::Hold);
        assert_eq!(case(Res::Fail, Asked::None), Action::Deliver);
        assert_eq!(case(Res::Pass, Asked::Reject), Action::Deliver);
        assert_eq!(case(Res::TempError, Asked::Reject), DEFER);
        assert_eq!(case(Res::None, Asked::None), Action::Deliver);
        let mut report = cfg.clone();
        report.dmarc = Mode::Report;
        assert_eq!(
            act(&findings("x.example", "x.example", Res::Fail, Some((Res::Fail, Asked::Reject))), &report),
            Action::Deliver
        );
        let mut spf = cfg.clone();
        spf.spf = Mode::Enforce;
        let f = findings("x.example", "x.example", Res::Fail, None);
        assert_eq!(act(&f, &spf), Action::Refuse { code: 550, enhanced: (5, 7, 23) });
    }
}
