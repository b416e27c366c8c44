//! The relay rules, asked by the SMTP session of one connection. Built once per connection
//! from one registry snapshot (a session sees one registry from start to end).
//!
//! - **Outbound**: the client is the server of a live (active or suspended) system. Its
//!   sender must be in one of the system's domains, or the null sender for its bounces.
//!   A suspended system gets 451 4.7.1; otherwise the [`Guard`] decides (throttle →
//!   451 4.7.0, suspended → 451 4.7.1). No sender address is exempt: postmaster@ and
//!   `<>` get the same answers. It may send to any domain, registered systems included,
//!   except address literals and this relay's own name (no local mailboxes here).
//! - **Inbound**: from any other address only recipients in a live registered domain are
//!   taken; a suspended system's domains still receive (suspension is about its own
//!   outbound traffic; its mailboxes keep working).
//! - **Nothing else**: 550 5.7.1 relaying denied. A disconnected system is unknown both as
//!   a client and as a domain.

use std::net::IpAddr;
use std::sync::Arc;

use crate::envelope::{Envelope, Mailbox};
use crate::hooks::{Admission, Guard};
use crate::registry::{MailSystem, Registry, Status};
use crate::smtp::{Policy, Verdict};

/// The relay policy of one connection.
pub(crate) struct ConnPolicy {
    registry: Arc<Registry>,
    /// The client's live system (from the snapshot), when the client is one's server.
    client: Option<MailSystem>,
    guard: Arc<dyn Guard>,
    hostname: String,
}

impl ConnPolicy {
    pub fn new(registry: Arc<Registry>, peer: IpAddr, guard: Arc<dyn Guard>, hostname: &str) -> ConnPolicy {
        let client = registry.by_server(peer).cloned();
        ConnPolicy { registry, client, guard, hostname: hostname.to_ascii_lowercase() }
    }

    /// The system the client sends for, if any.
    pub fn system(&self) -> Option<&MailSystem> {
        self.client.as_ref()
    }

    fn mail_from(&self, sender: Option<&Mailbox>) -> Verdict {
        let Some(sys) = &self.client else {
            return Verdict::Accept;
        };
        if sys.status == Status::Suspended {
            return suspended(&format!("system {} is suspended", sys.name));
        }
        if let Some(s) = sender
            && !sys.domains.iter().any(|d| d == s.domain())
        {
            let text = format!("sender domain {} is not a domain of system {}", s.domain(), sys.name);
            return Verdict::reject(550, (5, 7, 1), text);
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

    fn rcpt_to(&self, rcpt: &Mailbox) -> Verdict {
        let domain = rcpt.domain();
        if self.registry.by_domain(domain).is_some() {
            return Verdict::Accept;
        }
        if self.client.is_none() {
            return Verdict::reject(550, (5, 7, 1), "relaying denied");
        }
        if domain.starts_with('[') {
            return Verdict::reject(550, (5, 7, 1), "address literals are not relayed");
        }
        if domain == self.hostname {
            return Verdict::reject(550, (5, 1, 1), "no mailboxes on this relay");
        }
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
        self.rcpt_to(rcpt)
    }

    async fn on_data(&self, _envelope: &Envelope, _size: usize) -> Verdict {
        Verdict::Accept
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::envelope::SystemId;
    use crate::hooks::{Accepted, Delivery};

    struct ScriptedGuard(Mutex<Admission>);

    impl Guard for ScriptedGuard {
        fn admit(&self, _: SystemId) -> Admission {
            self.0.lock().unwrap().clone()
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

    fn policy(peer: &str, admission: Admission) -> ConnPolicy {
        let reg = Registry::new(vec![
            sys(1, "a.gov.test", "192.0.2.1", Status::Active),
            sys(2, "s.gov.test", "192.0.2.2", Status::Suspended),
            sys(3, "gone.gov.test", "192.0.2.3", Status::Disconnected),
        ])
        .unwrap();
        let guard = Arc::new(ScriptedGuard(Mutex::new(admission)));
        ConnPolicy::new(Arc::new(reg), peer.parse().unwrap(), guard, "gw.test")
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

    #[test]
    fn outbound_rules() {
        let p = policy("192.0.2.1", Admission::Accept);
        assert_eq!(code(p.mail_from(Some(&mb("u@a.gov.test")))), "250");
        assert_eq!(code(p.mail_from(None)), "250");
        assert_eq!(code(p.mail_from(Some(&mb("u@foreign.example")))), "550 5.7.1");
        assert_eq!(code(p.mail_from(Some(&mb("u@s.gov.test")))), "550 5.7.1", "another system's domain");
        for rcpt in ["x@ext.example", "x@s.gov.test", "x@a.gov.test", "x@gone.gov.test"] {
            assert_eq!(code(p.rcpt_to(&mb(rcpt))), "250", "{rcpt}");
        }
        assert_eq!(code(p.rcpt_to(&mb("x@[203.0.113.1]"))), "550 5.7.1");
        assert_eq!(code(p.rcpt_to(&mb("postmaster@gw.test"))), "550 5.1.1");
    }

    #[test]
    fn admission_answers_are_the_same_for_every_sender() {
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
    }

    #[test]
    fn inbound_and_no_open_relay() {
        for peer in ["198.51.100.7", "192.0.2.3"] {
            let p = policy(peer, Admission::Accept);
            assert!(p.system().is_none(), "{peer}");
            assert_eq!(code(p.mail_from(Some(&mb("any@where.example")))), "250");
            assert_eq!(code(p.rcpt_to(&mb("x@A.gov.test"))), "250");
            assert_eq!(code(p.rcpt_to(&mb("x@s.gov.test"))), "250", "suspended systems still receive");
            assert_eq!(code(p.rcpt_to(&mb("x@gone.gov.test"))), "550 5.7.1");
            assert_eq!(code(p.rcpt_to(&mb("x@ext.example"))), "550 5.7.1");
            assert_eq!(code(p.rcpt_to(&mb("postmaster@gw.test"))), "550 5.7.1");
        }
    }
}
