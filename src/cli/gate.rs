//! `perimeter gate status | explain IP | rules | grant`: what the running packet gate
//! enforces and counts (from the status file `perimeter up` rewrites every second), what
//! it does with one source and why (which grant lets what through), the nftables rules
//! it installs beside itself for operators who manage their own firewall, and the duty
//! team's grants (`super::gate_grant`).
//!
//! Must not: change the kernel; only `perimeter up` programs it.

use std::net::IpAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use gate::{BackendKind, rules};

use super::gate_grant::GrantCmd;
use super::json::JsonFlag;
use crate::app::gate::{StatusFile, read_status, redirect_ports};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum GateCmd {
    /// Interfaces, backend, attach mode, catalog generation enforced and packet counts of
    /// the running gate (exit status 1 when it is not running).
    Status(JsonFlag),
    /// What the gate does with packets from IP, and why (from the catalog and `[gate]`).
    Explain {
        ip: IpAddr,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Print the nftables rules the gate installs beside itself (the HTTPS redirect to the
    /// transparent proxy, the QUIC answer), for operators who manage their own firewall.
    Rules,
    /// The duty team's grants of services besides the web proxy to one organisation.
    #[command(subcommand)]
    Grant(GrantCmd),
}

/// A status older than this means `perimeter up` is no longer writing it.
const STALE_MS: i64 = 5_000;

pub async fn run(config: &Config, cmd: GateCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        GateCmd::Status(json) => status(config, json.json),
        GateCmd::Explain { ip, json } => explain(config, ip, json.json).await,
        GateCmd::Rules => {
            print!("{}", rules_text(config)?);
            Ok(ExitCode::SUCCESS)
        }
        GateCmd::Grant(cmd) => super::gate_grant::run(&config.open_store().await?, cmd).await,
    }
}

fn status(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let Some(file) = read_status(&config.data_dir)? else {
        let why = match config.gate.enabled() {
            true => "`perimeter up` is not running with this data directory",
            false => "[gate] names no interfaces in this configuration",
        };
        eprintln!("the packet gate is not running: {why}");
        return Ok(ExitCode::FAILURE);
    };
    let age = snapshot::now_ms() - file.written_at;
    if json {
        println!("{}", serde_json::to_string_pretty(&file)?);
    } else {
        print!("{}", render(&file, age));
    }
    Ok(if age > STALE_MS { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn render(file: &StatusFile, age_ms: i64) -> String {
    let s = &file.status;
    let mut out = format!(
        "packet gate: {} backend, catalog generation {} ({} prefixes), last change {}\n",
        s.backend, s.generation, s.prefixes, s.last_change
    );
    if age_ms > STALE_MS {
        out.push_str(&format!("STALE: written {} s ago; is `perimeter up` still running?\n", age_ms / 1000));
    }
    if !s.on_crash.is_empty() {
        out.push_str(&format!("if killed: {}\n", s.on_crash));
    }
    out.push_str(&format!("QUIC (UDP 443/80): {}\n", s.quic));
    for (what, port) in [("HTTPS (TCP 443)", s.redirect_port), ("HTTP (TCP 80)", s.redirect_http_port)] {
        match port {
            Some(port) => out.push_str(&format!("{what}: redirected to the transparent proxy on port {port}\n")),
            None => out.push_str(&format!("{what}: routed (no redirect installed by the gate)\n")),
        }
    }
    out.push_str(&format!("unknown sources reported: {} (discarded: {})\n", s.samples_reported, s.samples_discarded));
    out.push_str(&format!(
        "openings (the gateway's allow and live grants, per protocol, port and destination): {}; \
         ungranted and spoofed packets noted in the log: {}\n",
        s.openings, s.samples_noted
    ));
    for i in &s.interfaces {
        match &i.operator {
            Some(op) => out.push_str(&format!(
                "interface {} (link {}): sources of operator {op} only; others are dropped as spoofed\n",
                i.name, i.link
            )),
            None => out.push_str(&format!(
                "interface {} (link {}): the link names no operator in the registry, so sources are not bound to it\n",
                i.name, i.link
            )),
        }
    }
    if let Some(e) = &s.last_error {
        out.push_str(&format!("last error: {e}\n"));
    }
    out.push_str(&format!(
        "{:<16} {:<20} {:<20} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}\n",
        "interface",
        "link",
        "mode",
        "pass",
        "granted",
        "unknown",
        "blocked",
        "quic",
        "ungranted",
        "spoofed",
        "malformed"
    ));
    for i in &s.interfaces {
        let c = i.counts;
        out.push_str(&format!(
            "{:<16} {:<20} {:<20} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}\n",
            i.name,
            i.link,
            i.mode,
            c.pass,
            c.granted,
            c.unknown,
            c.blocked,
            c.quic,
            c.ungranted,
            c.spoofed,
            c.malformed
        ));
    }
    out
}

async fn explain(config: &Config, ip: IpAddr, json: bool) -> anyhow::Result<ExitCode> {
    let store = config.open_store().await?;
    let snapshot = catalog::publish::load(&store).await.context("cannot build the catalog snapshot")?;
    let redirect = redirect_ports(&config.proxy, config.services.web);
    let explanation = gate::explain::explain(ip, &snapshot, &config.gate, redirect, snapshot::now_ms());
    let running = read_status(&config.data_dir)?.map(|f| f.status.generation);
    if json {
        let value = serde_json::json!({
            "explanation": explanation,
            "catalog_generation": snapshot.generation(),
            "gate_generation": running,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{explanation}");
        match running {
            Some(g) if g == snapshot.generation() => {
                println!("the running gate enforces this catalog (generation {g})")
            }
            Some(g) => {
                println!("the running gate enforces generation {g}; the catalog is at {}", snapshot.generation())
            }
            None => println!("the gate is not running: this is what it would do"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The nftables rules the gate installs beside its enforcement, for these settings.
fn rules_text(config: &Config) -> anyhow::Result<String> {
    let names: Vec<String> = config.gate.interfaces.iter().map(|i| i.name.clone()).collect();
    anyhow::ensure!(!names.is_empty(), "[gate] names no interfaces: there are no rules to print");
    let mut out = String::from("# The packet gate's companion rules (load with `nft -f FILE`).\n");
    match redirect_ports(&config.proxy, config.services.web) {
        Some(to) => {
            out.push_str("# Catalogued sources' HTTPS (and HTTP) goes to the proxy's transparent listeners; they\n");
            out.push_str("# must accept on the interfaces' addresses (e.g. [proxy.transparent] listen =\n");
            out.push_str("# \"[::]:3130\", http_listen = \"[::]:3129\").\n");
            if to.http.is_none() {
                out.push_str("# No [proxy.transparent] http_listen: plain HTTP is routed, not redirected.\n");
            }
            out.push_str(&rules::redirect(&names, to));
        }
        None => out.push_str("# No [proxy.transparent] listener: HTTPS is routed, no redirect.\n"),
    }
    if config.gate.quic_reject {
        out.push_str("# With the XDP backend: QUIC from catalogued sources is answered here (the nftables\n");
        out.push_str(&format!("# backend answers it in its own table). Backend: {}.\n", backend_words(config)));
        out.push_str(&rules::quic_table(&names, config.gate.quic_reject_rate));
    }
    Ok(out)
}

fn backend_words(config: &Config) -> String {
    match config.gate.backend {
        gate::BackendChoice::Auto => {
            format!("auto ({} where it loads, else {})", BackendKind::Xdp, BackendKind::Nftables)
        }
        gate::BackendChoice::Xdp => BackendKind::Xdp.to_string(),
        gate::BackendChoice::Nftables => BackendKind::Nftables.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use gate::{Counts, GateStatus, InterfaceStatus};

    use super::*;

    fn file() -> StatusFile {
        StatusFile {
            written_at: 0,
            status: GateStatus {
                backend: BackendKind::Xdp,
                interfaces: vec![InterfaceStatus {
                    name: "eth1".into(),
                    link: "kt-astana-1".into(),
                    mode: "native".into(),
                    operator: Some("kaztelecom".into()),
                    counts: Counts {
                        pass: 10,
                        unknown: 2,
                        blocked: 1,
                        quic: 3,
                        malformed: 4,
                        granted: 5,
                        ungranted: 6,
                        spoofed: 7,
                        samples_lost: 0,
                    },
                }],
                generation: 7,
                prefixes: 12,
                openings: 3,
                changed_at: 0,
                last_change: "in place in 0.2 ms".into(),
                last_error: None,
                samples_reported: 2,
                samples_noted: 1,
                samples_discarded: 0,
                quic: "dropped silently".into(),
                redirect_port: Some(3130),
                redirect_http_port: None,
                on_crash: "keeps enforcing the last catalog it loaded".into(),
            },
        }
    }

    #[test]
    fn status_shows_backend_generation_and_counts_per_interface() {
        let text = render(&file(), 100);
        assert!(text.contains("xdp backend, catalog generation 7"), "{text}");
        assert!(text.contains("HTTPS (TCP 443): redirected to the transparent proxy on port 3130"), "{text}");
        assert!(text.contains("HTTP (TCP 80): routed"), "{text}");
        let row = text.lines().find(|l| l.starts_with("eth1")).expect("interface row");
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells, ["eth1", "kt-astana-1", "native", "10", "5", "2", "1", "3", "6", "7", "4"]);
        assert!(text.contains("interface eth1 (link kt-astana-1): sources of operator kaztelecom only"), "{text}");
        let mut unbound = file();
        unbound.status.interfaces[0].operator = None;
        assert!(render(&unbound, 100).contains("names no operator in the registry"));
        assert!(text.contains("if killed: keeps enforcing the last catalog it loaded"), "{text}");
        assert!(!text.contains("STALE"));
        assert!(render(&file(), STALE_MS + 1).contains("STALE"));
    }

    #[test]
    fn rules_need_interfaces_and_name_them() {
        let mut config = Config::default();
        assert!(rules_text(&config).is_err());
        config.gate = toml::from_str("interfaces = [{ name = \"eth1\", link = \"kt-1\" }]").expect("gate config");
        config.proxy.transparent = Some(Default::default());
        let text = rules_text(&config).expect("rules");
        assert!(text.contains("iifname { \"eth1\" } tcp dport 443 redirect to :3130"), "{text}");
        assert!(text.contains("reject with icmpx type port-unreachable"), "{text}");
    }
}
