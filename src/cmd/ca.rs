//! Root CA commands: create, show, export for operators, rotate (and tell every
//! operator about the new root by e-mail, with the certificate attached).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use certs::{CaStore, ExportFormat};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use serde_json::json;
use time::OffsetDateTime;

use super::{cli_actor, open_store};
use crate::cli::CaCmd;
use crate::config::Config;
use crate::output::json;
use catalog::reconcile::mail::{Mailer, SmtpMailer};

fn ca_dir(config: &Config) -> PathBuf {
    config.data_dir.join("ca")
}

/// Loads the root CA, creating it on first use; what `perimeter up` does.
pub fn ensure(config: &Config) -> anyhow::Result<CaStore> {
    let dir = ca_dir(config);
    let now = OffsetDateTime::now_utc();
    if dir.join("state.json").exists() {
        return CaStore::load(&dir, now).with_context(|| format!("cannot load the root CA from {}", dir.display()));
    }
    let store = CaStore::init(&dir, &config.ca.to_certs(), now)
        .with_context(|| format!("cannot create the root CA in {}", dir.display()))?;
    tracing::info!(fingerprint = %store.current().fingerprint(), dir = %dir.display(), "root CA created");
    Ok(store)
}

pub async fn run(config: &Config, cmd: CaCmd) -> anyhow::Result<ExitCode> {
    let dir = ca_dir(config);
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
    let mut ca = CaStore::load(&ca_dir(config), now)?;
    let rotation = ca.rotate(&config.ca.to_certs(), now)?;
    println!(
        "new root {}\nold root {} stays trusted until {}",
        rotation.new_fingerprint,
        rotation.old_fingerprint,
        kz(rotation.overlap_end)
    );
    let store = open_store(config).await?;
    let mailer = SmtpMailer::new(&config.notices.smtp_url, config.notices.send_timeout).map_err(anyhow::Error::msg)?;
    let from: Mailbox =
        config.notices.from.parse().with_context(|| format!("[notices] from: '{}'", config.notices.from))?;
    let mut failed = 0;
    let mut told = Vec::new();
    for op in store.operators().await? {
        if op.contacts.is_empty() {
            eprintln!("operator '{}' has no contact address: tell it by other means", op.name);
            failed += 1;
            continue;
        }
        let sent = match rotation_mail(&from, &op.contacts, &rotation) {
            Ok(message) => mailer.send(message).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => told.push(op.name),
            Err(e) => {
                eprintln!("operator '{}' not notified: {e}", op.name);
                failed += 1;
            }
        }
    }
    let event = json!({"new": rotation.new_fingerprint.to_string(), "old": rotation.old_fingerprint.to_string(),
        "overlap_end": kz(rotation.overlap_end), "notified": told});
    store.record(&cli_actor(), "ca.rotate", "ca", event).await?;
    println!("notified {} operator(s); {failed} not notified", told.len());
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

fn rotation_mail(from: &Mailbox, to: &[String], r: &certs::Rotation) -> Result<Message, String> {
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(format!("[perimeter] new gateway root certificate {}", short(&r.new_fingerprint.to_string())));
    for addr in to {
        builder = builder.to(addr.parse().map_err(|e| format!("contact '{addr}': {e}"))?);
    }
    let text = format!(
        "The Internet access gateway has a new root certificate. Pass it to your users so they install it \
         on their workstations.\n\nSHA-256 fingerprint of the new root:\n  {}\n\nThe previous root ({}) stays \
         trusted until {}; after that only the new one works.\n\nThe certificate is attached (PEM).\n",
        r.new_fingerprint,
        r.old_fingerprint,
        kz(r.overlap_end)
    );
    let pem = ContentType::parse("application/x-pem-file").map_err(|e| e.to_string())?;
    let body = MultiPart::mixed().singlepart(SinglePart::plain(text)).singlepart(
        Attachment::new(format!("perimeter-root-{}.pem", short(&r.new_fingerprint.to_string()).replace(':', "")))
            .body(r.new_cert_pem.clone(), pem),
    );
    builder.multipart(body).map_err(|e| e.to_string())
}

/// An instant as RFC 3339 in Kazakhstan time.
fn kz(t: OffsetDateTime) -> String {
    catalog::reconcile::rfc3339_kz((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn short(fingerprint: &str) -> &str {
    fingerprint.get(..23).unwrap_or(fingerprint)
}
