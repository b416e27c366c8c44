//! `perimeter audit`: the audit trail, newest first.

use std::process::ExitCode;

use clap::Args;
use store::Store;

use super::json::{JsonFlag, json};
use crate::app::output::when;

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Only changes to this subject (operator:NAME, organisation:BIN, token:NAME).
    #[arg(long)]
    pub subject: Option<String>,
    /// How many of the newest changes.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn run(store: &Store, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let changes = store.changes(args.subject.as_deref(), args.limit).await?;
    if args.json.json {
        json(&changes)?;
        return Ok(ExitCode::SUCCESS);
    }
    for c in changes {
        let after = c.after.map(|v| v.to_string()).unwrap_or_default();
        println!("#{:<6} {}  {:<24} {:<22} {:<28} {after}", c.id, when(c.at), c.actor, c.action, c.subject);
    }
    Ok(ExitCode::SUCCESS)
}
