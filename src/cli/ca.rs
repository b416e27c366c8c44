//! `perimeter ca init | show | export | rotate`: the gateway root CA: create, show,
//! export for operators, rotate (and tell every operator about the new root).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use certs::{CaStore, ExportFormat};
use clap::Subcommand;
use serde_json::json;
use time::OffsetDateTime;

use super::actor::cli_actor;
use super::json::{JsonFlag, json};
use crate::app::ca::rotate_and_tell;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum CaCmd {
    /// Create the root CA (ECDSA P-256 unless `[ca] key = "rsa-3072"`).
    Init,
    /// Show the current root (and the previous one during an overlap).
    Show(JsonFlag),
    /// Write the root certificate (never the key) for operators: PEM, or DER with --der.
    Export {
        #[arg(long)]
        der: bool,
        /// Also include the previous root while it is still trusted (PEM only).
        #[arg(long, conflicts_with = "der")]
        bundle: bool,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Make a new root; the old one stays trusted for `[ca] overlap`. Every operator
    /// with a contact address is e-mailed the new certificate and its fingerprint.
    Rotate,
}

pub async fn run(config: &Config, cmd: CaCmd) -> anyhow::Result<ExitCode> {
    let dir = crate::app::ca::ca_dir(&config.data_dir);
    let now = OffsetDateTime::now_utc();
    match cmd {
        CaCmd::Init => {
            let store = CaStore::init(&dir, &config.ca.to_certs(), now)?;
            let root = store.current();
            println!(
                "root CA created in {}\nfingerprint (SHA-256) {}\nvalid until {}",
                dir.display(),
                root.fingerprint(),
                root.not_after()
            );
            println!("give operators the certificate from `perimeter ca export`; the key stays in {}", dir.display());
        }
        CaCmd::Show(flag) => {
            let store = CaStore::load(&dir, now)?;
            let root = store.current();
            let previous = store.previous().map(|p| json!({"fingerprint": p.root().fingerprint().to_string(), "trusted_until": p.overlap_end().to_string()}));
            let info = json!({"fingerprint": root.fingerprint().to_string(), "not_before": root.not_before().to_string(),
                "not_after": root.not_after().to_string(), "previous": previous});
            if flag.json {
                json(&info)?;
            } else {
                println!("current root  {}\n  valid {} .. {}", root.fingerprint(), root.not_before(), root.not_after());
                if let Some(p) = store.previous() {
                    println!("previous root {}\n  trusted until {}", p.root().fingerprint(), p.overlap_end());
                }
            }
        }
        CaCmd::Export { der, bundle, output } => {
            let store = CaStore::load(&dir, now)?;
            let bytes = match (der, bundle) {
                (true, _) => store.export_current(ExportFormat::Der),
                (false, true) => store.bundle_pem(now).into_bytes(),
                (false, false) => store.export_current(ExportFormat::Pem),
            };
            match output {
                Some(path) => {
                    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?
                }
                None => std::io::Write::write_all(&mut std::io::stdout(), &bytes)?,
            }
        }
        CaCmd::Rotate => return rotate(config, now).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn rotate(config: &Config, now: OffsetDateTime) -> anyhow::Result<ExitCode> {
    let ca = (config.data_dir.as_path(), &config.ca, &config.notices);
    let report = rotate_and_tell(ca, &config.open_store().await?, &cli_actor(), now).await?;
    println!(
        "new root {}\nold root {} stays trusted until {}",
        report.new_fingerprint, report.old_fingerprint, report.overlap_end
    );
    for problem in &report.problems {
        eprintln!("{problem}");
    }
    println!("notified {} operator(s); {} not notified", report.notified.len(), report.problems.len());
    Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
