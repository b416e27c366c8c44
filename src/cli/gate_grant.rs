//! `perimeter gate grant add | list | revoke`: the duty team's grants of a network
//! service besides the web proxy (a VPN, remote access: rule 15-2) to one organisation,
//! which the packet gate enforces within a second of the change.
//!
//! Must not: program the kernel (the running gate follows the store).

use std::process::ExitCode;

use clap::Subcommand;
use policies::Bin;
use store::{GateGrant, Store};

use super::actor::cli_actor;
use super::json::{JsonFlag, json};
use crate::app::grant::{expiry, service};
use crate::app::output::when;

#[derive(Subcommand, Debug)]
pub enum GrantCmd {
    /// Grant organisation ORG_BIN a service: its sources reach PROTO PORTS (at the
    /// --to prefixes only, when given) until DATE or until revoked.
    Add {
        /// The organisation's BIN.
        bin: String,
        /// tcp or udp.
        #[arg(long)]
        proto: String,
        /// Ports and ranges: 1194,51820 or 6881-6889.
        #[arg(long)]
        ports: String,
        /// Only these destination prefixes (repeatable); anywhere when absent.
        #[arg(long = "to", num_args = 1..)]
        to: Vec<String>,
        #[arg(long)]
        reason: String,
        /// The last day it is in force (YYYY-MM-DD, Kazakhstan time) or the instant it
        /// ends (RFC 3339); until revoked when absent.
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// The grants in force (and expired ones not revoked); every one with --all.
    List {
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Revoke grant ID: its traffic stops within a second, open flows included.
    Revoke {
        id: i64,
        #[arg(long)]
        reason: String,
    },
}

pub async fn run(store: &Store, cmd: GrantCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        GrantCmd::Add { bin, proto, ports, to, reason, until, json: flag } => {
            let service = service(&proto, &ports, &to)?;
            let bin: Bin = bin.parse().map_err(|e| anyhow::anyhow!("ORG_BIN: {e}"))?;
            let until = until.as_deref().map(expiry).transpose()?;
            let grant = store.grant_service(&cli_actor(), &bin, &service, &reason, until).await?;
            match flag.json {
                true => json(&grant)?,
                false => println!("grant {}: {}", grant.id, line(&grant)),
            }
        }
        GrantCmd::List { all, json: flag } => {
            let grants = store.gate_grants(all).await?;
            if flag.json {
                let now = snapshot::now_ms();
                let rows: Vec<serde_json::Value> = grants
                    .iter()
                    .map(|g| {
                        let mut v = serde_json::to_value(g).unwrap_or_default();
                        v["state"] = g.state(now).into();
                        v
                    })
                    .collect();
                json(&rows)?;
            } else {
                for g in &grants {
                    println!("{:>5}  {}", g.id, line(g));
                }
            }
        }
        GrantCmd::Revoke { id, reason } => {
            let g = store.revoke_grant(&cli_actor(), id, &reason).await?;
            println!("grant {} revoked: {}", g.id, g.revoke_reason.unwrap_or_default());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One grant on one line.
fn line(g: &GateGrant) -> String {
    let now = snapshot::now_ms();
    let until = g.expires_at.map_or("until revoked".to_owned(), |at| format!("until {}", when(at)));
    let revoked = g.revoked_at.map_or(String::new(), |at| {
        format!(
            "; revoked {} by {}: {}",
            when(at),
            g.revoked_by.clone().unwrap_or_default(),
            g.revoke_reason.clone().unwrap_or_default()
        )
    });
    format!(
        "{} {} ({}): {} {until} [{}] by {}: {}{revoked}",
        g.state(now),
        g.bin,
        g.organisation,
        g.service,
        when(g.created_at),
        g.actor,
        g.reason
    )
}
