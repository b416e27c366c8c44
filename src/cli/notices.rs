//! `perimeter notices`: the notices sent to operators about unknown addresses, and
//! their delivery status.

use std::process::ExitCode;

use clap::Args;
use store::Store;

use super::json::{JsonFlag, json};
use crate::app::output::when;

#[derive(Args, Debug)]
pub struct NoticesArgs {
    #[arg(long)]
    operator: Option<String>,
    #[command(flatten)]
    json: JsonFlag,
}

pub async fn run(store: &Store, args: NoticesArgs) -> anyhow::Result<ExitCode> {
    let (operator, as_json) = (args.operator, args.json.json);
    let list = store.notices(operator.as_deref()).await?;
    if as_json {
        json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    for n in list {
        let state = match (n.status, n.sent_at) {
            (store::NoticeStatus::Sent, Some(at)) => {
                format!("sent {} deadline {}", when(at), n.deadline_day.clone().unwrap_or_default())
            }
            _ => format!("{} after {} attempt(s): {}", n.status, n.attempts, n.last_error.clone().unwrap_or_default()),
        };
        println!("#{:<5} {:<14} {} address(es) to {}  {state}", n.id, n.operator, n.addresses, n.recipients.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
