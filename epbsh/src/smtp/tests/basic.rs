//! Protocol basics: pipelined happy path, EHLO capabilities, sequence errors,
//! dot-stuffing with the final dot split across writes, sink failure, spool.

use std::sync::Arc;

use super::harness::*;
use crate::smtp::SessionEnd;
use crate::spool::{Spool, SpoolConfig};

#[tokio::test]
async fn pipelined_happy_path_replies_in_order() {
    let sink = Arc::new(MemSink::default());
    let (mut c, task) = start(config(), sink.clone(), STRANGER_IP);
    c.expect("220 ").await;
    c.send(concat!(
        "EHLO client.test\r\n",
        "MAIL FROM:<alice@outside.example> SIZE=60 BODY=8BITMIME\r\n",
        "RCPT TO:<bob@agency.gov.example>\r\n",
        "RCPT TO:<carol@agency.gov.example>\r\n",
        "DATA\r\n",
    ))
    .await;
    let ehlo = c.expect("250-gw.test Hello client.test [198.51.100.66]").await;
    for cap in ["SIZE 10000", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"] {
        assert!(ehlo.contains(cap), "{cap} missing in {ehlo}");
    }
    assert!(!ehlo.contains("STARTTLS"), "no TLS configured");
    c.expect("250 2.1.0").await;
    c.expect("250 2.1.5").await;
    c.expect("250 2.1.5").await;
    c.expect("354 ").await;
    c.send("Subject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n").await;
    c.expect("250 2.0.0 OK: queued as").await;
    c.expect("221 2.0.0").await;
    assert_eq!(end(task).await, SessionEnd::Quit);
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 1);
    let (env, body) = &msgs[0];
    assert_eq!(env.sender.as_ref().map(ToString::to_string).as_deref(), Some("alice@outside.example"));
    assert_eq!(env.recipients.len(), 2);
    assert_eq!(env.helo, "client.test");
    let text = String::from_utf8_lossy(body);
    assert!(text.starts_with("Received: from client.test ([198.51.100.66])\r\n\tby gw.test with ESMTP;"), "{text}");
    assert!(text.ends_with("\r\nSubject: hi\r\n\r\nhello\r\n"), "{text}");
}

#[tokio::test]
async fn dot_stuffing_and_final_dot_split_across_writes() {
    let sink = Arc::new(MemSink::default());
    let (mut c, task) = start(config(), sink.clone(), STRANGER_IP);
    ehlo(&mut c).await;
    c.send("MAIL FROM:<>\r\nRCPT TO:<bob@agency.gov.example>\r\nDATA\r\n").await;
    c.expect("250 2.1.0").await;
    c.expect("250 2.1.5").await;
    c.expect("354").await;
    for part in ["line one\r\n..leading dot\r", "\n.", "..two dots\r\n", "\r", "\n", ".", "\r", "\n"] {
        c.send(part).await;
        tokio::task::yield_now().await;
    }
    c.expect("250 2.0.0").await;
    c.send("QUIT\r\n").await;
    c.expect("221").await;
    end(task).await;
    let (env, body) = &sink.messages()[0];
    assert!(env.sender.is_none(), "null reverse-path");
    assert!(String::from_utf8_lossy(body).ends_with("\r\nline one\r\n.leading dot\r\n..two dots\r\n\r\n"));
}

#[tokio::test]
async fn sequence_errors_and_simple_commands() {
    let mut cfg = config();
    cfg.max_errors = 8;
    let (mut c, task) = start(cfg, Arc::new(MemSink::default()), STRANGER_IP);
    c.expect("220").await;
    c.send("MAIL FROM:<a@b.example>\r\n").await;
    c.expect("503 5.5.1").await;
    c.send("HELO client.test\r\nMAIL FROM:<a@b.example> SIZE=10\r\n").await;
    c.expect("250 gw.test").await;
    c.expect("555 5.5.4").await;
    c.send("RCPT TO:<x@agency.gov.example>\r\nDATA\r\n").await;
    c.expect("503 5.5.1").await;
    c.expect("503 5.5.1").await;
    c.send("MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\nDATA\r\n").await;
    c.expect("250 2.1.0").await;
    c.expect("503 5.5.1").await;
    c.expect("554 5.5.1").await;
    c.send("NOOP\r\nVRFY bob\r\nHELP\r\nEXPN list\r\nRSET\r\nFOO\r\n").await;
    for code in ["250 2.0.0", "252 2.5.2", "214 2.0.0", "502 5.5.1", "250 2.0.0", "500 5.5.2", "421 4.7.0"] {
        c.expect(code).await;
    }
    assert!(c.closed().await);
    assert_eq!(end(task).await, SessionEnd::TooManyErrors);
}

#[tokio::test]
async fn sink_failure_answers_451_and_nothing_is_acknowledged() {
    let sink = Arc::new(MemSink::failing());
    let (mut c, task) = start(config(), sink.clone(), STRANGER_IP);
    ehlo(&mut c).await;
    c.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<bob@agency.gov.example>\r\nDATA\r\n").await;
    c.expect("250").await;
    c.expect("250").await;
    c.expect("354").await;
    c.send("body\r\n.\r\nQUIT\r\n").await;
    let r = c.expect("451 4.3.0").await;
    assert!(!r.contains("queued"));
    c.expect("221").await;
    end(task).await;
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn accepted_message_is_in_the_spool_before_250() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (spool, _) = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
    let (mut c, task) = start(config(), Arc::new(spool.clone()), SERVER_IP);
    ehlo(&mut c).await;
    c.send("MAIL FROM:<a@agency.gov.example>\r\nRCPT TO:<x@outside.example>\r\nDATA\r\n").await;
    c.expect("250").await;
    c.expect("250").await;
    c.expect("354").await;
    c.send("hello\r\n.\r\n").await;
    let r = c.expect("250 2.0.0 OK: queued as ").await;
    let queued = spool.queued();
    assert_eq!(queued.len(), 1);
    assert!(r.ends_with(&queued[0].to_string()), "{r}");
    let m = spool.read(queued[0]).await.expect("read");
    assert!(m.body.ends_with(b"\r\nhello\r\n"));
    assert_eq!(m.envelope.recipients[0].to_string(), "x@outside.example");
    c.send("QUIT\r\n").await;
    c.expect("221").await;
    end(task).await;
    spool.shutdown().await.expect("shutdown");
}
