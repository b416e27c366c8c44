//! `perimeter waf site list [--json]`: every protected site as the store holds it.

use std::process::ExitCode;

use store::Store;

use crate::app::waf::settings::SiteSettings;
use crate::cli::json::json;

pub async fn run(store: &Store, as_json: bool) -> anyhow::Result<ExitCode> {
    let sites = store.waf_sites().await?;
    if as_json {
        json(&sites)?;
        return Ok(ExitCode::SUCCESS);
    }
    if sites.is_empty() {
        println!("no protected sites (`perimeter waf site add`)");
    }
    for s in sites {
        let settings = SiteSettings::from_json(&s.settings).unwrap_or_default();
        let mode = serde_json::to_value(settings.rules.mode).unwrap_or_default();
        let cert = if s.key_kept { "certificate" } else { "NO CERTIFICATE" };
        let origins: Vec<String> = s.origins.iter().map(ToString::to_string).collect();
        println!(
            "{:<32} {:<7} paranoia {} {:<15} {:<13} origins {}",
            s.domain,
            mode.as_str().unwrap_or("?"),
            settings.rules.paranoia,
            cert,
            s.owner_bin.as_deref().unwrap_or("-"),
            origins.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
