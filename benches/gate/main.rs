//! The packet gate against nftables, in the same run, on the same catalog (the 1M IPv4 +
//! 200k IPv6 prefix set of `benches/lookup.rs`) and the same veth set-up:
//!
//! - packets per second dropped (unknown source) and passed (catalogued source, then
//!   routed into a blackhole) by the XDP gate and by the nftables backend (interval sets
//!   in a prerouting chain at priority -300); the sender's own ceiling is measured with a
//!   receiver that drops everything unseen;
//! - the full load of the catalog, and the time from a swapped-in snapshot with 1,000
//!   added prefixes to its enforcement (XDP in place against `nft -f` of the same
//!   elements).
//!
//! The sender is ours: `bpf/loadgen.c` run through BPF_PROG_TEST_RUN with live frames
//! (no pktgen module on these kernels), pinned to one core; veth delivers each frame to
//! the receiving gate on that same core, so each figure is one core doing both: the
//! ceiling row says where the sender itself is the limit.
//!
//! Run (root; clang and nft): `cargo bench --bench gate`. Roles: `serve MODE` runs the
//! receiving side in its namespace, `send ...` the sender in its own; without a role it
//! sets up the namespaces and runs both for every mode.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use gate::loadgen::{LoadGen, udp_frame};
use gate::rules::run_nft;
use gate::{GateConfig, start};
use rand::SeedableRng;
use rand::rngs::StdRng;
use snapshot::{Net, ObservationSink, OrgRef, Snapshot, SnapshotHandle};

mod baseline;
#[path = "../prefix_set.rs"]
mod prefix_set;

const SENDER_NS: &str = "pmgbs";
const GATE_NS: &str = "pmgbr";
/// Unknown: no prefix of the set covers it (the set is filtered).
const DROP_SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);
const DST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const PACKETS: u32 = 4_000_000;
const CHANGE: usize = 1_000;
/// The change adds /24s here: 100.64.0.0/22..., a /10 the filtered set leaves empty.
const CHANGE_ROOM: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 0);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1]),
        Some("send") => send(&args[1], args[2].parse().expect("source"), args[3].parse().expect("count")),
        _ => orchestrate(),
    }
}

/// The catalog: the lookup bench's set without the prefixes covering DROP_SRC, and the
/// address the pass path uses (inside the first IPv4 prefix).
fn catalog(extra: usize, generation: i64) -> (Snapshot, Ipv4Addr) {
    let mut rng = StdRng::seed_from_u64(prefix_set::SEED);
    let mut assignments: Vec<(Net, i64, i64)> = Vec::new();
    for (net, len, _) in prefix_set::v4_set(&mut rng) {
        // Nothing may cover the drop source or overlap the room the change adds to.
        if !overlaps((net, len), (u32::from(DROP_SRC), 32)) && !overlaps((net, len), (u32::from(CHANGE_ROOM), 10)) {
            assignments.push((Net::new(IpAddr::V4(net.into()), len).expect("valid"), 1, 1));
        }
    }
    for (net, len, _) in prefix_set::v6_set(&mut rng) {
        assignments.push((Net::new(IpAddr::V6(net.into()), len).expect("valid"), 1, 1));
    }
    let pass = assignments[0].0.bits() as u32 + 1;
    // The change: /24s of 100.64.0.0/10 that the set does not hold yet.
    let present: std::collections::HashSet<Net> = assignments.iter().map(|a| a.0).collect();
    let fresh = (0u32..).map(|i| Net::new(IpAddr::V4(Ipv4Addr::from(0x6440_0000 + (i << 8))), 24).expect("valid"));
    assignments.extend(fresh.filter(|n| !present.contains(n)).take(extra).map(|n| (n, 1, 1)));
    let orgs = HashMap::from([(1, OrgRef { bin: "980140000015".into(), name: "Bench".into() })]);
    let ops = HashMap::from([(1, "bench".to_owned())]);
    (Snapshot::build(assignments, orgs, ops, Vec::new(), generation).expect("builds"), Ipv4Addr::from(pass))
}

fn overlaps(a: (u32, u8), b: (u32, u8)) -> bool {
    let shorter = u32::from(a.1.min(b.1));
    shorter == 0 || (a.0 ^ b.0) >> (32 - shorter) == 0
}

/// A million /24s, none adjacent to another: the worst case for loading (nothing to
/// normalise or merge away).
fn disjoint(generation: i64) -> Snapshot {
    let assignments = (0..1_000_000u32)
        .map(|i| (Net::new(IpAddr::V4(Ipv4Addr::from(0x0100_0000 + (i << 9))), 24).expect("valid"), 1, 1))
        .collect();
    let orgs = HashMap::from([(1, OrgRef { bin: "980140000015".into(), name: "Bench".into() })]);
    let ops = HashMap::from([(1, "bench".to_owned())]);
    Snapshot::build(assignments, orgs, ops, Vec::new(), generation).expect("builds")
}

/// What receives the packets in GATE_NS.
enum Receiver {
    /// A program that drops everything: the sender's ceiling.
    Ceiling,
    Gate(gate::GateHandle),
    /// Plain nftables: the catalog as interval sets in a prerouting chain.
    Baseline,
}

/// The receiving side, in GATE_NS: answers `counts`, `change`, `load24` and `quit`.
fn serve(mode: &str) {
    let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter("warn").try_init();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (snap, _) = catalog(0, 1);
    let handle = SnapshotHandle::new(snap);
    let mut loadgen = LoadGen::open().expect("load generator");
    let started = Instant::now();
    let receiver = match mode {
        "ceiling" => {
            loadgen.attach("drop", "gbr0").expect("drop receiver");
            Receiver::Ceiling
        }
        "baseline" => {
            loadgen.attach("pass", "gbr0").expect("pass receiver");
            run_nft(&baseline::ruleset(&handle.current())).expect("baseline loads");
            Receiver::Baseline
        }
        backend => {
            if backend == "nftables" {
                loadgen.attach("pass", "gbr0").expect("pass receiver");
            }
            let cfg: GateConfig = toml::from_str(&format!(
                "interfaces = [{{ name = \"gbr0\", link = \"bench\" }}]\nbackend = \"{backend}\"\nredirect = false\nquic_reject = false"
            ))
            .expect("config");
            let (sink, _rx) = ObservationSink::channel(1024);
            Receiver::Gate(runtime.block_on(start(cfg, None, handle.clone(), sink)).expect("gate starts"))
        }
    };
    println!("loaded {:.2} {}", started.elapsed().as_secs_f64(), loaded_prefixes(&receiver, &handle));
    for line in std::io::stdin().lines() {
        let line = line.expect("stdin");
        match (line.as_str(), &receiver) {
            ("counts", Receiver::Gate(g)) => {
                let c = g.status().interfaces[0].counts;
                println!("counts {} {}", c.pass, c.unknown);
            }
            ("counts", Receiver::Baseline) => {
                let (pass, dropped) = baseline::counts();
                println!("counts {pass} {dropped}");
            }
            ("counts", Receiver::Ceiling) => println!("counts 0 0"),
            ("change" | "load24", Receiver::Ceiling) => println!("changed - -"),
            (what @ ("change" | "load24"), _) => {
                let generation = if what == "change" { 2 } else { 3 };
                let next = if what == "change" { catalog(CHANGE, 2).0 } else { disjoint(3) };
                let swapped = Instant::now();
                let how = match &receiver {
                    Receiver::Gate(g) => {
                        handle.replace(next);
                        while g.generation() != generation {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        g.status().last_change.replace(' ', "_")
                    }
                    _ => {
                        let script = match what {
                            "change" => baseline::added(&handle.current(), &next),
                            _ => baseline::ruleset(&next),
                        };
                        handle.replace(next);
                        run_nft(&script).expect("baseline change");
                        "nft_-f".to_owned()
                    }
                };
                println!("changed {:.1} {how}", swapped.elapsed().as_secs_f64() * 1e3);
            }
            ("quit", _) => break,
            _ => println!("?"),
        }
    }
    if let Receiver::Gate(g) = receiver {
        runtime.block_on(g.stop());
    } else if let Receiver::Baseline = receiver {
        let _ = run_nft("delete table inet baseline\n");
    }
}

fn loaded_prefixes(receiver: &Receiver, handle: &SnapshotHandle) -> String {
    match receiver {
        Receiver::Gate(g) => g.status().prefixes.to_string(),
        _ => {
            let (v4, v6) = handle.current().prefixes();
            (v4 + v6).to_string()
        }
    }
}

/// The sender, in SENDER_NS.
fn send(iface: &str, src: Ipv4Addr, count: u32) {
    let ifindex: u32 = std::fs::read_to_string(format!("/sys/class/net/{iface}/ifindex"))
        .expect("sender interface")
        .trim()
        .parse()
        .expect("ifindex");
    let frame = udp_frame(IpAddr::V4(src), IpAddr::V4(DST), 9, &[0u8; 18]);
    let mut loadgen = LoadGen::open().expect("load generator");
    let started = Instant::now();
    loadgen.send(ifindex, &frame, count).expect("sends");
    println!("sent {count} {:.6}", started.elapsed().as_secs_f64());
}

fn sh(args: &[&str]) {
    let ok = Command::new(args[0]).args(&args[1..]).status().is_ok_and(|s| s.success());
    assert!(ok, "{args:?} failed");
}

fn setup() {
    for ns in [SENDER_NS, GATE_NS] {
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
        sh(&["ip", "netns", "add", ns]);
    }
    sh(&["ip", "link", "add", "gbs0", "netns", SENDER_NS, "type", "veth", "peer", "name", "gbr0", "netns", GATE_NS]);
    sh(&["ip", "-n", GATE_NS, "link", "set", "gbr0", "address", "02:00:00:00:00:02"]);
    sh(&["ip", "-n", SENDER_NS, "link", "set", "gbs0", "address", "02:00:00:00:00:01"]);
    sh(&["ip", "-n", SENDER_NS, "addr", "add", "192.0.2.1/24", "dev", "gbs0"]);
    sh(&["ip", "-n", GATE_NS, "addr", "add", "192.0.2.2/24", "dev", "gbr0"]);
    for (ns, dev) in [(SENDER_NS, "gbs0"), (GATE_NS, "gbr0")] {
        sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
    }
    sh(&["ip", "-n", GATE_NS, "route", "add", "blackhole", "203.0.113.0/24"]);
    sh(&[
        "ip",
        "netns",
        "exec",
        GATE_NS,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.gbr0.rp_filter=0",
    ]);
}

fn teardown() {
    for ns in [SENDER_NS, GATE_NS] {
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
    }
}

struct Server {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Server {
    /// Starts the receiving side; returns it and its load time with the prefixes loaded.
    fn start(mode: &str) -> (Server, String) {
        let exe = std::env::current_exe().expect("own path");
        let mut child = Command::new("ip")
            .args(["netns", "exec", GATE_NS])
            .arg(exe)
            .args(["serve", mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("server starts");
        let input = child.stdin.take().expect("stdin");
        let output = BufReader::new(child.stdout.take().expect("stdout"));
        let mut server = Server { child, input, output };
        let w = server.answer("loaded");
        let loaded = format!("{} s ({})", w[0], w[1]);
        (server, loaded)
    }

    /// The words after `word` on the next line.
    fn answer(&mut self, word: &str) -> Vec<String> {
        let mut line = String::new();
        self.output.read_line(&mut line).expect("server answers");
        let mut words = line.split_whitespace().map(str::to_owned);
        assert_eq!(words.next().as_deref(), Some(word), "server said {line:?}");
        words.collect()
    }

    fn ask(&mut self, command: &str, word: &str) -> Vec<String> {
        writeln!(self.input, "{command}").expect("server listens");
        self.answer(word)
    }

    fn counts(&mut self) -> (u64, u64) {
        let w = self.ask("counts", "counts");
        (w[0].parse().expect("pass"), w[1].parse().expect("unknown"))
    }

    fn quit(mut self) {
        let _ = writeln!(self.input, "quit");
        let _ = self.child.wait();
    }
}

/// Sends PACKETS from `src` (pinned to core 1); returns (sent, seconds).
fn blast(src: Ipv4Addr) -> (u64, f64) {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new("taskset")
        .args(["-c", "1", "ip", "netns", "exec", SENDER_NS])
        .arg(exe)
        .args(["send", "gbs0", &src.to_string(), &PACKETS.to_string()])
        .output()
        .expect("sender runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let w: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(w.first(), Some(&"sent"), "sender said {text:?} {}", String::from_utf8_lossy(&out.stderr));
    (w[1].parse().expect("count"), w[2].parse().expect("seconds"))
}

/// Packets per second the receiver counted for one blast from `src` (`pass`: count the
/// passed ones, else the dropped unknown ones); the ceiling counts what was sent.
fn rate(server: &mut Server, src: Ipv4Addr, pass: bool, counted: bool) -> f64 {
    let before = server.counts();
    let (sent, secs) = blast(src);
    let after = server.counts();
    let got = match (counted, pass) {
        (false, _) => sent,
        (true, true) => after.0 - before.0,
        (true, false) => after.1 - before.1,
    };
    got as f64 / secs
}

fn orchestrate() {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")));
    assert_eq!(root, Some(true), "the gate benchmark needs root (network namespaces, XDP, nftables)");
    setup();
    let (_, pass_src) = catalog(0, 1);
    println!(
        "catalog: the lookup bench's 1M IPv4 + 200k IPv6 prefixes; drop source {DROP_SRC}, pass source {pass_src}"
    );
    println!(
        "| receiver | catalog load (prefixes loaded) | drop, unknown source (Mpps) | pass, catalogued (Mpps) | 1,000 added prefixes enforced | 1M disjoint /24s loaded |"
    );
    println!("|---|---|---|---|---|---|");
    for mode in ["ceiling", "xdp", "nftables", "baseline"] {
        let (mut server, loaded) = Server::start(mode);
        let counted = mode != "ceiling";
        let drop = rate(&mut server, DROP_SRC, false, counted) / 1e6;
        let pass = rate(&mut server, pass_src, true, counted) / 1e6;
        let change = server.ask("change", "changed").join(" ms, ").replace('_', " ");
        let load24 = server.ask("load24", "changed").join(" ms, ").replace('_', " ");
        println!("| {mode} | {loaded} | {drop:.2} | {pass:.2} | {change} | {load24} |");
        server.quit();
    }
    teardown();
}
