//! The session's clocks: a command line must arrive whole within the idle timeout however
//! its bytes trickle in; a DATA transfer must keep a minimum rate (each byte buys time,
//! so a fast transfer may outlast the idle timeout); a session ends at its longest time
//! whatever it does. The clients here pace their bytes: the pace is what is tested.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, DuplexStream, WriteHalf};
use tokio::task::JoinHandle;

use super::harness::*;
use crate::smtp::SessionEnd;

/// Writes `chunk` every `every` until `times` are written or the server closes.
fn pace(mut w: WriteHalf<DuplexStream>, chunk: Vec<u8>, every: Duration, times: usize) -> JoinHandle<usize> {
    tokio::spawn(async move {
        for n in 0..times {
            if w.write_all(&chunk).await.is_err() || w.flush().await.is_err() {
                return n;
            }
            tokio::time::sleep(every).await;
        }
        times
    })
}

fn split(c: Client<DuplexStream>) -> (Client<tokio::io::ReadHalf<DuplexStream>>, WriteHalf<DuplexStream>) {
    let (r, w) = tokio::io::split(c.into_inner());
    (Client::new(r), w)
}

#[tokio::test]
async fn a_command_trickled_a_byte_at_a_time_still_times_out() {
    let mut cfg = config();
    cfg.idle_timeout = Duration::from_millis(300);
    let (mut c, task) = start(cfg, Arc::new(MemSink::default()), STRANGER_IP);
    ehlo(&mut c).await;
    let (mut r, w) = split(c);
    // 400 bytes, one every 50 ms: each arrives well within the idle timeout.
    let writer = pace(w, b"N".to_vec(), Duration::from_millis(50), 400);
    r.expect("421 4.4.2 gw.test Idle timeout").await;
    assert_eq!(end(task).await, SessionEnd::IdleTimeout);
    writer.abort();
}

#[tokio::test]
async fn data_below_the_minimum_rate_is_cut() {
    let mut cfg = config();
    cfg.idle_timeout = Duration::from_millis(300);
    cfg.min_data_rate = 1000;
    let sink = Arc::new(MemSink::default());
    let (mut c, task) = start(cfg, sink.clone(), STRANGER_IP);
    super::limits::open_tx(&mut c).await;
    let (mut r, w) = split(c);
    // 20 bytes a second against 1000 wanted.
    let writer = pace(w, b"x".to_vec(), Duration::from_millis(50), 400);
    r.expect("421 4.4.2 gw.test Transfer too slow").await;
    assert_eq!(end(task).await, SessionEnd::TooSlow);
    assert!(sink.messages().is_empty());
    writer.abort();
}

#[tokio::test]
async fn a_transfer_at_a_good_rate_may_outlast_the_idle_timeout() {
    let mut cfg = config();
    cfg.idle_timeout = Duration::from_millis(500);
    cfg.min_data_rate = 100;
    let sink = Arc::new(MemSink::default());
    let (mut c, task) = start(cfg, sink.clone(), STRANGER_IP);
    super::limits::open_tx(&mut c).await;
    // 98-byte lines every 50 ms: 20 times the minimum, 1 s in all, twice the idle timeout.
    let line = format!("{}\r\n", "y".repeat(96));
    for _ in 0..20 {
        c.send(&line).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.send(".\r\nQUIT\r\n").await;
    c.expect("250 2.0.0").await;
    c.expect("221").await;
    assert_eq!(end(task).await, SessionEnd::Quit);
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn a_busy_session_ends_at_its_longest_time() {
    let mut cfg = config();
    cfg.max_session_time = Duration::from_millis(500);
    cfg.max_errors = 1000;
    let (mut c, task) = start(cfg, Arc::new(MemSink::default()), STRANGER_IP);
    ehlo(&mut c).await;
    let (mut r, w) = split(c);
    let writer = pace(w, b"NOOP\r\n".to_vec(), Duration::from_millis(20), 1000);
    for _ in 0..1000 {
        let reply = r.reply().await;
        if reply.starts_with("421") {
            assert!(reply.starts_with("421 4.4.2 gw.test Session time limit reached"), "{reply}");
            break;
        }
        assert!(reply.starts_with("250 2.0.0"), "{reply}");
    }
    assert_eq!(end(task).await, SessionEnd::TimeLimit);
    writer.abort();
}
