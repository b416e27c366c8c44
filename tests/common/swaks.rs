//! swaks, the real SMTP client the mail tests send with, and how to read its transcript.

use std::process::{Command, Stdio};

/// Sends one message with swaks through `relay` (host:port) from the local address
/// `from_ip`; `to` may list several recipients separated by commas. Returns swaks's
/// whole transcript.
pub fn send(relay: &str, from_ip: &str, from: &str, to: &str, headers: &[&str], body: &str) -> String {
    let (host, port) = relay.rsplit_once(':').expect("host:port");
    let mut cmd = Command::new("swaks");
    cmd.args(["--server", host, "--port", port, "--local-interface", from_ip, "--from", from, "--to", to]);
    for h in headers {
        cmd.args(["--header", h]);
    }
    let out = cmd
        .args(["--body", body])
        .stdin(Stdio::null())
        .output()
        .expect("swaks (Debian package swaks) is required by this test: the test script installs it");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// True when the relay answered the end of DATA with 250 ("queued as").
pub fn accepted(transcript: &str) -> bool {
    transcript.lines().any(|l| l.starts_with("<-  250 ") && l.contains("queued as"))
}
