//! The WAF on its own, for the proxy benchmark (`benches/waf_proxy.sh`) and for trying it
//! by hand before the binary runs it as a service:
//!
//! ```text
//! waf_serve CONFIG.toml
//! ```
//!
//! CONFIG holds `[waf]` (the proxy's settings) and `[[sites]]` (each a `waf::Site`, its
//! certificate and key PEM inline). SIGHUP reads the file again and applies its sites (a
//! bad list is logged and the running one stays) and reopens the audit log; SIGUSR1
//! writes the metrics to stdout (ending with `# END`); SIGTERM or SIGINT drains and
//! stops. One line on stdout says where it listens.
//!
//! Must not: outlive a stop signal by more than the drain time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tokio::signal::unix::{SignalKind, signal};
use waf::engine::{Engine, EnginePaths};
use waf::{Site, SitesHandle, WafConfig};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    waf: WafConfig,
    #[serde(default)]
    sites: Vec<Site>,
}

fn read(path: &Path) -> Result<File, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let path = PathBuf::from(std::env::args().nth(1).ok_or("usage: waf_serve CONFIG.toml")?);
    let file = read(&path)?;
    let engine = Arc::new(Engine::load(&EnginePaths::default()).map_err(|e| e.to_string())?);
    let sites = SitesHandle::new(engine);
    let handle = sites.clone();
    tokio::task::spawn_blocking(move || handle.apply(file.sites))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let waf = waf::serve(file.waf, sites.clone()).await.map_err(|e| e.to_string())?;
    println!("listening https={} http={:?}", waf.https_addr(), waf.http_addr());
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                waf.reopen_audit().await;
                let (path, sites) = (path.clone(), sites.clone());
                let applied = tokio::task::spawn_blocking(move || {
                    read(&path).and_then(|f| sites.apply(f.sites).map(drop).map_err(|e| e.to_string()))
                })
                .await;
                match applied {
                    Ok(Ok(())) => eprintln!("sites reloaded"),
                    Ok(Err(why)) => eprintln!("reload refused, the running sites stay: {why}"),
                    Err(e) => eprintln!("reload failed: {e}"),
                }
            }
            _ = usr1.recv() => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}# END", waf.render_metrics());
                let _ = out.flush();
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    waf.shutdown().await;
    Ok(())
}
