//! [`ThreatDb`]: the listed domains (suffix match on label boundaries, as
//! the category database), URLs (by their Safe Browsing expressions) and address
//! ranges (disjoint sorted intervals, binary search), each with the feed and
//! category that listed it; immutable once built.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::{CanonicalUrl, Cidr, FeedEntries, ThreatCategory};
use crate::category::normalise_host;

/// Who listed an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listing {
    category: ThreatCategory,
    feed: Arc<str>,
}

/// A match: the category, the feed and the entry that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreatHit {
    pub category: ThreatCategory,
    pub feed: Arc<str>,
    /// The listed domain, URL or range that matched.
    pub entry: String,
}

/// Disjoint address intervals, sorted, each with the index of the range it came from.
#[derive(Debug, Default)]
struct Ranges<T> {
    intervals: Vec<(T, T, usize)>,
}

impl<T: Copy + Ord + std::fmt::Debug> Ranges<T> {
    /// From possibly overlapping `(first, last, range)`: an overlap goes to the earlier-starting range.
    fn build(mut items: Vec<(T, T, usize)>, next: impl Fn(T) -> Option<T>) -> Self {
        items.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut intervals: Vec<(T, T, usize)> = Vec::with_capacity(items.len());
        for (first, last, listing) in items {
            match intervals.last() {
                Some(&(_, prev_last, _)) if prev_last >= first => {
                    if last > prev_last
                        && let Some(start) = next(prev_last)
                    {
                        intervals.push((start, last, listing));
                    }
                }
                _ => intervals.push((first, last, listing)),
            }
        }
        Self { intervals }
    }

    fn find(&self, value: T) -> Option<usize> {
        let i = self.intervals.partition_point(|(first, _, _)| *first <= value);
        let (_, last, listing) = self.intervals.get(i.checked_sub(1)?)?;
        (value <= *last).then_some(*listing)
    }
}

/// Everything the feeds list.
#[derive(Debug, Default)]
pub struct ThreatDb {
    listings: Vec<Listing>,
    domains: HashMap<String, usize>,
    urls: HashMap<String, usize>,
    v4: Ranges<u32>,
    v6: Ranges<u128>,
    /// The ranges as listed, with their listing; intervals point into it.
    nets: Vec<(Cidr, usize)>,
}

/// Collects feeds, then builds a [`ThreatDb`].
#[derive(Debug, Default)]
pub struct ThreatDbBuilder {
    listings: Vec<Listing>,
    domains: HashMap<String, usize>,
    urls: HashMap<String, usize>,
    nets: Vec<(Cidr, usize)>,
}

impl ThreatDbBuilder {
    /// Adds a feed's entries (an entry already listed keeps its first listing).
    pub fn add(&mut self, feed: &str, category: ThreatCategory, entries: &FeedEntries) -> &mut Self {
        let listing = self.listings.len();
        self.listings.push(Listing { category, feed: feed.into() });
        for d in &entries.domains {
            self.domains.entry(d.clone()).or_insert(listing);
        }
        for u in &entries.urls {
            self.urls.entry(u.clone()).or_insert(listing);
        }
        self.nets.extend(entries.nets.iter().map(|n| (*n, listing)));
        self
    }

    pub fn build(self) -> ThreatDb {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for (at, (cidr, _)) in self.nets.iter().enumerate() {
            match cidr.addr {
                IpAddr::V4(a) => {
                    let span = u32::MAX.checked_shr(u32::from(cidr.len)).unwrap_or(0);
                    v4.push((u32::from(a), u32::from(a) | span, at));
                }
                IpAddr::V6(a) => {
                    let span = u128::MAX.checked_shr(u32::from(cidr.len)).unwrap_or(0);
                    v6.push((u128::from(a), u128::from(a) | span, at));
                }
            }
        }
        ThreatDb {
            listings: self.listings,
            domains: self.domains,
            urls: self.urls,
            v4: Ranges::build(v4, |x| x.checked_add(1)),
            v6: Ranges::build(v6, |x| x.checked_add(1)),
            nets: self.nets,
        }
    }
}

impl ThreatDb {
    pub fn builder() -> ThreatDbBuilder {
        ThreatDbBuilder::default()
    }

    fn hit(&self, listing: usize, entry: String) -> ThreatHit {
        let l = &self.listings[listing];
        ThreatHit { category: l.category, feed: Arc::clone(&l.feed), entry }
    }

    /// Whether `host` (a name, or an address literal) is listed.
    pub fn host(&self, host: &str) -> Option<ThreatHit> {
        let bare = host.trim().trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return self.ip(ip);
        }
        let name = normalise_host(host)?;
        let mut rest = name.as_str();
        loop {
            if let Some(&listing) = self.domains.get(rest) {
                return Some(self.hit(listing, rest.to_owned()));
            }
            rest = rest.split_once('.')?.1;
        }
    }

    /// Whether `url` is listed (under any of its Safe Browsing expressions: the host
    /// and its suffixes, each with the path and its directory prefixes), or its host is.
    pub fn url(&self, url: &str) -> Option<ThreatHit> {
        let canonical = CanonicalUrl::parse(url)?;
        if !self.urls.is_empty() {
            for key in canonical.expressions() {
                if let Some(&listing) = self.urls.get(&key) {
                    return Some(self.hit(listing, key));
                }
            }
        }
        self.host(canonical.host())
    }

    /// Whether address `ip` is in a listed range.
    pub fn ip(&self, ip: IpAddr) -> Option<ThreatHit> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let at = match ip {
            IpAddr::V4(a) => self.v4.find(u32::from(a)),
            IpAddr::V6(a) => self.v6.find(u128::from(a)),
        }?;
        let (net, listing) = self.nets[at];
        Some(self.hit(listing, format!("{}/{}", net.addr, net.len)))
    }

    /// How many domains, URLs and ranges are listed.
    pub fn len(&self) -> (usize, usize, usize) {
        (self.domains.len(), self.urls.len(), self.nets.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0, 0)
    }
}
