//! `perimeter block add | lift | list`: blocks, automatic (rule 1) and by hand.

use std::net::IpAddr;
use std::process::ExitCode;

use clap::Subcommand;
use store::BlockFilter;
use store::Store;

use super::actor::cli_actor;
use super::json::{JsonFlag, json};
use crate::app::catalog::target;
use crate::app::output::when;

#[derive(Subcommand, Debug)]
pub enum BlockCmd {
    /// Block an address or prefix.
    Add {
        /// An address (203.0.113.7) or a prefix (203.0.113.0/24).
        target: String,
        #[arg(long)]
        reason: String,
    },
    /// Lift the live block on exactly this address or prefix.
    Lift {
        target: String,
        #[arg(long)]
        reason: String,
    },
    /// List live blocks (or all, with --all).
    List {
        #[arg(long)]
        all: bool,
        /// auto or manual
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        operator: Option<String>,
        /// Only blocks covering this address.
        #[arg(long)]
        ip: Option<IpAddr>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

pub async fn run(store: &Store, cmd: BlockCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        BlockCmd::Add { target: t, reason } => {
            let b = store.block(&cli_actor(), target(&t)?, &reason).await?;
            println!("{} blocked: {}", b.prefix, b.reason);
        }
        BlockCmd::Lift { target: t, reason } => {
            let b = store.unblock(&cli_actor(), target(&t)?, &reason).await?;
            println!("{} unblocked: {}", b.prefix, b.lift_reason.unwrap_or_default());
        }
        BlockCmd::List { all, kind, operator, ip, json: flag } => {
            let blocks = store.blocks(&BlockFilter { all, kind, operator, ip }).await?;
            if flag.json {
                json(&blocks)?;
            } else {
                for b in blocks {
                    let lifted = b.lifted_at.map_or(String::new(), |at| {
                        format!(
                            "  lifted {} by {}: {}",
                            when(at),
                            b.lifted_by.clone().unwrap_or_default(),
                            b.lift_reason.clone().unwrap_or_default()
                        )
                    });
                    println!("{:<24} {:<6} since {}  {}{lifted}", b.prefix, b.kind, when(b.since), b.reason);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
