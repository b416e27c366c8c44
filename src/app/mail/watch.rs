//! The traffic watch as `perimeter up` runs it: counters loaded from the store at start
//! and saved back every few seconds, blocklist checks, and every suspension the watch
//! decides written to the store (the registry follows, audited as the traffic watch)
//! and e-mailed with its evidence to the owner's technical contacts.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use catalog::reconcile::mail::{Mailer, SmtpMailer};
use epbsh::registry::RegistryHandle;
use epbsh::watch::{Suspension, Watch, WatchState};
use lettre::Message;
use lettre::message::Mailbox;
use store::Store;
use tokio::sync::mpsc;

use crate::app::reconcile::{NoticesConfig, notices_mailer};
use crate::app::service::Stop;

/// Name of the watch's counters in the store's saved state.
pub const STATE: &str = "mail-watch";
/// The actor the watch's changes are audited as.
const ACTOR: &str = "traffic-watch";
/// How often the counters are saved.
const SAVE_EVERY: Duration = Duration::from_secs(5);
/// Waits between attempts to mail the owner's contacts.
const NOTICE_RETRIES: [Duration; 4] =
    [Duration::from_secs(5), Duration::from_secs(30), Duration::from_secs(120), Duration::from_secs(600)];

/// Starts the watch with its saved counters; returns it with the receiver of its
/// suspensions (to be handed to [`follow`] once the registry exists).
pub async fn start(
    config: &epbsh::relay::RelayConfig,
    store: &Store,
) -> anyhow::Result<(Arc<Watch>, mpsc::UnboundedReceiver<Suspension>)> {
    let (watch, suspensions) = Watch::new(config.watch.clone());
    if let Some(saved) = store.load_state(STATE).await? {
        match serde_json::from_str::<WatchState>(&saved) {
            Ok(state) => watch.import(state),
            Err(e) => {
                tracing::error!(error = %e, "the saved traffic-watch counters are unreadable; starting from zero")
            }
        }
    }
    let watch = Arc::new(watch);
    epbsh::watch::blocklist::spawn(&watch, &config.delivery.dns_servers);
    Ok((watch, suspensions))
}

/// What keeps the watch's work going beside the relay: its counters saved now and
/// then (and when it stops), shared with the other nodes of a cluster, and every
/// suspension recorded and announced.
pub struct Keeper {
    store: Store,
    watch: Arc<Watch>,
    registry: RegistryHandle,
    suspensions: mpsc::UnboundedReceiver<Suspension>,
    mailer: Arc<SmtpMailer>,
    from: Mailbox,
}

impl Keeper {
    pub fn new(
        notices: &NoticesConfig,
        store: &Store,
        watch: &Arc<Watch>,
        registry: RegistryHandle,
        suspensions: mpsc::UnboundedReceiver<Suspension>,
    ) -> anyhow::Result<Keeper> {
        let (mailer, from) = notices_mailer(notices)?;
        watch.reconcile(&registry.load());
        let (store, watch, mailer) = (store.clone(), watch.clone(), Arc::new(mailer));
        Ok(Keeper { store, watch, registry, suspensions, mailer, from })
    }

    /// Until `stop`; then waits for the announcements under way (each stops retrying)
    /// and saves the counters.
    pub async fn run(self, stop: &Stop) {
        let Keeper { store, watch, registry, mut suspensions, mailer, from } = self;
        let exchanging = async {
            if store.backend() == store::Backend::Postgres {
                exchange(&store, &watch, stop).await
            }
        };
        let recording = async {
            let mut announcing = tokio::task::JoinSet::new();
            loop {
                let s = tokio::select! {
                    got = suspensions.recv() => match got { Some(s) => s, None => break },
                    () = stop.stopped() => break,
                };
                match record(&store, &registry, &s).await {
                    Ok(Some(notice)) => {
                        announcing.spawn(announce(store.clone(), mailer.clone(), from.clone(), notice, stop.clone()));
                    }
                    Ok(None) => tracing::info!(system = s.system.0, "already suspended elsewhere"),
                    Err(e) => {
                        tracing::error!(system = s.system.0, error = %format!("{e:#}"), "recording a suspension failed; the watch keeps the system suspended")
                    }
                }
            }
            while announcing.join_next().await.is_some() {}
        };
        tokio::join!(save(&store, &watch, stop), exchanging, recording);
        save_now(&store, &watch).await;
    }
}

/// What the watch knows of a system: live from the running gateway when there is one,
/// else as last saved in the store.
pub async fn traffic(
    store: &Store,
    live: Option<&Watch>,
    id: i64,
) -> anyhow::Result<Option<epbsh::watch::SystemWatch>> {
    let id = epbsh::SystemId::try_from(id)?;
    if let Some(w) = live {
        return Ok(Some(w.view(id)));
    }
    let Some(saved) = store.load_state(STATE).await? else { return Ok(None) };
    let state: WatchState = serde_json::from_str(&saved).context("the saved traffic-watch counters")?;
    Ok(state.systems.into_iter().find(|(s, _)| *s == id).map(|(_, w)| w))
}

async fn save(store: &Store, watch: &Watch, stop: &Stop) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(SAVE_EVERY) => {}
            () = stop.stopped() => return,
        }
        save_now(store, watch).await;
    }
}

/// How often the nodes of a cluster exchange their counts, and how long a node's counts
/// stay valid without renewal (a node that is gone stops counting).
const EXCHANGE_EVERY: Duration = Duration::from_secs(1);
const SHARE_FRESH_MS: i64 = 5_000;

/// With several nodes: tells the others what this node counted per system and judges
/// every system on what all counted, so a burst spread over the nodes is seen whole.
async fn exchange(store: &Store, watch: &Watch, stop: &Stop) {
    let node = node_name();
    let mut tick = tokio::time::interval(EXCHANGE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.stopped() => return,
        }
        if let Err(e) = exchange_once(store, watch, &node).await {
            tracing::warn!(error = %format!("{e:#}"), "exchanging traffic-watch counts with the other nodes failed");
        }
    }
}

async fn exchange_once(store: &Store, watch: &Watch, node: &str) -> anyhow::Result<()> {
    let now = store::now_ms();
    let mine: Vec<(i64, String)> = watch
        .shares()
        .into_iter()
        .map(|(id, share)| Ok((i64::from(id.0), serde_json::to_string(&share)?)))
        .collect::<anyhow::Result<_>>()?;
    store.put_shares(node, &mine, now).await?;
    let mut peers: std::collections::HashMap<epbsh::SystemId, Vec<epbsh::watch::counters::Share>> = Default::default();
    for (system, text) in store.peer_shares(node, now - SHARE_FRESH_MS).await? {
        let id = epbsh::SystemId::try_from(system)?;
        peers.entry(id).or_default().push(serde_json::from_str(&text)?);
    }
    watch.set_peers(peers);
    store.drop_stale_shares(now - 60_000).await?;
    Ok(())
}

/// This node's name among the others: host, process and a random part.
fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{}-{}-{nanos:x}", host.trim(), std::process::id())
}

/// Saves the watch's counters in the store (also at shutdown).
pub async fn save_now(store: &Store, watch: &Watch) {
    match serde_json::to_string(&watch.export()) {
        Ok(text) => {
            if let Err(e) = store.save_state(STATE, &text).await {
                tracing::warn!(error = %e, "saving the traffic-watch counters failed");
            }
        }
        Err(e) => tracing::error!(error = %e, "serialising the traffic-watch counters failed"),
    }
}

/// The e-mail to a suspended system's contacts.
struct Notice {
    system: String,
    contacts: Vec<String>,
    subject: String,
    body: String,
}

/// Writes the suspension to the store with its evidence; returns the notice to send, or
/// `None` when the system was no longer active (another node of the cluster suspended
/// it first, and tells its owner).
async fn record(store: &Store, registry: &RegistryHandle, s: &Suspension) -> anyhow::Result<Option<Notice>> {
    let Some(found) = registry.load().get(s.system).cloned() else {
        anyhow::bail!("the watch suspended system {} which the registry does not know", s.system.0);
    };
    if store.suspend_if_active(ACTOR, &found.name, &s.reason).await?.is_none() {
        return Ok(None);
    }
    let subject = format!("mail system {}", found.name);
    store
        .record(ACTOR, "mail.watch_evidence", &format!("mail:{}", found.name), serde_json::to_value(&s.evidence)?)
        .await?;
    tracing::warn!(system = %found.name, reason = %s.reason, "mail system suspended by the traffic watch");
    let body = format!(
        "The e-government mail gateway has suspended the mail system {name} (owner BIN {bin}) because its \
         outbound traffic turned abnormal.\n\nWhile it is suspended, the gateway answers your servers with a \
         temporary error (451), so they keep their mail and retry; mail the gateway had already accepted is held, \
         neither dropped nor bounced. Please check the accounts and servers that sent the messages below, then ask \
         the gateway's duty team to resume the system.\n\n{evidence}",
        name = found.name,
        bin = found.owner_bin,
        evidence = s.evidence,
    );
    Ok(Some(Notice {
        system: found.name.clone(),
        contacts: found.contacts.clone(),
        subject: format!("[perimeter] {subject} suspended: {}", s.reason),
        body,
    }))
}

/// Mails the notice to the contacts, retrying a bounded number of times (none once
/// `stop` is told); the outcome is audited.
async fn announce(store: Store, mailer: Arc<SmtpMailer>, from: Mailbox, notice: Notice, stop: Stop) {
    let mut result = send(mailer.as_ref(), &from, &notice).await;
    for wait in NOTICE_RETRIES {
        if result.is_ok() || notice.contacts.is_empty() || stop.is_stopped() {
            break;
        }
        tracing::warn!(system = %notice.system, error = ?result, "suspension notice not sent; retrying");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.stopped() => break,
        }
        result = send(mailer.as_ref(), &from, &notice).await;
    }
    let event =
        serde_json::json!({ "contacts": notice.contacts, "sent": result.is_ok(), "error": result.as_ref().err() });
    if let Err(e) = store.record(ACTOR, "mail.suspension_notice", &format!("mail:{}", notice.system), event).await {
        tracing::error!(error = %e, "auditing a suspension notice failed");
    }
}

async fn send(mailer: &dyn Mailer, from: &Mailbox, notice: &Notice) -> Result<(), String> {
    if notice.contacts.is_empty() {
        return Err("the system has no technical contacts".into());
    }
    let mut builder = Message::builder().from(from.clone()).subject(notice.subject.clone());
    for c in &notice.contacts {
        builder = builder.to(c.parse().map_err(|e| format!("contact '{c}': {e}"))?);
    }
    let message = builder.body(notice.body.clone()).map_err(|e| e.to_string())?;
    mailer.send(message).await
}
