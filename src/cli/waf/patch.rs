//! `perimeter waf patch DOMAIN FILE`: add a virtual patch, checked by the engine first.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::read_file;
use crate::app::waf::Manager;
use crate::cli::actor::cli_actor;

#[derive(Args, Debug)]
pub struct PatchArgs {
    pub domain: String,
    /// SecRule, SecAction and SecMarker directives with ids of the site's own.
    pub file: PathBuf,
}

pub async fn run(manager: &Manager<'_>, a: PatchArgs) -> anyhow::Result<ExitCode> {
    let text = read_file(&a.file, "patch")?;
    let site = manager.patch(&cli_actor(), &a.domain, &text).await?;
    println!("WAF site {}: virtual patch added and loaded by the engine (version {})", site.domain, site.version);
    Ok(ExitCode::SUCCESS)
}
