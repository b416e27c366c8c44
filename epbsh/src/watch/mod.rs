//! The traffic watch: the [`Guard`] that keeps per-system counters of outbound mail,
//! detects abnormal traffic ([`signals`]), throttles a system first (governor, at
//! `throttle_rate` messages a minute) and suspends it when a signal reaches its suspend
//! level. A suspension stops the system at once (its next MAIL FROM, RCPT or final dot
//! gets 451, and its queued mail, the message that tripped it included, is held) and is
//! sent as a [`Suspension`] with its [`Evidence`] to whoever records it (the store) and
//! tells the owner. Counters can be exported and imported so they survive restarts.
//!
//! Files: `config` (settings), `counters` (window and baseline), `fingerprint` (content),
//! `signals` (detection, one module per signal), `evidence`, `blocklist` (DNSBL checks).

pub mod blocklist;
pub mod config;
pub mod counters;
pub mod evidence;
pub mod fingerprint;
pub mod signals;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub use config::WatchConfig;
use counters::{Counters, Message};
pub use evidence::Evidence;
use signals::{Finding, Level};

use crate::envelope::SystemId;
use crate::hooks::{Accepted, Admission, Delivery, Guard, Outcome};
use crate::registry::{Registry, Status};

/// The watch decided to suspend a system.
#[derive(Debug, Clone)]
pub struct Suspension {
    pub system: SystemId,
    /// One line: which signals fired.
    pub reason: String,
    pub evidence: Evidence,
}

/// What the watch knows of one system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SystemWatch {
    pub counters: Counters,
    /// Throttled until then (Unix milliseconds).
    pub throttled_until_ms: Option<u64>,
    /// Suspended by the watch, with the reason, until resumed.
    pub suspended: Option<String>,
    /// The findings of the last evaluation that found something.
    pub findings: Vec<Finding>,
}

/// Everything the watch keeps, for saving across restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WatchState {
    pub systems: Vec<(SystemId, SystemWatch)>,
}

/// The clock the watch reads (Unix milliseconds); injectable for tests.
pub type NowMs = Box<dyn Fn() -> u64 + Send + Sync>;

/// The traffic watch.
pub struct Watch {
    cfg: WatchConfig,
    systems: Mutex<HashMap<SystemId, SystemWatch>>,
    limiter: DefaultKeyedRateLimiter<SystemId>,
    suspensions: mpsc::UnboundedSender<Suspension>,
    listing: Mutex<Option<String>>,
    now_ms: NowMs,
}

impl Watch {
    /// A watch on the wall clock and the channel its suspensions arrive on.
    pub fn new(cfg: WatchConfig) -> (Watch, mpsc::UnboundedReceiver<Suspension>) {
        Watch::with_clock(cfg, Box::new(wall_ms))
    }

    pub fn with_clock(cfg: WatchConfig, now_ms: NowMs) -> (Watch, mpsc::UnboundedReceiver<Suspension>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let rate = NonZeroU32::new(cfg.throttle_rate).unwrap_or(NonZeroU32::MIN);
        let watch = Watch {
            limiter: RateLimiter::keyed(Quota::per_minute(rate)),
            cfg,
            systems: Mutex::new(HashMap::new()),
            suspensions: tx,
            listing: Mutex::new(None),
            now_ms,
        };
        (watch, rx)
    }

    fn systems(&self) -> MutexGuard<'_, HashMap<SystemId, SystemWatch>> {
        self.systems.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on `system`'s state with its window rolled to now.
    fn with_system<T>(&self, system: SystemId, f: impl FnOnce(&mut SystemWatch, u64) -> T) -> T {
        let now = (self.now_ms)();
        let mut systems = self.systems();
        let s =
            systems.entry(system).or_insert_with(|| SystemWatch { counters: Counters::new(now), ..Default::default() });
        let window = u64::try_from(self.cfg.window.as_millis()).unwrap_or(u64::MAX);
        s.counters.roll(now, window, self.cfg.learning_rate);
        f(s, now)
    }

    /// Evaluates `system`'s counters and acts: throttle, or suspend (once).
    fn evaluate(&self, system: SystemId, s: &mut SystemWatch, now: u64) {
        if !self.cfg.enabled || s.suspended.is_some() {
            return;
        }
        let listing = self.listing();
        let tighten = if listing.is_some() { self.cfg.blocklist.tighten } else { 1.0 };
        let findings = signals::detect(&self.cfg, &s.counters, tighten);
        let Some(worst) = findings.iter().map(|f| f.level).max() else { return };
        s.counters.window.abnormal = true;
        s.findings = findings.clone();
        let evidence = Evidence::new(findings, &s.counters, listing);
        if worst == Level::Suspend {
            let reason = format!("abnormal traffic: {}", evidence.signals());
            tracing::warn!(system = system.0, %reason, "suspending a mail system");
            s.suspended = Some(reason.clone());
            let _ = self.suspensions.send(Suspension { system, reason, evidence });
            return;
        }
        let until = now + u64::try_from(self.cfg.throttle_for.as_millis()).unwrap_or(u64::MAX / 2);
        if s.throttled_until_ms.is_none_or(|t| t <= now) {
            tracing::warn!(system = system.0, signals = %evidence.signals(), "throttling a mail system");
        }
        s.throttled_until_ms = Some(until);
    }

    /// Lifts the watch's suspension and throttle of `system` and starts a fresh window
    /// (the duty team resumed it; the burst that caused it is not counted again).
    pub fn resume(&self, system: SystemId) {
        self.with_system(system, |s, now| {
            let baseline = s.counters.baseline;
            *s = SystemWatch {
                counters: Counters { window: counters::Window::opened(now), baseline },
                ..Default::default()
            };
        });
    }

    /// Brings the watch in line with the registry after a start: a system the watch had
    /// suspended but the registry shows active was resumed meanwhile.
    pub fn reconcile(&self, registry: &Registry) {
        let resumed: Vec<SystemId> = self
            .systems()
            .iter()
            .filter(|(id, s)| s.suspended.is_some() && registry.get(**id).is_some_and(|r| r.status == Status::Active))
            .map(|(id, _)| *id)
            .collect();
        for id in resumed {
            self.resume(id);
        }
    }

    /// The gateway's current blocklist listing, if any.
    pub fn listing(&self) -> Option<String> {
        self.listing.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn set_listing(&self, listing: Option<String>) {
        let mut current = self.listing.lock().unwrap_or_else(PoisonError::into_inner);
        if *current != listing {
            match &listing {
                Some(l) => tracing::warn!(listing = %l, "the gateway is on a blocklist; watch limits tightened"),
                None => tracing::info!("the gateway is no longer on any blocklist"),
            }
        }
        *current = listing;
    }

    /// The counters of every system, for saving.
    pub fn export(&self) -> WatchState {
        let mut systems: Vec<_> = self.systems().iter().map(|(id, s)| (*id, s.clone())).collect();
        systems.sort_by_key(|(id, _)| *id);
        WatchState { systems }
    }

    /// Replaces the counters with saved ones (at start, before traffic).
    pub fn import(&self, state: WatchState) {
        *self.systems() = state.systems.into_iter().collect();
    }

    /// What this node counted in each system's current window, for the other nodes.
    pub fn shares(&self) -> Vec<(SystemId, counters::Share)> {
        let now = (self.now_ms)();
        let window = u64::try_from(self.cfg.window.as_millis()).unwrap_or(u64::MAX);
        let systems = self.systems();
        let open = systems.iter().filter(|(_, s)| s.counters.window.start_ms + window > now);
        open.filter(|(_, s)| s.counters.window.messages > 0).map(|(id, s)| (*id, s.counters.window.share())).collect()
    }

    /// Takes what the other nodes counted (each system's shares; absent: none) and
    /// judges every system on the totals, so a burst spread over the nodes suspends.
    pub fn set_peers(&self, mut peers: HashMap<SystemId, Vec<counters::Share>>) {
        let window = u64::try_from(self.cfg.window.as_millis()).unwrap_or(u64::MAX);
        let mut ids: std::collections::BTreeSet<SystemId> = self.systems().keys().copied().collect();
        ids.extend(peers.keys().copied());
        for id in ids {
            let shares = peers.remove(&id).unwrap_or_default();
            self.with_system(id, |s, now| {
                s.counters.window.set_peers(&shares, window);
                if s.counters.window.peers != counters::Peers::default() {
                    self.evaluate(id, s, now);
                }
            });
        }
    }

    /// One system's state as of now, for display.
    pub fn view(&self, system: SystemId) -> SystemWatch {
        self.with_system(system, |s, _| s.clone())
    }
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Guard for Watch {
    fn admit(&self, system: SystemId) -> Admission {
        let throttled = self.with_system(system, |s, now| {
            if let Some(reason) = &s.suspended {
                return Err(reason.clone());
            }
            Ok(s.throttled_until_ms.is_some_and(|t| t > now))
        });
        match throttled {
            Err(reason) => Admission::Suspended { reason },
            Ok(false) => Admission::Accept,
            Ok(true) => match self.limiter.check_key(&system) {
                Ok(()) => Admission::Accept,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    Admission::Throttle { retry_after: wait.max(Duration::from_secs(1)) }
                }
            },
        }
    }

    fn suspended(&self, system: SystemId) -> bool {
        self.systems().get(&system).is_some_and(|s| s.suspended.is_some())
    }

    fn inspect(&self, data: &[u8]) -> Option<fingerprint::Digest> {
        fingerprint::digest(data)
    }

    fn accepted(&self, message: &Accepted<'_>) {
        let digest = message.digest.clone();
        let id = match digest.as_ref().and_then(|d| d.message_id.as_deref()) {
            Some(mid) => format!("{} <{mid}>", message.id),
            None => message.id.to_string(),
        };
        let counted = Message {
            id,
            recipients: &message.envelope.recipients,
            bounce: message.envelope.sender.is_none(),
            fingerprint: digest.map(|d| (d.fingerprint, d.subject)),
        };
        self.with_system(message.system, |s, now| {
            s.counters.window.add_message(&counted);
            self.evaluate(message.system, s, now);
        });
    }

    fn delivered(&self, delivery: &Delivery<'_>) {
        let (delivered, rejected) = match delivery.outcome {
            Outcome::Delivered => (1, 0),
            Outcome::Rejected { .. } => (0, 1),
            Outcome::Deferred { .. } | Outcome::Expired => return,
        };
        self.with_system(delivery.system, |s, now| {
            s.counters.window.delivered += delivered;
            s.counters.window.rejected += rejected;
            self.evaluate(delivery.system, s, now);
        });
    }
}

#[cfg(test)]
mod tests;
