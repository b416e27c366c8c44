//! Keeps the data plane's snapshot in step with the store: loads everything current,
//! builds a [`Snapshot`] off the async workers, and swaps it into the
//! [`SnapshotHandle`] whenever the store's generation moves (followed through
//! [`Store::follow`], or at once when nudged after a change made in this process).
//!
//! Must not: swap in a half-built snapshot; a failed rebuild keeps the old one.

use std::time::Instant;

use snapshot::{BlockRef, OrgRef, Snapshot, SnapshotError, SnapshotHandle};
use store::{Generations, Store, StoreError};
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
    let orgs = orgs.into_iter().map(|o| (o.id, OrgRef { bin: o.bin.to_string(), name: o.name })).collect();
    let operators = store.operators().await?.into_iter().map(|o| (o.id, o.name)).collect();
    let blocks = store.blocks(&Default::default()).await?;
    let blocks = blocks.into_iter().map(|b| BlockRef { prefix: b.prefix, reason: b.reason, since: b.since }).collect();
    let built = tokio::task::spawn_blocking(move || Snapshot::build(assignments, orgs, operators, blocks, generation));
    Ok(built.await.map_err(|e| LoadError::Task(e.to_string()))??)
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
