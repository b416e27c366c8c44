//! Limits and their reply codes: line length, SIZE, actual size, recipient
//! count, idle timeout, bare LF in commands and in DATA (smuggling).

use std::sync::Arc;
use std::time::Duration;

use super::harness::*;
use crate::smtp::SessionEnd;

pub(super) async fn open_tx(c: &mut Client<tokio::io::DuplexStream>) {
    ehlo(c).await;
    c.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<bob@agency.gov.example>\r\nDATA\r\n").await;
    c.expect("250 2.1.0").await;
    c.expect("250 2.1.5").await;
    c.expect("354").await;
}

#[tokio::test]
async fn command_line_too_long() {
    let (mut c, task) = start(config(), Arc::new(MemSink::default()), STRANGER_IP);
    ehlo(&mut c).await;
    // 998 characters + CRLF = 1000: allowed (unknown command, but parsed).
    c.send(&format!("NOOP {}\r\n", "x".repeat(993))).await;
    c.expect("250 2.0.0").await;
    c.send(&format!("NOOP {}\r\n", "x".repeat(994))).await;
    c.expect("500 5.5.6").await;
    // Far longer than any buffer, in pieces: still one error, session usable.
    for _ in 0..20 {
        c.send(&"y".repeat(4000)).await;
    }
    c.send("\r\nNOOP\r\n").await;
    c.expect("500 5.5.6").await;
    c.expect("250 2.0.0").await;
    c.send("QUIT\r\n").await;
    c.expect("221").await;
    end(task).await;
}

#[tokio::test]
async fn declared_size_too_big() {
    let (mut c, task) = start(config(), Arc::new(MemSink::default()), STRANGER_IP);
    ehlo(&mut c).await;
    c.send("MAIL FROM:<a@b.example> SIZE=10001\r\nMAIL FROM:<a@b.example> SIZE=10000\r\nQUIT\r\n").await;
    c.expect("552 5.3.4").await;
    c.expect("250 2.1.0").await;
    c.expect("221").await;
    end(task).await;
}

#[tokio::test]
async fn actual_size_too_big_is_answered_after_the_final_dot() {
    let sink = Arc::new(MemSink::default());
    let (mut c, task) = start(config(), sink.clone(), STRANGER_IP);
    open_tx(&mut c).await;
    let line = format!("{}\r\n", "z".repeat(98));
    for _ in 0..150 {
        c.send(&line).await;
    }
    c.send(".\r\nNOOP\r\n").await;
    c.expect("552 5.3.4").await;
    c.expect("250 2.0.0").await;
    c.send("QUIT\r\n").await;
    c.expect("221").await;
    end(task).await;
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn data_line_too_long() {
    let sink = Arc::new(MemSink::default());
    let (mut c, task) = start(config(), sink.clone(), STRANGER_IP);
    open_tx(&mut c).await;
    c.send(&format!("{}\r\nshort\r\n.\r\nQUIT\r\n", "w".repeat(1500))).await;
    c.expect("500 5.5.6").await;
    c.expect("221").await;
    end(task).await;
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn too_many_recipients() {
    let (mut c, task) = start(config(), Arc::new(MemSink::default()), STRANGER_IP);
    ehlo(&mut c).await;
    c.send("MAIL FROM:<a@b.example>\r\n").await;
    c.expect("250").await;
    for i in 0..4 {
        c.send(&format!("RCPT TO:<r{i}@agency.gov.example>\r\n")).await;
    }
    for code in ["250 2.1.5", "250 2.1.5", "250 2.1.5", "452 4.5.3"] {
        c.expect(code).await;
    }
    c.send("QUIT\r\n").await;
    c.expect("221").await;
    end(task).await;
}

#[tokio::test]
async fn idle_timeout_closes_with_421() {
    let mut cfg = config();
    cfg.idle_timeout = Duration::from_millis(200);
    let (mut c, task) = start(cfg, Arc::new(MemSink::default()), STRANGER_IP);
    ehlo(&mut c).await;
    c.expect("421 4.4.2").await;
    assert!(c.closed().await);
    assert_eq!(end(task).await, SessionEnd::IdleTimeout);
}

#[tokio::test]
async fn a_stalled_transfer_ends_inside_data() {
    let mut cfg = config();
    cfg.idle_timeout = Duration::from_millis(200);
    let (mut c, task) = start(cfg, Arc::new(MemSink::default()), STRANGER_IP);
    open_tx(&mut c).await;
    c.send("partial line").await;
    c.expect("421 4.4.2 gw.test Transfer too slow").await;
    assert_eq!(end(task).await, SessionEnd::TooSlow);
}

#[tokio::test]
async fn bare_lf_command_is_refused() {
    let (mut c, task) = start(config(), Arc::new(MemSink::default()), STRANGER_IP);
    ehlo(&mut c).await;
    c.send("NOOP\nNOOP\r\n").await;
    c.expect("500 5.5.2").await;
    c.expect("250 2.0.0").await;
    c.send("QUIT\r\n").await;
    c.expect("221").await;
    end(task).await;
}

#[tokio::test]
async fn smuggled_end_of_data_is_not_honoured() {
    let sink = Arc::new(MemSink::default());
    let (mut c, task) = start(config(), sink.clone(), STRANGER_IP);
    open_tx(&mut c).await;
    c.send(concat!(
        "Subject: smuggle\r\n\r\nhi\n.\r\n",
        "MAIL FROM:<admin@agency.gov.example>\r\n",
        "RCPT TO:<victim@agency.gov.example>\r\n",
        "DATA\r\n",
        "forged\r\n",
        ".\r\n",
        "QUIT\r\n",
    ))
    .await;
    // One reply for the whole thing: the smuggled commands were content.
    c.expect("550 5.6.0").await;
    c.expect("221").await;
    end(task).await;
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn bare_cr_in_data_rejects_the_message() {
    let sink = Arc::new(MemSink::default());
    let (mut c, task) = start(config(), sink.clone(), STRANGER_IP);
    open_tx(&mut c).await;
    c.send("a\r.\r\nb\r\n.\r\nQUIT\r\n").await;
    c.expect("550 5.6.0").await;
    c.expect("221").await;
    end(task).await;
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn syntax_errors_use_501_and_unknown_500() {
    let (mut c, task) = start(config(), Arc::new(MemSink::default()), STRANGER_IP);
    ehlo(&mut c).await;
    c.send("MAIL FROM:bob@b.example\r\nMAIL FROM:<bob@@b>\r\nXYZZY\r\nEHLO\r\nQUIT\r\n").await;
    for code in ["501 5.1.7", "501 5.1.7", "500 5.5.2", "501 5.5.4", "221"] {
        c.expect(code).await;
    }
    end(task).await;
}

#[tokio::test]
async fn nul_bytes_in_data_reject_the_message() {
    let sink = Arc::new(MemSink::default());
    let (mut c, task) = start(config(), sink.clone(), STRANGER_IP);
    open_tx(&mut c).await;
    c.send("Subject: a\0b\r\n\r\nbody\r\n.\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<bob@agency.gov.example>\r\n").await;
    c.expect("550 5.6.0 Message contains NUL bytes").await;
    c.expect("250 2.1.0").await;
    c.expect("250 2.1.5").await;
    c.send("DATA\r\n").await;
    c.expect("354").await;
    c.send("body\r\n\0\r\n.\r\nQUIT\r\n").await;
    c.expect("550 5.6.0 Message contains NUL bytes").await;
    c.expect("221").await;
    end(task).await;
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn too_many_hops_are_refused_after_the_dot() {
    let sink = Arc::new(MemSink::default());
    let mut cfg = config();
    cfg.max_message_size = 100_000;
    let (mut c, task) = start(cfg, sink.clone(), STRANGER_IP);
    open_tx(&mut c).await;
    // Ours makes 50: allowed.
    c.send(&format!("{}\r\nbody\r\n.\r\n", "Received: from x by y\r\n".repeat(49))).await;
    c.expect("250 2.0.0").await;
    c.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<bob@agency.gov.example>\r\nDATA\r\n").await;
    c.expect("250 2.1.0").await;
    c.expect("250 2.1.5").await;
    c.expect("354").await;
    c.send(&format!("{}\r\nbody\r\n.\r\nQUIT\r\n", "Received: from x by y\r\n".repeat(50))).await;
    c.expect("554 5.4.6 Too many hops").await;
    c.expect("221").await;
    end(task).await;
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn messages_in_flight_share_a_memory_budget() {
    let mut cfg = config();
    cfg.data_memory = crate::smtp::DataMemory::new(16 << 10);
    let memory = cfg.data_memory.clone();
    let sink = Arc::new(MemSink::default());
    let (mut a, task_a) = start(cfg.clone(), sink.clone(), STRANGER_IP);
    let (mut b, task_b) = start(cfg, sink.clone(), STRANGER_IP);
    open_tx(&mut a).await;
    let line = format!("{}\r\n", "a".repeat(98));
    a.send(&line.repeat(60)).await;
    open_tx(&mut b).await;
    b.send(&line.repeat(60)).await;
    b.send(".\r\nMAIL FROM:<a@b.example> SIZE=9000\r\n").await;
    b.expect("452 4.3.1 Insufficient system storage").await;
    b.expect("452 4.3.1").await;
    a.send(".\r\nQUIT\r\n").await;
    a.expect("250 2.0.0").await;
    a.expect("221").await;
    end(task_a).await;
    assert_eq!(memory.available(), 16 << 10, "every byte given back");
    b.send("MAIL FROM:<a@b.example> SIZE=9000\r\nRCPT TO:<bob@agency.gov.example>\r\nDATA\r\n").await;
    b.expect("250 2.1.0").await;
    b.expect("250 2.1.5").await;
    b.expect("354").await;
    b.send(&format!("{}.\r\nQUIT\r\n", line.repeat(60))).await;
    b.expect("250 2.0.0").await;
    b.expect("221").await;
    end(task_b).await;
    assert_eq!(sink.messages().len(), 2);
}
