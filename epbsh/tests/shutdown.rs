//! What each session meets when the relay stops, over the real listener with raw socket
//! clients, one in every state a session can be in: idle and in the middle of a command
//! line get 421 4.3.2 at once; a DATA transfer finished within the grace is answered 250
//! and then 421; a transfer still open when the grace ends, and a recipient check still
//! waiting for the system's server, get 421 4.3.2 then; a TLS handshake still open is
//! closed (no reply fits in it). The relay is then started again on the same spool: the
//! message answered 250 is delivered to smtp-sink, the cut one never (it was not
//! spooled). BDAT is not offered (CHUNKING is not advertised), so no transfer can be in it.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use common::peers::Sink;
use common::raw::Raw;
use common::*;
use epbsh::hooks::OpenGuard;
use epbsh::registry::{self, MailSystem, Registry};
use epbsh::relay::{self, Relay};
use tokio::io::AsyncReadExt;

const WAIT: Duration = Duration::from_secs(30);
const SHUTTING_DOWN: &str = "421 4.3.2 relay.test Service shutting down";

/// A server that accepts and never answers (a system's server that stalls a recipient
/// check); counts the connections it took.
async fn tarpit() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind tarpit");
    let addr = listener.local_addr().expect("tarpit addr");
    let taken = Arc::new(AtomicUsize::new(0));
    let count = taken.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            count.fetch_add(1, SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 512];
                while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    (addr, taken)
}

/// A relay on `spool` sending mail for ext.test to `next_hop`, with a 1 s grace and
/// recipient checks that wait up to a minute.
async fn relay_on(spool: &Path, systems: &[MailSystem], next_hop: SocketAddr) -> Relay {
    let mut cfg = config(spool, &[("ext.test", next_hop)]);
    cfg.limits.shutdown_grace = Duration::from_secs(1);
    cfg.verify.timeout = Duration::from_secs(60);
    let registry = registry::handle(Registry::new(systems.to_vec()).expect("registry"));
    relay::start(cfg, registry, Arc::new(OpenGuard)).await.expect("relay starts")
}

/// A transaction from system A's server up to the first half of its content.
async fn half_sent(relay: SocketAddr, subject: &str) -> Raw {
    let mut c = Raw::greeted(relay, SERVER_A).await;
    c.command("MAIL FROM:<alice@a.gov.test>", "250").await;
    c.command("RCPT TO:<bob@ext.test>", "250").await;
    c.command("DATA", "354").await;
    c.send(format!("Subject: {subject}\r\n\r\nfirst half\r\n").as_bytes()).await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_session_gets_421_and_only_what_was_answered_250_is_spooled() {
    let spool = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(&[]);
    let (stall, probes) = tarpit().await;
    let systems = [system(1, "a.gov.test", SERVER_A, sink.addr), system(2, "b.gov.test", SERVER_B, stall)];
    // Nothing is delivered before the restart: the first relay's next hop refuses.
    let r = relay_on(spool.path(), &systems, loopback(9)).await;
    let addr = r.local_addr();

    let mut finishing = half_sent(addr, "finished within the grace").await;
    let mut cut = half_sent(addr, "cut at the end of the grace").await;
    let mut idle = Raw::greeted(addr, STRANGER).await;
    let mut partial = Raw::greeted(addr, STRANGER).await;
    partial.send(b"MAIL FROM:<x@outs").await;
    let mut checking = Raw::greeted(addr, STRANGER).await;
    checking.command("MAIL FROM:<x@outside.test>", "250").await;
    checking.send(b"RCPT TO:<carol@b.gov.test>\r\n").await;
    eventually("the recipient check reached the stalling server", WAIT, || probes.load(SeqCst) == 1).await;
    let mut handshake = Raw::greeted(addr, STRANGER).await;
    handshake.command("STARTTLS", "220 2.0.0").await;

    let stopping = tokio::spawn(r.shutdown());
    idle.expect(SHUTTING_DOWN).await;
    partial.expect(SHUTTING_DOWN).await;
    finishing.send(b"second half\r\n.\r\n").await;
    finishing.expect("250 2.0.0 OK: queued as").await;
    finishing.expect(SHUTTING_DOWN).await;
    // Those still waiting when the grace ends:
    cut.expect(SHUTTING_DOWN).await;
    let _ = cut.try_send(b"second half\r\n.\r\n").await;
    assert_eq!(cut.reply().await, None, "nothing after the 421: the message is not taken");
    checking.expect(SHUTTING_DOWN).await;
    assert_eq!(handshake.reply().await, None, "a TLS handshake is closed without a plaintext reply");
    for c in [&mut idle, &mut partial, &mut finishing, &mut checking] {
        assert_eq!(c.reply().await, None, "closed after the 421");
    }
    tokio::time::timeout(WAIT, stopping).await.expect("the relay stops").expect("join").expect("shutdown");

    // The next start on the same spool delivers what was answered 250, and only that.
    let again = relay_on(spool.path(), &systems, sink.addr).await;
    let delivered = sink.wait_messages(1, WAIT).await;
    assert!(delivered[0].contains("Subject: finished within the grace"), "{}", delivered[0]);
    let queued = || again.queue_summary().iter().map(|q| q.queued).sum::<usize>();
    eventually("the queue is empty", WAIT, || queued() == 0).await;
    let delivered = sink.messages();
    assert_eq!(delivered.len(), 1, "the cut message was never spooled: {delivered:#?}");
    again.shutdown().await.expect("shutdown");
}
