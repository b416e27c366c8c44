//! Harness of the relay's integration tests: the real peers (swaks as the sending mail
//! system, a raw socket client, Postfix's `smtp-sink` and a private Postfix instance as
//! receivers), installed from Debian when missing (the tests fail, never skip, when they
//! cannot be), plus registry, config and waiting helpers. Everything listens on loopback
//! only.

#![allow(dead_code)]

pub mod netns;
pub mod peers;
pub mod raw;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use epbsh::envelope::SystemId;
use epbsh::hooks::{Guard, OpenGuard};
use epbsh::registry::{self, MailSystem, Registry, RegistryHandle, Status};
use epbsh::relay::{self, Relay, RelayConfig};
use tempfile::TempDir;

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

/// A relay under test with its registry handle and spool.
pub struct Running {
    pub relay: Relay,
    pub registry: RegistryHandle,
    pub systems: Vec<MailSystem>,
    _spool: TempDir,
}

impl Running {
    /// Sets a system's status in the registry (as the store would).
    pub fn set_status(&mut self, id: u32, status: Status) {
        for s in self.systems.iter_mut().filter(|s| s.id == SystemId(id)) {
            s.status = status;
        }
        self.registry.store(Arc::new(Registry::new(self.systems.clone()).expect("registry")));
    }
}

/// Starts a relay for `systems` with the test config, `transport` routes and `tweak`.
pub async fn start(
    systems: Vec<MailSystem>,
    transport: &[(&str, SocketAddr)],
    tweak: impl FnOnce(&mut RelayConfig),
) -> Running {
    start_guarded(systems, transport, tweak, Arc::new(OpenGuard)).await
}

/// [`start`] with a guard.
pub async fn start_guarded(
    systems: Vec<MailSystem>,
    transport: &[(&str, SocketAddr)],
    tweak: impl FnOnce(&mut RelayConfig),
    guard: Arc<dyn Guard>,
) -> Running {
    let spool = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(spool.path(), transport);
    tweak(&mut cfg);
    let registry = registry::handle(Registry::new(systems.clone()).expect("registry"));
    let relay = relay::start(cfg, registry.clone(), guard).await.expect("relay starts");
    Running { relay, registry, systems, _spool: spool }
}
