//! No backscatter: mail from outside that the relay could only fail later is refused in
//! the SMTP dialogue (unknown recipients by a probe of the system's own Postfix or by a
//! configured list, too many hops at the final dot), and whatever still fails after the
//! 250 (a 5xx at RCPT or at the final dot of the next hop, expiry) is never reported to
//! its unauthenticated sender. A connected system's own sender still gets its DSN.

mod common;

use std::time::Duration;

use common::peers::{Postfix, Sink};
use common::*;
use epbsh::relay::{Unavailable, VerifyMode};

const WAIT: Duration = Duration::from_secs(30);

fn from_outside(to: &str) -> Vec<String> {
    ["--from", "someone@outside.test", "--to", to, "--header", "Subject: from outside", "--body", "quoted text"]
        .map(String::from)
        .to_vec()
}

async fn swaks_from(addr: std::net::SocketAddr, ip: &str, args: &[String]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    swaks(addr, ip, &args).await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_recipients_are_refused_in_the_dialogue_by_a_probe_of_the_systems_server() {
    let owner = Postfix::with_users("a.gov.test", &["alice", "postmaster"]);
    let outside = Sink::start(&[]);
    let r = start(vec![system(1, "a.gov.test", SERVER_A, owner.addr)], &[("outside.test", outside.addr)], |_| {}).await;
    let addr = r.relay.local_addr();

    let t = swaks_from(addr, STRANGER, &from_outside("bob@a.gov.test")).await;
    has(&t, "<** 550 5.1.1 <bob@a.gov.test>: recipient address unknown");
    let t = swaks_from(addr, STRANGER, &from_outside("Bob@A.gov.test")).await;
    has(&t, "<** 550 5.1.1");
    let probes = r.relay.metrics().verify_probes;
    let t = swaks_from(addr, STRANGER, &from_outside("bob@a.gov.test")).await;
    has(&t, "<** 550 5.1.1");
    assert_eq!(r.relay.metrics().verify_probes, probes, "a refusal is remembered");

    let t = swaks_from(addr, STRANGER, &from_outside("alice@a.gov.test")).await;
    has(&t, "<-  250 2.0.0 OK: queued as");
    let t = swaks_from(addr, STRANGER, &from_outside("PostMaster@a.gov.test")).await;
    has(&t, "<-  250 2.0.0 OK: queued as");
    owner.wait_delivered(2, WAIT).await;
    // The system's own mail to an unknown local user is not probed: its sender gets a DSN.
    let t = swaks(addr, SERVER_A, &["--from", "carol@a.gov.test", "--to", "bob@a.gov.test"]).await.1;
    has(&t, "<-  250 2.0.0 OK: queued as");
    eventually("the DSN to carol", WAIT, || r.relay.metrics().dsns_queued == 1).await;
    assert!(outside.messages().is_empty(), "nothing went back outside");
    assert_eq!(r.relay.metrics().dsns_suppressed, 0);
    r.relay.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_list_decides_and_an_unreachable_server_defers() {
    let down = loopback(free_port());
    let systems = vec![system(1, "a.gov.test", SERVER_A, down), system(2, "b.gov.test", SERVER_B, down)];
    let r = start(systems, &[], |c| {
        c.verify.recipients.insert("a.gov.test".into(), vec!["alice".into()]);
    })
    .await;
    let addr = r.relay.local_addr();
    let t = swaks_from(
        addr,
        STRANGER,
        &[&from_outside("bob@a.gov.test")[..], &["--quit-after".into(), "RCPT".into()]].concat(),
    )
    .await;
    has(&t, "<** 550 5.1.1");
    let t = swaks_from(
        addr,
        STRANGER,
        &[&from_outside("ALICE@a.gov.test")[..], &["--quit-after".into(), "RCPT".into()]].concat(),
    )
    .await;
    has(&t, "<-  250 2.1.5 Recipient OK");
    assert_eq!(r.relay.metrics().verify_probes, 0, "a listed domain is never probed");
    let t = swaks_from(addr, STRANGER, &from_outside("anyone@b.gov.test")).await;
    has(&t, "<** 450 4.1.1 <anyone@b.gov.test>: recipient not verified now");
    assert_eq!(r.relay.metrics().messages_accepted, 0);
    r.relay.shutdown().await.expect("shutdown");

    let r =
        start(vec![system(2, "b.gov.test", SERVER_B, down)], &[], |c| c.verify.unavailable = Unavailable::Accept).await;
    let t = swaks_from(r.relay.local_addr(), STRANGER, &from_outside("anyone@b.gov.test")).await;
    has(&t, "<-  250 2.0.0 OK: queued as");
    r.relay.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_hops_are_refused_at_the_final_dot_from_anyone() {
    let inbox = Sink::start(&[]);
    let ext = Sink::start(&[]);
    let r = start(vec![system(1, "a.gov.test", SERVER_A, inbox.addr)], &[("ext.test", ext.addr)], |_| {}).await;
    let addr = r.relay.local_addr();
    let mut hops: Vec<String> = Vec::new();
    for i in 0..50 {
        hops.extend([
            "--add-header".into(),
            format!("Received: from hop{i}.test by hop{}.test; Mon, 1 Jan 2024 00:00:00 +0000", i + 1),
        ]);
    }
    let t = swaks_from(addr, STRANGER, &[from_outside("alice@a.gov.test"), hops.clone()].concat()).await;
    has(&t, "<** 554 5.4.6 Too many hops");
    let own = ["--from", "alice@a.gov.test", "--to", "bob@ext.test"].map(String::from).to_vec();
    let t = swaks_from(addr, SERVER_A, &[own.clone(), hops[2..].to_vec()].concat()).await;
    has(&t, "<-  250 2.0.0 OK: queued as");
    let t = swaks_from(addr, SERVER_A, &[own, hops].concat()).await;
    has(&t, "<** 554 5.4.6 Too many hops");
    ext.wait_messages(1, WAIT).await;
    let m = r.relay.metrics();
    assert_eq!((m.messages_accepted, m.messages_refused, m.dsns_queued), (1, 2, 0));
    assert!(inbox.messages().is_empty(), "no report anywhere");
    r.relay.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_fails_after_the_250_is_never_reported_to_an_outside_sender() {
    let outside = Sink::start(&[]);
    let refuses_rcpt = Sink::start(&["-f", "RCPT", "-B", "550 5.1.1 no such user here"]);
    let refuses_dot = Sink::start(&["-f", ".", "-B", "552 5.3.4 message too big for this mailbox"]);
    let down = loopback(free_port());
    let systems = vec![
        system(1, "rcpt.gov.test", SERVER_A, refuses_rcpt.addr),
        system(2, "dot.gov.test", SERVER_B, refuses_dot.addr),
        system(3, "down.gov.test", "127.0.0.4", down),
    ];
    let r = start(systems, &[("outside.test", outside.addr)], |c| {
        c.verify.mode = VerifyMode::Off;
        c.delivery.queue_lifetime = Duration::from_secs(2);
    })
    .await;
    let addr = r.relay.local_addr();
    for to in ["user@rcpt.gov.test", "user@dot.gov.test", "user@down.gov.test"] {
        let t = swaks_from(addr, STRANGER, &from_outside(to)).await;
        has(&t, "<-  250 2.0.0 OK: queued as");
    }
    eventually("three failures", WAIT, || r.relay.metrics().dsns_suppressed == 3).await;
    let m = r.relay.metrics();
    assert_eq!((m.recipients_failed, m.recipients_expired, m.dsns_queued), (2, 1, 0), "{m:?}");
    eventually("queue empty", WAIT, || r.relay.queue_summary().is_empty()).await;
    assert!(outside.messages().is_empty(), "a DSN went to the outside sender");
    r.relay.shutdown().await.expect("shutdown");
}
