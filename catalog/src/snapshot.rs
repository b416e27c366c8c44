//! The immutable lookup snapshot the gateways read: `classify(ip)` answers which
//! organisation and operator own an address by longest-prefix match. A publisher
//! rebuilds it off the hot path whenever the store's generation moves and swaps it in
//! atomically; readers never lock, and a failed rebuild keeps the old snapshot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::lpm::{LpmV4, LpmV6, Match};
use crate::net::{Family, Net};
use crate::store::{Store, StoreError};

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

/// One immutable generation of the catalog, ready for lookups.
pub struct Snapshot {
    v4: LpmV4,
    v6: LpmV6,
    blocked_v4: LpmV4,
    blocked_v6: LpmV6,
    blocks: Vec<BlockRef>,
    /// owner index → (organisation index, operator index)
    owners: Vec<(u32, u32)>,
    orgs: Vec<OrgRef>,
    operators: Vec<String>,
    generation: i64,
}

/// Why a snapshot could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("building the lookup table failed: {0}")]
    Build(String),
    #[error("the rebuild task failed: {0}")]
    Task(String),
}

impl Snapshot {
    /// The empty catalog: every address is unknown.
    pub fn empty() -> Snapshot {
        Snapshot::build(Vec::new(), HashMap::new(), HashMap::new(), Vec::new(), 0)
            .expect("an empty table always builds")
    }

    /// Builds from (prefix, organisation id, operator id), the names behind the ids
    /// and the live blocks.
    pub fn build(
        assignments: Vec<(Net, i64, i64)>,
        orgs: HashMap<i64, OrgRef>,
        operators: HashMap<i64, String>,
        blocks: Vec<BlockRef>,
        generation: i64,
    ) -> Result<Snapshot, SnapshotError> {
        let mut interner = Interner::default();
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for (net, org, op) in assignments {
            let value = interner.owner(org, op);
            match net.family() {
                Family::V4 => v4.push((net.bits() as u32, net.len(), value)),
                Family::V6 => v6.push((net.bits(), net.len(), value)),
            }
        }
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
            owners: interner.owners,
            orgs: org_list,
            operators: op_list,
            generation,
        })
    }

    /// Loads everything current from the store and builds a snapshot.
    pub async fn load(store: &Store) -> Result<Snapshot, SnapshotError> {
        let generation = store.generation().await?;
        let assignments = store.current_assignments().await?;
        let orgs = store.organisations(None).await?;
        let orgs = orgs.into_iter().map(|o| (o.id, OrgRef { bin: o.bin.to_string(), name: o.name })).collect();
        let operators = store.operators().await?.into_iter().map(|o| (o.id, o.name)).collect();
        let blocks = store.blocks(&Default::default()).await?;
        let blocks =
            blocks.into_iter().map(|b| BlockRef { prefix: b.prefix, reason: b.reason, since: b.since }).collect();
        tokio::task::spawn_blocking(move || Snapshot::build(assignments, orgs, operators, blocks, generation))
            .await
            .map_err(|e| SnapshotError::Task(e.to_string()))?
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

/// The current snapshot, shared by every reader; swapped whole.
#[derive(Clone)]
pub struct SnapshotHandle(Arc<ArcSwap<Snapshot>>);

impl SnapshotHandle {
    pub fn new(snapshot: Snapshot) -> SnapshotHandle {
        SnapshotHandle(Arc::new(ArcSwap::from_pointee(snapshot)))
    }

    /// The snapshot to use for one connection or request.
    pub fn current(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    /// Rebuilds from the store if it moved past the current generation. Returns the
    /// new generation when a swap happened; on error the old snapshot stays.
    pub async fn refresh(&self, store: &Store) -> Result<Option<i64>, SnapshotError> {
        if store.generation().await? <= self.current().generation() {
            return Ok(None);
        }
        let started = Instant::now();
        let fresh = Snapshot::load(store).await?;
        let generation = fresh.generation();
        let (v4, v6) = fresh.prefixes();
        self.0.store(Arc::new(fresh));
        tracing::info!(generation, v4, v6, ms = started.elapsed().as_millis() as u64, "catalog snapshot swapped in");
        Ok(Some(generation))
    }

    /// Keeps the snapshot current: polls the store's generation every `every` (changes
    /// made by other processes, such as the CLI, are seen this way) and rebuilds when
    /// nudged through the returned sender.
    pub fn spawn_publisher(&self, store: Store, every: Duration) -> tokio::sync::mpsc::Sender<()> {
        let (nudge, mut nudged) = tokio::sync::mpsc::channel::<()>(1);
        let handle = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    got = nudged.recv() => if got.is_none() { break },
                }
                if let Err(e) = handle.refresh(&store).await {
                    tracing::error!(error = %e, "catalog snapshot rebuild failed; keeping the previous one");
                }
            }
        });
        nudge
    }
}
