//! Keeps the data plane's snapshot in step with the store: loads everything current
//! (assignments, blocks, each link's operator, and the organisations' grants of services
//! besides the web proxy: the duty team's and the applied risky-service applications),
//! builds a [`Snapshot`] off the async workers, and swaps it into the
//! [`SnapshotHandle`] whenever the store's generation moves (followed through
//! [`Store::follow`], or at once when nudged after a change made in this process).
//!
//! Must not: swap in a half-built snapshot; a failed rebuild keeps the old one.

use std::time::Instant;

use std::collections::HashMap;

use policies::calendar::ASTANA_OFFSET;
use snapshot::{BlockRef, Grant, Opens, OrgRef, Snapshot, SnapshotError, SnapshotHandle};
use store::{GateGrant, Generations, RiskyGrant, Store, StoreError};
use tokio_util::sync::CancellationToken;

/// Why a snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Build(#[from] SnapshotError),
    #[error("the rebuild task failed: {0}")]
    Task(String),
}

/// Loads everything current from the store and builds a snapshot.
pub async fn load(store: &Store) -> Result<Snapshot, LoadError> {
    let generation = store.generation().await?;
    let assignments = store.current_assignments().await?;
    let orgs = store.organisations(None).await?;
    let ids: HashMap<String, i64> = orgs.iter().map(|o| (o.bin.to_string(), o.id)).collect();
    let orgs = orgs.into_iter().map(|o| (o.id, OrgRef { bin: o.bin.to_string(), name: o.name })).collect();
    let registry = store.operators().await?;
    let links: HashMap<String, i64> =
        registry.iter().flat_map(|o| o.links.iter().map(move |l| (l.clone(), o.id))).collect();
    let operators = registry.into_iter().map(|o| (o.id, o.name)).collect();
    let blocks = store.blocks(&Default::default()).await?;
    let blocks = blocks.into_iter().map(|b| BlockRef { prefix: b.prefix, reason: b.reason, since: b.since }).collect();
    let mut grants: Vec<Grant> = store.gate_grants(false).await?.into_iter().filter_map(duty_grant).collect();
    let risky = store.applied_risky_services().await?;
    grants.extend(risky.into_iter().filter_map(|r| application_grant(r, &ids)));
    let built = tokio::task::spawn_blocking(move || {
        Snapshot::build(assignments, orgs, operators, blocks, generation)
            .map(|s| s.with_links(links).with_grants(grants))
    });
    Ok(built.await.map_err(|e| LoadError::Task(e.to_string()))??)
}

/// A duty-team grant as the gate reads it (expired ones too: the gate ends them at their
/// expiry, whether or not the store moves).
fn duty_grant(g: GateGrant) -> Option<Grant> {
    Some(Grant {
        source: format!("grant {}", g.id),
        organisation: u32::try_from(g.organisation_id).ok()?,
        bin: g.bin,
        opens: Opens::Service(g.service),
        until: g.expires_at,
        reason: g.reason,
    })
}

/// An applied risky-service application as a grant of its category, in force through
/// its last day (Astana time); one of an organisation the registry lacks opens nothing.
fn application_grant(r: RiskyGrant, ids: &HashMap<String, i64>) -> Option<Grant> {
    let organisation = u32::try_from(*ids.get(&r.bin)?).ok()?;
    Some(Grant {
        source: format!("request {}", r.request),
        organisation,
        bin: r.bin,
        opens: Opens::Category(r.category),
        until: r.valid_through.map(|d| d.next().midnight_unix(ASTANA_OFFSET) * 1000),
        reason: r.purpose,
    })
}

/// Rebuilds from the store if it moved past the handle's generation. Returns the new
/// generation when a swap happened; on error the old snapshot stays.
pub async fn refresh(handle: &SnapshotHandle, store: &Store) -> Result<Option<i64>, LoadError> {
    if store.generation().await? <= handle.current().generation() {
        return Ok(None);
    }
    let started = Instant::now();
    let fresh = load(store).await?;
    let generation = fresh.generation();
    let (v4, v6) = fresh.prefixes();
    handle.replace(fresh);
    tracing::info!(generation, v4, v6, ms = started.elapsed().as_millis() as u64, "catalog snapshot swapped in");
    Ok(Some(generation))
}

/// Keeps `handle` current: rebuilds whenever the store's generation moves (see
/// [`Store::follow`]: at once on PostgreSQL, within its period on SQLite) and at once
/// when nudged through `nudged` (after a change made in this process). Returns at
/// `stop`.
pub async fn run(
    handle: SnapshotHandle,
    store: Store,
    mut generations: Generations,
    mut nudged: tokio::sync::mpsc::Receiver<()>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            moved = generations.changed() => if moved.is_err() { return },
            _ = nudged.recv() => {}
            _ = stop.cancelled() => return,
        }
        if let Err(e) = refresh(&handle, &store).await {
            tracing::error!(error = %e, "catalog snapshot rebuild failed; keeping the previous one");
        }
    }
}
