//! The XDP backend: loads `bpf/gate.c` (compiled by build.rs, embedded) with aya, keeps
//! its four longest-prefix tries in step with the catalog, attaches it to the guarded
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
use super::tables::{Diff, SetDiff, Tables};
use super::{Applied, Backend, BackendKind, CounterSource, GateError, Iface};

/// The compiled program, or an empty slice when clang was missing at build time.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/gate.o"));
/// Why the object is empty, from build.rs.
static WHY: &str = include_str!(concat!(env!("OUT_DIR"), "/gate.why"));

/// `BPF_F_NO_PREALLOC`: the kernel requires it of LPM tries.
const NO_PREALLOC: u32 = 1;
/// Counter slots per interface in the program's `counters` array.
const VERDICTS: u32 = 8;
/// The counter index of samples lost to a full ring buffer (`VERDICT_SAMPLE_LOST`).
const SAMPLE_LOST: u32 = 4;
/// Highest interface index the program's `ifslots` array covers.
const MAX_IFINDEX: u32 = 4096;
/// `settings.flags`: pass catalogued QUIC to the stack, whose reject rule answers it.
const QUIC_TO_STACK: u64 = 1;
/// How long after a slot flip the old slot may still be read by a program that began
/// before it: programs run for microseconds; this is far beyond that.
const GRACE: Duration = Duration::from_millis(100);

type Trie<K> = LpmTrie<MapData, K, u8>;

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
    known4: Roomy4,
    known6: Roomy6,
    blocked4: Roomy4,
    blocked6: Roomy6,
}

struct Roomy<K: Pod> {
    trie: Trie<K>,
    len: usize,
    room: usize,
}

type Roomy4 = Roomy<[u8; 4]>;
type Roomy6 = Roomy<[u8; 16]>;

/// Kernel limit of a trie holding `len` prefixes: room to grow in place before a reload.
fn room_for(len: usize) -> usize {
    len + len / 2 + 65_536
}

impl<K: Pod> Roomy<K> {
    fn fill<A: Copy>(list: &[(A, u8)], bytes: impl Fn(A) -> K) -> Result<Roomy<K>, GateError> {
        let room = room_for(list.len());
        let mut trie = Trie::<K>::create(room as u32, NO_PREALLOC).map_err(xdp_err("creating a trie"))?;
        for &(addr, len) in list {
            trie.insert(&Key::new(u32::from(len), bytes(addr)), 1, 0).map_err(xdp_err("filling a trie"))?;
        }
        Ok(Roomy { trie, len: list.len(), room })
    }

    fn fits<A>(&self, d: &SetDiff<A>) -> bool {
        self.len + d.add.len() <= self.room
    }

    fn add<A: Copy>(&mut self, d: &SetDiff<A>, bytes: impl Fn(A) -> K) -> Result<(), GateError> {
        for &(addr, len) in &d.add {
            self.trie.insert(&Key::new(u32::from(len), bytes(addr)), 1, 0).map_err(xdp_err("adding a prefix"))?;
            self.len += 1;
        }
        Ok(())
    }

    fn remove<A: Copy>(&mut self, d: &SetDiff<A>, bytes: impl Fn(A) -> K) -> Result<(), GateError> {
        for &(addr, len) in &d.remove {
            // A prefix already gone is what removal wants.
            if self.trie.remove(&Key::new(u32::from(len), bytes(addr))).is_ok() {
                self.len = self.len.saturating_sub(1);
            }
        }
        Ok(())
    }
}

fn v4(a: u32) -> [u8; 4] {
    a.to_be_bytes()
}

fn v6(a: u128) -> [u8; 16] {
    a.to_be_bytes()
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
        let mut slots = array::<u32>(&mut ebpf, "ifslots")?;
        for iface in ifaces {
            if iface.ifindex >= MAX_IFINDEX {
                return Err(GateError::Interface {
                    name: iface.name.clone(),
                    reason: format!("interface index {} is beyond the XDP program's {MAX_IFINDEX}", iface.ifindex),
                });
            }
            slots.set(iface.ifindex, iface.slot, 0).map_err(xdp_err("interface slots"))?;
        }
        let (ifaces, pin_dir, pinned) = (ifaces.to_vec(), pin_dir.to_path_buf(), Vec::new());
        Ok(XdpBackend { ebpf, ifaces, mode, active: 0, live: None, modes: Vec::new(), pin_dir, pinned })
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
        outer::<[u8; 4]>(&mut self.ebpf, "known4")?.set(slot, &live.known4.trie, 0).map_err(xdp_err("known4"))?;
        outer::<[u8; 16]>(&mut self.ebpf, "known6")?.set(slot, &live.known6.trie, 0).map_err(xdp_err("known6"))?;
        outer::<[u8; 4]>(&mut self.ebpf, "blocked4")?.set(slot, &live.blocked4.trie, 0).map_err(xdp_err("blocked4"))?;
        outer::<[u8; 16]>(&mut self.ebpf, "blocked6")?
            .set(slot, &live.blocked6.trie, 0)
            .map_err(xdp_err("blocked6"))?;
        Ok(())
    }
}

impl Backend for XdpBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Xdp
    }

    fn load(&mut self, tables: &Tables) -> Result<(), GateError> {
        let live = Live {
            known4: Roomy::fill(&tables.known4, v4)?,
            known6: Roomy::fill(&tables.known6, v6)?,
            blocked4: Roomy::fill(&tables.blocked4, v4)?,
            blocked6: Roomy::fill(&tables.blocked6, v6)?,
        };
        let idle = 1 - self.active;
        self.set_slot(idle, &live)?;
        array::<u32>(&mut self.ebpf, "active")?.set(0, idle, 0).map_err(xdp_err("flipping the active slot"))?;
        let previous = self.active;
        self.active = idle;
        self.live = Some(live);
        if self.modes.is_empty() {
            return Ok(());
        }
        // Release the old generation's memory once no program can still be reading it.
        std::thread::sleep(GRACE);
        let empty = Live {
            known4: Roomy::fill(&[], v4)?,
            known6: Roomy::fill(&[], v6)?,
            blocked4: Roomy::fill(&[], v4)?,
            blocked6: Roomy::fill(&[], v6)?,
        };
        self.set_slot(previous, &empty)
    }

    fn apply(&mut self, diff: &Diff, _next: &Tables) -> Result<Applied, GateError> {
        let Some(live) = self.live.as_mut() else { return Ok(Applied::NeedsWhole) };
        let fits = live.known4.fits(&diff.known4)
            && live.known6.fits(&diff.known6)
            && live.blocked4.fits(&diff.blocked4)
            && live.blocked6.fits(&diff.blocked6);
        if !fits {
            return Ok(Applied::NeedsWhole);
        }
        // Blocks first, removals of blocks last: a source is never let through early.
        live.blocked4.add(&diff.blocked4, v4)?;
        live.blocked6.add(&diff.blocked6, v6)?;
        live.known4.add(&diff.known4, v4)?;
        live.known6.add(&diff.known6, v6)?;
        live.known4.remove(&diff.known4, v4)?;
        live.known6.remove(&diff.known6, v6)?;
        live.blocked4.remove(&diff.blocked4, v4)?;
        live.blocked6.remove(&diff.blocked6, v6)?;
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

fn outer<'e, K: Pod>(ebpf: &'e mut Ebpf, name: &str) -> Result<ArrayOfMaps<&'e mut MapData, Trie<K>>, GateError> {
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
