//! Defacement protection (rule 18) as `perimeter up` runs it: the `deface` crate's
//! service over the store, with its reference copies under the data directory and the
//! desk's key for the sites' secrets, checking every protected site on its cycle until
//! told to stop. Its findings become incidents at the desk and e-mails (`hook`); a
//! connected defacement application becomes a protected site (`desk`); the CLI and API
//! add sites with their owner (`sites`).
//!
//! On by default: it needs no privilege and does nothing while no site is protected.
//!
//! Must not: judge a site itself (the crate does) or keep records itself (the store does).

pub mod desk;
mod hook;
pub mod sites;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use deface::{Deface, DefaceConfig};

pub use hook::DeskHook;

use super::requests::Desk;
use super::service::{Service, Stop};

/// The defacement service as configured: `[deface]`, reference copies under
/// `[deface] data_dir` (or `deface` in the data directory), secrets opened with the
/// desk's key, findings told to the desk.
pub fn open(config: &DefaceConfig, data_dir: &Path, desk: Arc<Desk>) -> anyhow::Result<Deface> {
    let dir = match &config.data_dir {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => data_dir.join(d),
        None => data_dir.join("deface"),
    };
    let sealer = Arc::new(desk.sealer().map_err(|e| anyhow::anyhow!("the desk's key for the sites' secrets: {e}"))?);
    let hook = Arc::new(DeskHook::new(desk.clone()));
    Deface::new(desk.store.clone(), sealer, config.clone(), dir, hook).context("cannot start defacement protection")
}

/// The `[deface]` section's problems, each with its key.
pub fn validate(config: &DefaceConfig, problems: &mut super::problem::ConfigProblems) {
    if let Err(found) = config.check() {
        for p in found {
            let (at, what) = p.split_once(": ").unwrap_or(("deface", p.as_str()));
            problems.add(at, what);
        }
    }
}

/// The service `up` runs: every site checked on its cycle until stopped (a check under
/// way is given `[deface] timeout` to end).
pub struct DefaceService(pub Deface);

impl Service for DefaceService {
    const NAME: &'static str = "defacement protection";

    async fn run(self, stop: Stop) -> anyhow::Result<()> {
        self.0.run(stop.token()).await;
        Ok(())
    }
}
