//! DNS for the checks: the resolver mail-auth asks (hickory, built with aws-lc-rs, pointed
//! at `[auth] resolvers`, never the machine's resolv.conf; its own cache off), one bounded
//! answer cache shared by every check ([`Caches`], entries kept for their TTL), and the
//! per-message lookup tracker ([`Tracked`]) that counts SPF's void lookups (RFC 7208
//! §4.6.4: more than two names that answer nothing make a permerror), which mail-auth
//! 0.13 does not count itself.
//!
//! Must not: treat a lookup that failed (timeout, SERVFAIL) as an answer: such a lookup is
//! never cached and the check reports a temporary error.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::{MX, MessageAuthenticator, RecordSet, ResolverCache, Txt};

/// Answers kept per cache at most; when full, expired ones go, then everything.
const MAX_ENTRIES: usize = 20_000;

/// Builds the authenticator asking `resolvers`, in order.
pub fn authenticator(resolvers: &[SocketAddr], timeout: Duration) -> Result<MessageAuthenticator, String> {
    let mut opts = ResolverOpts::default();
    opts.timeout = timeout;
    opts.attempts = 1;
    opts.cache_size = 0;
    opts.edns_payload_len = 1232;
    let servers = resolvers
        .iter()
        .map(|addr| {
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            ns
        })
        .collect();
    MessageAuthenticator::new(ResolverConfig::from_name_servers(servers), opts).map_err(|e| e.to_string())
}

/// A bounded map of answers with their expiry.
pub struct TtlCache<K, V> {
    map: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        TtlCache { map: Mutex::new(HashMap::new()) }
    }
}

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for TtlCache<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(name).filter(|(_, until)| *until > Instant::now()).map(|(v, _)| v.clone())
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).remove(name).map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            let now = Instant::now();
            map.retain(|_, (_, until)| *until > now);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key, (value, valid_until));
    }
}

/// The answer caches every check shares.
#[derive(Default)]
pub struct Caches {
    pub txt: TtlCache<Box<str>, Txt>,
    pub mx: TtlCache<Box<str>, RecordSet<MX>>,
    pub ipv4: TtlCache<Box<str>, RecordSet<Ipv4Addr>>,
    pub ipv6: TtlCache<Box<str>, RecordSet<Ipv6Addr>>,
    pub ptr: TtlCache<IpAddr, RecordSet<Box<str>>>,
}

/// The names one evaluation asked about, and those that answered (from the cache or DNS).
/// Names are kept as hashes (mail-auth hands the cache a borrowed key it cannot print).
#[derive(Default)]
pub struct Lookups {
    seen: Mutex<(HashSet<u64>, HashSet<u64>)>,
}

type Fixed = BuildHasherDefault<DefaultHasher>;

impl Lookups {
    fn asked(&self, name: u64, answered: bool) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.0.insert(name);
        if answered {
            seen.1.insert(name);
        }
    }

    fn answered(&self, name: u64) {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).1.insert(name);
    }

    /// Names asked that never answered: void lookups (or failed ones).
    pub fn void(&self) -> usize {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.0.difference(&seen.1).count()
    }
}

/// A shared cache seen through one evaluation's [`Lookups`].
pub struct Tracked<'a, C> {
    pub cache: &'a C,
    pub lookups: &'a Lookups,
}

impl<K: Hash + Eq, V: Clone, C: ResolverCache<K, V>> ResolverCache<K, V> for Tracked<'_, C> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let found = self.cache.get(name);
        self.lookups.asked(Fixed::default().hash_one(name), found.is_some());
        found
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.cache.remove(name)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        // `Borrow` promises the key hashes as what it lends, so this matches `get`'s hash.
        self.lookups.answered(Fixed::default().hash_one(&key));
        self.cache.insert(key, value, valid_until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracked_lookups_count_names_that_never_answered() {
        let cache: TtlCache<Box<str>, u32> = TtlCache::default();
        let lookups = Lookups::default();
        let t = Tracked { cache: &cache, lookups: &lookups };
        let later = Instant::now() + Duration::from_secs(60);
        assert_eq!(t.get("a.example."), None);
        t.insert("a.example.".into(), 1, later);
        assert_eq!(t.get("void.example."), None);
        assert_eq!(t.get("void2.example."), None);
        assert_eq!(t.get("a.example."), Some(1), "cached");
        assert_eq!(lookups.void(), 2);
        cache.insert("old.example.".into(), 2, Instant::now() - Duration::from_secs(1));
        assert_eq!(cache.get("old.example."), None, "expired answers are not served");
    }
}
