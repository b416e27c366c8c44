//! `perimeter waf site show DOMAIN [--json]`: a site's settings, its state in the
//! running WAF and its origins' health (asked of the running service through the API),
//! its recent refusals (from the audit log) and its proposed exclusions.

use std::process::ExitCode;

use serde_json::json;
use store::Store;

use crate::app::output::when;
use crate::app::waf::audit_log_path;
use crate::app::waf::events::{self, EventFilter};
use crate::app::waf::settings::SiteSettings;
use crate::cli::json::{JsonFlag, json as print_json};
use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    pub domain: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

/// Refusals shown.
const RECENT: usize = 10;

pub async fn run(config: &Config, store: &Store, a: ShowArgs) -> anyhow::Result<ExitCode> {
    let site = store.waf_site(&a.domain).await?;
    let settings = SiteSettings::from_json(&site.settings).map_err(anyhow::Error::msg)?;
    let running = crate::cli::api::get(config, &format!("/waf/sites/{}", site.domain)).await;
    let log = audit_log_path(&config.waf, &config.data_dir);
    let filter = EventFilter { sites: Some(vec![site.domain.clone()]), ..EventFilter::default() };
    let recent = tokio::task::spawn_blocking(move || events::read(&log, &filter, RECENT)).await??;
    let proposals = store.waf_proposals(Some(&site.domain)).await?;
    if a.json.json {
        let state = running.as_ref().map(|r| r["state"].clone()).map_err(ToString::to_string);
        let value = json!({ "site": site, "state": state, "events": recent.events, "proposals": proposals });
        print_json(&value)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("site         {}", site.domain);
    if !site.aliases.is_empty() {
        println!("aliases      {}", site.aliases.join(" "));
    }
    let origins: Vec<String> = site.origins.iter().map(ToString::to_string).collect();
    println!("origins      {}", origins.join(" "));
    println!("certificate  {}", if site.key_kept { "kept (key sealed)" } else { "none yet" });
    println!("owner        {}", site.owner_bin.as_deref().unwrap_or("-"));
    if let Some(id) = site.application_id {
        println!("application  {id}");
    }
    let rules = &settings.rules;
    println!("mode         {}", serde_json::to_value(rules.mode)?.as_str().unwrap_or("?"));
    println!(
        "paranoia     {}   thresholds in {} out {}",
        rules.paranoia, rules.inbound_threshold, rules.outbound_threshold
    );
    for e in &rules.exclusions {
        println!("exclusion    {}{}", e.rule, e.target.as_deref().map(|t| format!(" on {t}")).unwrap_or_default());
    }
    println!("patches      {}", rules.patches.len());
    match &running {
        Ok(r) => print_state(&r["state"]),
        Err(why) => println!("running      not asked: {why}"),
    }
    println!("recent refusals and matches ({} in the log window):", recent.matched);
    for e in &recent.events {
        let ids: Vec<String> = e.rules.iter().map(|r| r.id.to_string()).collect();
        println!(
            "  {}  {}  {:<8} {} {} {} score {} rules {}",
            when(e.at),
            e.transaction,
            e.action,
            e.client,
            e.method,
            e.uri,
            e.score,
            ids.join(",")
        );
    }
    for p in proposals.iter().filter(|p| p.status == store::ProposalStatus::Proposed) {
        let target = p.target.as_deref().map(|t| format!(" on {t}")).unwrap_or_default();
        println!(
            "proposal     {}: exclude {}{target} (by {}; `perimeter waf confirm {}`)",
            p.id, p.rule, p.proposed_by, p.id
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_state(state: &serde_json::Value) {
    println!("state        {}", state["state"].as_str().unwrap_or("?"));
    for p in state["problems"].as_array().into_iter().flatten() {
        println!("problem      {}", p.as_str().unwrap_or_default());
    }
    for o in state["origins"].as_array().into_iter().flatten() {
        let up = if o[1].as_bool() == Some(true) { "healthy" } else { "DOWN" };
        println!("origin       {} {up}", o[0].as_str().unwrap_or_default());
    }
}
