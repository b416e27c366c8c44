//! End-to-end printout: 20 concurrent SMTP sessions over duplex pipes, each
//! sending 5 KiB messages into a real spool (no timing assertion).

use std::sync::Arc;
use std::time::Instant;

use super::harness::*;
use crate::spool::{Spool, SpoolConfig};

async fn client(mut c: Client<tokio::io::DuplexStream>, messages: usize, body: Arc<String>) {
    ehlo(&mut c).await;
    for _ in 0..messages {
        c.send("MAIL FROM:<a@agency.gov.example>\r\nRCPT TO:<b@agency.gov.example>\r\nDATA\r\n").await;
        c.expect("250").await;
        c.expect("250").await;
        c.expect("354").await;
        c.send(&body).await;
        c.expect("250 2.0.0").await;
    }
    c.send("QUIT\r\n").await;
    c.expect("221").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_printout_20_sessions_into_spool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (spool, _) = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
    let line = format!("{}\r\n", "m".repeat(78));
    let body = Arc::new(format!("Subject: load\r\n\r\n{}.\r\n", line.repeat(64)));
    let (sessions, per) = (20, 50);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..sessions {
        let (c, task) = start_session(&spool);
        tasks.push((tokio::spawn(client(c, per, body.clone())), task));
    }
    for (c, s) in tasks {
        c.await.expect("client");
        end(s).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let st = spool.stats();
    println!(
        "smtp+spool throughput: {} msgs (5 KiB, {sessions} sessions) in {secs:.3}s = {:.0} msg/s, {} fsyncs",
        sessions * per,
        (sessions * per) as f64 / secs,
        st.fsyncs
    );
    assert_eq!(st.live_messages, sessions * per);
    spool.shutdown().await.expect("shutdown");
}

fn start_session(spool: &Spool) -> (Client<tokio::io::DuplexStream>, Running) {
    let mut cfg = config();
    cfg.max_message_size = 1 << 20;
    start(cfg, Arc::new(spool.clone()), STRANGER_IP)
}
