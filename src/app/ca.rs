//! The gateway root CA as the binary keeps it (`DATA_DIR/ca`, key file mode 0600): the
//! `[ca]` section, the root loaded (or created on first start) for `up`, and a rotation
//! that e-mails every operator the new root (with the certificate attached), used by
//! `perimeter ca rotate` and the console.
//!
//! Must not: log, serve or mail the private key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use certs::CaStore;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use policies::duration;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::reconcile::NoticesConfig;
use catalog::reconcile::mail::{Mailer, SmtpMailer};

/// The gateway root CA (kept in `DATA_DIR/ca`, key file mode 0600).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CaSettings {
    pub organisation: String,
    /// Up to 44 characters; a date and key id are appended.
    pub common_name: String,
    /// `ecdsa-p256` or `rsa-3072`.
    pub key: CaKey,
    /// How long a new root is valid, e.g. `"3653d"`.
    #[serde(with = "duration::one")]
    pub validity: Duration,
    /// How long a replaced root stays trusted after a rotation.
    #[serde(with = "duration::one")]
    pub overlap: Duration,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CaKey {
    EcdsaP256,
    Rsa3072,
}

impl Default for CaSettings {
    fn default() -> CaSettings {
        CaSettings {
            organisation: "Perimeter".into(),
            common_name: "Perimeter Gateway Root CA".into(),
            key: CaKey::EcdsaP256,
            validity: Duration::from_secs(3653 * 86_400),
            overlap: Duration::from_secs(30 * 86_400),
        }
    }
}

impl CaSettings {
    /// The certs crate's view of these settings.
    pub fn to_certs(&self) -> certs::CaConfig {
        certs::CaConfig {
            organisation: self.organisation.clone(),
            common_name: self.common_name.clone(),
            key_algorithm: match self.key {
                CaKey::EcdsaP256 => certs::KeyAlgorithm::EcdsaP256,
                CaKey::Rsa3072 => certs::KeyAlgorithm::Rsa3072,
            },
            validity: time::Duration::try_from(self.validity).unwrap_or(time::Duration::MAX),
            overlap: time::Duration::try_from(self.overlap).unwrap_or(time::Duration::MAX),
        }
    }
}

/// Where the root CA lives under the data directory.
pub fn ca_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("ca")
}

/// Loads the root CA, creating it on first use; what `perimeter up` does.
pub fn ensure(data_dir: &Path, config: &CaSettings) -> anyhow::Result<CaStore> {
    let dir = ca_dir(data_dir);
    let now = OffsetDateTime::now_utc();
    if dir.join("state.json").exists() {
        return CaStore::load(&dir, now).with_context(|| format!("cannot load the root CA from {}", dir.display()));
    }
    let store = CaStore::init(&dir, &config.to_certs(), now)
        .with_context(|| format!("cannot create the root CA in {}", dir.display()))?;
    tracing::info!(fingerprint = %store.current().fingerprint(), dir = %dir.display(), "root CA created");
    Ok(store)
}

/// What a rotation did: the roots, and who was told.
pub struct RotationReport {
    pub new_fingerprint: String,
    pub old_fingerprint: String,
    /// When the old root stops being trusted (RFC 3339, Kazakhstan time).
    pub overlap_end: String,
    pub notified: Vec<String>,
    /// Operators not told, each with the reason.
    pub problems: Vec<String>,
}

/// Makes a new root (the old one stays trusted for `[ca] overlap`), e-mails every
/// operator with a contact the new certificate, and audits it as `actor`. Used by
/// `perimeter ca rotate` and the console.
pub async fn rotate_and_tell(
    (data_dir, config, notices): (&Path, &CaSettings, &NoticesConfig),
    store: &store::Store,
    actor: &str,
    now: OffsetDateTime,
) -> anyhow::Result<RotationReport> {
    let mut ca = CaStore::load(&ca_dir(data_dir), now)?;
    let rotation = ca.rotate(&config.to_certs(), now)?;
    let mailer = SmtpMailer::new(&notices.smtp_url, notices.send_timeout).map_err(anyhow::Error::msg)?;
    let from: Mailbox = notices.from.parse().with_context(|| format!("[notices] from: '{}'", notices.from))?;
    let (mut notified, mut problems) = (Vec::new(), Vec::new());
    for op in store.operators().await? {
        if op.contacts.is_empty() {
            problems.push(format!("operator '{}' has no contact address: tell it by other means", op.name));
            continue;
        }
        let sent = match rotation_mail(&from, &op.contacts, &rotation) {
            Ok(message) => mailer.send(message).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => notified.push(op.name),
            Err(e) => problems.push(format!("operator '{}' not notified: {e}", op.name)),
        }
    }
    let event = json!({"new": rotation.new_fingerprint.to_string(), "old": rotation.old_fingerprint.to_string(),
        "overlap_end": kz(rotation.overlap_end), "notified": notified});
    store.record(actor, "ca.rotate", "ca", event).await?;
    Ok(RotationReport {
        new_fingerprint: rotation.new_fingerprint.to_string(),
        old_fingerprint: rotation.old_fingerprint.to_string(),
        overlap_end: kz(rotation.overlap_end),
        notified,
        problems,
    })
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
