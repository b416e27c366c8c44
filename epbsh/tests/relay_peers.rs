//! The relay between real peers: swaks as the sending mail system (from loopback addresses
//! registered as a system's server, or not), Postfix (a private instance) and Postfix's
//! smtp-sink as receivers. Covers inbound and outbound routing, relay refusals, STARTTLS
//! both ways, limits, DSNs for rejections and expiry, and retries.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::peers::{Postfix, Sink};
use common::*;
use epbsh::hooks::OpenGuard;
use epbsh::registry::{self, Registry};
use epbsh::relay;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_mail_reaches_the_owners_postfix_over_verified_tls() {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("cert");
    let (cert, key) = (ck.cert.pem(), ck.signing_key.serialize_pem());
    let postfix = Postfix::start("a.gov.test", Some((&cert, &key)));
    let ca = tempfile::NamedTempFile::new().expect("ca file");
    std::fs::write(ca.path(), &cert).expect("write ca");
    let ca_path = ca.path().to_path_buf();
    let r =
        start(vec![system(1, "a.gov.test", SERVER_A, postfix.addr)], &[], |c| c.delivery.ca_file = Some(ca_path)).await;

    let (ok, t) = swaks(
        r.relay.local_addr(),
        STRANGER,
        &[
            "--from",
            "sender@outside.example",
            "--to",
            "User@A.gov.test",
            "--header",
            "Subject: inbound-1",
            "--body",
            "inbound body marker",
        ],
    )
    .await;
    assert!(ok, "{t}");
    has(&t, "<-  250 2.0.0 OK: queued as");

    let got = postfix.wait_delivered(1, WAIT).await;
    let m = &got[0];
    for needle in [
        "Return-Path: <sender@outside.example>",
        "Delivered-To: User@a.gov.test",
        "Subject: inbound-1",
        "inbound body marker",
        "Received: from mail.client.test ([127.0.0.9])\n\tby relay.test with ESMTP;",
        "by receiver.test (Postfix) with ESMTPS",
    ] {
        assert!(m.contains(needle), "{needle:?} not in delivered message:\n{m}");
    }
    let metrics = r.relay.metrics();
    assert_eq!((metrics.tls_verified, metrics.tls_unverified, metrics.recipients_delivered), (1, 0, 1));
    r.relay.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_mail_follows_the_transport_map_and_the_sender_may_use_starttls() {
    let sink = Sink::start(&[]);
    let inbox = Sink::start(&[]);
    let r = start(vec![system(1, "a.gov.test", SERVER_A, inbox.addr)], &[("ext.test", sink.addr)], |_| {}).await;

    let (ok, t) = swaks(
        r.relay.local_addr(),
        SERVER_A,
        &[
            "-tls",
            "--from",
            "alice@a.gov.test",
            "--to",
            "bob@ext.test",
            "--header",
            "Subject: outbound-1",
            "--body",
            "outbound marker",
        ],
    )
    .await;
    assert!(ok, "{t}");
    for ext in ["250-SIZE 26214400", "250-PIPELINING", "250-8BITMIME", "250-STARTTLS", "250 ENHANCEDSTATUSCODES"] {
        has(&t, ext);
    }
    has(&t, "220 2.0.0 Ready to start TLS");
    has(&t, "=== TLS started");

    let m = &sink.wait_messages(1, WAIT).await[0];
    for needle in [
        "X-Mail-Args: <alice@a.gov.test>",
        "X-Rcpt-Args: <bob@ext.test>",
        "X-Helo-Args: relay.test",
        "by relay.test with ESMTPS;",
        "Subject: outbound-1",
        "outbound marker",
    ] {
        assert!(m.contains(needle), "{needle:?} not in:\n{m}");
    }
    assert!(inbox.messages().is_empty());
    assert_eq!(r.relay.metrics().tls_none, 1, "smtp-sink offers no STARTTLS");
    r.relay.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_open_relay() {
    let inbox = Sink::start(&[]);
    let mut gone = system(3, "gone.gov.test", "127.0.0.4", inbox.addr);
    gone.status = epbsh::registry::Status::Disconnected;
    let r = start(vec![system(1, "a.gov.test", SERVER_A, inbox.addr), gone], &[], |_| {}).await;
    let addr = r.relay.local_addr();
    let rcpt = |from_ip: &'static str, from: &'static str, to: &'static str| async move {
        swaks(addr, from_ip, &["--from", from, "--to", to, "--quit-after", "RCPT"]).await.1
    };
    has(&rcpt(STRANGER, "x@outside.example", "victim@elsewhere.example").await, "<** 550 5.7.1 relaying denied");
    has(&rcpt(STRANGER, "x@outside.example", "postmaster@elsewhere.example").await, "<** 550 5.7.1 relaying denied");
    has(&rcpt(STRANGER, "x@outside.example", "user@gone.gov.test").await, "<** 550 5.7.1 relaying denied");
    has(&rcpt("127.0.0.4", "x@gone.gov.test", "victim@elsewhere.example").await, "<** 550 5.7.1 relaying denied");
    has(&rcpt(STRANGER, "x@outside.example", "user@a.gov.test").await, "<-  250 2.1.5 Recipient OK");
    let t = rcpt(SERVER_A, "spoof@foreign.example", "victim@elsewhere.example").await;
    has(&t, "<** 550 5.7.1 sender domain foreign.example is not a domain of system sys-a.gov.test");
    has(&rcpt(SERVER_A, "alice@a.gov.test", "bob@elsewhere.example").await, "<-  250 2.1.5 Recipient OK");
    has(&rcpt(SERVER_A, "alice@a.gov.test", "bob@[192.0.2.1]").await, "<** 550 5.7.1 address literals");
    assert_eq!(r.relay.metrics().messages_accepted, 0);
    r.relay.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_and_recipient_limits_get_their_codes() {
    let inbox = Sink::start(&[]);
    let r = start(vec![system(1, "a.gov.test", SERVER_A, inbox.addr)], &[], |c| {
        c.limits.max_message_size = 10_000;
        c.limits.max_recipients = 3;
    })
    .await;
    let addr = r.relay.local_addr();
    let big = format!("{}\n", "x".repeat(70)).repeat(200);
    let (_, t) = swaks(addr, STRANGER, &["--from", "s@outside.example", "--to", "u@a.gov.test", "--body", &big]).await;
    has(&t, "250-SIZE 10000");
    has(&t, "<** 552 5.3.4 Message size exceeds fixed maximum message size");
    let to = "u1@a.gov.test,u2@a.gov.test,u3@a.gov.test,u4@a.gov.test";
    let (_, t) = swaks(addr, STRANGER, &["--from", "s@outside.example", "--to", to, "--quit-after", "RCPT"]).await;
    has(&t, "<** 452 4.5.3 Too many recipients");
    assert_eq!(r.relay.metrics().messages_accepted, 0);
    r.relay.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_rejection_bounces_to_the_sender_but_never_a_bounce() {
    let rejecting = Sink::start(&["-f", "RCPT", "-B", "550 5.1.1 no such user here"]);
    let inbox = Sink::start(&[]);
    let r =
        start(vec![system(1, "a.gov.test", SERVER_A, inbox.addr)], &[("reject.test", rejecting.addr)], |_| {}).await;
    let addr = r.relay.local_addr();
    let body = ["--header", "Subject: doomed", "--body", "doomed body"];
    let (ok, t) =
        swaks(addr, SERVER_A, &[&["--from", "alice@a.gov.test", "--to", "bob@reject.test"][..], &body].concat()).await;
    assert!(ok, "{t}");

    let dsn = &inbox.wait_messages(1, WAIT).await[0];
    for needle in [
        "X-Mail-Args: <>",
        "X-Rcpt-Args: <alice@a.gov.test>",
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Final-Recipient: rfc822; bob@reject.test",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1 no such user here",
        "Subject: doomed",
    ] {
        assert!(dsn.contains(needle), "{needle:?} not in DSN:\n{dsn}");
    }
    assert!(!dsn.contains("doomed body"), "the DSN quotes headers only");

    let (ok, t) = swaks(addr, SERVER_A, &[&["--from", "<>", "--to", "bob@reject.test"][..], &body].concat()).await;
    assert!(ok, "{t}");
    eventually("the null-sender message failed", WAIT, || r.relay.metrics().recipients_failed == 2).await;
    let m = r.relay.metrics();
    assert_eq!((m.dsns_queued, inbox.messages().len()), (1, 1), "no DSN for a bounce");
    eventually("queue empty", WAIT, || r.relay.queue_summary().is_empty()).await;
    r.relay.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_remote_is_retried_and_gets_the_mail_once_up() {
    let port = free_port();
    let inbox = Sink::start(&[]);
    let r = start(vec![system(1, "a.gov.test", SERVER_A, inbox.addr)], &[("later.test", loopback(port))], |_| {}).await;
    let (ok, t) = swaks(
        r.relay.local_addr(),
        SERVER_A,
        &["--from", "alice@a.gov.test", "--to", "bob@later.test", "--header", "Subject: patience"],
    )
    .await;
    assert!(ok, "{t}");
    eventually("two failed attempts", WAIT, || r.relay.metrics().recipients_deferred >= 2).await;
    let summary = r.relay.queue_summary();
    assert_eq!((summary[0].queued, summary[0].deferred), (1, 1), "{summary:?}");

    let late = Sink::start_on(port, &[]);
    let m = &late.wait_messages(1, WAIT).await[0];
    assert!(m.contains("Subject: patience") && m.contains("X-Rcpt-Args: <bob@later.test>"), "{m}");
    eventually("queue empty", WAIT, || r.relay.queue_summary().is_empty()).await;
    assert!(inbox.messages().is_empty(), "no DSN for a delivered message");
    r.relay.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_bounces_with_4_4_7() {
    let inbox = Sink::start(&[]);
    let down = loopback(free_port());
    let r = start(vec![system(1, "a.gov.test", SERVER_A, inbox.addr)], &[("down.test", down)], |c| {
        c.delivery.queue_lifetime = Duration::from_secs(1);
    })
    .await;
    let (ok, t) = swaks(r.relay.local_addr(), SERVER_A, &["--from", "alice@a.gov.test", "--to", "bob@down.test"]).await;
    assert!(ok, "{t}");
    let dsn = &inbox.wait_messages(1, WAIT).await[0];
    for needle in [
        "X-Rcpt-Args: <alice@a.gov.test>",
        "Final-Recipient: rfc822; bob@down.test",
        "Status: 4.4.7",
        "delivery time expired",
    ] {
        assert!(dsn.contains(needle), "{needle:?} not in DSN:\n{dsn}");
    }
    assert_eq!(r.relay.metrics().recipients_expired, 1);
    r.relay.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_message_keeps_its_retry_time_across_a_restart() {
    let port = free_port();
    let inbox = Sink::start(&[]);
    let spool = tempfile::tempdir().expect("tempdir");
    let systems = || vec![system(1, "a.gov.test", SERVER_A, inbox.addr)];
    let start_relay = |systems| {
        let mut cfg = config(spool.path(), &[("later.test", loopback(port))]);
        cfg.delivery.retry = vec![Duration::from_millis(200), Duration::from_secs(3600)];
        let registry = registry::handle(Registry::new(systems).expect("registry"));
        async move { (relay::start(cfg, registry.clone(), Arc::new(OpenGuard)).await.expect("relay starts"), registry) }
    };
    let (relay, _registry) = start_relay(systems()).await;
    let (ok, t) = swaks(relay.local_addr(), SERVER_A, &["--from", "alice@a.gov.test", "--to", "bob@later.test"]).await;
    assert!(ok, "{t}");
    eventually("two failed attempts", WAIT, || relay.metrics().recipients_deferred >= 2).await;
    relay.shutdown().await.expect("shutdown");

    // The next hop is up now, but the recorded retry is an hour away: a restarted relay
    // waits for it instead of trying every queued message at once.
    let late = Sink::start_on(port, &[]);
    let (relay, _registry) = start_relay(systems()).await;
    let summary = relay.queue_summary();
    assert_eq!((summary[0].queued, summary[0].deferred), (1, 1), "attempts survive: {summary:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(late.messages().is_empty(), "retried before its time");
    assert_eq!(relay.metrics().recipients_deferred, 0, "no attempt since the restart");
    relay.shutdown().await.expect("shutdown");
}
