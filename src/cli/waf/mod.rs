//! `perimeter waf`: the web application firewall's protected sites (rule 17), one file
//! per verb: `site add`, `site list`, `site show`, `site set` (and `site cert`),
//! `site remove`, `exclude`, `patch`, `test`, `events` (and `event ID`), `proposals`
//! (and `confirm`, `decline`). Changes go to the store, checked by the rule engine when
//! it is on this machine; a running `perimeter up` applies them within a second.
//!
//! Must not: change the running WAF other than through the store.

mod add;
mod events;
mod exclude;
mod list;
mod patch;
mod proposals;
mod remove;
mod set;
mod show;
mod test;

use std::process::ExitCode;

use clap::Subcommand;

use crate::app::waf::{Manager, key_file, load_engine};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum WafCmd {
    /// Protected sites: add, list, show, change, remove.
    #[command(subcommand)]
    Site(SiteCmd),
    /// Switch a rule off for a site (everywhere, or for one target such as ARGS:comment).
    Exclude(exclude::ExcludeArgs),
    /// Add a virtual patch (the site's own SecRule text) from a file; checked by the
    /// engine first: a patch that does not load is refused with its message.
    Patch(patch::PatchArgs),
    /// Run one request through a site's rules without sending it anywhere: the verdict,
    /// the anomaly score and the matched rule ids.
    Test(test::TestArgs),
    /// A site's refused and matched requests from the audit log (newest first), with the
    /// top rules and clients.
    Events(events::EventsArgs),
    /// One transaction, found by the id its block page shows.
    Event(events::EventArgs),
    /// Exclusions proposed from false positives, waiting for the duty team.
    Proposals(proposals::ProposalsArgs),
    /// Confirm a proposed exclusion: it joins the site's exclusions.
    Confirm(proposals::DecideArgs),
    /// Decline a proposed exclusion.
    Decline(proposals::DecideArgs),
}

#[derive(Subcommand, Debug)]
pub enum SiteCmd {
    /// Protect a site: its domain, origin addresses, certificate and key, mode, paranoia.
    Add(add::AddArgs),
    /// Every protected site with its state in the running WAF.
    List(super::json::JsonFlag),
    /// One site: its settings, its state and origins' health (asked of the running
    /// service through the API), its recent refusals.
    Show(show::ShowArgs),
    /// Change settings: KEY=VALUE (mode, paranoia, thresholds, methods, content types,
    /// body limit, response inspection, rate limit, allow and deny lists, origins...).
    Set(set::SetArgs),
    /// Replace the site's certificate and key.
    Cert(set::CertArgs),
    /// Stop protecting a site.
    Remove(remove::RemoveArgs),
}

pub async fn run(config: &Config, cmd: WafCmd) -> anyhow::Result<ExitCode> {
    let store = config.open_store().await?;
    let key_file = key_file(&config.data_dir);
    let engine = match needs_engine(&cmd) {
        true => {
            let paths = config.waf_engine.clone();
            tokio::task::spawn_blocking(move || load_engine(&paths)).await?
        }
        false => Err("not needed".into()),
    };
    let manager = Manager { store: &store, key_file: &key_file, engine };
    match cmd {
        WafCmd::Site(SiteCmd::Add(a)) => add::run(&manager, a).await,
        WafCmd::Site(SiteCmd::List(j)) => list::run(&store, j.json).await,
        WafCmd::Site(SiteCmd::Show(a)) => show::run(config, &store, a).await,
        WafCmd::Site(SiteCmd::Set(a)) => set::run(&manager, a).await,
        WafCmd::Site(SiteCmd::Cert(a)) => set::cert(&manager, a).await,
        WafCmd::Site(SiteCmd::Remove(a)) => remove::run(&store, a).await,
        WafCmd::Exclude(a) => exclude::run(&manager, a).await,
        WafCmd::Patch(a) => patch::run(&manager, a).await,
        WafCmd::Test(a) => test::run(&manager, a).await,
        WafCmd::Events(a) => events::run(config, &store, a).await,
        WafCmd::Event(a) => events::one(config, a).await,
        WafCmd::Proposals(a) => proposals::list(&store, a).await,
        WafCmd::Confirm(a) => proposals::confirm(&manager, a).await,
        WafCmd::Decline(a) => proposals::decline(&store, a).await,
    }
}

/// Whether the verb changes rules or runs them (and so wants the engine).
fn needs_engine(cmd: &WafCmd) -> bool {
    !matches!(
        cmd,
        WafCmd::Site(SiteCmd::List(_) | SiteCmd::Show(_) | SiteCmd::Remove(_))
            | WafCmd::Events(_)
            | WafCmd::Event(_)
            | WafCmd::Proposals(_)
            | WafCmd::Decline(_)
    )
}

/// Reads a PEM file the verb was given.
fn read_file(path: &std::path::Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read the {what} {}: {e}", path.display()))
}
