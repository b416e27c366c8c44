//! RFC 5321 duties: `<postmaster>` and `postmaster@` the relay's name are accepted from
//! anyone, in any case, and reach the configured postmaster (or are routed like any
//! address when none is configured); the reply to the final dot is awaited 10 minutes,
//! so a slow next hop (a raw socket server that answers the dot after a pause longer
//! than the command timeout) receives one copy, not one per retry.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::peers::Sink;
use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postmaster_takes_mail_from_anyone() {
    let inbox = Sink::start(&[]);
    let duty = Sink::start(&[]);
    let systems = vec![system(1, "a.gov.test", SERVER_A, inbox.addr)];
    let r = start(systems.clone(), &[("ops.test", duty.addr)], |c| c.postmaster = Some("duty@ops.test".into())).await;
    let addr = r.relay.local_addr();
    for (ip, from, to) in [
        (STRANGER, "someone@outside.test", "postmaster"),
        (STRANGER, "<>", "PostMaster@RELAY.test"),
        (SERVER_A, "alice@a.gov.test", "postmaster@relay.test"),
    ] {
        let (ok, t) = swaks(addr, ip, &["--from", from, "--to", to, "--header", "Subject: to the postmaster"]).await;
        assert!(ok, "{t}");
        has(&t, "<-  250 2.1.5 Recipient OK");
    }
    let got = duty.wait_messages(3, WAIT).await;
    assert!(got.iter().all(|m| m.contains("X-Rcpt-Args: <duty@ops.test>")), "{got:?}");
    let (_, t) =
        swaks(addr, STRANGER, &["--from", "x@outside.test", "--to", "root@relay.test", "--quit-after", "RCPT"]).await;
    has(&t, "<** 550 5.7.1 relaying denied");
    r.relay.shutdown().await.expect("shutdown");

    // No postmaster configured: postmaster@relay.test is routed like any address.
    let own = Sink::start(&[]);
    let r = start(systems, &[("relay.test", own.addr)], |_| {}).await;
    let (ok, t) = swaks(r.relay.local_addr(), STRANGER, &["--from", "x@outside.test", "--to", "postmaster"]).await;
    assert!(ok, "{t}");
    let got = own.wait_messages(1, WAIT).await;
    assert!(got[0].contains("X-Rcpt-Args: <postmaster@relay.test>"), "{got:?}");
    r.relay.shutdown().await.expect("shutdown");
}

/// An SMTP server that answers the final dot after `pause`; counts the dots it got.
async fn slow_next_hop(pause: Duration) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let dots = Arc::new(AtomicUsize::new(0));
    let counted = dots.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, pause, counted.clone()));
        }
    });
    (addr, dots)
}

async fn serve(stream: tokio::net::TcpStream, pause: Duration, dots: Arc<AtomicUsize>) {
    let mut io = BufReader::new(stream);
    let _ = io.get_mut().write_all(b"220 slow.test ESMTP\r\n").await;
    let (mut line, mut in_data) = (String::new(), false);
    loop {
        line.clear();
        if io.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match (in_data, line.as_str(), verb.as_str()) {
            (true, ".\r\n", _) => {
                dots.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(pause).await;
                in_data = false;
                b"250 2.0.0 taken, slowly\r\n"
            }
            (true, _, _) => continue,
            (false, _, "DATA") => {
                in_data = true;
                b"354 go ahead\r\n"
            }
            (false, _, "QUIT") => b"221 bye\r\n",
            _ => b"250 ok\r\n",
        };
        if io.get_mut().write_all(reply).await.is_err() || verb == "QUIT" {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_to_the_final_dot_is_waited_for() {
    let (slow, dots) = slow_next_hop(Duration::from_secs(3)).await;
    let inbox = Sink::start(&[]);
    let r = start(vec![system(1, "a.gov.test", SERVER_A, inbox.addr)], &[("slow.test", slow)], |c| {
        c.delivery.command_timeout = Duration::from_secs(1);
    })
    .await;
    let (ok, t) = swaks(r.relay.local_addr(), SERVER_A, &["--from", "alice@a.gov.test", "--to", "bob@slow.test"]).await;
    assert!(ok, "{t}");
    eventually("delivered", WAIT, || r.relay.metrics().recipients_delivered == 1).await;
    let m = r.relay.metrics();
    assert_eq!((dots.load(Ordering::SeqCst), m.recipients_deferred), (1, 0), "{m:?}");
    r.relay.shutdown().await.expect("shutdown");
}
