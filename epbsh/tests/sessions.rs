//! What one client may take of the listener, over real TCP with raw socket clients: a
//! few sessions per outside network (the rest get 421 4.7.0, a connected system in the
//! same network and other networks still get in; the many-sources variants are in
//! `slots.rs`), a
//! command line whole within the idle timeout however its bytes trickle, a minimum rate
//! in DATA, and a longest session; NUL bytes refused. The clients pace their bytes; every
//! loop is bounded.

mod common;

use std::time::Duration;

use common::peers::Sink;
use common::raw::Raw;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_network_cannot_take_every_session() {
    let inbox = Sink::start(&[]);
    let r = start(vec![system(1, "a.gov.test", SERVER_A, inbox.addr)], &[], |c| c.limits.max_sessions_per_network = 3)
        .await;
    let addr = r.relay.local_addr();
    let mut open = Vec::new();
    for from in [STRANGER, STRANGER, "127.0.0.10"] {
        let mut c = Raw::connect(addr, from).await;
        c.expect("220").await;
        open.push(c);
    }
    for from in [STRANGER, "127.0.0.250"] {
        let mut fourth = Raw::connect(addr, from).await;
        fourth.expect("421 4.7.0 relay.test too many connections from your network").await;
        assert_eq!(fourth.reply().await, None, "closed after the 421");
    }
    let mut system = Raw::connect(addr, SERVER_A).await;
    system.expect("220").await;
    let mut next_network = Raw::connect(addr, "127.0.1.9").await;
    next_network.expect("220").await;
    open.pop().expect("one").command("QUIT", "221").await;
    assert_eq!(r.relay.metrics().sessions_refused_per_network, 2);
    let mut again = None;
    for _ in 0..100 {
        let mut c = Raw::connect(addr, STRANGER).await;
        if c.reply().await.is_some_and(|g| g.starts_with("220")) {
            again = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "the network got its place back");
    r.relay.shutdown().await.expect("shutdown");
}

/// Sends `chunk` every `every` until the server closes or `times` are sent; returns the
/// closing reply.
async fn trickle(c: &mut Raw, chunk: &[u8], every: Duration, times: usize) -> String {
    for _ in 0..times {
        if !c.try_send(chunk).await {
            break;
        }
        tokio::time::sleep(every).await;
    }
    let mut last = String::new();
    while let Some(r) = c.reply().await {
        last = r;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_commands_slow_data_and_long_sessions_end_with_421() {
    let inbox = Sink::start(&[]);
    let r = start(vec![system(1, "a.gov.test", SERVER_A, inbox.addr)], &[], |c| {
        c.limits.idle_timeout = Duration::from_secs(1);
        c.limits.min_data_rate = 1000;
        c.limits.max_session_time = Duration::from_secs(3);
        c.limits.max_errors = 1000;
    })
    .await;
    let addr = r.relay.local_addr();

    // One byte every 100 ms: each well within the idle timeout, the line never whole.
    let mut c = Raw::greeted(addr, STRANGER).await;
    let last = trickle(&mut c, b"N", Duration::from_millis(100), 300).await;
    assert!(last.starts_with("421 4.4.2 relay.test Idle timeout"), "{last:?}");

    // 20 bytes a second in DATA against 1000 wanted.
    let mut c = Raw::greeted(addr, STRANGER).await;
    c.command("MAIL FROM:<x@outside.test>", "250").await;
    c.command("RCPT TO:<alice@a.gov.test>", "250").await;
    c.command("DATA", "354").await;
    let last = trickle(&mut c, b"xx", Duration::from_millis(100), 300).await;
    assert!(last.starts_with("421 4.4.2 relay.test Transfer too slow"), "{last:?}");

    // Always busy, never idle: ends at the longest session.
    let mut c = Raw::greeted(addr, STRANGER).await;
    let last = trickle(&mut c, b"NOOP\r\n", Duration::from_millis(50), 600).await;
    assert!(last.starts_with("421 4.4.2 relay.test Session time limit reached"), "{last:?}");
    assert_eq!(r.relay.metrics().messages_accepted, 0);
    r.relay.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_bytes_are_refused_like_bare_line_ends() {
    let inbox = Sink::start(&[]);
    let r = start(vec![system(1, "a.gov.test", SERVER_A, inbox.addr)], &[], |_| {}).await;
    let mut c = Raw::greeted(r.relay.local_addr(), STRANGER).await;
    for content in
        [&b"Subject: a\0b\r\n\r\nbody\r\n.\r\n"[..], b"Subject: a\r\n\r\nbo\0dy\r\n.\r\n", b"x\r\n\0\r\n.\r\n"]
    {
        c.command("MAIL FROM:<x@outside.test>", "250").await;
        c.command("RCPT TO:<alice@a.gov.test>", "250").await;
        c.command("DATA", "354").await;
        c.send(content).await;
        c.expect("550 5.6.0 Message contains NUL bytes").await;
    }
    c.command("MAIL FROM:<x\0@outside.test>", "500 5.5.2").await;
    c.command("QUIT", "221").await;
    assert_eq!(r.relay.metrics().messages_accepted, 0);
    r.relay.shutdown().await.expect("shutdown");
}
