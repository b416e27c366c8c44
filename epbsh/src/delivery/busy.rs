//! Deliveries in progress per destination, bounded (`delivery.max_per_destination`), so
//! that one slow or stalling destination (an MX that accepts connections and never
//! answers, a connected system's server that hangs) holds at most that many of the
//! `max_concurrent` attempts and mail to everyone else keeps moving. A destination is a
//! recipient domain routed by MX, or a connected system; a configured next hop (the
//! smarthost, a transport entry) is the operator's own relay and shares only
//! `max_concurrent`.
//!
//! Must not: wait. A full destination is reported at once; the scheduler and the job
//! decide what to do (skip the message for a moment; leave the recipients pending).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::route::Route;
use crate::envelope::SystemId;

/// What the limit counts per.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Destination {
    Domain(String),
    System(SystemId),
}

impl Destination {
    /// The destination a route counts against; `None` for configured hops and mail
    /// that cannot be routed.
    pub fn of(route: &Route) -> Option<Destination> {
        match route {
            Route::Mx(domain) => Some(Destination::Domain(domain.clone())),
            Route::System { system, .. } => Some(Destination::System(*system)),
            Route::Hop(_) | Route::Unroutable(_) => None,
        }
    }
}

/// The deliveries in progress per destination.
pub(crate) struct Busy {
    limit: usize,
    running: Mutex<HashMap<Destination, usize>>,
}

/// One delivery to a destination in progress; ends when dropped.
pub(crate) struct Slot<'a> {
    busy: &'a Busy,
    to: Option<Destination>,
}

impl Busy {
    pub fn new(limit: usize) -> Busy {
        Busy { limit: limit.max(1), running: Mutex::new(HashMap::new()) }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<Destination, usize>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `route`'s destination has all its deliveries running.
    pub fn full(&self, route: &Route) -> bool {
        Destination::of(route).is_some_and(|d| self.running().get(&d).copied().unwrap_or(0) >= self.limit)
    }

    /// A slot for a delivery along `route`, or `None` when its destination is full.
    /// Routes that count against no destination always get one.
    pub fn enter(&self, route: &Route) -> Option<Slot<'_>> {
        let Some(to) = Destination::of(route) else { return Some(Slot { busy: self, to: None }) };
        let mut running = self.running();
        let count = running.entry(to.clone()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Slot { busy: self, to: Some(to) })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(to) = self.to.take() else { return };
        let mut running = self.busy.running();
        if let Some(count) = running.get_mut(&to) {
            *count -= 1;
            if *count == 0 {
                running.remove(&to);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::NextHop;

    #[test]
    fn a_destination_takes_at_most_its_limit_and_configured_hops_are_not_counted() {
        let busy = Busy::new(2);
        let slow = Route::Mx("slow.example".into());
        let other = Route::Mx("other.example".into());
        let (a, b) = (busy.enter(&slow).expect("first"), busy.enter(&slow).expect("second"));
        assert!(busy.enter(&slow).is_none() && busy.full(&slow));
        assert!(busy.enter(&other).is_some(), "another domain has its own room");
        let system = Route::System { system: SystemId(7), target: "127.0.0.1:25".parse().unwrap() };
        let held: Vec<_> = (0..2).map(|_| busy.enter(&system).expect("system slot")).collect();
        assert!(busy.enter(&system).is_none());
        let hop = Route::Hop(NextHop { host: "relay.example".into(), port: 25 });
        let hops: Vec<_> = (0..10).map(|_| busy.enter(&hop).expect("a hop is never full")).collect();
        assert!(!busy.full(&hop));
        drop(a);
        assert!(!busy.full(&slow), "an ended delivery frees its slot");
        drop((b, held, hops));
        assert!(busy.running().is_empty(), "nothing left counted");
    }
}
