//! `perimeter waf exclude DOMAIN RULE_ID [--target T]`: switch a rule off for a site.

use std::process::ExitCode;

use clap::Args;

use crate::app::waf::Manager;
use crate::cli::actor::cli_actor;

#[derive(Args, Debug)]
pub struct ExcludeArgs {
    pub domain: String,
    pub rule: u32,
    /// Only for this target, e.g. ARGS:comment or REQUEST_COOKIES:/^wordpress_/.
    #[arg(long, value_name = "T")]
    pub target: Option<String>,
}

pub async fn run(manager: &Manager<'_>, a: ExcludeArgs) -> anyhow::Result<ExitCode> {
    let site = manager.exclude(&cli_actor(), &a.domain, a.rule, a.target.as_deref()).await?;
    let on = a.target.map(|t| format!(" on {t}")).unwrap_or_default();
    println!("WAF site {}: rule {}{on} excluded (version {})", site.domain, a.rule, site.version);
    Ok(ExitCode::SUCCESS)
}
