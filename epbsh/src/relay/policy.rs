//! The relay rules, asked by the SMTP session of one connection at every step of every
//! transaction — MAIL, each RCPT and the final dot — against the registry as it is then
//! (and the guard's own suspensions), so that a suspension or disconnection reaches
//! sessions already open.
//!
//! - **Outbound**: the client is the server of a live (active or suspended) system. Its
//!   sender must be in one of the system's domains, or the null sender for its bounces.
//!   A suspended system gets 451 4.7.1 at MAIL, RCPT and the final dot; at MAIL the
//!   [`Guard`] also decides (throttle → 451 4.7.0, suspended → 451 4.7.1). No sender
//!   address is exempt: postmaster@ and `<>` get the same answers. It may send to any
//!   domain, registered systems included, except address literals and this relay's own
//!   name (no local mailboxes here but the postmaster).
//! - **Inbound**: from any other address only recipients in a live registered domain are
//!   taken, each one verified ([`Verifier`]) so that nothing is taken that would bounce
//!   later; a suspended system's domains still receive (suspension is about its own
//!   outbound traffic; its mailboxes keep working).
//! - **Postmaster**: `<postmaster>` and `postmaster@` this relay's name are taken from
//!   anyone (RFC 5321 §4.5.1), as is `postmaster@` any live registered domain (never
//!   verified).
//! - **Nothing else**: 550 5.7.1 relaying denied. A disconnected system is unknown both as
//!   a client and as a domain.

use std::net::IpAddr;
use std::sync::Arc;

use super::room::Room;
use super::verify::Verifier;
use crate::envelope::{Envelope, Mailbox};
use crate::hooks::{Admission, Guard};
use crate::registry::{MailSystem, Registry, RegistryHandle, Status};
use crate::smtp::{Policy, Verdict, is_postmaster};

/// The relay policy of one connection.
pub(crate) struct ConnPolicy {
    registry: RegistryHandle,
    peer: IpAddr,
    guard: Arc<dyn Guard>,
    verifier: Arc<Verifier>,
    hostname: String,
    room: Option<Arc<Room>>,
}

impl ConnPolicy {
    pub fn new(
        registry: RegistryHandle,
        peer: IpAddr,
        guard: Arc<dyn Guard>,
        verifier: Arc<Verifier>,
        hostname: &str,
    ) -> ConnPolicy {
        ConnPolicy { registry, peer, guard, verifier, hostname: hostname.to_ascii_lowercase(), room: None }
    }

    /// This policy refusing new transactions while the spool's file system is short of `room`.
    pub fn keeping(mut self, room: Arc<Room>) -> ConnPolicy {
        self.room = Some(room);
        self
    }

    /// The refusal for a client whose system is suspended now (registry or guard).
    fn suspension(&self, sys: &MailSystem) -> Option<Verdict> {
        let held = sys.status == Status::Suspended || self.guard.suspended(sys.id);
        held.then(|| suspended(&format!("system {} is suspended", sys.name)))
    }

    /// The sender rule of a client's system.
    fn sender_rule(sys: &MailSystem, sender: Option<&Mailbox>) -> Verdict {
        match sender {
            Some(s) if !sys.domains.iter().any(|d| d == s.domain()) => {
                let text = format!("sender domain {} is not a domain of system {}", s.domain(), sys.name);
                Verdict::reject(550, (5, 7, 1), text)
            }
            _ => Verdict::Accept,
        }
    }

    fn mail_from(&self, sender: Option<&Mailbox>) -> Verdict {
        if let Some(refusal) = self.room.as_ref().and_then(|r| r.short()) {
            return refusal;
        }
        let registry = self.registry.load();
        let Some(sys) = registry.by_server(self.peer) else {
            return Verdict::Accept;
        };
        let rule = self.suspension(sys).unwrap_or_else(|| Self::sender_rule(sys, sender));
        if rule != Verdict::Accept {
            return rule;
        }
        match self.guard.admit(sys.id) {
            Admission::Accept => Verdict::Accept,
            Admission::Throttle { retry_after } => Verdict::temp_fail(
                451,
                (4, 7, 0),
                format!("too much mail from system {}; try again in {} s", sys.name, retry_after.as_secs().max(1)),
            ),
            Admission::Suspended { reason } => suspended(&format!("system {} is suspended ({reason})", sys.name)),
        }
    }

    /// Who may send to `rcpt` from this client, by the registry alone (no verification).
    fn relay_rule(&self, registry: &Registry, rcpt: &Mailbox) -> Verdict {
        let client = registry.by_server(self.peer);
        if let Some(refusal) = client.and_then(|sys| self.suspension(sys)) {
            return refusal;
        }
        let domain = rcpt.domain();
        if is_postmaster(rcpt, &self.hostname) || registry.by_domain(domain).is_some() {
            return Verdict::Accept;
        }
        if client.is_none() {
            return Verdict::reject(550, (5, 7, 1), "relaying denied");
        }
        if domain.starts_with('[') {
            return Verdict::reject(550, (5, 7, 1), "address literals are not relayed");
        }
        if domain == self.hostname {
            return Verdict::reject(550, (5, 1, 1), "no mailboxes on this relay but the postmaster");
        }
        Verdict::Accept
    }

    async fn rcpt_to(&self, rcpt: &Mailbox) -> Verdict {
        let registry = self.registry.load_full();
        let rule = self.relay_rule(&registry, rcpt);
        if rule != Verdict::Accept || registry.by_server(self.peer).is_some() {
            return rule;
        }
        match registry.by_domain(rcpt.domain()) {
            Some(owner) => self.verifier.check(rcpt, owner).await,
            None => rule,
        }
    }

    /// The whole transaction again at the final dot; stamps the client's system.
    fn data(&self, envelope: &mut Envelope) -> Verdict {
        let registry = self.registry.load();
        let client = registry.by_server(self.peer);
        if let Some(sys) = client {
            let rule = self.suspension(sys).unwrap_or_else(|| Self::sender_rule(sys, envelope.sender.as_ref()));
            if rule != Verdict::Accept {
                return rule;
            }
        }
        for rcpt in &envelope.recipients {
            let rule = self.relay_rule(&registry, rcpt);
            if rule != Verdict::Accept {
                return rule;
            }
        }
        envelope.system_id = client.map(|s| s.id);
        Verdict::Accept
    }
}

fn suspended(reason: &str) -> Verdict {
    Verdict::temp_fail(451, (4, 7, 1), format!("{reason}; outbound mail is not accepted now"))
}

impl Policy for ConnPolicy {
    async fn on_connect(&self, _peer: IpAddr) -> Verdict {
        Verdict::Accept
    }

    async fn on_mail_from(&self, sender: Option<&Mailbox>, _peer: IpAddr) -> Verdict {
        self.mail_from(sender)
    }

    async fn on_rcpt_to(&self, _sender: Option<&Mailbox>, rcpt: &Mailbox, _peer: IpAddr) -> Verdict {
        self.rcpt_to(rcpt).await
    }

    async fn on_data(&self, envelope: &mut Envelope, _size: usize) -> Verdict {
        self.data(envelope)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::envelope::SystemId;
    use crate::hooks::{Accepted, Delivery};
    use crate::registry::{self, RegistryHandle};
    use crate::relay::verify::{VerifyConfig, VerifyMode};

    struct ScriptedGuard(Mutex<Admission>);

    impl Guard for ScriptedGuard {
        fn admit(&self, _: SystemId) -> Admission {
            self.0.lock().unwrap().clone()
        }
        fn suspended(&self, _: SystemId) -> bool {
            matches!(*self.0.lock().unwrap(), Admission::Suspended { .. })
        }
        fn accepted(&self, _: &Accepted<'_>) {}
        fn delivered(&self, _: &Delivery<'_>) {}
    }

    fn sys(id: u32, domain: &str, ip: &str, status: Status) -> MailSystem {
        MailSystem {
            id: SystemId(id),
            name: format!("sys{id}"),
            owner_bin: "000000000000".into(),
            domains: vec![domain.into()],
            servers: vec![ip.parse().unwrap()],
            deliver_to: None,
            contacts: vec![],
            status,
        }
    }

    fn systems() -> Vec<MailSystem> {
        vec![
            sys(1, "a.gov.test", "192.0.2.1", Status::Active),
            sys(2, "s.gov.test", "192.0.2.2", Status::Suspended),
            sys(3, "gone.gov.test", "192.0.2.3", Status::Disconnected),
        ]
    }

    fn policy_on(registry: RegistryHandle, peer: &str, admission: Admission) -> ConnPolicy {
        let guard = Arc::new(ScriptedGuard(Mutex::new(admission)));
        let mut cfg = VerifyConfig { mode: VerifyMode::List, ..VerifyConfig::default() };
        cfg.recipients.insert("a.gov.test".into(), vec!["Known".into()]);
        let verifier = Arc::new(Verifier::new(cfg, None));
        ConnPolicy::new(registry, peer.parse().unwrap(), guard, verifier, "gw.test")
    }

    fn policy(peer: &str, admission: Admission) -> ConnPolicy {
        policy_on(registry::handle(Registry::new(systems()).unwrap()), peer, admission)
    }

    fn mb(s: &str) -> Mailbox {
        let (l, d) = s.split_once('@').unwrap();
        Mailbox::new(l, d)
    }

    fn code(v: Verdict) -> String {
        match v.refusal() {
            None => "250".into(),
            Some(r) => format!("{} {}", r.code, r.enhanced.map(|e| format!("{}.{}.{}", e.0, e.1, e.2)).unwrap()),
        }
    }

    fn envelope(sender: &str, rcpts: &[&str]) -> Envelope {
        Envelope {
            sender: Some(mb(sender)),
            recipients: rcpts.iter().map(|r| mb(r)).collect(),
            received_at: time::OffsetDateTime::UNIX_EPOCH,
            client_ip: "192.0.2.1".parse().unwrap(),
            helo: "h".into(),
            system_id: None,
        }
    }

    #[tokio::test]
    async fn outbound_rules() {
        let p = policy("192.0.2.1", Admission::Accept);
        assert_eq!(code(p.mail_from(Some(&mb("u@a.gov.test")))), "250");
        assert_eq!(code(p.mail_from(None)), "250");
        assert_eq!(code(p.mail_from(Some(&mb("u@foreign.example")))), "550 5.7.1");
        assert_eq!(code(p.mail_from(Some(&mb("u@s.gov.test")))), "550 5.7.1", "another system's domain");
        for rcpt in ["x@ext.example", "x@s.gov.test", "x@a.gov.test", "x@gone.gov.test", "PostMaster@GW.test"] {
            assert_eq!(code(p.rcpt_to(&mb(rcpt)).await), "250", "{rcpt}");
        }
        assert_eq!(code(p.rcpt_to(&mb("x@[203.0.113.1]")).await), "550 5.7.1");
        assert_eq!(code(p.rcpt_to(&mb("someone@gw.test")).await), "550 5.1.1");
        let mut env = envelope("u@a.gov.test", &["x@ext.example"]);
        assert_eq!(code(p.data(&mut env)), "250");
        assert_eq!(env.system_id, Some(SystemId(1)), "the dot stamps the client's system");
    }

    #[tokio::test]
    async fn admission_answers_are_the_same_for_every_sender() {
        let throttled = policy("192.0.2.1", Admission::Throttle { retry_after: Duration::from_secs(30) });
        let guarded = policy("192.0.2.1", Admission::Suspended { reason: "abnormal traffic".into() });
        let registry_suspended = policy("192.0.2.2", Admission::Accept);
        for sender in [Some(mb("u@a.gov.test")), Some(mb("postmaster@a.gov.test")), None] {
            assert_eq!(code(throttled.mail_from(sender.as_ref())), "451 4.7.0");
            assert_eq!(code(guarded.mail_from(sender.as_ref())), "451 4.7.1");
        }
        for sender in [Some(mb("u@s.gov.test")), Some(mb("postmaster@s.gov.test")), None] {
            assert_eq!(code(registry_suspended.mail_from(sender.as_ref())), "451 4.7.1");
        }
        for p in [&guarded, &registry_suspended] {
            assert_eq!(code(p.rcpt_to(&mb("x@ext.example")).await), "451 4.7.1", "RCPT too");
        }
    }

    #[tokio::test]
    async fn inbound_and_no_open_relay() {
        for peer in ["198.51.100.7", "192.0.2.3"] {
            let p = policy(peer, Admission::Accept);
            assert_eq!(code(p.mail_from(Some(&mb("any@where.example")))), "250");
            assert_eq!(code(p.rcpt_to(&mb("known@A.gov.test")).await), "250", "listed");
            assert_eq!(code(p.rcpt_to(&mb("stranger@a.gov.test")).await), "550 5.1.1", "not listed");
            assert_eq!(code(p.rcpt_to(&mb("POSTMASTER@a.gov.test")).await), "250", "never verified");
            assert_eq!(code(p.rcpt_to(&mb("x@s.gov.test")).await), "250", "suspended systems still receive");
            assert_eq!(code(p.rcpt_to(&mb("x@gone.gov.test")).await), "550 5.7.1");
            assert_eq!(code(p.rcpt_to(&mb("x@ext.example")).await), "550 5.7.1");
            assert_eq!(code(p.rcpt_to(&mb("postmaster@gw.test")).await), "250", "RFC 5321 postmaster");
            assert_eq!(code(p.rcpt_to(&mb("postmaster@ext.example")).await), "550 5.7.1");
            let mut env = envelope("any@where.example", &["known@a.gov.test"]);
            assert_eq!(code(p.data(&mut env)), "250");
            assert_eq!(env.system_id, None);
        }
    }

    #[tokio::test]
    async fn a_status_change_reaches_the_next_step_of_an_open_transaction() {
        let handle = registry::handle(Registry::new(systems()).unwrap());
        let p = policy_on(handle.clone(), "192.0.2.1", Admission::Accept);
        assert_eq!(code(p.mail_from(Some(&mb("u@a.gov.test")))), "250");
        let mut changed = systems();
        changed[0].status = Status::Suspended;
        handle.store(Arc::new(Registry::new(changed.clone()).unwrap()));
        assert_eq!(code(p.rcpt_to(&mb("x@ext.example")).await), "451 4.7.1", "suspended between MAIL and RCPT");
        let mut env = envelope("u@a.gov.test", &["x@ext.example"]);
        assert_eq!(code(p.data(&mut env)), "451 4.7.1", "suspended before the dot");
        changed[0].status = Status::Disconnected;
        handle.store(Arc::new(Registry::new(changed).unwrap()));
        assert_eq!(code(p.data(&mut env)), "550 5.7.1", "disconnected: outward mail is relaying");
        assert_eq!(code(p.rcpt_to(&mb("x@ext.example")).await), "550 5.7.1");
    }
}
