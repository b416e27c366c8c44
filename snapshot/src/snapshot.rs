//! The immutable lookup snapshot the gateways read: `classify(ip)` answers which
//! organisation and operator own an address by longest-prefix match, blocks first. The
//! control plane builds a new one off the hot path whenever the store's generation moves
//! and swaps it in through the [`SnapshotHandle`]; readers never lock, consumers that
//! program other tables from it (the packet gate) are told of every swap, and a failed
//! rebuild keeps the old snapshot.
//!
//! Must not: read the store or any file; it is built from plain lists.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio::sync::watch;

use crate::grants::Grant;
use crate::lpm::{LpmV4, LpmV6, Match};
use crate::net::{Family, Net};

/// An organisation as the snapshot names it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OrgRef {
    pub bin: String,
    pub name: String,
}

/// What the catalog says about one source address.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Class<'s> {
    /// Denied whatever the lists say: an automatic or manual block.
    Blocked {
        reason: &'s str,
        since: i64,
        prefix: Net,
    },
    Known {
        organisation: &'s OrgRef,
        operator: &'s str,
        prefix: Net,
    },
    Unknown,
}

/// A live block as the snapshot holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRef {
    pub prefix: Net,
    pub reason: String,
    pub since: i64,
}

/// A catalogued prefix (network as an integer, length) with the store's ids of the
/// organisation and the operator it belongs to: what a consumer that programs its own
/// tables (the packet gate) needs. Sorted by prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Owned<A> {
    pub addr: A,
    pub len: u8,
    pub organisation: u32,
    pub operator: u32,
}

/// One immutable generation of the catalog, ready for lookups.
pub struct Snapshot {
    v4: LpmV4,
    v6: LpmV6,
    blocked_v4: LpmV4,
    blocked_v6: LpmV6,
    blocks: Vec<BlockRef>,
    /// Every catalogued prefix with its owners, sorted.
    known_v4: Vec<Owned<u32>>,
    known_v6: Vec<Owned<u128>>,
    /// Operator names by the store's id, and each registered link's operator.
    operator_names: HashMap<i64, String>,
    links: HashMap<String, i64>,
    /// The organisations' grants of services besides the web proxy.
    grants: Vec<Grant>,
    /// owner index → (organisation index, operator index)
    owners: Vec<(u32, u32)>,
    orgs: Vec<OrgRef>,
    operators: Vec<String>,
    generation: i64,
}

/// Why a snapshot could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("building the lookup table failed: {0}")]
    Build(String),
}

impl Snapshot {
    /// The empty catalog: every address is unknown.
    pub fn empty() -> Snapshot {
        Snapshot::build(Vec::new(), HashMap::new(), HashMap::new(), Vec::new(), 0)
            .expect("an empty table always builds")
    }

    /// Builds from (prefix, organisation id, operator id), the names behind the ids
    /// and the live blocks (in any order).
    pub fn build(
        assignments: Vec<(Net, i64, i64)>,
        orgs: HashMap<i64, OrgRef>,
        operators: HashMap<i64, String>,
        mut blocks: Vec<BlockRef>,
        generation: i64,
    ) -> Result<Snapshot, SnapshotError> {
        let mut interner = Interner::default();
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        let (mut known_v4, mut known_v6) = (Vec::new(), Vec::new());
        let id = |what: &str, id: i64| {
            u32::try_from(id).map_err(|_| SnapshotError::Build(format!("{what} id {id} is out of range")))
        };
        for (net, org, op) in assignments {
            let value = interner.owner(org, op);
            let (organisation, operator) = (id("organisation", org)?, id("operator", op)?);
            match net.family() {
                Family::V4 => {
                    v4.push((net.bits() as u32, net.len(), value));
                    known_v4.push(Owned { addr: net.bits() as u32, len: net.len(), organisation, operator });
                }
                Family::V6 => {
                    v6.push((net.bits(), net.len(), value));
                    known_v6.push(Owned { addr: net.bits(), len: net.len(), organisation, operator });
                }
            }
        }
        known_v4.sort_unstable();
        known_v6.sort_unstable();
        blocks.sort_by_key(|b| b.prefix);
        let missing = |what: &str, id: i64| SnapshotError::Build(format!("{what} {id} is referenced but not loaded"));
        let org_list = interner.orgs.iter().map(|id| orgs.get(id).cloned().ok_or_else(|| missing("organisation", *id)));
        let org_list = org_list.collect::<Result<Vec<_>, _>>()?;
        let op_list = interner.ops.iter().map(|id| operators.get(id).cloned().ok_or_else(|| missing("operator", *id)));
        let op_list = op_list.collect::<Result<Vec<_>, _>>()?;
        let (blocked_v4, blocked_v6) = block_tables(&blocks)?;
        Ok(Snapshot {
            v4: LpmV4::build(v4).map_err(|e| SnapshotError::Build(e.to_string()))?,
            v6: LpmV6::build(v6).map_err(|e| SnapshotError::Build(e.to_string()))?,
            blocked_v4,
            blocked_v6,
            blocks,
            known_v4,
            known_v6,
            owners: interner.owners,
            orgs: org_list,
            operators: op_list,
            operator_names: operators,
            links: HashMap::new(),
            grants: Vec::new(),
            generation,
        })
    }

    /// This snapshot with the registry's links (link name → operator id).
    pub fn with_links(mut self, links: HashMap<String, i64>) -> Snapshot {
        self.links = links;
        self
    }

    /// This snapshot with the organisations' grants.
    pub fn with_grants(mut self, grants: Vec<Grant>) -> Snapshot {
        self.grants = grants;
        self
    }

    /// The operator (store id, name) a link belongs to, when the registry has it.
    pub fn link_operator(&self, link: &str) -> Option<(i64, &str)> {
        let id = *self.links.get(link)?;
        Some((id, self.operator_names.get(&id).map_or("", String::as_str)))
    }

    /// Every organisation's grants, live or expired, as the store gave them.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// What the catalog says about `ip`: blocked first, else the longest-prefix match.
    pub fn classify(&self, ip: IpAddr) -> Class<'_> {
        let ip = unmapped(ip);
        let (blocked, found) = match ip {
            IpAddr::V4(a) => (self.blocked_v4.lookup(u32::from(a)), self.v4.lookup(u32::from(a))),
            IpAddr::V6(a) => (self.blocked_v6.lookup(u128::from(a)), self.v6.lookup(u128::from(a))),
        };
        self.class(ip, blocked, found)
    }

    /// Who holds `ip` in the lists, blocked or not: the organisation, the operator and
    /// the most specific prefix.
    pub fn holder(&self, ip: IpAddr) -> Option<(&OrgRef, &str, Net)> {
        let ip = unmapped(ip);
        let found = match ip {
            IpAddr::V4(a) => self.v4.lookup(u32::from(a)),
            IpAddr::V6(a) => self.v6.lookup(u128::from(a)),
        }?;
        let (org, op) = self.owners[found.value as usize];
        Some((&self.orgs[org as usize], &self.operators[op as usize], Net::containing(ip, found.len)))
    }

    /// `classify` for a batch, in order. The addresses of each family are looked up
    /// together so that their memory loads overlap (`LpmV4::lookup_into`,
    /// `LpmV6::lookup_into`): for callers that hold many addresses at once, such as the
    /// gateways' observation reports.
    pub fn classify_many(&self, ips: &[IpAddr]) -> Vec<Class<'_>> {
        let ips: Vec<IpAddr> = ips.iter().map(|ip| unmapped(*ip)).collect();
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for ip in &ips {
            match ip {
                IpAddr::V4(a) => v4.push(u32::from(*a)),
                IpAddr::V6(a) => v6.push(u128::from(*a)),
            }
        }
        let mut v4_answers =
            batch(&v4, |a, out| self.blocked_v4.lookup_into(a, out), |a, out| self.v4.lookup_into(a, out));
        let mut v6_answers =
            batch(&v6, |a, out| self.blocked_v6.lookup_into(a, out), |a, out| self.v6.lookup_into(a, out));
        ips.iter()
            .map(|ip| {
                let answers = if ip.is_ipv4() { &mut v4_answers } else { &mut v6_answers };
                let (blocked, found) = answers.next().expect("one answer per address");
                self.class(*ip, blocked, found)
            })
            .collect()
    }

    /// The class of `ip` given its matches in the block and the assignment tables.
    fn class(&self, ip: IpAddr, blocked: Option<Match>, found: Option<Match>) -> Class<'_> {
        if let Some(Match { value, .. }) = blocked {
            let b = &self.blocks[value as usize];
            return Class::Blocked { reason: &b.reason, since: b.since, prefix: b.prefix };
        }
        let Some(Match { value, len }) = found else { return Class::Unknown };
        let (org, op) = self.owners[value as usize];
        Class::Known {
            organisation: &self.orgs[org as usize],
            operator: &self.operators[op as usize],
            prefix: Net::containing(ip, len),
        }
    }

    /// The store generation this snapshot reflects.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// Number of IPv4 and IPv6 prefixes.
    pub fn prefixes(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len())
    }

    /// Memory held by the lookup tables.
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes()
    }

    /// Every catalogued IPv4 prefix with its owners, sorted by prefix.
    pub fn known_v4(&self) -> &[Owned<u32>] {
        &self.known_v4
    }

    /// Every catalogued IPv6 prefix with its owners, sorted by prefix.
    pub fn known_v6(&self) -> &[Owned<u128>] {
        &self.known_v6
    }

    /// The live blocks, sorted by prefix.
    pub fn blocked(&self) -> &[BlockRef] {
        &self.blocks
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it carries; others unchanged.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The (blocked, assigned) matches of each address in `addrs`, in order: each table
/// answers the whole batch at once through its `lookup_into`.
fn batch<A>(
    addrs: &[A],
    blocked: impl Fn(&[A], &mut [Option<Match>]),
    assigned: impl Fn(&[A], &mut [Option<Match>]),
) -> std::vec::IntoIter<(Option<Match>, Option<Match>)> {
    let (mut b, mut a) = (vec![None; addrs.len()], vec![None; addrs.len()]);
    blocked(addrs, &mut b);
    assigned(addrs, &mut a);
    b.into_iter().zip(a).collect::<Vec<_>>().into_iter()
}

/// Lookup tables over the blocked prefixes; the value is the index into `blocks`.
fn block_tables(blocks: &[BlockRef]) -> Result<(LpmV4, LpmV6), SnapshotError> {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for (i, b) in blocks.iter().enumerate() {
        match b.prefix.family() {
            Family::V4 => v4.push((b.prefix.bits() as u32, b.prefix.len(), i as u32)),
            Family::V6 => v6.push((b.prefix.bits(), b.prefix.len(), i as u32)),
        }
    }
    let err = |e: crate::lpm::BuildError| SnapshotError::Build(format!("blocks: {e}"));
    Ok((LpmV4::build(v4).map_err(err)?, LpmV6::build(v6).map_err(err)?))
}

/// Gives each distinct (organisation, operator) pair a dense owner index.
#[derive(Default)]
struct Interner {
    pairs: HashMap<(i64, i64), u32>,
    owners: Vec<(u32, u32)>,
    org_index: HashMap<i64, u32>,
    orgs: Vec<i64>,
    op_index: HashMap<i64, u32>,
    ops: Vec<i64>,
}

impl Interner {
    fn owner(&mut self, org: i64, op: i64) -> u32 {
        if let Some(v) = self.pairs.get(&(org, op)) {
            return *v;
        }
        let o = dense(&mut self.org_index, &mut self.orgs, org);
        let p = dense(&mut self.op_index, &mut self.ops, op);
        self.owners.push((o, p));
        let v = self.owners.len() as u32 - 1;
        self.pairs.insert((org, op), v);
        v
    }
}

fn dense(index: &mut HashMap<i64, u32>, list: &mut Vec<i64>, id: i64) -> u32 {
    *index.entry(id).or_insert_with(|| {
        list.push(id);
        list.len() as u32 - 1
    })
}

/// The current snapshot, shared by every reader; swapped whole. Consumers that keep
/// tables of their own in step with it subscribe to the generations swapped in.
#[derive(Clone)]
pub struct SnapshotHandle {
    current: Arc<ArcSwap<Snapshot>>,
    swapped: Arc<watch::Sender<i64>>,
}

impl SnapshotHandle {
    pub fn new(snapshot: Snapshot) -> SnapshotHandle {
        let (swapped, _) = watch::channel(snapshot.generation());
        SnapshotHandle { current: Arc::new(ArcSwap::from_pointee(snapshot)), swapped: Arc::new(swapped) }
    }

    /// The snapshot to use for one connection or request.
    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Swaps `fresh` in for every new reader and tells the subscribers.
    pub fn replace(&self, fresh: Snapshot) {
        let generation = fresh.generation();
        self.current.store(Arc::new(fresh));
        self.swapped.send_replace(generation);
    }

    /// The generation of every snapshot swapped in from now on: await `changed()`, then
    /// read `current()` (a slow consumer sees only the newest).
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.swapped.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Net {
        text.parse().unwrap()
    }

    fn sample(generation: i64) -> Snapshot {
        let orgs = HashMap::from([(1, OrgRef { bin: "980140000015".into(), name: "A".into() })]);
        let ops = HashMap::from([(7, "alpha".to_string())]);
        let assignments =
            vec![(net("203.0.113.0/24"), 1, 7), (net("198.51.100.0/24"), 1, 7), (net("2001:db8:1::/64"), 1, 7)];
        let blocks = vec![
            BlockRef { prefix: net("203.0.113.9/32"), reason: "abuse".into(), since: 5 },
            BlockRef { prefix: net("192.0.2.0/24"), reason: "late".into(), since: 6 },
        ];
        Snapshot::build(assignments, orgs, ops, blocks, generation).unwrap()
    }

    #[test]
    fn prefix_lists_are_sorted_and_blocks_win() {
        let s = sample(3);
        let prefixes: Vec<(u32, u8, u32, u32)> =
            s.known_v4().iter().map(|o| (o.addr, o.len, o.organisation, o.operator)).collect();
        assert_eq!(prefixes, [(0xc633_6400, 24, 1, 7), (0xcb00_7100, 24, 1, 7)]);
        assert_eq!((s.known_v6()[0].addr, s.known_v6()[0].len), (net("2001:db8:1::/64").bits(), 64));
        assert_eq!(s.blocked()[0].prefix, net("192.0.2.0/24"));
        assert!(matches!(s.classify("203.0.113.9".parse().unwrap()), Class::Blocked { reason: "abuse", .. }));
        assert!(matches!(s.classify("203.0.113.8".parse().unwrap()), Class::Known { operator: "alpha", .. }));
        assert!(matches!(s.classify("::ffff:203.0.113.8".parse().unwrap()), Class::Known { .. }));
        assert_eq!(s.classify("198.18.0.1".parse().unwrap()), Class::Unknown);
        let (org, operator, prefix) = s.holder("203.0.113.9".parse().unwrap()).expect("held though blocked");
        assert_eq!((org.bin.as_str(), operator, prefix), ("980140000015", "alpha", net("203.0.113.0/24")));
        assert!(s.holder("192.0.2.1".parse().unwrap()).is_none(), "blocked but in no list");
    }

    #[test]
    fn links_name_their_operator() {
        let s = sample(1).with_links(HashMap::from([("alpha-1".to_owned(), 7)]));
        assert_eq!(s.link_operator("alpha-1"), Some((7, "alpha")));
        assert_eq!(s.link_operator("lab"), None);
    }

    #[tokio::test]
    async fn subscribers_learn_of_every_swap() {
        let handle = SnapshotHandle::new(sample(1));
        let mut seen = handle.subscribe();
        handle.replace(sample(2));
        seen.changed().await.unwrap();
        assert_eq!(*seen.borrow_and_update(), 2);
        assert_eq!(handle.current().generation(), 2);
    }
}
