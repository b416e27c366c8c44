//! Suspension mechanics without the detector: the registry marks a system suspended →
//! new mail from it gets 451 4.7.1, its queued outbound mail is held (not delivered, not
//! bounced, not expired, also across a restart); active again + `release_held` → delivered
//! with a fresh lifetime; `delete_held` drops held mail without a DSN. And the guard seam:
//! admission answers at MAIL FROM, `accepted` and `delivered` reports.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::peers::Sink;
use common::*;
use epbsh::envelope::SystemId;
use epbsh::hooks::{Accepted, Admission, Delivery, Guard, OpenGuard, Outcome};
use epbsh::registry::{self, MailSystem, Registry, RegistryHandle, Status};
use epbsh::relay::{self, RelayConfig, RelayError};

const WAIT: Duration = Duration::from_secs(30);
const A: SystemId = SystemId(1);
const B: SystemId = SystemId(2);

fn set_status(handle: &RegistryHandle, systems: &mut [MailSystem], id: SystemId, status: Status) {
    for s in systems.iter_mut().filter(|s| s.id == id) {
        s.status = status;
    }
    handle.store(Arc::new(Registry::new(systems.to_vec()).expect("registry")));
}

async fn send(addr: std::net::SocketAddr, ip: &str, from: &str, subject: &str) -> String {
    let (ok, t) =
        swaks(addr, ip, &["--from", from, "--to", "bob@ext.test", "--header", &format!("Subject: {subject}")]).await;
    assert!(ok, "{t}");
    t
}

fn held(relay: &relay::Relay, id: SystemId) -> usize {
    relay.queue_summary().iter().find(|q| q.system == Some(id)).map_or(0, |q| q.held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_systems_mail_is_held_then_released_or_deleted() {
    let spool = tempfile::tempdir().expect("tempdir");
    let ext_port = free_port();
    let inbox = Sink::start(&[]);
    let mut systems =
        vec![system(1, "a.gov.test", SERVER_A, inbox.addr), system(2, "b.gov.test", SERVER_B, inbox.addr)];
    let handle = registry::handle(Registry::new(systems.clone()).expect("registry"));
    let cfg = |spool: &std::path::Path| {
        let mut c: RelayConfig = config(spool, &[("ext.test", loopback(ext_port))]);
        c.delivery.queue_lifetime = Duration::from_secs(3);
        c
    };
    let relay = relay::start(cfg(spool.path()), handle.clone(), Arc::new(OpenGuard)).await.expect("start");
    let addr = relay.local_addr();
    // ext.test is down: the mail waits in the queue.
    for i in 0..2 {
        send(addr, SERVER_A, "alice@a.gov.test", &format!("held-a-{i}")).await;
    }
    send(addr, SERVER_B, "carol@b.gov.test", "held-b").await;
    set_status(&handle, &mut systems, A, Status::Suspended);
    set_status(&handle, &mut systems, B, Status::Suspended);
    eventually("A's and B's mail held", WAIT, || held(&relay, A) == 2 && held(&relay, B) == 1).await;

    let (_, t) = swaks(addr, SERVER_A, &["--from", "alice@a.gov.test", "--to", "bob@ext.test"]).await;
    has(&t, "<** 451 4.7.1 system sys-a.gov.test is suspended");
    let (_, t) = swaks(addr, SERVER_A, &["--from", "<>", "--to", "bob@ext.test"]).await;
    has(&t, "<** 451 4.7.1");
    let (ok, t) = swaks(addr, STRANGER, &["--from", "x@outside.example", "--to", "alice@a.gov.test"]).await;
    assert!(ok, "a suspended system still receives: {t}");
    inbox.wait_messages(1, WAIT).await;

    // The remote comes up; held mail must still not move, nor expire (lifetime 3 s), nor
    // survive only in memory: restart the relay while it is held.
    let ext = Sink::start_on(ext_port, &[]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    relay.shutdown().await.expect("shutdown");
    let relay = relay::start(cfg(spool.path()), handle.clone(), Arc::new(OpenGuard)).await.expect("restart");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!((held(&relay, A), held(&relay, B)), (2, 1), "{:?}", relay.queue_summary());
    assert!(ext.messages().is_empty(), "held mail was delivered");
    assert_eq!(inbox.messages().len(), 1, "held mail was bounced");
    assert!(matches!(relay.release_held(A).await, Err(RelayError::StillSuspended(A))));

    set_status(&handle, &mut systems, A, Status::Active);
    assert_eq!(relay.release_held(A).await.expect("release"), 2);
    let got = ext.wait_messages(2, WAIT).await;
    assert!(got.iter().any(|m| m.contains("Subject: held-a-0")) && got.iter().any(|m| m.contains("Subject: held-a-1")));
    assert_eq!(relay.delete_held(B).await.expect("delete"), 1);
    eventually("queue empty", WAIT, || relay.queue_summary().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!((ext.messages().len(), inbox.messages().len()), (2, 1), "deleted mail is neither delivered nor bounced");
    let m = relay.metrics();
    assert_eq!((m.messages_released, m.messages_deleted, m.dsns_queued), (2, 1, 0));
    relay.shutdown().await.expect("shutdown");
}

/// Answers admission from a script and records what it is told.
#[derive(Default)]
struct RecordingGuard {
    admission: Mutex<Option<Admission>>,
    accepted: Mutex<Vec<(SystemId, usize)>>,
    /// Sizes of the contents it was given to inspect.
    inspected: Mutex<Vec<usize>>,
    delivered: Mutex<Vec<(SystemId, String, Outcome)>>,
}

impl Guard for RecordingGuard {
    fn admit(&self, _: SystemId) -> Admission {
        self.admission.lock().unwrap().clone().unwrap_or(Admission::Accept)
    }
    fn inspect(&self, data: &[u8]) -> Option<epbsh::watch::fingerprint::Digest> {
        self.inspected.lock().unwrap().push(data.len());
        None
    }
    fn accepted(&self, m: &Accepted<'_>) {
        let size = self.inspected.lock().unwrap().last().copied().unwrap_or(0);
        self.accepted.lock().unwrap().push((m.system, size));
    }
    fn delivered(&self, d: &Delivery<'_>) {
        self.delivered.lock().unwrap().push((d.system, d.recipient.to_string(), d.outcome.clone()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_admits_and_hears_about_every_outbound_message() {
    let spool = tempfile::tempdir().expect("tempdir");
    let ext = Sink::start(&[]);
    let inbox = Sink::start(&[]);
    let handle =
        registry::handle(Registry::new(vec![system(1, "a.gov.test", SERVER_A, inbox.addr)]).expect("registry"));
    let guard = Arc::new(RecordingGuard::default());
    let cfg = config(spool.path(), &[("ext.test", ext.addr)]);
    let relay = relay::start(cfg, handle, guard.clone()).await.expect("start");
    let addr = relay.local_addr();

    *guard.admission.lock().unwrap() = Some(Admission::Throttle { retry_after: Duration::from_secs(60) });
    for from in ["alice@a.gov.test", "postmaster@a.gov.test", "<>"] {
        let (_, t) = swaks(addr, SERVER_A, &["--from", from, "--to", "bob@ext.test"]).await;
        has(&t, "<** 451 4.7.0 too much mail from system sys-a.gov.test; try again in 60 s");
    }
    *guard.admission.lock().unwrap() = Some(Admission::Suspended { reason: "abnormal volume".into() });
    let (_, t) = swaks(addr, SERVER_A, &["--from", "postmaster@a.gov.test", "--to", "bob@ext.test"]).await;
    has(&t, "<** 451 4.7.1 system sys-a.gov.test is suspended (abnormal volume); outbound mail is not accepted now");
    *guard.admission.lock().unwrap() = None;
    send(addr, SERVER_A, "alice@a.gov.test", "watched").await;
    let (ok, t) = swaks(addr, STRANGER, &["--from", "x@outside.example", "--to", "alice@a.gov.test"]).await;
    assert!(ok, "{t}");
    ext.wait_messages(1, WAIT).await;
    inbox.wait_messages(1, WAIT).await;
    eventually("delivery reported", WAIT, || !guard.delivered.lock().unwrap().is_empty()).await;
    let accepted = guard.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1, "only the system's message: {accepted:?}");
    assert_eq!(accepted[0].0, A);
    assert!(accepted[0].1 > 0, "the content was inspected before it was reported");
    assert_eq!(guard.inspected.lock().unwrap().len(), 1, "inbound mail is not inspected");
    let delivered = guard.delivered.lock().unwrap().clone();
    assert_eq!(delivered, vec![(A, "bob@ext.test".to_string(), Outcome::Delivered)]);
    relay.shutdown().await.expect("shutdown");
}
