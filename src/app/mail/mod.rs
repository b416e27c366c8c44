//! The mail gateway as `perimeter up` runs it: the relay started on the registry of
//! connected systems from the store, the registry rebuilt whenever the store changes
//! (held mail released when a system is resumed, agreed disconnections applied), and the
//! traffic watch's suspensions written back to the store and mailed to the owner's
//! contacts (`watch`); one service, stopped as a whole.

mod watch;

pub use watch::traffic;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use epbsh::SystemId;
use epbsh::hooks::{Guard, OpenGuard};
use epbsh::registry::{self, MailSystem, Registry, RegistryHandle, Status};
use epbsh::relay::Relay;
use epbsh::watch::Watch;
use store::MailSystemRecord;
use store::{Generations, Store};

use super::reconcile::NoticesConfig;
use super::service::{Service, Stop};

/// The running mail gateway.
pub struct MailGateway {
    pub relay: Relay,
    pub registry: RegistryHandle,
    /// The traffic watch, unless `[relay.watch] enabled = false`.
    pub watch: Option<Arc<Watch>>,
}

/// The relay's view of the store's mail systems.
pub fn registry_from(records: &[MailSystemRecord]) -> anyhow::Result<Registry> {
    let systems = records
        .iter()
        .map(|r| {
            Ok(MailSystem {
                id: SystemId::try_from(r.id)?,
                name: r.name.clone(),
                owner_bin: r.owner_bin.clone(),
                domains: r.domains.clone(),
                servers: r.servers.clone(),
                deliver_to: r.deliver_to,
                contacts: r.contacts.clone(),
                status: r.status,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Registry::new(systems)?)
}

/// The mail gateway as a service: the relay (and its traffic watch) on the registry of
/// the store's mail systems, the registry kept current, the watch's work kept going.
pub struct MailService {
    gateway: Arc<MailGateway>,
    store: Store,
    generations: Generations,
    every: Duration,
    keeper: Option<watch::Keeper>,
}

/// Starts the relay (and its traffic watch) on the current registry; the returned
/// service keeps the registry current until stopped.
pub async fn start(
    (config, data_dir, notices): (&epbsh::relay::RelayConfig, &std::path::Path, &NoticesConfig),
    refresh: Duration,
    store: &Store,
    generations: Generations,
) -> anyhow::Result<MailService> {
    let watched = match config.watch.enabled {
        true => Some(watch::start(config, store).await?),
        false => None,
    };
    let guard: Arc<dyn Guard> = match &watched {
        Some((w, _)) => w.clone(),
        None => Arc::new(OpenGuard),
    };
    let records = store.mail_systems().await?;
    let registry = registry::handle(registry_from(&records).context("the mail-system registry is inconsistent")?);
    let mut relay_config = config.clone();
    if relay_config.spool_dir.is_relative() {
        relay_config.spool_dir = data_dir.join(&relay_config.spool_dir);
    }
    // DKIM keys live under the data directory unless placed elsewhere.
    if relay_config.auth.keys_dir.is_relative() {
        relay_config.auth.keys_dir = data_dir.join(&relay_config.auth.keys_dir);
    }
    let relay =
        epbsh::relay::start(relay_config, registry.clone(), guard).await.context("cannot start the mail relay")?;
    let (watch, keeper) = match watched {
        Some((w, suspensions)) => {
            let keeper = watch::Keeper::new(notices, store, &w, registry.clone(), suspensions)?;
            (Some(w), Some(keeper))
        }
        None => (None, None),
    };
    let gateway = Arc::new(MailGateway { relay, registry, watch });
    let every = refresh.max(Duration::from_millis(50));
    Ok(MailService { gateway, store: store.clone(), generations, every, keeper })
}

impl MailService {
    /// The running gateway (its queue, held mail and counters for the API).
    pub fn gateway(&self) -> &Arc<MailGateway> {
        &self.gateway
    }
}

impl Service for MailService {
    const NAME: &'static str = "mail relay";

    /// Until `stop`; then the registry stops following the store, the watch's counters
    /// are saved, and the relay answers 421 between commands, lets transfers under way
    /// finish within its grace, stops delivery and closes the spool.
    async fn run(self, stop: Stop) -> anyhow::Result<()> {
        let MailService { gateway, store, generations, every, keeper } = self;
        let following = follow_store(gateway.clone(), store.clone(), generations, every, &stop);
        let keeping = async {
            if let Some(keeper) = keeper {
                keeper.run(&stop).await
            }
        };
        tokio::join!(following, keeping);
        match Arc::try_unwrap(gateway) {
            Ok(gateway) => {
                if let Err(e) = gateway.relay.shutdown().await {
                    tracing::error!(error = %e, "the mail relay did not stop cleanly");
                }
            }
            Err(_) => tracing::warn!("the mail relay is still in use; it stops with the process"),
        }
        Ok(())
    }
}

/// Rebuilds the registry when the store changes (followed through its generations);
/// releases the held mail of systems that went from suspended to active; deletes held
/// mail the duty team asked to delete; applies agreed disconnections every `every`.
async fn follow_store(
    gateway: Arc<MailGateway>,
    store: Store,
    mut generations: Generations,
    every: Duration,
    stop: &Stop,
) {
    // Requests made while the gateway was down.
    delete_held(&gateway, &store).await;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            moved = generations.changed() => if moved.is_err() { return },
            () = stop.stopped() => return,
            _ = tick.tick() => {
                if let Err(e) = store.apply_due_disconnects(store::now_ms()).await {
                    tracing::error!(error = %e, "applying agreed mail-system disconnections failed");
                }
                continue;
            }
        }
        match store.mail_systems().await.map_err(anyhow::Error::from).and_then(|r| registry_from(&r)) {
            Ok(next) => swap(&gateway, next).await,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "rebuilding the mail registry failed; the previous one stays")
            }
        }
        delete_held(&gateway, &store).await;
    }
}

/// Applies the duty team's pending requests to delete held mail (`perimeter mail
/// delete-held`); a request that fails stays pending and is tried at the next change.
async fn delete_held(gateway: &MailGateway, store: &Store) {
    let requests = match store.pending_held_deletions().await {
        Ok(r) => r,
        Err(e) => return tracing::error!(error = %e, "reading held-mail deletion requests failed"),
    };
    for request in requests {
        let record = match store.mail_system(&request.system).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(system = %request.system, error = %e, "held-mail deletion for an unknown system");
                continue;
            }
        };
        let id = match SystemId::try_from(record.id) {
            Ok(id) => id,
            Err(e) => return tracing::error!(system = %request.system, error = %e, "held-mail deletion impossible"),
        };
        match gateway.relay.delete_held(id).await {
            Ok(n) => match store.complete_held_deletion(&request, n).await {
                Ok(()) => {
                    tracing::info!(system = %request.system, deleted = n, by = %request.actor, "held mail deleted")
                }
                Err(e) => {
                    tracing::error!(system = %request.system, error = %e, "recording a held-mail deletion failed")
                }
            },
            Err(e) => tracing::error!(system = %request.system, error = %e, "deleting held mail failed"),
        }
    }
}

async fn swap(gateway: &MailGateway, next: Registry) {
    let before: HashMap<SystemId, Status> =
        gateway.registry.load().systems().iter().map(|s| (s.id, s.status)).collect();
    let resumed: Vec<SystemId> = next
        .systems()
        .iter()
        .filter(|s| s.status == Status::Active && before.get(&s.id) == Some(&Status::Suspended))
        .map(|s| s.id)
        .collect();
    // The watch lets go first; until the registry changes too, the relay still refuses.
    if let Some(w) = &gateway.watch {
        resumed.iter().for_each(|id| w.resume(*id));
    }
    gateway.registry.store(Arc::new(next));
    for id in resumed {
        match gateway.relay.release_held(id).await {
            Ok(n) => tracing::info!(system = id.0, released = n, "mail system resumed; held mail released"),
            Err(e) => tracing::error!(system = id.0, error = %e, "releasing held mail failed"),
        }
    }
}
