//! The request desk's records: applications (the desk's record as JSON beside the
//! columns lists read: kind, applicant, state), the timeline of their transitions, the
//! attachments, their secrets sealed (`seal`) and the e-mails they cause (`outbox`).
//! Every filing, transition and attachment is audited under the subject `request:N`,
//! and its e-mails recorded, in the same transaction; the 30-day wait after a refusal
//! (per resource: a site's domain, a mail domain) is checked inside the filing's
//! transaction, so two filings at once cannot both pass.
//!
//! Must not: decide whether an action is allowed or when a step is due: the `desk`
//! rules do, here inside the transaction that records the result.

mod import;
mod outbox;
mod seal;

use std::collections::BTreeMap;

use desk::{Action, Applicant, Application, Kind, State};
use policies::Bin;
use policies::calendar::Date;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

pub use attachments::NewAttachment;
pub use outbox::{MailInfo, OutMail, PendingMail};
pub use seal::Sealer;

use crate::{Result, Store, StoreError, audit, now_ms, write_lock};

/// An application as the store keeps it.
#[derive(Clone, Debug, Serialize)]
pub struct ApplicationRecord {
    pub id: i64,
    #[serde(flatten)]
    pub application: Application,
    /// The fields whose secrets are kept sealed with it (never shown).
    pub sealed: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One transition on an application's timeline.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineEntry {
    pub at: i64,
    pub day: Date,
    pub actor: String,
    pub verb: String,
    pub from: Option<State>,
    pub to: State,
    pub note: Option<String>,
}

/// What is kept of an attachment.
#[derive(Clone, Debug, Serialize)]
pub struct AttachmentInfo {
    pub id: i64,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// A signed document's verified signer (certificate subject) and the BIN it names.
    pub signer: Option<String>,
    pub signer_bin: Option<String>,
    /// A detached signature: the attachment it was verified over.
    pub signs: Option<i64>,
    pub added_at: i64,
}

/// Which applications a caller sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visible {
    /// Every application (the duty team, auditors).
    All,
    /// The operator's own and those of the organisations it connects.
    Operator(String),
    /// The organisation's own.
    Organisation(Bin),
}

/// The result of a filing: recorded, or refused because a resource it names was refused
/// less than 30 days ago.
#[derive(Clone, Debug)]
pub enum Filed {
    Recorded(ApplicationRecord),
    TooEarly {
        refused: ApplicationRecord,
        resource: String,
        from: Date,
    },
    /// The applicant already has `undecided` applications not yet decided, the most it may.
    TooMany {
        undecided: i64,
    },
}

/// Composes the e-mails an event causes, from the record as it is after the event.
pub type Compose<'a> = &'a (dyn Fn(&ApplicationRecord) -> Vec<OutMail> + Send + Sync);

/// A signed document's verified signer, and for a detached signature the attachment
/// it signs.
#[derive(Clone, Debug, Default)]
pub struct Verified {
    pub subject: String,
    pub bin: Option<String>,
    pub signs: Option<i64>,
}

/// The result of a transition.
#[derive(Clone, Debug)]
pub struct Acted {
    pub record: ApplicationRecord,
    pub from: State,
}

const SELECT: &str = "SELECT id, kind, record_json, sealed_secrets, created_at, updated_at FROM applications";

fn subject(id: i64) -> String {
    format!("request:{id}")
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<ApplicationRecord> {
    let id: i64 = row.try_get("id")?;
    let text: String = row.try_get("record_json")?;
    let application: Application = serde_json::from_str(&text)
        .map_err(|e| StoreError::Invalid(format!("stored application {id} cannot be read: {e}")))?;
    let sealed: Option<String> = row.try_get("sealed_secrets")?;
    let sealed = sealed_map(id, sealed.as_deref())?.into_keys().collect();
    Ok(ApplicationRecord {
        id,
        application,
        sealed,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn fetch(conn: &mut sqlx::AnyConnection, id: i64) -> Result<ApplicationRecord> {
    let row = sqlx::query(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_optional(&mut *conn).await?;
    let row = row.ok_or_else(|| StoreError::NotFound { what: "application", name: id.to_string() })?;
    from_row(&row)
}

fn sealed_map(id: i64, text: Option<&str>) -> Result<BTreeMap<String, String>> {
    let Some(text) = text else { return Ok(BTreeMap::new()) };
    serde_json::from_str(text).map_err(|e| StoreError::Invalid(format!("sealed secrets of application {id}: {e}")))
}

fn record_json(app: &Application) -> Result<String> {
    serde_json::to_string(app).map_err(|e| StoreError::Invalid(format!("application not serialisable: {e}")))
}

struct Step<'a> {
    id: i64,
    day: Date,
    actor: &'a str,
    verb: &'a str,
    from: Option<State>,
    to: State,
    note: Option<String>,
}

async fn add_step(conn: &mut sqlx::AnyConnection, s: Step<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO application_steps (application_id, at, day, actor, verb, from_state, to_state, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(s.id)
    .bind(now_ms())
    .bind(s.day.to_string())
    .bind(s.actor)
    .bind(s.verb)
    .bind(s.from.map(|f| f.as_str().to_string()))
    .bind(s.to.as_str())
    .bind(s.note)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts an application as it is, with the resources it names; returns its number.
async fn insert(
    conn: &mut sqlx::AnyConnection,
    application: &Application,
    sealed: &BTreeMap<String, String>,
    now: i64,
) -> Result<i64> {
    let sealed = (!sealed.is_empty()).then(|| serde_json::to_string(sealed).unwrap_or_default());
    let row = sqlx::query(
        "INSERT INTO applications (kind, applicant, state, received, record_json, sealed_secrets, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(application.kind().as_str())
    .bind(application.applicant.to_string())
    .bind(application.state.as_str())
    .bind(application.received.to_string())
    .bind(record_json(application)?)
    .bind(sealed)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = row.try_get("id")?;
    for resource in application.fields.resources() {
        sqlx::query("INSERT INTO application_resources (application_id, kind, resource) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(application.kind().as_str())
            .bind(resource)
            .execute(&mut *conn)
            .await?;
    }
    Ok(id)
}

/// How many of the applicant's applications are not yet decided.
async fn undecided(conn: &mut sqlx::AnyConnection, applicant: &Applicant) -> Result<i64> {
    let states: Vec<String> = State::UNDECIDED.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM applications WHERE applicant = $1 AND state IN ({})",
        states.join(", ")
    );
    let row = sqlx::query(&sql).bind(applicant.to_string()).fetch_one(&mut *conn).await?;
    Ok(row.try_get("n")?)
}

/// The latest refusal of a `kind` application naming one of `resources`, with the
/// resource it names (IQBSH rules 17 and 18, EPBSH rule 10: the wait is per resource,
/// whoever applied).
async fn last_refusal(
    conn: &mut sqlx::AnyConnection,
    kind: Kind,
    resources: &[String],
) -> Result<Option<(ApplicationRecord, String)>> {
    let mut latest: Option<(ApplicationRecord, String)> = None;
    for resource in resources {
        let rows = sqlx::query(&format!(
            "{SELECT} WHERE kind = $1 AND state = 'refused' AND id IN \
             (SELECT application_id FROM application_resources WHERE kind = $1 AND resource = $2)"
        ))
        .bind(kind.as_str())
        .bind(resource)
        .fetch_all(&mut *conn)
        .await?;
        for row in &rows {
            let record = from_row(row)?;
            if latest.as_ref().is_none_or(|(l, _)| l.application.since < record.application.since) {
                latest = Some((record, resource.clone()));
            }
        }
    }
    Ok(latest)
}

impl Store {
    /// Records a new application (its secrets already sealed, by field) with the
    /// e-mails `compose` makes of it and the signed document it came with, unless a
    /// resource it names was refused less than 30 days ago (for the kinds where the
    /// regulation says so) or the applicant already has `undecided_limit` applications
    /// not yet decided. The applicant must be a registered operator or organisation.
    pub async fn file_application(
        &self,
        actor: &str,
        application: &Application,
        (sealed, document): (&BTreeMap<String, String>, Option<NewAttachment>),
        compose: Compose<'_>,
        undecided_limit: i64,
    ) -> Result<Filed> {
        match &application.applicant {
            Applicant::Operator(name) => self.operator(name).await.map(|_| ())?,
            Applicant::Organisation(bin) => self.organisation(bin).await.map(|_| ())?,
        }
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        if application.kind().waits_after_refusal()
            && let Some((refused, resource)) =
                last_refusal(&mut tx, application.kind(), &application.fields.resources()).await?
        {
            let from = refused.application.resubmit_from().unwrap_or(application.received);
            if application.received < from {
                return Ok(Filed::TooEarly { refused, resource, from });
            }
        }
        let undecided = undecided(&mut tx, &application.applicant).await?;
        if undecided >= undecided_limit {
            return Ok(Filed::TooMany { undecided });
        }
        let now = now_ms();
        let id = insert(&mut tx, application, sealed, now).await?;
        let (day, to) = (application.received, application.state);
        add_step(&mut tx, Step { id, day, actor, verb: "file", from: None, to, note: None }).await?;
        if let Some(d) = document {
            attachments::insert(&mut tx, actor, id, (&d.name, &d.content_type, &d.content), d.signer).await?;
        }
        let record = fetch(&mut tx, id).await?;
        outbox::enqueue(&mut tx, id, &compose(&record), now).await?;
        audit(&mut tx, actor, "request.file", &subject(id), None, Some(json!(record))).await?;
        tx.commit().await?;
        Ok(Filed::Recorded(record))
    }

    /// Takes `action` on application `id` on `today` under the desk's rules, with the
    /// e-mails `compose` makes of the result, each carrying `document` (the technical
    /// conditions), which is attached to the application in the same transaction; a
    /// refused action is a conflict that says why.
    pub async fn act_on_application(
        &self,
        actor: &str,
        (id, action, today): (i64, &Action, Date),
        compose: Compose<'_>,
        document: Option<NewAttachment>,
    ) -> Result<Acted> {
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let before = fetch(&mut tx, id).await?;
        let mut application = before.application.clone();
        let from = application.act(action, today).map_err(|r| StoreError::Conflict(format!("request {id}: {r}")))?;
        sqlx::query("UPDATE applications SET state = $1, record_json = $2, updated_at = $3 WHERE id = $4")
            .bind(application.state.as_str())
            .bind(record_json(&application)?)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let (verb, to, note) = (action.verb(), application.state, action.note());
        add_step(&mut tx, Step { id, day: today, actor, verb, from: Some(from), to, note }).await?;
        let mut attached = Vec::new();
        if let Some(d) = document {
            let file = (d.name.as_str(), d.content_type.as_str(), d.content.as_slice());
            attached.push(attachments::insert(&mut tx, actor, id, file, d.signer).await?.id);
        }
        let record = fetch(&mut tx, id).await?;
        let mut mails = compose(&record);
        mails.iter_mut().for_each(|m| m.attachments.extend(&attached));
        outbox::enqueue(&mut tx, id, &mails, now_ms()).await?;
        let action_name = format!("request.{verb}");
        audit(&mut tx, actor, &action_name, &subject(id), Some(json!(before)), Some(json!(record))).await?;
        tx.commit().await?;
        Ok(Acted { record, from })
    }

    /// Records an event on an application's timeline that changes nothing (a reminder),
    /// with the e-mails `compose` makes of it, audited.
    pub async fn note_application(
        &self,
        actor: &str,
        id: i64,
        (verb, day, note): (&str, Date, &str),
        compose: Compose<'_>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let record = fetch(&mut tx, id).await?;
        let state = record.application.state;
        let note = Some(note.to_string());
        add_step(&mut tx, Step { id, day, actor, verb, from: Some(state), to: state, note: note.clone() }).await?;
        outbox::enqueue(&mut tx, id, &compose(&record), now_ms()).await?;
        audit(&mut tx, actor, &format!("request.{verb}"), &subject(id), None, Some(json!({ "note": note }))).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The applications `visible` covers, newest first.
    pub async fn applications(&self, visible: &Visible) -> Result<Vec<ApplicationRecord>> {
        let (filter, first, second) = match visible {
            Visible::All => ("", String::new(), String::new()),
            Visible::Organisation(bin) => {
                ("WHERE applicant = $1", Applicant::Organisation(bin.clone()).to_string(), String::new())
            }
            Visible::Operator(name) => (
                "WHERE applicant = $1 OR applicant IN (SELECT 'org:' || g.bin FROM organisations g \
                 JOIN connections c ON c.organisation_id = g.id JOIN operators o ON o.id = c.operator_id \
                 WHERE o.name = $2)",
                Applicant::Operator(name.clone()).to_string(),
                name.clone(),
            ),
        };
        let sql = format!("{SELECT} {filter} ORDER BY id DESC");
        let mut query = sqlx::query(&sql);
        if !first.is_empty() {
            query = query.bind(first);
        }
        if !second.is_empty() {
            query = query.bind(second);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// Whether `visible` covers `applicant`'s applications.
    pub async fn sees_applicant(&self, visible: &Visible, applicant: &Applicant) -> Result<bool> {
        Ok(match (visible, applicant) {
            (Visible::All, _) => true,
            (Visible::Organisation(own), Applicant::Organisation(bin)) => own == bin,
            (Visible::Operator(own), Applicant::Operator(name)) => own == name,
            (Visible::Operator(own), Applicant::Organisation(bin)) => sqlx::query(
                "SELECT 1 AS one FROM connections c JOIN organisations g ON g.id = c.organisation_id \
                 JOIN operators o ON o.id = c.operator_id WHERE g.bin = $1 AND o.name = $2",
            )
            .bind(bin.as_str())
            .bind(own.as_str())
            .fetch_optional(&self.pool)
            .await?
            .is_some(),
            (Visible::Organisation(_), Applicant::Operator(_)) => false,
        })
    }

    pub async fn application(&self, id: i64) -> Result<ApplicationRecord> {
        let mut conn = self.pool.acquire().await?;
        fetch(&mut conn, id).await
    }

    /// Applications whose technical conditions are running (candidates for a lapse).
    pub async fn applications_with_conditions(&self) -> Result<Vec<ApplicationRecord>> {
        let rows = sqlx::query(&format!(
            "{SELECT} WHERE kind = 'operator-link' AND state IN ('conditions', 'checking', 'non-conformities')"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The transitions of application `id`, oldest first.
    pub async fn timeline(&self, id: i64) -> Result<Vec<TimelineEntry>> {
        let rows = sqlx::query(
            "SELECT at, day, actor, verb, from_state, to_state, note FROM application_steps \
             WHERE application_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(step_from_row).collect()
    }

    /// The sealed secrets of application `id` by field, for the service that uses them.
    pub async fn sealed_secrets(&self, id: i64) -> Result<BTreeMap<String, String>> {
        let row = sqlx::query("SELECT sealed_secrets FROM applications WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "application", name: id.to_string() })?;
        sealed_map(id, row.try_get::<Option<String>, _>("sealed_secrets")?.as_deref())
    }
}

fn state_of(text: &str) -> Result<State> {
    State::parse(text).ok_or_else(|| StoreError::Invalid(format!("stored state '{text}' is unknown")))
}

fn step_from_row(row: &sqlx::any::AnyRow) -> Result<TimelineEntry> {
    let day: String = row.try_get("day")?;
    let from: Option<String> = row.try_get("from_state")?;
    Ok(TimelineEntry {
        at: row.try_get("at")?,
        day: day.parse().map_err(StoreError::Invalid)?,
        actor: row.try_get("actor")?,
        verb: row.try_get("verb")?,
        from: from.as_deref().map(state_of).transpose()?,
        to: state_of(&row.try_get::<String, _>("to_state")?)?,
        note: row.try_get("note")?,
    })
}

mod attachments;
