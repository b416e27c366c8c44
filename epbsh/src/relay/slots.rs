//! Session slots, taken once per connection at accept and given back when its [`Slot`]
//! drops, so that no set of outside sources can take what connected systems need (as
//! Postfix's postscreen and anvil count clients, with the relay's own systems exempt
//! from the outside limits and bounded by their own):
//!
//! - a connection from a connected system's server (the registry knows its addresses)
//!   may take any of the `max_sessions` slots, at most `max_sessions_per_system` for one
//!   system (all its servers together), so that one system cannot starve the others;
//! - every other source is outside: outside sources together take at most
//!   `max_sessions - reserved_for_systems`, one network (an IPv4 /24, an IPv6 /64, an
//!   IPv4-mapped IPv6 address counting as its IPv4 address) at most
//!   `max_sessions_per_network` at once and `max_connection_rate_per_network` new ones a
//!   minute ([`Pace`]).
//!
//! Must not: be asked per command, or hold anything but counts.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

use super::limits::Limits;
use super::pace::{MAX_NETWORKS, Pace, PaceRefusal};
use crate::envelope::SystemId;

/// An outside client's network: its address's /24 (IPv4) or /64 (IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Network(IpAddr);

impl Network {
    /// The network of `ip`; an IPv4-mapped IPv6 address is its IPv4 address.
    pub fn of(ip: IpAddr) -> Network {
        Network(match ip.to_canonical() {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & !0xff)),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}/24"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Who a connection counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A server of this connected system.
    System(SystemId),
    /// Anyone else, by network.
    Outside(Network),
}

/// Why a connection got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Every slot its kind of source may take is open (all, or all outside ones).
    Full,
    /// Its system has `max_sessions_per_system` open.
    SystemBusy,
    /// Its network has `max_sessions_per_network` open.
    NetworkBusy,
    /// Its network opened `max_connection_rate_per_network` within the last minute.
    NetworkTooFast,
    /// Too many outside networks are connecting at once to keep count of another.
    TooManyNetworks,
}

impl Refusal {
    /// The enhanced status and text of the 421 that answers it.
    pub fn reply(self) -> (&'static str, &'static str) {
        match self {
            Refusal::Full | Refusal::TooManyNetworks => ("4.3.2", "too many connections"),
            Refusal::SystemBusy => ("4.7.0", "too many connections from your system"),
            Refusal::NetworkBusy => ("4.7.0", "too many connections from your network"),
            Refusal::NetworkTooFast => ("4.7.0", "too many new connections from your network"),
        }
    }
}

/// The numbers the slots are counted against (from `[limits]`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SlotLimits {
    pub max_sessions: usize,
    pub outside: usize,
    pub per_system: usize,
    pub per_network: usize,
    pub rate_per_network: u32,
}

impl From<&Limits> for SlotLimits {
    fn from(l: &Limits) -> Self {
        SlotLimits {
            max_sessions: l.max_sessions,
            outside: l.max_sessions.saturating_sub(l.reserved_for_systems),
            per_system: l.max_sessions_per_system,
            per_network: l.max_sessions_per_network,
            rate_per_network: l.max_connection_rate_per_network,
        }
    }
}

/// Open sessions, by kind of source.
#[derive(Debug)]
struct Counts {
    all: usize,
    outside: usize,
    systems: HashMap<SystemId, usize>,
    networks: HashMap<Network, usize>,
    pace: Pace,
}

/// The listener's slots.
#[derive(Debug)]
pub(crate) struct Slots {
    limits: SlotLimits,
    counts: Mutex<Counts>,
}

/// One session's place; given back on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    source: Source,
}

impl Slots {
    pub fn new(limits: SlotLimits) -> Arc<Slots> {
        Slots::with_networks(limits, MAX_NETWORKS)
    }

    fn with_networks(limits: SlotLimits, networks: usize) -> Arc<Slots> {
        let pace = Pace::new(limits.rate_per_network, networks);
        let counts = Counts { all: 0, outside: 0, systems: HashMap::new(), networks: HashMap::new(), pace };
        Arc::new(Slots { limits, counts: Mutex::new(counts) })
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a session from `source` at `now`, or why there is none.
    pub fn take(self: &Arc<Self>, source: Source, now: Instant) -> Result<Slot, Refusal> {
        let l = self.limits;
        let mut c = self.counts();
        if c.all >= l.max_sessions {
            return Err(Refusal::Full);
        }
        match source {
            Source::System(id) => {
                let open = c.systems.entry(id).or_insert(0);
                if *open >= l.per_system {
                    return Err(Refusal::SystemBusy);
                }
                *open += 1;
            }
            Source::Outside(net) => {
                c.pace.admit(net, now).map_err(|r| match r {
                    PaceRefusal::TooFast => Refusal::NetworkTooFast,
                    PaceRefusal::TooManyNetworks => Refusal::TooManyNetworks,
                })?;
                if c.networks.get(&net).is_some_and(|n| *n >= l.per_network) {
                    return Err(Refusal::NetworkBusy);
                }
                if c.outside >= l.outside {
                    return Err(Refusal::Full);
                }
                *c.networks.entry(net).or_insert(0) += 1;
                c.outside += 1;
            }
        }
        c.all += 1;
        Ok(Slot { slots: self.clone(), source })
    }
}

/// Lowers `key`'s count, forgetting it at zero.
fn give_back<K: Eq + std::hash::Hash>(open: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = open.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            open.remove(key);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.slots.counts();
        c.all -= 1;
        match &self.source {
            Source::System(id) => give_back(&mut c.systems, id),
            Source::Outside(net) => {
                c.outside -= 1;
                give_back(&mut c.networks, net);
            }
        }
    }
}

#[cfg(test)]
#[path = "slots_tests.rs"]
mod tests;
