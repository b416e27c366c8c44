//! Status changes reach sessions already open and mail already queued: a suspension or a
//! disconnection in the registry is answered at the next MAIL, RCPT or final dot of an
//! open session (raw socket clients hold them open across the change), and the message
//! that trips the traffic watch (the real watch) is held at once with the rest of its
//! system's queue instead of being delivered.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::peers::Sink;
use common::raw::Raw;
use common::*;
use epbsh::envelope::SystemId;
use epbsh::registry::Status;
use epbsh::watch::{Watch, WatchConfig};

const WAIT: Duration = Duration::from_secs(30);

/// Opens a transaction up to the content, without the final dot.
async fn up_to_the_dot(c: &mut Raw, from: &str, to: &str) {
    c.command(&format!("MAIL FROM:<{from}>"), "250").await;
    c.command(&format!("RCPT TO:<{to}>"), "250").await;
    c.command("DATA", "354").await;
    c.send(b"Subject: held open\r\n\r\nbody\r\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspension_and_disconnection_reach_open_sessions_at_every_step() {
    let ext = Sink::start(&[]);
    let inbox = Sink::start(&[]);
    let systems = vec![system(1, "a.gov.test", SERVER_A, inbox.addr), system(2, "b.gov.test", SERVER_B, inbox.addr)];
    let mut r = start(systems, &[("ext.test", ext.addr)], |_| {}).await;
    let addr = r.relay.local_addr();

    let mut idle = Raw::greeted(addr, SERVER_A).await;
    let mut in_rcpt = Raw::greeted(addr, SERVER_A).await;
    in_rcpt.command("MAIL FROM:<alice@a.gov.test>", "250").await;
    in_rcpt.command("RCPT TO:<one@ext.test>", "250").await;
    let mut in_data = Raw::greeted(addr, SERVER_A).await;
    up_to_the_dot(&mut in_data, "alice@a.gov.test", "two@ext.test").await;
    r.set_status(1, Status::Suspended);
    idle.command("MAIL FROM:<alice@a.gov.test>", "451 4.7.1 system sys-a.gov.test is suspended").await;
    in_rcpt.command("RCPT TO:<three@ext.test>", "451 4.7.1").await;
    in_data.command(".", "451 4.7.1 system sys-a.gov.test is suspended").await;

    let mut before = Raw::greeted(addr, SERVER_B).await;
    let mut in_data = Raw::greeted(addr, SERVER_B).await;
    up_to_the_dot(&mut in_data, "bob@b.gov.test", "four@ext.test").await;
    r.set_status(2, Status::Disconnected);
    in_data.command(".", "550 5.7.1 relaying denied").await;
    before.command("MAIL FROM:<bob@b.gov.test>", "250").await;
    before.command("RCPT TO:<five@ext.test>", "550 5.7.1 relaying denied").await;

    r.set_status(1, Status::Active);
    idle.command("MAIL FROM:<alice@a.gov.test>", "250").await;
    idle.command("RCPT TO:<six@ext.test>", "250").await;
    idle.command("DATA", "354").await;
    idle.command("after\r\n.", "250 2.0.0 OK: queued as").await;
    let got = ext.wait_messages(1, WAIT).await;
    assert!(got[0].contains("X-Rcpt-Args: <six@ext.test>"), "{got:?}");
    assert_eq!(r.relay.metrics().messages_accepted, 1, "only the message after the resumption");
    r.relay.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_that_trips_the_watch_is_held_with_its_systems_queue() {
    let ext = Sink::start(&[]);
    let inbox = Sink::start(&[]);
    let later = loopback(free_port());
    let mut cfg = WatchConfig::default();
    cfg.fanout.throttle = 2;
    cfg.fanout.suspend = 3;
    let (watch, _suspensions) = Watch::new(cfg);
    let watch = Arc::new(watch);
    let systems = vec![system(1, "a.gov.test", SERVER_A, inbox.addr)];
    let r = start_guarded(systems, &[("ext.test", ext.addr), ("later.test", later)], |_| {}, watch.clone()).await;
    let addr = r.relay.local_addr();
    let send = |to: &'static str, subject: &'static str| async move {
        swaks(addr, SERVER_A, &["--from", "alice@a.gov.test", "--to", to, "--header", subject]).await.1
    };
    has(&send("one@ext.test", "Subject: ordinary").await, "<-  250 2.0.0 OK");
    has(&send("x@later.test", "Subject: waits for its next hop").await, "<-  250 2.0.0 OK");
    ext.wait_messages(1, WAIT).await;
    eventually("the later one deferred", WAIT, || r.relay.metrics().recipients_deferred >= 1).await;
    let mut open = Raw::greeted(addr, SERVER_A).await;

    let t = send("p1@ext.test,p2@ext.test,p3@ext.test,p4@ext.test", "Subject: you won").await;
    has(&t, "<-  250 2.0.0 OK: queued as");
    assert!(watch.view(SystemId(1)).suspended.is_some(), "the watch suspended the system");
    let held = || r.relay.queue_summary().iter().find(|q| q.system == Some(SystemId(1))).map_or(0, |q| q.held);
    assert_eq!(held(), 2, "the tripping message and the waiting one are held at once");
    open.command("MAIL FROM:<alice@a.gov.test>", "451 4.7.1").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(ext.messages().len(), 1, "the tripping message was delivered");
    assert_eq!(r.relay.metrics().recipients_delivered, 1);
    r.relay.shutdown().await.expect("shutdown");
}
