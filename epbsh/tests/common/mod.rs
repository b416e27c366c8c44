//! Harness of the relay's integration tests: the real peers (swaks as the sending mail
//! system, Postfix's `smtp-sink` and a private Postfix instance as receivers), installed
//! from Debian when missing (the tests fail, never skip, when they cannot be), plus
//! registry, config and waiting helpers. Everything listens on loopback only.

#![allow(dead_code)]

pub mod peers;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use epbsh::envelope::SystemId;
use epbsh::registry::{MailSystem, Status};
use epbsh::relay::RelayConfig;

/// A loopback address the tests use as a registered system's mail server.
pub const SERVER_A: &str = "127.0.0.2";
pub const SERVER_B: &str = "127.0.0.3";
/// A loopback address nobody registered.
pub const STRANGER: &str = "127.0.0.9";

/// A free TCP port on 127.0.0.1 (for peers that cannot report the port they bound).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A connected system with one domain, one server address, and its inbound target.
pub fn system(id: u32, domain: &str, server: &str, deliver_to: SocketAddr) -> MailSystem {
    MailSystem {
        id: SystemId(id),
        name: format!("sys-{domain}"),
        owner_bin: "123456789012".into(),
        domains: vec![domain.into()],
        servers: vec![server.parse::<IpAddr>().expect("ip")],
        deliver_to: Some(deliver_to),
        contacts: vec![format!("admin@{domain}")],
        status: Status::Active,
    }
}

/// A test config: port 0, spool in `spool`, short retries, `transport` routes.
pub fn config(spool: &Path, transport: &[(&str, SocketAddr)]) -> RelayConfig {
    let mut c = RelayConfig { hostname: "relay.test".into(), spool_dir: spool.to_path_buf(), ..RelayConfig::default() };
    c.listen = loopback(0);
    c.delivery.retry = vec![Duration::from_millis(200)];
    c.delivery.connect_timeout = Duration::from_secs(5);
    c.delivery.command_timeout = Duration::from_secs(20);
    for (domain, addr) in transport {
        c.delivery.transport.insert(domain.to_string(), addr.to_string().parse().expect("next hop"));
    }
    c
}

/// Polls `check` until it holds or `limit` passes (then panics with `what`).
pub async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs swaks against `server` with `args`; returns (exit success, transcript).
pub async fn swaks(server: SocketAddr, from_ip: &str, args: &[&str]) -> (bool, String) {
    peers::ensure();
    let out = tokio::process::Command::new("swaks")
        .args(["--server", &server.to_string(), "--local-interface", from_ip, "--timeout", "20"])
        .args(["--helo", "mail.client.test"])
        .args(args)
        .output()
        .await
        .expect("run swaks");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Asserts that the transcript contains `needle`.
pub fn has(transcript: &str, needle: &str) {
    assert!(transcript.contains(needle), "{needle:?} not in swaks transcript:\n{transcript}");
}
