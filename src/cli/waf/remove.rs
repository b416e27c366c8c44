//! `perimeter waf site remove DOMAIN`: stop protecting a site.

use std::process::ExitCode;

use clap::Args;
use store::Store;

use crate::cli::actor::cli_actor;

#[derive(Args, Debug)]
pub struct RemoveArgs {
    pub domain: String,
    /// Why, for the audit trail.
    #[arg(long, default_value = "removed from the command line")]
    pub reason: String,
}

pub async fn run(store: &Store, a: RemoveArgs) -> anyhow::Result<ExitCode> {
    store.remove_waf_site(&cli_actor(), &a.domain, &a.reason).await?;
    println!("WAF site {} removed: a running `perimeter up` stops serving it within a second", a.domain);
    Ok(ExitCode::SUCCESS)
}
