//! `perimeter waf proposals [DOMAIN]`, `waf confirm ID`, `waf decline ID`: exclusions
//! proposed from false positives and the duty team's decision on each.

use std::process::ExitCode;

use clap::Args;
use store::Store;

use crate::app::output::when;
use crate::app::waf::Manager;
use crate::cli::actor::cli_actor;
use crate::cli::json::{JsonFlag, json};

#[derive(Args, Debug)]
pub struct ProposalsArgs {
    /// One site's only.
    pub domain: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Args, Debug)]
pub struct DecideArgs {
    /// The proposal's number (`perimeter waf proposals`).
    pub id: i64,
}

pub async fn list(store: &Store, a: ProposalsArgs) -> anyhow::Result<ExitCode> {
    let proposals = store.waf_proposals(a.domain.as_deref()).await?;
    if a.json.json {
        json(&proposals)?;
        return Ok(ExitCode::SUCCESS);
    }
    for p in proposals {
        let target = p.target.as_deref().map(|t| format!(" on {t}")).unwrap_or_default();
        let tx = p.transaction.as_deref().map(|t| format!(" seen in {t}")).unwrap_or_default();
        println!(
            "{:>4} {:<9} {} rule {}{target}{tx} by {} {}",
            p.id,
            p.status,
            p.site,
            p.rule,
            p.proposed_by,
            when(p.proposed_at)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn confirm(manager: &Manager<'_>, a: DecideArgs) -> anyhow::Result<ExitCode> {
    let site = manager.confirm(&cli_actor(), a.id).await?;
    println!("proposal {} confirmed: the exclusion is in WAF site {} (version {})", a.id, site.domain, site.version);
    Ok(ExitCode::SUCCESS)
}

pub async fn decline(store: &Store, a: DecideArgs) -> anyhow::Result<ExitCode> {
    let p = store.decline_waf_proposal(&cli_actor(), a.id).await?;
    println!("proposal {} for WAF site {} declined", p.id, p.site);
    Ok(ExitCode::SUCCESS)
}
