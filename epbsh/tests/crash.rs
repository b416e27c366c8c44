//! Crash test: the relay runs as its own process (the `epbsh-relay` binary); four clients
//! send 300 numbered messages from a registered system's address; the relay is killed
//! with SIGKILL twice in the middle of the load and restarted on the same spool. Every
//! message answered 250 must reach the smtp-sink afterwards; duplicates (deliveries done
//! but not yet marked when the process died) are allowed, counted and reported.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::peers::Sink;
use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;
use tokio::process::{Child, Command};
use tokio::time::timeout;

const TOTAL: usize = 300;
const WORKERS: usize = 4;
const KILL_AT: [usize; 2] = [100, 200];

async fn spawn_relay(dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("relay.log")).expect("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_epbsh-relay"))
        .arg(dir.join("relay.toml"))
        .arg(dir.join("registry.json"))
        .env("RUST_LOG", "epbsh=info")
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn epbsh-relay");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    timeout(Duration::from_secs(30), out.read_line(&mut line)).await.expect("relay starts in time").expect("read");
    assert!(line.starts_with("listening "), "unexpected first line {line:?}; log in {}", dir.display());
    child
}

/// Reads one (multi-line) reply; true when its code is `code`.
async fn expect(io: &mut BufReader<tokio::net::TcpStream>, code: &str) -> Result<bool, std::io::Error> {
    loop {
        let mut line = String::new();
        if io.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(line.starts_with(code));
        }
    }
}

/// One message over one connection; true when the relay answered 250 to the final dot.
async fn send_one(relay: SocketAddr, n: usize) -> Result<bool, std::io::Error> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, 2], 0)))?;
    let stream = socket.connect(relay).await?;
    let mut io = BufReader::new(stream);
    let body = format!(
        "From: alice@a.gov.test\r\nTo: bob@ext.test\r\nSubject: crash-{n}\r\n\r\nmessage {n}\r\n..leading dot\r\n.\r\n"
    );
    let steps: [(&str, &str); 5] = [
        ("", "220"),
        ("EHLO load.a.gov.test\r\n", "250"),
        ("MAIL FROM:<alice@a.gov.test>\r\n", "250"),
        ("RCPT TO:<bob@ext.test>\r\n", "250"),
        ("DATA\r\n", "354"),
    ];
    for (cmd, code) in steps {
        io.get_mut().write_all(cmd.as_bytes()).await?;
        if !expect(&mut io, code).await? {
            return Ok(false);
        }
    }
    io.get_mut().write_all(body.as_bytes()).await?;
    let ok = expect(&mut io, "250").await?;
    let _ = io.get_mut().write_all(b"QUIT\r\n").await;
    Ok(ok)
}

/// Sends messages until all `TOTAL` were answered 250; failures are retried like an MTA
/// would (so a message whose 250 was lost in the crash may arrive twice).
async fn worker(
    relay: SocketAddr,
    next: Arc<AtomicUsize>,
    retry: Arc<Mutex<Vec<usize>>>,
    acked: Arc<Mutex<Vec<usize>>>,
) {
    loop {
        let retried = retry.lock().unwrap().pop();
        let n = match retried {
            Some(n) => n,
            None => match next.fetch_add(1, Ordering::SeqCst) {
                n if n < TOTAL => n,
                _ if acked.lock().unwrap().len() >= TOTAL => return,
                _ => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        match timeout(Duration::from_secs(20), send_one(relay, n)).await {
            Ok(Ok(true)) => acked.lock().unwrap().push(n),
            _ => {
                retry.lock().unwrap().push(n);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

fn subjects(messages: &[String]) -> BTreeMap<usize, usize> {
    let mut seen = BTreeMap::new();
    for m in messages {
        if let Some(n) = m.lines().find_map(|l| l.strip_prefix("Subject: crash-")).and_then(|n| n.trim().parse().ok()) {
            *seen.entry(n).or_insert(0) += 1;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_answered_250_survives_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(&[]);
    let inbox = Sink::start(&[]);
    let relay_addr = loopback(free_port());
    let mut cfg = config(&dir.path().join("spool"), &[("ext.test", sink.addr)]);
    cfg.listen = relay_addr;
    std::fs::write(dir.path().join("relay.toml"), toml::to_string(&cfg).expect("toml")).expect("write config");
    let systems = vec![system(1, "a.gov.test", SERVER_A, inbox.addr)];
    std::fs::write(dir.path().join("registry.json"), serde_json::to_string(&systems).expect("json")).expect("write");

    let mut relay = spawn_relay(dir.path()).await;
    let (next, retry, acked) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    let workers: Vec<_> =
        (0..WORKERS).map(|_| tokio::spawn(worker(relay_addr, next.clone(), retry.clone(), acked.clone()))).collect();
    for kill_at in KILL_AT {
        eventually(&format!("{kill_at} messages answered 250"), Duration::from_secs(120), || {
            acked.lock().unwrap().len() >= kill_at
        })
        .await;
        relay.start_kill().expect("SIGKILL");
        relay.wait().await.expect("reap");
        let at_kill = acked.lock().unwrap().len();
        let delivered = subjects(&sink.messages()).len();
        println!("SIGKILL with {at_kill} messages answered 250, {delivered} delivered so far");
        relay = spawn_relay(dir.path()).await;
    }
    for w in workers {
        timeout(Duration::from_secs(120), w).await.expect("load finishes").expect("worker");
    }
    let acked: Vec<usize> = acked.lock().unwrap().clone();
    let what = "every acknowledged message at the sink";
    eventually(what, Duration::from_secs(120), || acked.iter().all(|n| subjects(&sink.messages()).contains_key(n)))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = subjects(&sink.messages());
    let lost: Vec<_> = acked.iter().filter(|n| !seen.contains_key(n)).collect();
    let duplicates: usize = seen.values().map(|c| c - 1).sum();
    println!(
        "crash test: {} answered 250, {} distinct delivered, {duplicates} duplicate deliveries, {} lost, {} bounces",
        acked.len(),
        seen.len(),
        lost.len(),
        inbox.messages().len()
    );
    assert!(lost.is_empty(), "lost after SIGKILL: {lost:?}");
    assert_eq!(inbox.messages().len(), 0, "nothing bounced");
    let _ = Command::new("kill").arg("-TERM").arg(relay.id().expect("pid").to_string()).status().await;
    let status = timeout(Duration::from_secs(30), relay.wait()).await.expect("graceful stop").expect("wait");
    assert!(status.success(), "graceful shutdown exit status {status}");
}
