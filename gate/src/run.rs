//! Starting, following and stopping the gate: picks and opens the backend, loads the
//! current catalog generation before enforcement begins, then follows every snapshot
//! swap (in place when the change is small, a whole new generation when large), runs the
//! sampling reader, and on stop detaches everything it installed.
//!
//! Must not: hold a lock while the kernel is being programmed (the backend lives in its
//! own task; status readers only see a copy).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use snapshot::{ObservationSink, SnapshotHandle, now_ms};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::config::{BackendChoice, GateConfig};
use super::counters::Counts;
use super::nflog::Nflog;
use super::nft::{NftBackend, NftOptions};
use super::rules::Redirect;
use super::sample::{Reporter, SampleCounters, read_nflog, read_ring};
use super::tables::{Plan, Tables, next_expiry, plan};
use super::xdp::XdpBackend;
use super::{Applied, Backend, BackendKind, CounterSource, GateError, Iface, caps, rules};

/// How often a failed change is retried while nothing new arrives.
const RETRY: Duration = Duration::from_secs(5);

/// What `perimeter gate status` shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GateStatus {
    pub backend: BackendKind,
    pub interfaces: Vec<InterfaceStatus>,
    /// The catalog generation the kernel enforces.
    pub generation: i64,
    /// Entries loaded (known and blocked prefixes of both families, openings).
    pub prefixes: usize,
    /// Openings loaded: the gateway's `allow` and the organisations' live grants, each
    /// protocol, port and destination counted once.
    #[serde(default)]
    pub openings: usize,
    /// Unix milliseconds of the last change that reached the kernel.
    pub changed_at: i64,
    /// How the last change was made (`whole`, `in place`) and how long it took.
    pub last_change: String,
    /// The last change that failed (the previous generation stayed enforced), if the
    /// failure has not been cleared by a later success.
    pub last_error: Option<String>,
    pub samples_reported: u64,
    /// Catalogued sources' packets dropped by policy (ungranted, spoofed) noted in the log.
    #[serde(default)]
    pub samples_noted: u64,
    /// Samples not reported: over the per-second bound, lost in the kernel's buffer
    /// (XDP ring or NFLOG socket).
    pub samples_discarded: u64,
    /// What happens to QUIC from catalogued sources.
    pub quic: String,
    /// The transparent proxy port TCP 443 is redirected to, when the gate installed it.
    pub redirect_port: Option<u16>,
    /// The transparent plain-HTTP port TCP 80 is redirected to, when the gate installed it.
    #[serde(default)]
    pub redirect_http_port: Option<u16>,
    /// What the kernel goes on doing if `perimeter up` is killed without stopping.
    #[serde(default)]
    pub on_crash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InterfaceStatus {
    pub name: String,
    pub link: String,
    pub mode: String,
    /// The operator the link belongs to in the registry: sources the catalog gives to
    /// another operator are dropped as spoofed here. None: the link names no operator
    /// (a lab, a transit), so catalogued sources of any operator pass.
    #[serde(default)]
    pub operator: Option<String>,
    pub counts: Counts,
}

struct Shared {
    status: Mutex<GateStatus>,
    counters: Box<dyn CounterSource>,
    samples: Arc<SampleCounters>,
}

/// A running gate. Stop it with [`GateHandle::stop`]; dropping it without stopping
/// leaves the tasks to end with the runtime.
pub struct GateHandle {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl GateHandle {
    /// The status with the kernel's counters read now (blocking: a syscall per counter,
    /// or one `nft` run).
    pub fn status(&self) -> GateStatus {
        let mut status = self.shared.status.lock().map(|s| s.clone()).unwrap_or_else(|p| p.into_inner().clone());
        status.samples_reported = self.shared.samples.reported.load(Ordering::Relaxed);
        status.samples_noted = self.shared.samples.noted.load(Ordering::Relaxed);
        status.samples_discarded = self.shared.samples.discarded.load(Ordering::Relaxed)
            + self.shared.samples.overflows.load(Ordering::Relaxed);
        match self.shared.counters.read() {
            Ok(counts) => {
                status.samples_discarded += counts.iter().map(|c| c.samples_lost).sum::<u64>();
                status.interfaces.iter_mut().zip(counts).for_each(|(i, c)| i.counts = c);
            }
            Err(e) => status.last_error = Some(format!("reading counters: {e}")),
        }
        status
    }

    /// The catalog generation the kernel enforces now (no counters read).
    pub fn generation(&self) -> i64 {
        self.shared.status.lock().map(|s| s.generation).unwrap_or_else(|p| p.into_inner().generation)
    }

    /// Stops following the catalog and removes everything the gate installed.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts the gate on `config.interfaces`, enforcing the current snapshot before it
/// returns. `redirect`: the transparent listeners' ports, when the proxy has them.
pub async fn start(
    config: GateConfig,
    redirect: Option<Redirect>,
    snapshot: SnapshotHandle,
    sink: ObservationSink,
) -> Result<GateHandle, GateError> {
    if let Some((field, message)) = config.problems().into_iter().next() {
        return Err(GateError::Config { field, message });
    }
    let ifaces = resolve(&config)?;
    let current = snapshot.current();
    let (opened, tables) = open_blocking(&config, &ifaces, Tables::from_snapshot(&current, &config, now_ms())).await?;
    let Opened { backend, counters, samples } = opened;
    let kind = backend.kind();
    let names: Vec<String> = ifaces.iter().map(|i| i.name.clone()).collect();
    let redirect = install_extras(&config, kind, &names, redirect)?;
    let mut status = initial_status(&config, &ifaces, backend.modes(), &tables, kind, redirect);
    name_operators(&mut status, &config, &current);
    status.on_crash = backend.on_crash();
    let sample_counters = Arc::new(SampleCounters::default());
    let shared = Arc::new(Shared { status: Mutex::new(status), counters, samples: sample_counters.clone() });
    let (stop, stopped) = watch::channel(false);
    let links: HashMap<u32, String> = ifaces.iter().map(|i| (i.ifindex, i.link.clone())).collect();
    let reporter = Reporter::new(links, sink, sample_counters);
    let reader = match samples {
        Samples::Ring(ring) => tokio::spawn(read_ring(ring, reporter, stopped.clone())),
        Samples::Nflog(group) => match Nflog::bind(group) {
            Ok(nflog) => tokio::spawn(read_nflog(nflog, reporter, stopped.clone())),
            Err(e) => {
                remove_extras();
                return Err(e);
            }
        },
    };
    let extras = redirect.is_some() || (kind == BackendKind::Xdp && config.quic_reject);
    let cleanup = Cleanup { names: names.clone(), extras };
    let follower = tokio::spawn(follow(backend, (config, tables), snapshot, shared.clone(), stopped, cleanup));
    tracing::info!(backend = %kind, interfaces = ?names, "packet gate enforcing");
    Ok(GateHandle { shared, stop, tasks: vec![follower, reader] })
}

/// Opens the backend and loads `tables` on a blocking thread.
async fn open_blocking(config: &GateConfig, ifaces: &[Iface], tables: Tables) -> Result<(Opened, Tables), GateError> {
    let (config, ifaces) = (config.clone(), ifaces.to_vec());
    tokio::task::spawn_blocking(move || open(&config, &ifaces, &tables).map(|o| (o, tables)))
        .await
        .map_err(|e| GateError::Xdp(format!("the loader thread failed: {e}")))?
}

/// The status before any packet is counted.
fn initial_status(
    config: &GateConfig,
    ifaces: &[Iface],
    modes: Vec<String>,
    tables: &Tables,
    backend: BackendKind,
    redirect: Option<Redirect>,
) -> GateStatus {
    let interface = |(i, mode): (&Iface, String)| InterfaceStatus {
        name: i.name.clone(),
        link: i.link.clone(),
        mode,
        operator: None,
        counts: Counts::default(),
    };
    GateStatus {
        backend,
        interfaces: ifaces.iter().zip(modes).map(interface).collect(),
        generation: tables.generation,
        prefixes: tables.len(),
        openings: tables.openings.len(),
        changed_at: now_ms(),
        last_change: "whole (at start)".into(),
        last_error: None,
        samples_reported: 0,
        samples_noted: 0,
        samples_discarded: 0,
        quic: quic_words(config),
        redirect_port: redirect.map(|r| r.https),
        redirect_http_port: redirect.and_then(|r| r.http),
        on_crash: String::new(),
    }
}

/// Names each interface's operator as the snapshot's registry has its link.
fn name_operators(status: &mut GateStatus, config: &GateConfig, snapshot: &snapshot::Snapshot) {
    for (status, iface) in status.interfaces.iter_mut().zip(&config.interfaces) {
        status.operator = snapshot.link_operator(&iface.link).map(|(_, name)| name.to_owned());
    }
}

/// The interfaces with their kernel index and counter slot.
fn resolve(config: &GateConfig) -> Result<Vec<Iface>, GateError> {
    config
        .interfaces
        .iter()
        .enumerate()
        .map(|(i, iface)| {
            let path = format!("/sys/class/net/{}/ifindex", iface.name);
            let ifindex = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .ok_or_else(|| GateError::Interface { name: iface.name.clone(), reason: "no such interface".into() })?;
            Ok(Iface { name: iface.name.clone(), link: iface.link.clone(), ifindex, slot: i as u32 + 1 })
        })
        .collect()
}

enum Samples {
    Ring(aya::maps::RingBuf<aya::maps::MapData>),
    Nflog(u16),
}

struct Opened {
    backend: Box<dyn Backend>,
    counters: Box<dyn CounterSource>,
    samples: Samples,
}

/// Opens the configured backend, loads `tables` and attaches (blocking).
fn open(config: &GateConfig, ifaces: &[Iface], tables: &Tables) -> Result<Opened, GateError> {
    match config.backend {
        BackendChoice::Xdp => open_xdp(config, ifaces, tables),
        BackendChoice::Nftables => open_nft(config, ifaces, tables),
        BackendChoice::Auto => open_xdp(config, ifaces, tables).or_else(|e| {
            tracing::warn!(error = %e, "packet gate: XDP cannot be used here, enforcing with nftables");
            open_nft(config, ifaces, tables)
        }),
    }
}

fn open_xdp(config: &GateConfig, ifaces: &[Iface], tables: &Tables) -> Result<Opened, GateError> {
    super::xdp::availability()?;
    caps::check_privileges(BackendKind::Xdp)?;
    // Pins that die with the process would let a killed gate fail open: no XDP then.
    let pins = super::pin::durable_dir(&config.pin_dir).map_err(GateError::XdpUnavailable)?;
    let mut xdp = XdpBackend::open(ifaces, (config.xdp_mode, &pins), config.sample_interval, config.quic_reject)?;
    xdp.load(tables)?;
    let counters = Box::new(xdp.take_counters()?);
    let samples = Samples::Ring(xdp.take_samples()?);
    xdp.attach()?;
    Ok(Opened { backend: Box::new(xdp), counters, samples })
}

fn open_nft(config: &GateConfig, ifaces: &[Iface], tables: &Tables) -> Result<Opened, GateError> {
    caps::check_privileges(BackendKind::Nftables)?;
    let mut nft = NftBackend::open(NftOptions {
        ifaces: ifaces.to_vec(),
        sample_interval: config.sample_interval,
        nflog_group: config.nflog_group,
        quic_reject: config.quic_reject,
        quic_reject_rate: config.quic_reject_rate,
    })?;
    nft.load(tables)?;
    let counters = Box::new(nft.counters());
    Ok(Opened { backend: Box::new(nft), counters, samples: Samples::Nflog(config.nflog_group) })
}

/// Installs the redirect and (for XDP) the QUIC answer tables; returns the redirect port
/// in force.
fn install_extras(
    config: &GateConfig,
    kind: BackendKind,
    names: &[String],
    to: Option<Redirect>,
) -> Result<Option<Redirect>, GateError> {
    if kind == BackendKind::Xdp && config.quic_reject {
        rules::run_nft(&rules::quic_table(names, config.quic_reject_rate))?;
    }
    match (config.redirect, to) {
        (true, Some(to)) => {
            rules::run_nft(&rules::redirect(names, to)).inspect_err(|_| remove_extras())?;
            if to.http.is_none() {
                tracing::warn!("packet gate: no transparent.http_listen, so plain HTTP is routed, not redirected");
            }
            Ok(Some(to))
        }
        (true, None) => {
            tracing::warn!("packet gate: no [proxy.transparent] listener, so HTTPS is routed, not redirected");
            Ok(None)
        }
        (false, _) => Ok(None),
    }
}

fn quic_words(config: &GateConfig) -> String {
    match config.quic_reject {
        true => format!("dropped, answered with ICMP port unreachable (at most {}/s)", config.quic_reject_rate),
        false => "dropped silently".into(),
    }
}

/// What to remove on stop besides the backend's own state.
struct Cleanup {
    names: Vec<String>,
    /// Whether the redirect or QUIC tables were installed.
    extras: bool,
}

/// Removes the redirect and QUIC tables if present (a no-op otherwise).
fn remove_extras() {
    let script = format!("{}{}", rules::delete_table(rules::REDIRECT_TABLE), rules::delete_table(rules::QUIC_TABLE));
    if let Err(e) = rules::run_nft(&script) {
        tracing::warn!(error = %e, "packet gate: could not remove its redirect and QUIC rules");
    }
}

/// Follows the snapshot until stopped, then detaches. A grant's expiry is a change too:
/// the tables are taken again then, whether or not the store moves (the kernel has
/// already ended it: its entries carry their expiry).
async fn follow(
    mut backend: Box<dyn Backend>,
    (config, tables): (GateConfig, Tables),
    snapshot: SnapshotHandle,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    cleanup: Cleanup,
) {
    let mut swaps = snapshot.subscribe();
    let mut held = Some(tables);
    let mut failing = false;
    loop {
        let expiry = next_expiry(&snapshot.current(), now_ms());
        let until_expiry = Duration::from_millis(expiry.map_or(3_600_000, |at| (at - now_ms()).max(0) as u64));
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            changed = swaps.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep(RETRY), if failing => {}
            _ = tokio::time::sleep(until_expiry), if expiry.is_some() => {}
        }
        let current = snapshot.current();
        let next = Tables::from_snapshot(&current, &config, now_ms());
        let started = Instant::now();
        let joined = tokio::task::spawn_blocking(move || {
            let outcome = step(backend.as_mut(), held.as_ref(), &next);
            (backend, held, next, outcome)
        })
        .await;
        let Ok((b, previous, next, outcome)) = joined else {
            tracing::error!("packet gate: the loader thread panicked; the gate stops following the catalog");
            return;
        };
        backend = b;
        let mut status = shared.status.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(how) => {
                failing = false;
                if how != "unchanged" {
                    status.changed_at = now_ms();
                    status.last_change = format!("{how} in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
                    let ms = started.elapsed().as_millis() as u64;
                    tracing::info!(generation = next.generation, how, ms, "packet gate: catalog change enforced");
                }
                (status.generation, status.prefixes, status.last_error) = (next.generation, next.len(), None);
                status.openings = next.openings.len();
                name_operators(&mut status, &config, &current);
                held = Some(next);
            }
            Err(Failed { error, kernel_known }) => {
                failing = true;
                tracing::error!(error = %error, generation = next.generation, "packet gate: change failed; the previous generation stays enforced");
                status.last_error = Some(error.to_string());
                held = if kernel_known { previous } else { None };
            }
        }
    }
    let _ = tokio::task::spawn_blocking(move || {
        drop(backend);
        if cleanup.extras {
            remove_extras();
        }
        tracing::info!(interfaces = ?cleanup.names, "packet gate detached");
    })
    .await;
}

/// A change that did not reach the kernel.
struct Failed {
    error: GateError,
    /// Whether the kernel still holds what it held before (false after a partial
    /// in-place change: the next step then loads whole).
    kernel_known: bool,
}

/// Brings the kernel from `held` to `next`.
fn step(backend: &mut dyn Backend, held: Option<&Tables>, next: &Tables) -> Result<&'static str, Failed> {
    let whole = |backend: &mut dyn Backend, kernel_known| {
        backend.load(next).map(|_| "whole").map_err(|error| Failed { error, kernel_known })
    };
    match plan(held, next) {
        Plan::Nothing => Ok("unchanged"),
        Plan::Whole => whole(backend, true),
        Plan::InPlace(diff) => match backend.apply(&diff, next) {
            Ok(Applied::Done) => Ok("in place"),
            Ok(Applied::NeedsWhole) => whole(backend, true),
            Err(e) => {
                tracing::warn!(error = %e, "packet gate: in-place change failed, loading the whole generation");
                whole(backend, false)
            }
        },
    }
}
