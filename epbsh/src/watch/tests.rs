//! The watch as the relay drives it: admission, accepted messages and delivery results
//! from two systems on an injected clock.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;

use super::*;
use crate::envelope::{Envelope, Mailbox};
use crate::hooks;
use crate::spool::MessageId;

const A: SystemId = SystemId(1);
const B: SystemId = SystemId(2);

fn watch(cfg: WatchConfig) -> (Watch, mpsc::UnboundedReceiver<Suspension>, Arc<AtomicU64>) {
    let clock = Arc::new(AtomicU64::new(1_000_000));
    let c = clock.clone();
    let (w, rx) = Watch::with_clock(cfg, Box::new(move || c.load(Ordering::Relaxed)));
    (w, rx, clock)
}

fn small() -> WatchConfig {
    let mut cfg = WatchConfig::default();
    cfg.volume.min_messages = 10;
    cfg.volume.min_recipients = 100;
    cfg.fanout.throttle = 1000;
    cfg.fanout.suspend = 1000;
    cfg
}

fn send(w: &Watch, system: SystemId, n: u64, subject: &str) {
    for i in 0..n {
        let envelope = Envelope {
            sender: Some(Mailbox::new("clerk", "a.gov.test")),
            recipients: vec![Mailbox::new(format!("r{i}"), "x.example")],
            received_at: OffsetDateTime::UNIX_EPOCH,
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            helo: "mx.a.gov.test".into(),
            system_id: Some(system),
        };
        let data = format!("Subject: {subject}\r\nMessage-ID: <{i}@a.gov.test>\r\n\r\nHello {i}\r\n");
        w.accepted(&Accepted { id: MessageId(i), system, envelope: &envelope, digest: w.inspect(data.as_bytes()) });
    }
}

#[test]
fn a_burst_is_throttled_then_suspended_with_evidence_and_the_other_system_flows() {
    let (w, mut rx, _) = watch(small());
    send(&w, A, 10, "minutes");
    send(&w, B, 5, "report");
    assert_eq!(w.admit(A), Admission::Accept);
    send(&w, A, 1, "minutes");
    // Throttled: the quota of 30 a minute is spent, then 451 with a retry time.
    let admitted = (0..40).filter(|_| w.admit(A) == Admission::Accept).count();
    assert_eq!(admitted, 30, "throttled to throttle_rate");
    assert!(matches!(w.admit(A), Admission::Throttle { .. }));
    assert!(rx.try_recv().is_err(), "a throttle is not a suspension");
    send(&w, A, 10, "minutes");
    let s = rx.try_recv().expect("suspended past twice the limit");
    assert_eq!((s.system, s.reason.as_str()), (A, "abnormal traffic: volume"));
    let text = s.evidence.to_string();
    assert!(text.contains("volume (suspend): 21 messages"), "{text}");
    assert!(text.contains("<9@a.gov.test>"), "sample Message-IDs: {text}");
    assert!(matches!(w.admit(A), Admission::Suspended { .. }));
    send(&w, A, 10, "minutes");
    assert!(rx.try_recv().is_err(), "suspended once");
    assert_eq!(w.admit(B), Admission::Accept, "the other system is untouched");
    w.resume(A);
    assert_eq!(w.admit(A), Admission::Accept);
    assert_eq!(w.view(A).counters.window.messages, 0, "a fresh window after resumption");
}

#[test]
fn remote_rejections_suspend() {
    let (w, mut rx, _) = watch(WatchConfig::default());
    let rcpt = Mailbox::new("x", "x.example");
    for (i, outcome) in (0..30).map(|i| (i, if i % 3 == 0 { Outcome::Delivered } else { rejected() })) {
        w.delivered(&hooks::Delivery { id: MessageId(i), system: A, recipient: &rcpt, outcome, bounce: false });
    }
    let s = rx.try_recv().expect("two thirds refused");
    assert_eq!((s.evidence.delivered, s.evidence.rejected), (7, 13), "judged at the 20th result");
    assert!(s.reason.contains("rejections"));
}

fn rejected() -> Outcome {
    Outcome::Rejected { code: 550, reply: "550 5.1.1 no such user".into() }
}

#[test]
fn counters_survive_export_and_import_and_windows_roll_into_the_baseline() {
    let (w, _rx, clock) = watch(small());
    send(&w, A, 8, "minutes");
    let saved = serde_json::to_string(&w.export()).unwrap();
    let (restarted, _rx2, clock2) = watch(small());
    restarted.import(serde_json::from_str(&saved).unwrap());
    assert_eq!(restarted.export(), w.export());
    assert_eq!(restarted.view(A).counters.window.messages, 8);
    assert_eq!(restarted.view(A).counters.window.content.values().next().map(|c| c.recipients), Some(8));
    clock.fetch_add(600_000, Ordering::Relaxed);
    clock2.fetch_add(600_000, Ordering::Relaxed);
    let b = restarted.view(A).counters.baseline;
    assert_eq!((b.windows, b.messages), (1, 8.0), "the closed window is learnt");
}

#[test]
fn a_restart_after_a_resumption_starts_clean() {
    let (w, mut rx, _) = watch(small());
    send(&w, A, 25, "x");
    assert!(rx.try_recv().is_ok());
    let registry = Registry::new(vec![crate::registry::MailSystem {
        id: A,
        name: "a".into(),
        owner_bin: "123456789012".into(),
        domains: vec!["a.gov.test".into()],
        servers: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))],
        deliver_to: None,
        contacts: vec![],
        status: Status::Active,
    }])
    .unwrap();
    w.reconcile(&registry);
    assert_eq!(w.admit(A), Admission::Accept, "resumed while the watch was not looking");
}
