//! [`Pace`]: the connection rate of outside networks, as Postfix's anvil counts it
//! (`smtpd_client_connection_rate_limit`), here per client network: at most `per_minute`
//! new connections from one network in any minute, a burst of `per_minute` at once
//! included. Kept as one theoretical arrival time per network (the generic cell rate
//! algorithm), forgotten once the network is back within its rate, in a table of at most
//! [`MAX_NETWORKS`] networks. Must not: count connected systems, or grow without bound
//! (when the table is full of networks still within their minute, a new network is
//! refused: many networks at once is itself a flood).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::slots::Network;

/// Most outside networks whose rate is remembered at once.
pub(crate) const MAX_NETWORKS: usize = 16_384;

/// The window the rate is counted over.
const MINUTE: Duration = Duration::from_secs(60);

/// Why a connection was refused by its network's pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PaceRefusal {
    /// The network opened `per_minute` connections within the last minute.
    TooFast,
    /// The table holds [`MAX_NETWORKS`] networks all still within their minute.
    TooManyNetworks,
}

/// Connection rate per outside network.
#[derive(Debug)]
pub(crate) struct Pace {
    /// Time between connections at the steady rate.
    interval: Duration,
    /// How far ahead of now a network's arrival time may run (the burst).
    tolerance: Duration,
    capacity: usize,
    /// Per network: when it would next be at its steady rate.
    due: HashMap<Network, Instant>,
}

impl Pace {
    /// `per_minute` connections a minute (at least 1) per network, `capacity` networks.
    pub fn new(per_minute: u32, capacity: usize) -> Pace {
        let interval = MINUTE / per_minute.max(1);
        Pace { interval, tolerance: MINUTE - interval, capacity, due: HashMap::new() }
    }

    /// Counts one connection from `network` at `now`, unless it is over its rate.
    pub fn admit(&mut self, network: Network, now: Instant) -> Result<(), PaceRefusal> {
        if !self.due.contains_key(&network) && self.due.len() >= self.capacity {
            self.due.retain(|_, due| *due > now);
            if self.due.len() >= self.capacity {
                return Err(PaceRefusal::TooManyNetworks);
            }
        }
        let due = self.due.get(&network).map_or(now, |d| (*d).max(now));
        if due > now + self.tolerance {
            return Err(PaceRefusal::TooFast);
        }
        self.due.insert(network, due + self.interval);
        Ok(())
    }

    /// Networks remembered now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Network {
        Network::of(s.parse().unwrap())
    }

    #[test]
    fn a_burst_then_the_steady_rate() {
        let mut pace = Pace::new(6, 100);
        let t0 = Instant::now();
        for i in 0..6 {
            assert_eq!(pace.admit(net("192.0.2.1"), t0), Ok(()), "burst {i}");
        }
        assert_eq!(pace.admit(net("192.0.2.200"), t0), Err(PaceRefusal::TooFast), "the same /24");
        assert_eq!(pace.admit(net("198.51.100.1"), t0), Ok(()), "another network has its own rate");
        assert_eq!(pace.admit(net("192.0.2.1"), t0 + Duration::from_secs(9)), Err(PaceRefusal::TooFast));
        assert_eq!(pace.admit(net("192.0.2.1"), t0 + Duration::from_secs(10)), Ok(()), "one per 10 s again");
        assert_eq!(pace.admit(net("192.0.2.1"), t0 + Duration::from_secs(10)), Err(PaceRefusal::TooFast));
    }

    #[test]
    fn the_table_is_bounded_and_forgets_quiet_networks() {
        let mut pace = Pace::new(60, 3);
        let t0 = Instant::now();
        for n in ["2001:db8:0:1::1", "2001:db8:0:2::1", "2001:db8:0:3::1"] {
            assert_eq!(pace.admit(net(n), t0), Ok(()));
        }
        assert_eq!(pace.admit(net("2001:db8:0:1::ffff"), t0), Ok(()), "a known /64 is counted, not added");
        assert_eq!(pace.admit(net("2001:db8:0:4::1"), t0), Err(PaceRefusal::TooManyNetworks), "full, fail closed");
        let later = t0 + Duration::from_millis(1500);
        assert_eq!(pace.admit(net("2001:db8:0:4::1"), later), Ok(()), "quiet networks were forgotten");
        assert_eq!(pace.len(), 2, "the /64 that connected twice is still within its rate");
    }
}
