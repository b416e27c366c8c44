//! `perimeter mail explain --from ADDR --ip ADDR [--helo NAME] [--message FILE]`: which
//! checks pass, which fail, and what the relay configured here would do (refuse, defer,
//! hold, deliver; for a connected system's server, how it would be signed).
//!
//! Must not: send, spool or count anything.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use epbsh::auth::Explanation;

use super::json::{JsonFlag, json};
use crate::app::mail::explain::{Question, explain};
use crate::config::Config;
use store::Store;

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The envelope sender (MAIL FROM), e.g. someone@minfin.gov.kz.
    #[arg(long)]
    from: String,
    /// The connecting server's address.
    #[arg(long)]
    ip: IpAddr,
    /// The name it greets with (HELO/EHLO).
    #[arg(long)]
    helo: Option<String>,
    /// The message (headers and body) as received; without one, a message whose From is
    /// --from.
    #[arg(long, value_name = "FILE")]
    message: Option<PathBuf>,
    #[command(flatten)]
    json: JsonFlag,
}

/// The largest message file read.
const MAX_MESSAGE: u64 = 64 << 20;

pub async fn run(config: &Config, store: &Store, args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let message = match &args.message {
        Some(path) => Some(read_message(path)?),
        None => None,
    };
    let q = Question { from: &args.from, ip: args.ip, helo: args.helo.as_deref(), message: message.as_deref() };
    let e = explain(&config.relay, &config.data_dir, store, &q).await?;
    if args.json.json {
        json(&e)?;
    } else {
        print(&e);
    }
    Ok(ExitCode::SUCCESS)
}

/// The file with LF line ends made CRLF, as it would arrive over SMTP.
fn read_message(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path).with_context(|| format!("--message {}", path.display()))?.len();
    anyhow::ensure!(size <= MAX_MESSAGE, "--message {}: {size} bytes, more than {MAX_MESSAGE}", path.display());
    let bytes = std::fs::read(path).with_context(|| format!("--message {}", path.display()))?;
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    Ok(out)
}

fn print(e: &Explanation) {
    if let Some(system) = &e.system {
        println!("from a server of connected system {system}");
    }
    if let Some(s) = &e.signing {
        println!("signing      {}", s.note);
        if let (Some(d), Some(sel)) = (&s.domain, &s.selector) {
            println!("key          {sel}._domainkey.{d}");
        }
    }
    if let Some(f) = &e.findings {
        let check = |name: &str, c: &epbsh::auth::Check| {
            let detail = if c.detail.is_empty() { String::new() } else { format!(" ({})", c.detail) };
            println!("{name:<12} {} for {}{detail}", c.result, c.domain);
        };
        println!("From domain  {}", if f.from_domains.is_empty() { "none".into() } else { f.from_domains.join(", ") });
        f.spf.iter().for_each(|c| check("SPF", c));
        f.dkim.iter().for_each(|c| check("DKIM", c));
        if f.dkim.is_empty() {
            println!("DKIM         no signature");
        }
        f.arc.iter().for_each(|c| check("ARC", c));
        f.dmarc.iter().for_each(|c| check("DMARC", c));
    }
    if let Some(h) = &e.authentication_results {
        println!("header       {}", h.trim_end());
    }
    println!("outcome      {}", e.summary);
}
