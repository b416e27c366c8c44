//! The memory of messages in flight is bounded: 40 sessions each send most of a large
//! message without its final dot to the `epbsh-relay` process (raw socket clients), and
//! the process's peak resident memory stays near `max_data_memory`, not at 40 messages'
//! worth; the messages that found no memory are answered 452 4.3.1 after their dot, the
//! others 250.
//!
//! For measurements: `EPBSH_MEMORY_MIB` sets the message size (default 8),
//! `EPBSH_MEMORY_BUDGET_MIB` the budget (default 32); `EPBSH_RELAY=PATH` runs another
//! build of the relay (e.g. one from before the budget, which gets no budget setting and
//! no bound check); the peak is printed either way.

mod common;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

use common::raw::Raw;
use common::*;

const SESSIONS: usize = 40;

fn env_mib(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Starts the relay process; returns it and its address.
fn relay(dir: &std::path::Path, budget_mib: Option<usize>) -> (Child, std::net::SocketAddr) {
    let bin = std::env::var("EPBSH_RELAY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_epbsh-relay").to_string());
    let mut toml = format!(
        "listen = \"127.0.0.1:0\"\nhostname = \"relay.test\"\nspool_dir = \"{}\"\n\
         [delivery.transport]\n\"ext.test\" = \"127.0.0.1:9\"\n[limits]\nmax_sessions = 100\n",
        dir.join("spool").display()
    );
    if let Some(mib) = budget_mib {
        toml.push_str(&format!(
            "reserved_for_systems = 80\nmax_sessions_per_system = 40\nmax_data_memory = {}\n",
            mib << 20
        ));
    }
    std::fs::write(dir.join("relay.toml"), toml).expect("config");
    let systems = vec![system(1, "a.gov.test", SERVER_A, loopback(9))];
    std::fs::write(dir.join("systems.json"), serde_json::to_string(&systems).expect("json")).expect("registry");
    let mut child = Command::new(bin)
        .arg(dir.join("relay.toml"))
        .arg(dir.join("systems.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start epbsh-relay");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
    let addr = line.trim().strip_prefix("listening ").expect("listening ADDR").parse().expect("addr");
    (child, addr)
}

/// The process's peak resident set size in MiB (VmHWM).
fn peak_mib(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib >> 10
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_messages_take_no_more_than_the_budget() {
    let (size, budget) = (env_mib("EPBSH_MEMORY_MIB", 8), env_mib("EPBSH_MEMORY_BUDGET_MIB", 32));
    let baseline = std::env::var("EPBSH_RELAY").is_ok();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, addr) = relay(dir.path(), (!baseline).then_some(budget));
    let start = peak_mib(child.id());
    // 1 MiB of 1000-byte lines.
    let chunk: Vec<u8> = format!("{}\r\n", "m".repeat(998)).repeat(1 << 10).into_bytes();
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let chunk = chunk.clone();
        sessions.push(tokio::spawn(async move {
            let mut c = Raw::greeted(addr, SERVER_A).await;
            c.command("MAIL FROM:<alice@a.gov.test>", "250").await;
            c.command("RCPT TO:<bob@ext.test>", "250").await;
            let reply = c.command("DATA", "").await;
            if reply.starts_with("354") {
                for _ in 0..size {
                    c.send(&chunk).await;
                }
            }
            (c, reply)
        }));
    }
    let mut open = Vec::new();
    for s in sessions {
        open.push(s.await.expect("session"));
    }
    // Every byte is written; the peak is read after the dots (the high-water mark covers
    // the unfinished messages and their storing).
    let mut answers = Vec::new();
    for (mut c, reply) in open {
        if reply.starts_with("354") {
            answers.push(c.command(".", "").await);
        } else {
            answers.push(reply);
        }
    }
    let peak = peak_mib(child.id());
    let taken = answers.iter().filter(|a| a.starts_with("250")).count();
    let refused = answers.iter().filter(|a| a.starts_with("452 4.3.1")).count();
    eprintln!(
        "{SESSIONS} sessions x {size} MiB unfinished: peak RSS {peak} MiB (at start {start} MiB), \
         {taken} taken, {refused} answered 452; budget {}",
        if baseline { "none (baseline build)".to_string() } else { format!("{budget} MiB") }
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(taken + refused, SESSIONS, "every message is taken or refused with 452: {answers:?}");
    if !baseline {
        assert!(taken >= 1 && refused >= 1, "{answers:?}");
        assert!(peak <= start + budget + 32, "peak {peak} MiB with a {budget} MiB budget (start {start} MiB)");
    }
}
