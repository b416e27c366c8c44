//! The scanning comparison: a proxy without content scanning and the same
//! proxy with RESPMOD to one c-icap + ClamAV service, in the same run: bulk
//! downloads through bumped tunnels (CPU per MiB), and small objects on
//! keep-alive bumped connections (scans per second). The ICAP server's own CPU
//! (c-icap and its children, and clamd) is reported on its own line, apart
//! from the proxy's.

use std::net::SocketAddr;
use std::sync::Arc;

use super::load::{Target, connector, run};
use super::{HOST, report, report_bulk};

/// One proxy with scanning off and on.
pub struct Pair<'a> {
    pub proxy: &'a str,
    pub off: (SocketAddr, &'a str),
    pub on: (SocketAddr, &'a str),
}

/// Sizes of the scanning runs.
pub struct ScanSizes {
    /// Body size of the bulk runs.
    pub bulk_mib: usize,
    /// Bodies per connection of the bulk runs (4 workers x 1 connection each).
    pub bodies: usize,
    /// Workers x connections x requests of the small-object runs.
    pub small: (usize, usize, usize),
}

fn target(addr: SocketAddr, pem: &str, port: u16, path: String) -> Arc<Target> {
    let tls = Some(connector(pem));
    Arc::new(Target { proxy: addr, host: HOST.into(), port, path, fresh_names: false, tls })
}

/// Runs the bulk and small-object scenarios through `pair`, scanning off then on.
pub async fn compare(
    pair: &Pair<'_>,
    port: u16,
    sizes: &ScanSizes,
    proxy_cpu: &dyn Fn() -> f64,
    icap_cpu: &dyn Fn() -> f64,
) {
    for (addr, pem) in [pair.off, pair.on] {
        let _ = run(target(addr, pem, port, "/bench".into()), 2, 2, 2).await;
    }
    let bulk = format!("/bulk/{}", sizes.bulk_mib << 20);
    for (label, (addr, pem)) in [("bulk respmod off", pair.off), ("bulk respmod on", pair.on)] {
        let (before, icap_before) = (proxy_cpu(), icap_cpu());
        let stats = run(target(addr, pem, port, bulk.clone()), 4, 1, sizes.bodies).await;
        let (cpu, icap) = (proxy_cpu() - before, icap_cpu() - icap_before);
        report_bulk(pair.proxy, label, &stats, cpu);
        let mib = stats.bytes as f64 / f64::from(1 << 20);
        if icap > 0.0 {
            println!(
                "{:<6} {label:<22} icap server cpu {icap:>5.2}s = {:>6.3} ms/MiB (not the proxy's)",
                pair.proxy,
                icap * 1000.0 / mib.max(1e-9)
            );
        }
    }
    let (workers, conns, reqs) = sizes.small;
    for (label, (addr, pem)) in [("small respmod off", pair.off), ("small respmod on", pair.on)] {
        let (before, icap_before) = (proxy_cpu(), icap_cpu());
        let stats = run(target(addr, pem, port, "/bench".into()), workers, conns, reqs).await;
        let (cpu, icap) = (proxy_cpu() - before, icap_cpu() - icap_before);
        let count = stats.requests.len().max(1) as f64;
        let (per_object, icap_per_object) = (cpu * 1000.0 / count, icap * 1000.0 / count);
        report(pair.proxy, label, stats, cpu);
        println!(
            "{:<6} {label:<22} proxy cpu {per_object:>6.3} ms per object, icap server cpu {icap_per_object:>6.3} ms per object",
            pair.proxy
        );
    }
}
