//! Telling a service manager how the service is doing (systemd's `Type=notify`
//! protocol): `READY=1` once every listener is up, `STOPPING=1` when shutdown begins,
//! `WATCHDOG=1` at half the watchdog interval while the runtime answers, and a status
//! line. Datagrams to `$NOTIFY_SOCKET` (a path, or an abstract name starting with `@`);
//! without that variable every call does nothing.
//!
//! Must not: fail the service when the manager is gone; a lost datagram is only logged.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use super::service::{Service, Stop};

/// Where notifications go, when a service manager asked for them.
#[derive(Clone, Debug)]
pub struct Notifier {
    socket: Option<String>,
}

impl Notifier {
    /// From the environment the manager set (`NOTIFY_SOCKET`).
    pub fn from_env() -> Notifier {
        Notifier { socket: std::env::var("NOTIFY_SOCKET").ok().filter(|s| !s.is_empty()) }
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }

    fn send(&self, message: &str) {
        let Some(path) = &self.socket else { return };
        let sent = address(path).and_then(|addr| UnixDatagram::unbound()?.send_to_addr(message.as_bytes(), &addr));
        if let Err(e) = sent {
            tracing::warn!(socket = %path, error = %e, "cannot notify the service manager");
        }
    }
}

/// Pets the watchdog at half its interval (`WATCHDOG_USEC`) until stopped; each pet
/// goes out only after the runtime ran a task, so a stuck runtime stops petting.
pub struct Watchdog(pub Notifier);

impl Service for Watchdog {
    const NAME: &'static str = "watchdog";

    async fn run(self, stop: Stop) -> anyhow::Result<()> {
        let Some(every) = watchdog_interval() else { return Ok(()) };
        let mut tick = tokio::time::interval(every / 2);
        loop {
            tokio::select! {
                _ = tick.tick() => self.0.send("WATCHDOG=1"),
                () = stop.stopped() => return Ok(()),
            }
        }
    }
}

fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    let for_us = std::env::var("WATCHDOG_PID").ok().and_then(|p| p.parse::<u32>().ok());
    (usec > 0 && for_us.is_none_or(|pid| pid == std::process::id())).then(|| Duration::from_micros(usec))
}

fn address(path: &str) -> std::io::Result<SocketAddr> {
    match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_and_stopping_reach_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier { socket: Some(path.display().to_string()) };
        notifier.ready("up");
        notifier.stopping();
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=up");
        let n = socket.recv(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"STOPPING=1"));
        Notifier { socket: None }.ready("nothing happens without a manager");
    }
}
