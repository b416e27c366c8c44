//! `perimeter unknown`: unknown source addresses seen by the gateways, with their
//! notice and deadline.

use std::process::ExitCode;

use clap::Args;
use store::Store;

use super::json::{JsonFlag, json};
use crate::app::output::when;

#[derive(Args, Debug)]
pub struct UnknownArgs {
    /// Only this operator's.
    #[arg(long)]
    operator: Option<String>,
    #[command(flatten)]
    json: JsonFlag,
}

pub async fn run(store: &Store, args: UnknownArgs) -> anyhow::Result<ExitCode> {
    let (operator, as_json) = (args.operator, args.json.json);
    let list = store.unknown_addresses(operator.as_deref()).await?;
    if as_json {
        json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    for u in list {
        let notice = u.notice.map_or("-".to_string(), |n| format!("notice {n}"));
        let deadline = u.deadline_day.unwrap_or_else(|| "-".into());
        println!(
            "{:<40} {:<12} {:<12} {:<9} {:<11} deadline {deadline}  seen {} times, last {}",
            u.ip,
            u.operator,
            u.link,
            u.status,
            notice,
            u.seen,
            when(u.last_seen)
        );
    }
    Ok(ExitCode::SUCCESS)
}
