//! A standalone EPBSH relay for tests and manual runs (production runs the relay inside
//! `perimeter up`): `epbsh-relay CONFIG.toml REGISTRY.json`, where the registry file is a
//! JSON array of mail systems. Prints `listening ADDR` on stdout once it accepts mail,
//! logs to stderr (`RUST_LOG`), stops gracefully on SIGTERM or SIGINT. Admission is
//! open (no traffic watch).

use std::process::ExitCode;
use std::sync::Arc;

use epbsh::hooks::OpenGuard;
use epbsh::registry::{self, MailSystem, Registry};
use epbsh::relay::{self, RelayConfig};
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("epbsh-relay: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, systems] = args.as_slice() else {
        return Err("usage: epbsh-relay CONFIG.toml REGISTRY.json".into());
    };
    let text = std::fs::read_to_string(config).map_err(|e| format!("{config}: {e}"))?;
    let config =
        RelayConfig::from_toml(&text).map_err(|p| p.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))?;
    let text = std::fs::read_to_string(systems).map_err(|e| format!("{systems}: {e}"))?;
    let systems: Vec<MailSystem> = serde_json::from_str(&text).map_err(|e| format!("{systems}: {e}"))?;
    let registry = registry::handle(Registry::new(systems).map_err(|e| e.to_string())?);
    let relay = relay::start(config, registry, Arc::new(OpenGuard)).await.map_err(|e| e.to_string())?;
    println!("listening {}", relay.local_addr());
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    relay.shutdown().await.map_err(|e| e.to_string())
}
