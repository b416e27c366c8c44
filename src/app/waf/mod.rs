//! The web application firewall (rule 17) as the binary runs it: its configuration
//! (`[services] waf` turns it on, `[waf]` is the proxy's own section, `[waf_engine]`
//! says where libmodsecurity and the CRS are), the service that keeps the proxy's sites
//! current from the store (`service`), what the API and the console see of it (`view`),
//! the sites' settings by name (`settings`), the duty team's changes (`manage`), and the
//! events read back from its audit log (`events`); the desk's `connect` and `disconnect`
//! of a WAF application (`desk`).
//!
//! Must not: decide what is an attack (the `waf` crate's engine does), or keep a site's
//! private key anywhere but sealed in the store and in the running snapshot.

pub mod desk;
pub mod events;
pub mod manage;
pub mod service;
pub mod settings;
pub mod view;

pub use manage::{Manager, SiteInput, WafError};
pub use service::{audit_log_path, key_file, start};
pub use view::WafView;

use super::problem::ConfigProblems;

/// Checks `[waf]` as the proxy will (run only when the WAF is on).
pub fn validate(config: &waf::WafConfig, problems: &mut ConfigProblems) {
    if let Err(e) = config.check() {
        e.problems.iter().for_each(|(field, message)| problems.add(format!("waf.{field}"), message));
    }
}

/// The rule engine on this machine, or why not (what to install).
pub fn load_engine(paths: &waf::engine::EnginePaths) -> Result<std::sync::Arc<waf::engine::Engine>, String> {
    waf::engine::Engine::load(paths).map(std::sync::Arc::new).map_err(|e| e.to_string())
}
