//! Session slots per client address: at most `max_sessions_per_address` sessions from one
//! IPv4 address or one IPv6 /64 (what one host or one customer line usually holds), so
//! that one client cannot take every session of the listener. Taken per connection at
//! accept and given back when its [`Slot`] drops. Must not: be asked per command.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

/// The key sessions are counted under: the address, or its /64 for IPv6.
fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// Open sessions per client key.
#[derive(Debug)]
pub(crate) struct Slots {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One session's place; given back on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    key: IpAddr,
}

impl Slots {
    pub fn new(limit: usize) -> Arc<Slots> {
        Arc::new(Slots { limit, open: Mutex::new(HashMap::new()) })
    }

    /// A place for a session from `ip`, unless its key has `limit` open.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let key = key(ip);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(key).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(Slot { slots: self.clone(), key })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn counts_per_address_and_per_ipv6_64() {
        let slots = Slots::new(2);
        let a1 = slots.take(ip("192.0.2.1")).expect("first");
        let _a2 = slots.take(ip("::ffff:192.0.2.1")).expect("second, the same address mapped");
        assert!(slots.take(ip("192.0.2.1")).is_none(), "third from one address");
        assert!(slots.take(ip("192.0.2.2")).is_some(), "another address");
        drop(a1);
        assert!(slots.take(ip("192.0.2.1")).is_some(), "a place given back");
        let _b1 = slots.take(ip("2001:db8:1:2::1")).expect("v6");
        let _b2 = slots.take(ip("2001:db8:1:2:ffff::9")).expect("same /64");
        assert!(slots.take(ip("2001:db8:1:2::77")).is_none(), "the /64 is one client");
        assert!(slots.take(ip("2001:db8:1:3::1")).is_some(), "the next /64 is another");
        assert_eq!(slots.open.lock().unwrap().len(), 2, "keys with open sessions only");
    }
}
