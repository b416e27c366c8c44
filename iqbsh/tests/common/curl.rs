//! Running the real curl (Debian's `/usr/bin/curl`). Tests fail, never
//! skip, when it is missing.

use std::path::Path;
use std::time::Duration;

pub const CURL: &str = "/usr/bin/curl";

/// What one curl run gave.
#[derive(Debug)]
pub struct Curl {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs curl with `args` (plus `-sS` and a time limit).
pub async fn curl(args: &[&str]) -> Curl {
    assert!(Path::new(CURL).exists(), "{CURL} is missing: install Debian's curl package (apt-get install -y curl)");
    let run = tokio::process::Command::new(CURL).arg("-sS").args(["--max-time", "20"]).args(args).output();
    let out = tokio::time::timeout(Duration::from_secs(30), run).await.expect("curl finishes").expect("curl runs");
    Curl {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The `Issuer:` lines of curl's `%{certs}` output.
pub fn issuers(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.starts_with("Issuer:")).collect()
}
