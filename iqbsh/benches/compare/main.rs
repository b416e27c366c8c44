//! IQBSH against Squid 5 with ssl-bump, side by side on loopback.
//!
//! Both proxies bump every connection to one local TLS origin (certificate
//! from a test CA both trust) and relay HTTP/1.1 (Squid offers no HTTP/2 on
//! bumped connections). Scenarios: keep-alive requests through a bumped
//! tunnel, a new bumped tunnel per request (handshake-bound), and plain HTTP
//! forwarding. The load generator and the origin run in this process on their
//! own runtime; IQBSH runs on a separate runtime with `IQBSH_WORKERS` threads
//! (default 1, as Squid is one process). Both write access logs.
//!
//! Run: `cargo bench -p iqbsh --bench compare` (needs `squid-openssl`; without
//! it only IQBSH is measured and the baseline is reported missing). Sizes:
//! `BENCH_WORKERS` (16), `BENCH_CONNS` (connections per worker, 20),
//! `BENCH_REQS` (requests per keep-alive connection, 50).

mod cpu;
mod gateway;
mod load;
#[allow(dead_code)]
#[path = "../../tests/common/origin.rs"]
mod origin;
mod squid;

use std::net::SocketAddr;
use std::sync::Arc;

use load::{Stats, Target, connector, quantile_ms, run};

const HOST: &str = "news.test";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Sizes {
    workers: usize,
    conns: usize,
    reqs: usize,
}

fn report(proxy: &str, scenario: &str, mut s: Stats, cpu: f64) {
    let (p50, p99) = (quantile_ms(&mut s.requests, 0.5), quantile_ms(&mut s.requests, 0.99));
    let setup = quantile_ms(&mut s.setups, 0.5);
    println!(
        "{proxy:<6} {scenario:<22} {:>9.0} req/s  p50 {p50:>7.2} ms  p99 {p99:>7.2} ms  setup p50 {setup:>7.2} ms  \
         proxy cpu {cpu:>5.2}s  errors {}{}",
        s.per_second(),
        s.errors,
        s.first_error.map(|e| format!(" (first: {e})")).unwrap_or_default()
    );
}

/// Runs every scenario against one proxy.
async fn scenarios(
    proxy: &str,
    addr: SocketAddr,
    root_pem: &str,
    ports: (u16, u16),
    sizes: &Sizes,
    cpu: &dyn Fn() -> f64,
) {
    let tls = || Some(connector(root_pem));
    let target = |tls: Option<_>| {
        let port = if tls.is_some() { ports.0 } else { ports.1 };
        Arc::new(Target { proxy: addr, host: HOST.into(), port, tls })
    };
    // Warm-up: forged-certificate caches on both sides.
    let _ = run(target(tls()), 2, 2, 2).await;
    let plans = [
        ("bumped keep-alive", tls(), sizes.reqs),
        ("bumped new tunnel", tls(), 1),
        ("plain keep-alive", None, sizes.reqs),
    ];
    for (scenario, tls, reqs) in plans {
        let before = cpu();
        let stats = run(target(tls), sizes.workers, sizes.conns, reqs).await;
        report(proxy, scenario, stats, cpu() - before);
    }
}

fn main() {
    let sizes = Sizes { workers: env("BENCH_WORKERS", 16), conns: env("BENCH_CONNS", 20), reqs: env("BENCH_REQS", 50) };
    let dir = tempfile::tempdir().expect("tempdir");
    let client = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
    let proxy_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env("IQBSH_WORKERS", 1))
        .thread_name("iqbsh")
        .enable_all()
        .build()
        .expect("rt");
    let ca = origin::TestCa::new();
    let ca_pem = ca.write_pem(dir.path());
    let (tls_origin, plain_origin) =
        client.block_on(async { (origin::tls_origin(&ca).await, origin::plain_origin().await) });
    let (port, ports) = (tls_origin.addr.port(), (tls_origin.addr.port(), plain_origin.addr.port()));
    println!("workers {} x connections {} x requests {} (keep-alive)", sizes.workers, sizes.conns, sizes.reqs);
    let gw = proxy_rt.block_on(gateway::start(dir.path(), &ca_pem, port, HOST));
    client.block_on(scenarios("iqbsh", gw.handle.explicit_addr(), &gw.root_pem, ports, &sizes, &|| {
        cpu::threads(&["iqbsh", "leaf-forge"])
    }));
    match squid::start(dir.path(), port, HOST) {
        Ok(sq) => client.block_on(scenarios("squid", sq.addr, &sq.root_pem, ports, &sizes, &|| cpu::process(sq.pid()))),
        Err(e) => println!("squid  baseline not measured: {e}"),
    }
    proxy_rt.block_on(gw.handle.shutdown());
}
