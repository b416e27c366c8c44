//! IQBSH against Squid 5 with ssl-bump, side by side on loopback.
//!
//! Both proxies bump every connection to one local TLS origin (certificate
//! from a test CA both trust) and relay HTTP/1.1 (Squid offers no HTTP/2 on
//! bumped connections). Scenarios: keep-alive requests through a bumped
//! tunnel, a new bumped tunnel per request (handshake-bound), plain HTTP
//! forwarding, and bulk transfers (large bodies) through a bumped and through a
//! spliced tunnel (`bank.test` is exempt on both proxies), the spliced one also
//! through a plain TCP relay (`relay`) as the floor. The load generator and the origin run in this process on their
//! own runtime (`BENCH_LOAD_THREADS`, default 1); IQBSH runs on a separate runtime with `IQBSH_WORKERS` threads
//! (default 1, as Squid is one process). Both write access logs.
//!
//! The spliced path twice: with TLS at both ends (what a browser and a bank
//! do; the ends' TLS costs several times what either proxy spends, so one
//! load thread sets the pace), and `raw spliced bulk` ([`raw`]): the same
//! peeked ClientHello, then bodies the origin sends with sendfile(2) and the
//! client discards, so the proxies' own cost decides. Every bulk line also
//! shows the ends' CPU per MiB (`ends`), which moves with the proxy in front of
//! them: that is how the kernel charges loopback work, see BENCHMARKS.md.
//!
//! Then the scanning comparison (`scan`): each proxy without content scanning
//! and with RESPMOD to the same c-icap + ClamAV service (started here, as the
//! tests start it), bulk and small objects; the ICAP server's CPU on its own line.
//!
//! Run: `cargo bench -p iqbsh --bench compare` (needs `squid-openssl`; without
//! it only IQBSH is measured and the baseline is reported missing; the scanning
//! part needs `c-icap libc-icap-mod-virus-scan clamav-daemon`). Sizes:
//! `BENCH_WORKERS` (16), `BENCH_CONNS` (connections per worker, 50),
//! `BENCH_REQS` (requests per keep-alive connection, 50), `BENCH_BULK_MIB`
//! (body size of the bulk scenarios, 32; 4 workers x 2 connections x 4 bodies),
//! `BENCH_SCAN_MIB` (body size of the scanned bulk runs, 2; Squid 5.7 with ICAP
//! answers 500 after a stall to bodies of 4 MiB and more here), `BENCH_SCAN_BODIES` (bodies per connection, 32; 4
//! workers x 1 connection),
//! `BENCH_SCAN_SMALL` (small objects per connection, 50; 8 workers x 5
//! connections). `BENCH_PARTS=base` or `scan` runs one part only; `splice` only the
//! spliced bulk transfers (IQBSH, the plain relay, Squid; TLS and raw ends).

mod cpu;
mod gateway;
#[allow(dead_code)]
#[path = "../../tests/common/icap.rs"]
mod icap;
mod load;
#[allow(dead_code)]
#[path = "../../tests/common/origin.rs"]
mod origin;
mod raw;
mod relay;
mod scan;
#[allow(dead_code)]
#[path = "../../tests/common/shaped.rs"]
mod shaped;
mod squid;
#[allow(dead_code)]
#[path = "../../tests/common/tunnel.rs"]
mod tunnel;

use std::net::SocketAddr;
use std::sync::Arc;

use load::{Stats, Target, connector, quantile_ms, run};

const HOST: &str = "news.test";
/// The exempt host: spliced by both proxies.
const SPLICED: &str = "bank.test";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Sizes {
    workers: usize,
    conns: usize,
    reqs: usize,
    bulk_mib: usize,
}

/// Ends the benchmark when a scenario counted errors: a figure measured while requests
/// failed (refused, reset, answered with an error) is not a figure, and no table may be
/// printed from it.
fn fail_on_errors(proxy: &str, scenario: &str, s: &Stats) {
    if s.errors > 0 {
        let first = s.first_error.as_deref().unwrap_or("-");
        eprintln!("{proxy} {scenario}: {} errors (first: {first}); the benchmark stops here", s.errors);
        std::process::exit(1);
    }
}

pub(crate) fn report(proxy: &str, scenario: &str, mut s: Stats, cpu: f64) {
    let (p50, p99) = (quantile_ms(&mut s.requests, 0.5), quantile_ms(&mut s.requests, 0.99));
    let setup = quantile_ms(&mut s.setups, 0.5);
    println!(
        "{proxy:<6} {scenario:<22} {:>9.0} req/s  p50 {p50:>7.2} ms  p99 {p99:>7.2} ms  setup p50 {setup:>7.2} ms  \
         proxy cpu {cpu:>5.2}s  errors {}{}",
        s.per_second(),
        s.errors,
        s.first_error.as_ref().map(|e| format!(" (first: {e})")).unwrap_or_default()
    );
    fail_on_errors(proxy, scenario, &s);
}

/// A bulk run's throughput, the proxy's CPU per MiB moved and the ends' (the
/// load generator's and the origin's, same process, never the proxy's).
pub(crate) fn report_bulk(proxy: &str, scenario: &str, s: &Stats, cpu: f64) {
    let mib = s.bytes as f64 / f64::from(1 << 20);
    println!(
        "{proxy:<6} {scenario:<22} {:>9.1} MiB/s  {:>6.0} MiB moved  proxy cpu {cpu:>5.2}s = {:>6.3} ms/MiB  \
         ends {:>6.3} ms/MiB  errors {}{}",
        mib / s.elapsed.as_secs_f64().max(1e-9),
        mib,
        cpu * 1000.0 / mib.max(1e-9),
        s.ends_cpu * 1000.0 / mib.max(1e-9),
        s.errors,
        s.first_error.as_ref().map(|e| format!(" (first: {e})")).unwrap_or_default()
    );
    fail_on_errors(proxy, scenario, s);
}

/// Bulk transfers of `sizes.bulk_mib` bodies to `host` through `proxy`.
async fn bulk(proxy: &str, scenario: &str, target: Target, sizes: &Sizes, cpu: &dyn Fn() -> f64) {
    let target = Arc::new(Target { path: format!("/bulk/{}", sizes.bulk_mib << 20), ..target });
    let before = cpu();
    let stats = run(target, 4, 2, 4).await;
    report_bulk(proxy, scenario, &stats, cpu() - before);
}

/// Runs every scenario against one proxy; `test_ca_pem` is what a client of a
/// spliced connection trusts (the origin's own CA).
#[allow(clippy::too_many_arguments)]
async fn scenarios(
    proxy: &str,
    addr: SocketAddr,
    root_pem: &str,
    test_ca_pem: &str,
    ports: (u16, u16),
    sizes: &Sizes,
    cpu: &dyn Fn() -> f64,
) {
    let tls = || Some(connector(root_pem));
    let target = |tls: Option<_>, fresh_names: bool| {
        let port = if tls.is_some() { ports.0 } else { ports.1 };
        Arc::new(Target { proxy: addr, host: HOST.into(), port, path: "/bench".into(), fresh_names, tls })
    };
    // Warm-up: forged-certificate caches on both sides.
    let _ = run(target(tls(), false), 2, 2, 2).await;
    let plans = [
        ("bumped keep-alive", tls(), sizes.reqs, false),
        ("bumped new tunnel", tls(), 1, false),
        ("bumped new host", tls(), 1, true),
        ("plain keep-alive", None, sizes.reqs, false),
    ];
    for (scenario, tls, reqs, fresh_names) in plans {
        let before = cpu();
        let stats = run(target(tls, fresh_names), sizes.workers, sizes.conns, reqs).await;
        report(proxy, scenario, stats, cpu() - before);
    }
    let through = |host: &str, pem: &str| Target {
        proxy: addr,
        host: host.into(),
        port: ports.0,
        path: String::new(),
        fresh_names: false,
        tls: Some(connector(pem)),
    };
    bulk(proxy, "bumped bulk", through(HOST, root_pem), sizes, cpu).await;
    bulk(proxy, "spliced bulk", through(SPLICED, test_ca_pem), sizes, cpu).await;
}

fn main() {
    let sizes = Sizes {
        workers: env("BENCH_WORKERS", 16),
        conns: env("BENCH_CONNS", 50),
        reqs: env("BENCH_REQS", 50),
        bulk_mib: env("BENCH_BULK_MIB", 32),
    };
    let parts = std::env::var("BENCH_PARTS").unwrap_or_default();
    let (base, scanning, splice_only) =
        (parts.is_empty() || parts == "base", parts.is_empty() || parts == "scan", parts == "splice");
    let dir = tempfile::tempdir().expect("tempdir");
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env("BENCH_LOAD_THREADS", 1))
        .thread_name("load")
        .enable_all()
        .build()
        .expect("rt");
    let proxy_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env("IQBSH_WORKERS", 1))
        .thread_name("iqbsh")
        .enable_all()
        .build()
        .expect("rt");
    let ca = origin::TestCa::new();
    let ca_pem = ca.write_pem(dir.path());
    let test_ca_pem = std::fs::read_to_string(&ca_pem).expect("test CA PEM");
    let (tls_origin, plain_origin) =
        client.block_on(async { (origin::tls_origin(&ca).await, origin::plain_origin().await) });
    let raw_origin = raw::RawOrigin::start(dir.path());
    let hello = raw::client_hello(SPLICED, &test_ca_pem);
    let raw_to = format!("{SPLICED}:{}", raw_origin.addr.port());
    let (port, ports) = (tls_origin.addr.port(), (tls_origin.addr.port(), plain_origin.addr.port()));
    println!("workers {} x connections {} x requests {} (keep-alive)", sizes.workers, sizes.conns, sizes.reqs);
    // The bench's host names: the bumped one, the spliced one, one per new-host connection.
    let fresh = (0..sizes.workers * sizes.conns).map(|i| format!("c{i}.{HOST}"));
    let names: Vec<String> = [HOST.to_owned(), SPLICED.to_owned()].into_iter().chain(fresh).collect();
    // Every origin's port is open to the proxy (the plain origin's too: the plain
    // keep-alive scenario goes there).
    let origin_ports = [port, ports.1, raw_origin.addr.port()];
    let gw = proxy_rt.block_on(gateway::start(dir.path(), &ca_pem, &origin_ports, &names, None));
    let iqbsh_cpu = || cpu::threads(&["iqbsh", "leaf-forge"]);
    let addr = gw.handle.explicit_addr();
    if base {
        client.block_on(scenarios("iqbsh", addr, &gw.root_pem, &test_ca_pem, ports, &sizes, &iqbsh_cpu));
    }
    if splice_only {
        // The first transfer of a run warms the load generator and the origin (TLS
        // sessions, allocator, page cache); it is shown but not compared.
        client.block_on(spliced("warm-up", addr, &test_ca_pem, port, &sizes, &iqbsh_cpu));
        client.block_on(spliced("iqbsh", addr, &test_ca_pem, port, &sizes, &iqbsh_cpu));
    }
    if base || splice_only {
        raw_spliced("iqbsh", addr, &raw_to, &hello, &sizes, &iqbsh_cpu);
        relay_floor(&client, port, &test_ca_pem, &sizes, &raw_to, &hello);
    }
    let squid = squid::start(dir.path(), port, &names, None);
    match &squid {
        Ok(sq) if base => {
            let cpu = || cpu::process_tree(sq.pid());
            client.block_on(scenarios("squid", sq.addr, &sq.root_pem, &test_ca_pem, ports, &sizes, &cpu));
            raw_spliced("squid", sq.addr, &raw_to, &hello, &sizes, &cpu);
        }
        Ok(sq) if splice_only => {
            let cpu = || cpu::process_tree(sq.pid());
            client.block_on(spliced("squid", sq.addr, &test_ca_pem, port, &sizes, &cpu));
            raw_spliced("squid", sq.addr, &raw_to, &hello, &sizes, &cpu);
        }
        Ok(_) => {}
        Err(e) => println!("squid  baseline not measured: {e}"),
    }
    if scanning {
        scanning_part(&client, &proxy_rt, dir.path(), &gw, squid.as_ref().ok(), port, &names);
    }
    proxy_rt.block_on(gw.handle.shutdown());
}

/// The spliced bulk transfer alone through `addr`.
async fn spliced(proxy: &str, addr: SocketAddr, test_ca_pem: &str, port: u16, sizes: &Sizes, cpu: &dyn Fn() -> f64) {
    let target = Target {
        proxy: addr,
        host: SPLICED.into(),
        port,
        path: String::new(),
        fresh_names: false,
        tls: Some(connector(test_ca_pem)),
    };
    bulk(proxy, "spliced bulk", target, sizes, cpu).await;
}

/// The spliced bulk transfer with cheap ends ([`raw`]) through `addr`.
fn raw_spliced(proxy: &str, addr: SocketAddr, authority: &str, hello: &[u8], sizes: &Sizes, cpu: &dyn Fn() -> f64) {
    let before = cpu();
    let stats = raw::run(addr, authority, hello, 8, 4, (sizes.bulk_mib as u64) << 20);
    report_bulk(proxy, "raw spliced bulk", &stats, cpu() - before);
}

/// The spliced bulk transfer through a plain TCP relay: the floor.
fn relay_floor(
    client: &tokio::runtime::Runtime,
    port: u16,
    test_ca_pem: &str,
    sizes: &Sizes,
    raw_to: &str,
    hello: &[u8],
) {
    let relay_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tcp-relay")
        .enable_all()
        .build()
        .expect("rt");
    let relay_addr = relay_rt.block_on(relay::start());
    let floor = Target {
        proxy: relay_addr,
        host: SPLICED.into(),
        port,
        path: String::new(),
        fresh_names: false,
        tls: Some(connector(test_ca_pem)),
    };
    client.block_on(bulk("relay", "spliced bulk", floor, sizes, &|| cpu::threads(&["tcp-relay"])));
    raw_spliced("relay", relay_addr, raw_to, hello, sizes, &|| cpu::threads(&["tcp-relay"]));
}

/// IQBSH and Squid, each without scanning and with RESPMOD to one c-icap + ClamAV.
fn scanning_part(
    client: &tokio::runtime::Runtime,
    proxy_rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    gw: &gateway::Gateway,
    squid: Option<&squid::Squid>,
    port: u16,
    names: &[String],
) {
    let Some(scanner) = icap::Scanner::start() else {
        println!("scanning comparison not measured: c-icap or clamd is missing");
        return;
    };
    let (clamd, c_icap) = scanner.pids();
    let icap_cpu = || cpu::process(clamd) + c_icap.map_or(0.0, cpu::process_tree);
    let sizes = scan::ScanSizes {
        bulk_mib: env("BENCH_SCAN_MIB", 2),
        bodies: env("BENCH_SCAN_BODIES", 32),
        small: (8, 5, env("BENCH_SCAN_SMALL", 50)),
    };
    let url = scanner.url();
    println!("scanning: {} MiB bodies, small objects {:?}, ICAP service {url}", sizes.bulk_mib, sizes.small);
    let scanned_dir = dir.join("iqbsh-icap");
    std::fs::create_dir_all(&scanned_dir).expect("dir");
    let ca_pem = dir.join("test-origin-ca.pem");
    let scanned = proxy_rt.block_on(gateway::start(&scanned_dir, &ca_pem, &[port], names, Some(&url)));
    let pair = scan::Pair {
        proxy: "iqbsh",
        off: (gw.handle.explicit_addr(), &gw.root_pem),
        on: (scanned.handle.explicit_addr(), &scanned.root_pem),
    };
    let iqbsh_cpu = || cpu::threads(&["iqbsh", "leaf-forge"]);
    client.block_on(scan::compare(&pair, port, &sizes, &iqbsh_cpu, &icap_cpu));
    proxy_rt.block_on(scanned.handle.shutdown());
    let Some(plain_squid) = squid else { return };
    let squid_dir = dir.join("squid-icap");
    std::fs::create_dir_all(&squid_dir).expect("dir");
    std::fs::copy(&ca_pem, squid_dir.join("test-origin-ca.pem")).expect("copy the origin CA");
    match squid::start(&squid_dir, port, names, Some(&url)) {
        Ok(scanning_squid) => {
            let pair = scan::Pair {
                proxy: "squid",
                off: (plain_squid.addr, &plain_squid.root_pem),
                on: (scanning_squid.addr, &scanning_squid.root_pem),
            };
            let squid_cpu = || cpu::process_tree(plain_squid.pid()) + cpu::process_tree(scanning_squid.pid());
            client.block_on(scan::compare(&pair, port, &sizes, &squid_cpu, &icap_cpu));
        }
        Err(e) => println!("squid  with ICAP not measured: {e}"),
    }
}
