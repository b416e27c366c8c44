//! `perimeter mail explain`: what the relay configured here would do with a message from
//! an address at a connecting IP, from the same code the relay runs (`Auth::explain`)
//! on the registry of the store and the keys on disk. It asks the configured resolvers
//! like a real message would.
//!
//! Must not: spool, deliver or count anything.

use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use epbsh::auth::{Auth, Explanation, Probe};
use epbsh::relay::RelayConfig;
use store::Store;

/// What is asked about.
pub struct Question<'a> {
    pub from: &'a str,
    pub ip: IpAddr,
    /// Default: the relay's own hostname is not assumed; an empty HELO is `unknown`.
    pub helo: Option<&'a str>,
    pub message: Option<&'a [u8]>,
}

/// The explanation for `q` under `relay`'s `[relay.auth]`, keys under `data_dir` as
/// `perimeter up` places them.
pub async fn explain(
    relay: &RelayConfig,
    data_dir: &Path,
    store: &Store,
    q: &Question<'_>,
) -> anyhow::Result<Explanation> {
    let mut cfg = relay.auth.clone();
    cfg.keys_dir = super::dkim::keys_dir(relay, data_dir);
    let (auth, problems) = Auth::new(cfg, &relay.hostname, None).map_err(anyhow::Error::msg)?;
    for p in problems {
        tracing::warn!(problem = %p, "DKIM key not used; its domain is not signed");
    }
    let records = store.mail_systems().await?;
    let registry = super::registry_from(&records).context("the mail-system registry is inconsistent")?;
    let probe = Probe { from: q.from, ip: q.ip, helo: q.helo.unwrap_or("unknown"), message: q.message };
    Ok(auth.explain(&registry, &probe).await)
}
