//! What piles up when a peer misbehaves stays bounded. A connected system's server that
//! accepts connections and never answers holds at most `max_per_destination` of the
//! `max_concurrent` deliveries: mail to another system is delivered while the stalled
//! connections are still open, and the stalled mail stays queued. And when the spool's
//! file system has less room than `min_spool_free`, new mail is refused with 452 4.3.1 at
//! MAIL, before anything is spooled.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use common::peers::Sink;
use common::*;
use epbsh::relay::VerifyMode;
use tokio::io::AsyncReadExt;

const WAIT: Duration = Duration::from_secs(30);

/// A server that accepts and never answers; counts its connections.
struct Tarpit {
    addr: std::net::SocketAddr,
    open: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl Tarpit {
    async fn start() -> Tarpit {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind tarpit");
        let addr = listener.local_addr().expect("tarpit addr");
        let (open, most, closed): (Arc<AtomicUsize>, Arc<AtomicUsize>, Arc<AtomicUsize>) = Default::default();
        let counts = (Arc::clone(&open), Arc::clone(&most), Arc::clone(&closed));
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let (open, most, closed) = (Arc::clone(&counts.0), Arc::clone(&counts.1), Arc::clone(&counts.2));
                let now = open.fetch_add(1, SeqCst) + 1;
                most.fetch_max(now, SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 512];
                    while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
                    open.fetch_sub(1, SeqCst);
                    closed.fetch_add(1, SeqCst);
                });
            }
        });
        Tarpit { addr, open, most, closed }
    }
}

async fn send(r: &Running, to: &str, subject: &str) {
    let args = ["--from", "sender@outside.example", "--to", to, "--header", &format!("Subject: {subject}")];
    let (ok, t) = swaks(r.relay.local_addr(), STRANGER, &args).await;
    assert!(ok, "{t}");
    has(&t, "<-  250 2.0.0 OK: queued as");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalling_system_holds_only_its_share_of_deliveries() {
    let tarpit = Tarpit::start().await;
    let sink = Sink::start(&[]);
    let systems = vec![system(1, "slow.gov.test", SERVER_A, tarpit.addr), system(2, "b.gov.test", SERVER_B, sink.addr)];
    let r = start(systems, &[], |c| {
        c.verify.mode = VerifyMode::Off;
        c.delivery.max_concurrent = 4;
        c.delivery.max_per_destination = 2;
        c.delivery.command_timeout = Duration::from_secs(120);
        c.delivery.data_timeout = Duration::from_secs(120);
    })
    .await;
    for i in 0..8 {
        send(&r, "user@slow.gov.test", &format!("stalled {i}")).await;
    }
    eventually("the stalling system holds two deliveries", WAIT, || tarpit.open.load(SeqCst) == 2).await;
    send(&r, "user@b.gov.test", "moves on").await;
    let got = sink.wait_messages(1, WAIT).await;
    assert!(got[0].contains("Subject: moves on"), "{}", got[0]);
    assert_eq!(tarpit.closed.load(SeqCst), 0, "delivered while the stalled connections were still open");
    assert_eq!(tarpit.most.load(SeqCst), 2, "never more than its share");
    // The delivered message leaves the queue once its result is recorded; the stalled stay.
    let queued = || r.relay.queue_summary().iter().map(|s| s.queued).sum::<usize>();
    eventually("only the stalled mail is queued", WAIT, || queued() == 8).await;
    assert_eq!(tarpit.open.load(SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_short_of_room_refuses_new_mail_at_mail_from() {
    let sink = Sink::start(&[]);
    let r = start(vec![system(2, "b.gov.test", SERVER_B, sink.addr)], &[], |c| {
        c.verify.mode = VerifyMode::Off;
        c.limits.min_spool_free = u64::MAX;
    })
    .await;
    let args = ["--from", "sender@outside.example", "--to", "user@b.gov.test"];
    let (ok, t) = swaks(r.relay.local_addr(), STRANGER, &args).await;
    assert!(!ok, "{t}");
    has(&t, "<** 452 4.3.1 Insufficient system storage");
    let (ok, t) =
        swaks(r.relay.local_addr(), SERVER_B, &["--from", "admin@b.gov.test", "--to", "x@outside.example"]).await;
    assert!(!ok, "a connected system is told the same: {t}");
    has(&t, "<** 452 4.3.1");
    assert!(r.relay.queue_summary().iter().all(|s| s.queued == 0), "nothing spooled");
}
