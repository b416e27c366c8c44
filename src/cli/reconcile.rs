//! `perimeter reconcile`: one pass of the reconciler now (rule 1): open due notices,
//! send them, apply passed deadlines.

use std::process::ExitCode;

use clap::Args;
use store::Store;

use super::json::{JsonFlag, json};
use crate::app::output::parse_instant;
use crate::config::Config;

#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// Pretend it is this time (RFC 3339). Only honoured when PERIMETER_TEST_CLOCK=1,
    /// for tests; production always uses the real clock.
    #[arg(long, hide = true)]
    at: Option<String>,
    #[command(flatten)]
    json: JsonFlag,
}

pub async fn run(config: &Config, store: Store, args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let (at, as_json) = (args.at, args.json.json);
    let now = match at {
        Some(at) if std::env::var("PERIMETER_TEST_CLOCK").is_ok_and(|v| v == "1") => parse_instant(&at)?,
        Some(_) => anyhow::bail!("--at is for tests only (PERIMETER_TEST_CLOCK=1); the reconciler uses the real clock"),
        None => store::now_ms(),
    };
    let report = crate::app::reconcile::reconciler(&config.notices, &config.calendar, store)?.tick(now).await?;
    if as_json {
        json(&report)?;
    } else {
        println!(
            "notices opened {:?}, sent {:?}, failed {}; blocked {:?}; resolved {:?}",
            report.notices_created,
            report.sent,
            report.failed.len(),
            report.deadlines.blocked,
            report.deadlines.resolved
        );
        for (id, e) in &report.failed {
            eprintln!("notice {id} not sent: {e}");
        }
        for op in &report.operators_without_contacts {
            eprintln!("operator '{op}' has unknown addresses but no contact address: no notice can be sent");
        }
    }
    Ok(ExitCode::SUCCESS)
}
