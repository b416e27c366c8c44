//! The request desk as the binary runs it for the CLI, the API and the console: files
//! applications (fields checked against the records, the 30-day wait enforced per
//! resource, secrets sealed, the signed application verified where rules 15 and 15-2
//! ask for one), takes transitions (lapses first, then the effect in the registry, then
//! the record; technical conditions become a PDF attached to the application), and
//! e-mails every event to the applicant's contacts through `[notices]`: each message is
//! recorded with its event and sent from the outbox (`mailer`), retried until accepted.
//!
//! Must not: judge an application itself (the `desk` crate's rules do) or keep
//! records itself (the store does).

mod asker;
pub mod document;
mod effects;
pub mod import;
mod incident;
pub mod input;
mod mailer;
mod notify;
mod registry;
mod sign;
mod view;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use catalog::reconcile::mail::Mailer;
use desk::{Action, Applicant, Application, Kind, Problems};
use lettre::message::Mailbox;
use policies::calendar::{ASTANA_OFFSET, Date};
use store::{ApplicationRecord, Filed, NewAttachment, OutMail, Sealer, Store, StoreError};

pub use asker::Asker;
pub use incident::Evidence;
pub use mailer::DeskJobs;
pub use sign::signature_required;
pub use view::RequestView;

use super::calendar::{CalendarConfig, Following};
use super::reconcile::{NoticesConfig, claim_period, notices_mailer};

/// `[desk]` in the configuration file.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeskConfig {
    /// A PEM file of the certificates signed documents must chain to. With it, yearly
    /// lists and risky services (IQBSH rules 15 and 15-2) are filed only with the
    /// application signed by the applicant's own BIN. Without it a signed document is
    /// kept but its signature is not verified (and the desk says so).
    pub trust_anchors: Option<PathBuf>,
    /// The duty team's addresses, alerted at once when an incident is reported.
    pub duty_contacts: Vec<String>,
    /// The most applications one applicant has not yet decided at once; a filing
    /// beyond it is refused (an applicant cannot flood the desk and its e-mails).
    pub max_undecided_per_applicant: u32,
}

impl Default for DeskConfig {
    fn default() -> DeskConfig {
        DeskConfig { trust_anchors: None, duty_contacts: Vec::new(), max_undecided_per_applicant: 20 }
    }
}

impl DeskConfig {
    /// The trust anchors must read.
    pub fn validate(&self, problems: &mut super::problem::ConfigProblems) {
        if let Err(e) = anchors(self.trust_anchors.as_deref()) {
            problems.add("desk.trust_anchors", format!("{e:#}"));
        }
    }
}

/// Why the desk did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("the application has problems:\n{0}")]
    Invalid(Problems),
    #[error(
        "refused: the {kind} application {refused} for {resource} was refused on {on}; a new one for {resource} is \
         accepted from {from}"
    )]
    TooEarly { resource: String, kind: Kind, refused: i64, on: Date, from: Date },
    #[error(
        "refused: {applicant} has {undecided} applications not yet decided, the most it may have \
         ([desk] max_undecided_per_applicant); file again when one is answered"
    )]
    TooMany { applicant: Applicant, undecided: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Effect(String),
    #[error("the signed document is refused: {0}")]
    Signature(#[from] certs::signed::SignedError),
    #[error("the signed document is refused: {0}")]
    Signer(String),
}

/// What a sweep did: lapses recorded, reminders sent.
#[derive(Debug, Default, serde::Serialize)]
pub struct Swept {
    pub lapsed: Vec<i64>,
    pub reminded: Vec<i64>,
}

/// A new application as the CLI or the API hands it in.
pub struct Filing {
    pub kind: Kind,
    pub applicant: Applicant,
    pub contacts: Vec<String>,
    pub fields: serde_json::Value,
    /// The application signed with the organisation's digital signature (a CMS
    /// document, content attached): its name, content type and bytes.
    pub signed: Option<(String, String, Vec<u8>)>,
}

/// The desk: the store, the calendar in force (following its file: an edit moves the
/// due days of open applications), the mailer and the key for secrets.
pub struct Desk {
    pub store: Store,
    calendar: Following,
    mailer: Arc<dyn Mailer>,
    from: Mailbox,
    /// Backoff of the outbox's retries, and how long a sender holds a message.
    retry_base: std::time::Duration,
    claim: std::time::Duration,
    /// Woken when a message is recorded, so the outbox sends it at once.
    pub outbox: tokio::sync::Notify,
    key_file: PathBuf,
    /// Days before an applied policy lapses that its applicant is reminded.
    remind_days: u32,
    /// The certificates (DER) signed documents must chain to; none: not verified.
    anchors: Vec<Vec<u8>>,
    /// Who is alerted of an incident at once.
    duty_contacts: Vec<String>,
    /// The most undecided applications of one applicant.
    max_undecided: i64,
}

/// The trust anchors in a PEM file, as DER.
fn anchors(path: Option<&std::path::Path>) -> anyhow::Result<Vec<Vec<u8>>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let Some(path) = path else { return Ok(Vec::new()) };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<_, _>>())
        .with_context(|| format!("[desk] trust_anchors: cannot read certificates from {}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "[desk] trust_anchors: no certificate in {}", path.display());
    Ok(certs.into_iter().map(|c| c.as_ref().to_vec()).collect())
}

/// The technical conditions an action issues or extends, as the PDF attached to the
/// application and its e-mail; `trial` is the application after the action.
fn conditions_document(id: i64, trial: &Application, action: &Action) -> Result<Option<NewAttachment>, DeskError> {
    let (Action::Conditions { .. } | Action::Extend, Some(conditions)) = (action, &trial.conditions) else {
        return Ok(None);
    };
    let operator = trial.applicant.to_string();
    let operator = operator.strip_prefix("operator:").unwrap_or(&operator);
    let subject =
        document::Subject { request: id, received: trial.received, operator, fields: &trial.fields, conditions };
    let content = document::render(&subject).map_err(DeskError::Effect)?;
    Ok(Some(NewAttachment {
        name: document::file_name(conditions),
        content_type: "application/pdf".into(),
        content,
        signer: None,
    }))
}

/// Today in Kazakhstan for the instant `ms`.
pub fn day_of(ms: i64) -> Date {
    Date::from_unix(ms.div_euclid(1000), ASTANA_OFFSET)
}

impl Desk {
    /// The desk as configured: calendar, `[notices]` mailer, key file in the data dir,
    /// reminders `remind_days` before a policy lapses.
    pub fn open(
        config: &DeskConfig,
        (notices, calendar): (&NoticesConfig, &CalendarConfig),
        data_dir: &std::path::Path,
        remind_days: u32,
        store: Store,
    ) -> anyhow::Result<Desk> {
        let (mailer, from) = notices_mailer(notices)?;
        Ok(Desk {
            store,
            calendar: Following::open(calendar)?,
            mailer: Arc::new(mailer),
            from,
            retry_base: notices.retry_base.max(std::time::Duration::from_secs(1)),
            claim: claim_period(notices),
            outbox: tokio::sync::Notify::new(),
            key_file: data_dir.join("desk.key"),
            remind_days,
            anchors: anchors(config.trust_anchors.as_deref())?,
            duty_contacts: config.duty_contacts.clone(),
            max_undecided: i64::from(config.max_undecided_per_applicant),
        })
    }

    /// Files an application received on `today`; its e-mails (and for an incident the
    /// duty team's alert) are recorded with it, and the signed application it came with.
    pub async fn file(&self, actor: &str, filing: Filing, today: Date) -> Result<ApplicationRecord, DeskError> {
        let records = registry::Records::load(&self.store).await?;
        let (kind, applicant) = (filing.kind, filing.applicant.clone());
        let mut application =
            Application::receive(filing.applicant, filing.contacts, (kind, &filing.fields), today, &records)
                .map_err(DeskError::Invalid)?;
        let document = self.signed_application(&application.applicant, kind, filing.signed)?;
        let mut sealed = BTreeMap::new();
        for (field, secret) in application.fields.take_secrets() {
            sealed.insert(field.to_string(), self.sealer()?.seal(&secret)?);
        }
        let compose = |record: &ApplicationRecord| {
            let view = self.view(record, today);
            let mut mails = vec![notify::compose(&view, "file", "file")];
            if kind == Kind::Incident {
                mails.extend(self.duty_alert(&view));
            }
            mails
        };
        let filed = self.store.file_application(actor, &application, (&sealed, document), &compose, self.max_undecided);
        match filed.await? {
            Filed::Recorded(record) => {
                self.outbox.notify_one();
                Ok(record)
            }
            Filed::TooEarly { refused, resource, from } => {
                let event = serde_json::json!({ "kind": kind, "resource": resource, "refused": refused.id,
                    "accepted_from": from });
                self.store.record(actor, "request.refused-early", &format!("applicant:{applicant}"), event).await?;
                Err(DeskError::TooEarly { resource, kind, refused: refused.id, on: refused.application.since, from })
            }
            Filed::TooMany { undecided } => {
                let event = serde_json::json!({ "kind": kind, "undecided": undecided });
                self.store.record(actor, "request.refused-too-many", &format!("applicant:{applicant}"), event).await?;
                Err(DeskError::TooMany { applicant, undecided })
            }
        }
    }

    /// Takes `action` on application `id` on `today`: a lapse that is due is recorded
    /// first; the effect in the registry happens before the transition is recorded.
    pub async fn act(
        &self,
        actor: &str,
        id: i64,
        action: &Action,
        today: Date,
    ) -> Result<ApplicationRecord, DeskError> {
        let current = self.lapse_if_due(id, today).await?;
        let mut trial = current.application.clone();
        trial.act(action, today).map_err(|r| StoreError::Conflict(format!("request {id}: {r}")))?;
        let document = conditions_document(id, &trial, action)?;
        effects::apply(&self.store, actor, &current, action).await?;
        if current.application.kind() == Kind::Waf {
            let sealer = self.sealer()?;
            let protect = super::waf::desk::apply((&self.store, &sealer, &self.key_file), actor, &current, action);
            protect.await.map_err(|e| DeskError::Effect(e.to_string()))?;
        }
        if current.application.kind() == Kind::Defacement {
            let sealer = self.sealer()?;
            let protect = super::deface::desk::apply((&self.store, &sealer), actor, &current, action);
            protect.await.map_err(|e| DeskError::Effect(e.to_string()))?;
        }
        let told = self.told(action.verb(), today);
        let acted = self.store.act_on_application(actor, (id, action, today), &told, document).await?;
        self.outbox.notify_one();
        Ok(acted.record)
    }

    /// Composes the applicant's e-mail of `verb` on `today`.
    fn told(&self, verb: &str, today: Date) -> impl Fn(&ApplicationRecord) -> Vec<OutMail> + Send + Sync + '_ {
        let verb = verb.to_string();
        move |record| vec![notify::compose(&self.view(record, today), &verb, &verb)]
    }

    /// Records the lapse of every application whose technical conditions expired, and
    /// reminds once the applicants whose applied policies lapse soon.
    pub async fn sweep(&self, today: Date) -> Result<Swept, DeskError> {
        let mut swept = Swept::default();
        for record in self.store.applications_with_conditions().await? {
            if record.application.lapse_due(today) {
                self.lapse_if_due(record.id, today).await?;
                swept.lapsed.push(record.id);
            }
        }
        for record in self.store.applications(&store::Visible::All).await? {
            if record.application.reminder_due(today, self.remind_days) && !self.reminded(&record).await? {
                let last = record.application.valid_through.unwrap_or(today);
                let note = format!("in force through {last}: apply again before then");
                let text = format!("reminder: {note}");
                let compose = |r: &ApplicationRecord| vec![notify::compose(&self.view(r, today), "remind", &text)];
                self.store.note_application("desk", record.id, ("remind", today, &note), &compose).await?;
                self.outbox.notify_one();
                swept.reminded.push(record.id);
            }
        }
        Ok(swept)
    }

    /// Whether the applicant was reminded since the application was applied.
    async fn reminded(&self, record: &ApplicationRecord) -> Result<bool, DeskError> {
        let timeline = self.store.timeline(record.id).await?;
        Ok(timeline.iter().any(|t| t.verb == "remind" && t.day >= record.application.since))
    }

    async fn lapse_if_due(&self, id: i64, today: Date) -> Result<ApplicationRecord, DeskError> {
        let record = self.store.application(id).await?;
        if !record.application.lapse_due(today) {
            return Ok(record);
        }
        let told = self.told("lapse", today);
        let acted = self.store.act_on_application("desk", (id, &Action::Lapse, today), &told, None).await?;
        self.outbox.notify_one();
        Ok(acted.record)
    }

    /// Attaches a file to application `id`; a signed document (CMS) is verified against
    /// the trust anchors, and its signer's subject and BIN recorded (for an
    /// organisation's application, the BIN must be the organisation's). A detached
    /// signature is verified over the application's attachment of the digest it signs
    /// (over each, newest first, when it names none) and recorded with the one it
    /// signs; one that signs none of them is refused.
    pub async fn attach(
        &self,
        actor: &str,
        id: i64,
        file: (&str, &str, &[u8]),
    ) -> Result<store::AttachmentInfo, DeskError> {
        let (_, content_type, content) = file;
        let signed = content_type.starts_with("application/pkcs7");
        let signer = match signed && !self.anchors.is_empty() {
            true => {
                let verified = self.verify(id, content).await?;
                let applicant = self.store.application(id).await?.application.applicant;
                sign::same_bin(&applicant, verified.bin.as_deref())?;
                Some(verified)
            }
            false => None,
        };
        Ok(self.store.attach(actor, id, file, signer).await?)
    }

    /// Whether signed documents are verified (`[desk] trust_anchors` is set).
    pub fn verifies_signatures(&self) -> bool {
        !self.anchors.is_empty()
    }

    /// The last day of the `working_days` after `today` (the horizon of "due soon").
    pub fn horizon(&self, today: Date, working_days: u32) -> Date {
        self.calendar.current().add_working_days(today, working_days)
    }

    /// How a record looks to people on `today`.
    pub fn view(&self, record: &ApplicationRecord, today: Date) -> RequestView {
        RequestView::of(record, &self.calendar.current(), today)
    }

    /// The file of the key secrets are sealed with (the WAF seals its sites' keys with it too).
    pub fn key_file(&self) -> &std::path::Path {
        &self.key_file
    }

    /// The key for secrets, in the data directory (made private if it is new: with
    /// PostgreSQL nothing else may have created it).
    pub fn sealer(&self) -> Result<Sealer, DeskError> {
        if let Some(dir) = self.key_file.parent() {
            super::store::private_dir(dir).map_err(|e| DeskError::Effect(format!("{e:#}")))?;
        }
        Ok(Sealer::open_or_create(&self.key_file)?)
    }

    /// The duty team's alert of a reported incident (IQBSH 14: at once); nobody to
    /// alert is logged.
    fn duty_alert(&self, view: &RequestView) -> Option<OutMail> {
        if self.duty_contacts.is_empty() {
            tracing::warn!(
                request = view.id,
                "an incident was reported and [desk] duty_contacts names nobody to alert"
            );
            return None;
        }
        Some(notify::compose_to(view, "incident", "incident reported", &self.duty_contacts))
    }
}
