//! DKIM keys as the duty team manages them (`perimeter mail dkim …`): a key is made only
//! for a domain of a connected system (not disconnected), written under the relay's key
//! directory, and recorded in the audit trail. That record moves the store's generation,
//! which the running relay follows: it reads the key directory again then
//! (`follow_store`), so a new or rotated key signs without a restart.
//!
//! Must not: print or record a private key; make a key for a domain nobody connected.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use epbsh::auth::keys::{self, Algorithm, DomainKeys, KeyInfo, Rotation};
use epbsh::relay::RelayConfig;
use policies::MailStatus;
use serde_json::json;
use store::Store;
use time::OffsetDateTime;

/// The key directory the relay reads: `[relay.auth] keys_dir`, under the data directory
/// when relative (as `perimeter up` places it).
pub fn keys_dir(relay: &RelayConfig, data_dir: &Path) -> PathBuf {
    match relay.auth.keys_dir.is_relative() {
        true => data_dir.join(&relay.auth.keys_dir),
        false => relay.auth.keys_dir.clone(),
    }
}

/// The domains of every mail system that is not disconnected, sorted.
pub async fn connected_domains(store: &Store) -> anyhow::Result<Vec<String>> {
    let mut domains: Vec<String> = store
        .mail_systems()
        .await?
        .into_iter()
        .filter(|s| s.status != MailStatus::Disconnected)
        .flat_map(|s| s.domains)
        .map(|d| d.to_ascii_lowercase())
        .collect();
    domains.sort();
    domains.dedup();
    Ok(domains)
}

/// Refuses a domain that no connected system has.
async fn require_connected(store: &Store, domain: &str) -> anyhow::Result<()> {
    if connected_domains(store).await?.iter().any(|d| d == domain) {
        return Ok(());
    }
    anyhow::bail!(
        "{domain} is not a domain of a connected mail system: connect the system first \
         (`perimeter mail connect … --domain {domain}`)"
    )
}

/// What a key operation is asked for.
pub struct KeyRequest<'a> {
    pub domain: &'a str,
    /// Default: `sYYYYMMDD` of the day it is made.
    pub selector: Option<&'a str>,
    pub algorithm: Algorithm,
}

impl KeyRequest<'_> {
    fn domain(&self) -> String {
        self.domain.trim().trim_end_matches('.').to_ascii_lowercase()
    }

    fn selector(&self, now: OffsetDateTime) -> String {
        self.selector.map_or_else(|| keys::default_selector(now), str::to_string)
    }
}

/// Makes the first key of a connected domain, signing at once; audited.
pub async fn keygen(store: &Store, dir: &Path, actor: &str, req: &KeyRequest<'_>) -> anyhow::Result<KeyInfo> {
    let domain = req.domain();
    require_connected(store, &domain).await?;
    let now = OffsetDateTime::now_utc();
    let selector = req.selector(now);
    let (dir2, d2, s2, alg) = (dir.to_path_buf(), domain.clone(), selector.clone(), req.algorithm);
    let info = tokio::task::spawn_blocking(move || keys::keygen(&dir2, &d2, &s2, alg, now, now))
        .await
        .context("key generation stopped")??;
    let event = json!({ "selector": info.selector, "algorithm": info.meta.algorithm, "record_name": info.record_name,
        "signs_from": info.meta.signs_from.unix_timestamp() });
    store.record(actor, "mail.dkim.keygen", &format!("dkim:{domain}"), event).await?;
    Ok(info)
}

/// Makes a new key that signs from `signs_in` from now; the older keys stop signing then
/// and their records are listed for removal `grace` later; audited.
pub async fn rotate(
    store: &Store,
    dir: &Path,
    actor: &str,
    req: &KeyRequest<'_>,
    (signs_in, grace): (Duration, Duration),
) -> anyhow::Result<Rotation> {
    let domain = req.domain();
    require_connected(store, &domain).await?;
    let now = OffsetDateTime::now_utc();
    let selector = req.selector(now + signs_in);
    let signs_from = now + signs_in;
    let (dir2, d2, s2, alg) = (dir.to_path_buf(), domain.clone(), selector, req.algorithm);
    let rotation = tokio::task::spawn_blocking(move || keys::rotate(&dir2, &d2, &s2, alg, now, signs_from, grace))
        .await
        .context("key generation stopped")??;
    let retired: Vec<&str> = rotation.retired.iter().map(|k| k.selector.as_str()).collect();
    let event = json!({ "selector": rotation.new.selector, "algorithm": rotation.new.meta.algorithm,
        "signs_from": signs_from.unix_timestamp(), "retired": retired });
    store.record(actor, "mail.dkim.rotate", &format!("dkim:{domain}"), event).await?;
    Ok(rotation)
}

/// Every connected domain with its keys (and any other domain with keys on disk), and
/// the key files that could not be used.
pub async fn list(store: &Store, dir: &Path) -> anyhow::Result<(Vec<DomainKeys>, Vec<String>)> {
    let domains = connected_domains(store).await?;
    let dir = dir.to_path_buf();
    let (listing, problems) =
        tokio::task::spawn_blocking(move || keys::list(&dir, &domains, OffsetDateTime::now_utc())).await?;
    Ok((listing, problems.iter().map(ToString::to_string).collect()))
}
