//! The XDP backend: loads `bpf/gate.c` (compiled by build.rs, embedded) with aya, keeps
//! its five longest-prefix tries (known and blocked prefixes of both families, with the
//! owners of the known ones; the openings, each with its expiry on the kernel's
//! monotonic clock, so a grant ends in the kernel even when this process is gone) and
//! each interface's bound operator in step with the catalog, attaches it to the guarded
//! interfaces (native mode where the driver has it, generic otherwise) and hands out its
//! counters and its ring buffer of unknown sources.
//!
//! Each interface's link is pinned in bpffs (`pin`), so a killed gate keeps enforcing
//! and the next one takes its links over; a link that cannot be pinned is not left
//! attached (the gate refuses to start rather than fail open when killed).
//!
//! A whole generation is built in fresh tries in the idle slot of the program's
//! map-of-maps and made live by one write of the slot index; small changes go into the
//! live tries in place. A failed load leaves the old tries live.
//!
//! Must not: decide anything about packets itself (the C program does), or block an
//! async worker (its calls are made from blocking threads).

use std::time::Duration;

use aya::maps::lpm_trie::Key;
use aya::maps::{Array, ArrayOfMaps, LpmTrie, Map, MapData, PerCpuArray, RingBuf};
use aya::programs::xdp::XdpLinkId;
use aya::programs::{Xdp, XdpMode};
use aya::{Ebpf, Pod};

use super::config::XdpModeChoice;
use super::counters::{Counts, Verdict};
use super::tables::{Diff, NEVER, Opening, Owner, Tables};
use super::{Applied, Backend, BackendKind, CounterSource, GateError, Iface};

/// The compiled program, or an empty slice when clang was missing at build time.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/gate.o"));
/// Why the object is empty, from build.rs.
static WHY: &str = include_str!(concat!(env!("OUT_DIR"), "/gate.why"));

/// `BPF_F_NO_PREALLOC`: the kernel requires it of LPM tries.
const NO_PREALLOC: u32 = 1;
/// Counter slots per interface in the program's `counters` array.
const VERDICTS: u32 = 16;
/// The counter index of samples lost to a full ring buffer (`VERDICT_SAMPLE_LOST`).
const SAMPLE_LOST: u32 = 4;
/// Highest interface index the program's `ifslots` array covers.
const MAX_IFINDEX: u32 = 4096;
/// `settings.flags`: pass catalogued QUIC to the stack, whose reject rule answers it.
const QUIC_TO_STACK: u64 = 1;
/// How long after a slot flip the old slot may still be read by a program that began
/// before it: programs run for microseconds; this is far beyond that.
const GRACE: Duration = Duration::from_millis(100);

type Trie<K, V> = LpmTrie<MapData, K, V>;
/// An opening's key: organisation, protocol, port (network order), destination.
type OpenKey = [u8; 24];

/// Whether the XDP program was built into this binary; the reason when not.
pub fn availability() -> Result<(), GateError> {
    match OBJECT.is_empty() {
        false => Ok(()),
        true => Err(GateError::XdpUnavailable(format!(
            "this binary was built without its XDP program ({}); install clang, llvm and libbpf-dev and rebuild",
            if WHY.trim().is_empty() { "clang was not found" } else { WHY.trim() }
        ))),
    }
}

/// The tries live in one slot, with their room for in-place changes.
struct Live {
    known4: Roomy<[u8; 4], [u32; 2]>,
    known6: Roomy<[u8; 16], [u32; 2]>,
    blocked4: Roomy<[u8; 4], u8>,
    blocked6: Roomy<[u8; 16], u8>,
    openings: Roomy<OpenKey, u64>,
}

impl Live {
    fn fill(tables: &Tables, clock: &Clock) -> Result<Live, GateError> {
        Ok(Live {
            known4: Roomy::fill(tables.known4.iter().map(|&((a, l), o)| (l, v4(a), owner(o))))?,
            known6: Roomy::fill(tables.known6.iter().map(|&((a, l), o)| (l, v6(a), owner(o))))?,
            blocked4: Roomy::fill(tables.blocked4.iter().map(|&(a, l)| (l, v4(a), 1)))?,
            blocked6: Roomy::fill(tables.blocked6.iter().map(|&(a, l)| (l, v6(a), 1)))?,
            openings: Roomy::fill(tables.openings.iter().map(|(o, until)| opening(o, clock.at(*until))))?,
        })
    }

    fn empty() -> Result<Live, GateError> {
        Live::fill(&Tables::default(), &Clock::now())
    }
}

struct Roomy<K: Pod, V: Pod> {
    trie: Trie<K, V>,
    len: usize,
    room: usize,
}

/// Kernel limit of a trie holding `len` prefixes: room to grow in place before a reload.
fn room_for(len: usize) -> usize {
    len + len / 2 + 65_536
}

impl<K: Pod, V: Pod> Roomy<K, V> {
    /// A new trie holding `entries` (prefix length, key bytes, value).
    fn fill(entries: impl ExactSizeIterator<Item = (u8, K, V)>) -> Result<Roomy<K, V>, GateError> {
        let len = entries.len();
        let room = room_for(len);
        let mut trie = Trie::<K, V>::create(room as u32, NO_PREALLOC).map_err(xdp_err("creating a trie"))?;
        for (bits, key, value) in entries {
            trie.insert(&Key::new(u32::from(bits), key), value, 0).map_err(xdp_err("filling a trie"))?;
        }
        Ok(Roomy { trie, len, room })
    }

    fn fits(&self, adding: usize) -> bool {
        self.len + adding <= self.room
    }

    fn set(&mut self, entries: impl Iterator<Item = (u8, K, V)>) -> Result<(), GateError> {
        for (bits, key, value) in entries {
            self.trie.insert(&Key::new(u32::from(bits), key), value, 0).map_err(xdp_err("adding a prefix"))?;
            self.len += 1;
        }
        Ok(())
    }

    fn remove(&mut self, keys: impl Iterator<Item = (u8, K)>) {
        for (bits, key) in keys {
            // A prefix already gone is what removal wants.
            if self.trie.remove(&Key::new(u32::from(bits), key)).is_ok() {
                self.len = self.len.saturating_sub(1);
            }
        }
    }
}

fn v4(a: u32) -> [u8; 4] {
    a.to_be_bytes()
}

fn v6(a: u128) -> [u8; 16] {
    a.to_be_bytes()
}

fn owner(o: Owner) -> [u32; 2] {
    [o.organisation, o.operator]
}

/// An opening as the program's `struct open_key` (prefix length, key) and its expiry.
fn opening(o: &Opening, until_ns: u64) -> (u8, OpenKey, u64) {
    let mut key = [0u8; 24];
    key[0..4].copy_from_slice(&o.organisation.to_ne_bytes());
    key[4] = o.proto;
    key[6..8].copy_from_slice(&o.port.to_be_bytes());
    key[8..24].copy_from_slice(&o.dst.to_be_bytes());
    (64 + o.len, key, until_ns)
}

/// Wall-clock expiries as the kernel's monotonic clock (what `bpf_ktime_get_ns` reads).
struct Clock {
    wall_ms: i64,
    mono_ns: u64,
}

impl Clock {
    fn now() -> Clock {
        let mono = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let mono_ns = (mono.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(mono.tv_nsec as u64);
        Clock { wall_ms: snapshot::now_ms(), mono_ns }
    }

    /// The monotonic nanosecond of wall-clock `until_ms` (past: now, so it opens nothing).
    fn at(&self, until_ms: i64) -> u64 {
        if until_ms == NEVER {
            return u64::MAX;
        }
        let ahead_ms = until_ms.saturating_sub(self.wall_ms).max(0) as u64;
        self.mono_ns.saturating_add(ahead_ms.saturating_mul(1_000_000))
    }
}

fn xdp_err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> GateError {
    move |e| GateError::Xdp(format!("{what}: {e}"))
}

pub struct XdpBackend {
    ebpf: Ebpf,
    ifaces: Vec<Iface>,
    mode: XdpModeChoice,
    active: u32,
    live: Option<Live>,
    modes: Vec<String>,
    /// Where the links are pinned, and the links pinned there, released (detached)
    /// when the backend is dropped.
    pin_dir: std::path::PathBuf,
    pinned: Vec<aya::programs::links::PinnedLink>,
}

impl Drop for XdpBackend {
    fn drop(&mut self) {
        super::pin::release(std::mem::take(&mut self.pinned));
    }
}

impl XdpBackend {
    /// Loads the program into the kernel (not yet attached) with its settings; its links
    /// will be pinned in `pin_dir`, a directory `pin::durable_dir` gave.
    pub fn open(
        ifaces: &[Iface],
        (mode, pin_dir): (XdpModeChoice, &std::path::Path),
        sample_interval: Duration,
        quic_to_stack: bool,
    ) -> Result<XdpBackend, GateError> {
        availability()?;
        let mut ebpf = Ebpf::load(OBJECT).map_err(xdp_err("loading the object"))?;
        let prog: &mut Xdp = program(&mut ebpf)?;
        prog.load().map_err(xdp_err("the verifier refused the program"))?;
        let settings = [sample_interval.as_nanos() as u64, if quic_to_stack { QUIC_TO_STACK } else { 0 }];
        array::<[u64; 2]>(&mut ebpf, "settings")?.set(0, settings, 0).map_err(xdp_err("settings"))?;
        if let Some(iface) = ifaces.iter().find(|i| i.ifindex >= MAX_IFINDEX) {
            return Err(GateError::Interface {
                name: iface.name.clone(),
                reason: format!("interface index {} is beyond the XDP program's {MAX_IFINDEX}", iface.ifindex),
            });
        }
        let (ifaces, pin_dir, pinned) = (ifaces.to_vec(), pin_dir.to_path_buf(), Vec::new());
        let mut xdp = XdpBackend { ebpf, ifaces, mode, active: 0, live: None, modes: Vec::new(), pin_dir, pinned };
        xdp.bind(&[])?;
        Ok(xdp)
    }

    /// Writes each interface's counter slot and the operator its link is bound to (0:
    /// none; `bound` in interface order, missing ones unbound).
    fn bind(&mut self, bound: &[Option<u32>]) -> Result<(), GateError> {
        let mut slots = array::<[u32; 2]>(&mut self.ebpf, "ifslots")?;
        for (i, iface) in self.ifaces.iter().enumerate() {
            let operator = bound.get(i).copied().flatten().unwrap_or(0);
            slots.set(iface.ifindex, [iface.slot, operator], 0).map_err(xdp_err("interface slots"))?;
        }
        Ok(())
    }

    /// The ring buffer of sampled unknown sources (taken once).
    pub fn take_samples(&mut self) -> Result<RingBuf<MapData>, GateError> {
        let map = self.ebpf.take_map("samples").ok_or_else(|| GateError::Xdp("no samples map".into()))?;
        RingBuf::try_from(map).map_err(xdp_err("samples map"))
    }

    /// The per-CPU counters (taken once).
    pub fn take_counters(&mut self) -> Result<XdpCounters, GateError> {
        let map = self.ebpf.take_map("counters").ok_or_else(|| GateError::Xdp("no counters map".into()))?;
        let counters = PerCpuArray::try_from(map).map_err(xdp_err("counters map"))?;
        Ok(XdpCounters { counters, slots: self.ifaces.iter().map(|i| i.slot).collect() })
    }

    fn set_slot(&mut self, slot: u32, live: &Live) -> Result<(), GateError> {
        let ebpf = &mut self.ebpf;
        outer(ebpf, "known4")?.set(slot, &live.known4.trie, 0).map_err(xdp_err("known4"))?;
        outer(ebpf, "known6")?.set(slot, &live.known6.trie, 0).map_err(xdp_err("known6"))?;
        outer(ebpf, "blocked4")?.set(slot, &live.blocked4.trie, 0).map_err(xdp_err("blocked4"))?;
        outer(ebpf, "blocked6")?.set(slot, &live.blocked6.trie, 0).map_err(xdp_err("blocked6"))?;
        outer(ebpf, "openings")?.set(slot, &live.openings.trie, 0).map_err(xdp_err("openings"))?;
        Ok(())
    }
}

impl Backend for XdpBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Xdp
    }

    fn load(&mut self, tables: &Tables) -> Result<(), GateError> {
        let live = Live::fill(tables, &Clock::now())?;
        let idle = 1 - self.active;
        self.set_slot(idle, &live)?;
        array::<u32>(&mut self.ebpf, "active")?.set(0, idle, 0).map_err(xdp_err("flipping the active slot"))?;
        let previous = self.active;
        self.active = idle;
        self.live = Some(live);
        self.bind(&tables.bound)?;
        if self.modes.is_empty() {
            return Ok(());
        }
        // Release the old generation's memory once no program can still be reading it.
        std::thread::sleep(GRACE);
        self.set_slot(previous, &Live::empty()?)
    }

    fn apply(&mut self, diff: &Diff, _next: &Tables) -> Result<Applied, GateError> {
        let Some(live) = self.live.as_mut() else { return Ok(Applied::NeedsWhole) };
        let fits = live.known4.fits(diff.known4.set.len())
            && live.known6.fits(diff.known6.set.len())
            && live.blocked4.fits(diff.blocked4.add.len())
            && live.blocked6.fits(diff.blocked6.add.len())
            && live.openings.fits(diff.openings.set.len());
        if !fits || diff.bound {
            return Ok(Applied::NeedsWhole);
        }
        // What closes first (revoked openings, blocks), what opens last (lifted blocks,
        // new openings): nothing is let through early.
        let clock = Clock::now();
        live.openings.remove(diff.openings.remove.iter().map(|o| opening(o, 0)).map(|(l, k, _)| (l, k)));
        live.blocked4.set(diff.blocked4.add.iter().map(|&(a, l)| (l, v4(a), 1)))?;
        live.blocked6.set(diff.blocked6.add.iter().map(|&(a, l)| (l, v6(a), 1)))?;
        live.known4.set(diff.known4.set.iter().map(|&((a, l), o)| (l, v4(a), owner(o))))?;
        live.known6.set(diff.known6.set.iter().map(|&((a, l), o)| (l, v6(a), owner(o))))?;
        live.known4.remove(diff.known4.remove.iter().map(|&(a, l)| (l, v4(a))));
        live.known6.remove(diff.known6.remove.iter().map(|&(a, l)| (l, v6(a))));
        live.blocked4.remove(diff.blocked4.remove.iter().map(|&(a, l)| (l, v4(a))));
        live.blocked6.remove(diff.blocked6.remove.iter().map(|&(a, l)| (l, v6(a))));
        live.openings.set(diff.openings.set.iter().map(|(o, until)| opening(o, clock.at(*until))))?;
        Ok(Applied::Done)
    }

    fn attach(&mut self) -> Result<(), GateError> {
        let wanted = self.mode;
        let ifaces = self.ifaces.clone();
        let prog = program(&mut self.ebpf)?;
        for iface in &ifaces {
            let pin_at = super::pin::path(&self.pin_dir, iface.ifindex);
            let interface = |reason: String| GateError::Interface { name: iface.name.clone(), reason };
            let (id, mode) = match super::pin::left_behind(&pin_at) {
                // A killed gate's link: its program is replaced in one step.
                Some(old) => {
                    (prog.attach_to_link(old).map_err(|e| interface(format!("taking over XDP: {e}")))?, "taken over")
                }
                None => attach_mode(prog, iface.ifindex, wanted).map_err(interface)?,
            };
            let link = prog.take_link(id).map_err(xdp_err("taking the link"))?;
            // Unpinned, the gate would fail open when killed: refuse instead (the link is
            // dropped, which detaches it, and the links pinned so far are released).
            let pinned = super::pin::pin(link, &pin_at)
                .map_err(|e| interface(format!("{e}; unpinned, a killed gate would fail open")))?;
            self.pinned.push(pinned);
            self.modes.push(mode.to_owned());
        }
        Ok(())
    }

    fn on_crash(&self) -> String {
        format!(
            "keeps enforcing the last catalog it loaded: its XDP links are pinned in {} on a bpffs that outlives \
             the process, and the next start takes them over",
            self.pin_dir.display()
        )
    }

    fn modes(&self) -> Vec<String> {
        self.modes.clone()
    }
}

/// Attaches `prog` to interface `ifindex` in the wanted mode; the link and the mode's name.
fn attach_mode(prog: &mut Xdp, ifindex: u32, wanted: XdpModeChoice) -> Result<(XdpLinkId, &'static str), String> {
    let mut attach = |mode: XdpMode, name: &'static str| {
        prog.attach_to_if_index(ifindex, mode).map(|id| (id, name)).map_err(|e| format!("{name} XDP: {e}"))
    };
    match wanted {
        XdpModeChoice::Native => attach(XdpMode::Driver, "native"),
        XdpModeChoice::Generic => attach(XdpMode::Skb, "generic"),
        XdpModeChoice::Auto => attach(XdpMode::Driver, "native").or_else(|_| attach(XdpMode::Skb, "generic")),
    }
}

fn program(ebpf: &mut Ebpf) -> Result<&mut Xdp, GateError> {
    let prog = ebpf.program_mut("gate").ok_or_else(|| GateError::Xdp("the object has no `gate` program".into()))?;
    prog.try_into().map_err(xdp_err("the `gate` program"))
}

fn array<'e, V: Pod>(ebpf: &'e mut Ebpf, name: &str) -> Result<Array<&'e mut MapData, V>, GateError> {
    let map = ebpf.map_mut(name).ok_or_else(|| GateError::Xdp(format!("no {name} map")))?;
    Array::try_from(map).map_err(xdp_err("an array map"))
}

fn outer<'e, K: Pod, V: Pod>(
    ebpf: &'e mut Ebpf,
    name: &str,
) -> Result<ArrayOfMaps<&'e mut MapData, Trie<K, V>>, GateError> {
    let map: &mut Map = ebpf.map_mut(name).ok_or_else(|| GateError::Xdp(format!("no {name} map")))?;
    ArrayOfMaps::try_from(map).map_err(xdp_err("a map of tries"))
}

/// Reads the program's per-CPU counters.
pub struct XdpCounters {
    counters: PerCpuArray<MapData, u64>,
    slots: Vec<u32>,
}

impl CounterSource for XdpCounters {
    fn read(&self) -> Result<Vec<Counts>, GateError> {
        self.slots
            .iter()
            .map(|slot| {
                let mut counts = Counts::default();
                let read = |index: u32| -> Result<u64, GateError> {
                    let values = self.counters.get(&(slot * VERDICTS + index), 0).map_err(xdp_err("counters"))?;
                    Ok(values.iter().sum())
                };
                for v in Verdict::ALL {
                    counts.set(v, read(v.index())?);
                }
                counts.samples_lost = read(SAMPLE_LOST)?;
                Ok(counts)
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "xdp_tests.rs"]
mod tests;
