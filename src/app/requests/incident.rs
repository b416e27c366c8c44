//! An incident a service of the gateway found itself (a defaced site), filed at the desk
//! for the organisation it concerns with one e-mail of its own: the whole evidence, to
//! the resource's technical contacts and the duty team at once.
//!
//! Must not: judge what is an incident (the service that found it does).

use desk::{Application, Kind};
use policies::calendar::Date;
use store::{ApplicationRecord, Filed, OutMail};

use super::{Desk, DeskError, Filing};

/// The e-mail of a found incident.
pub struct Evidence {
    pub subject: String,
    pub body: String,
}

impl Desk {
    /// The duty team's addresses (`[desk] duty_contacts`).
    pub fn duty_contacts(&self) -> &[String] {
        &self.duty_contacts
    }

    /// Files `filing` (an incident) received on `today`, with one e-mail carrying
    /// `evidence` to its contacts and the duty team (each named once).
    pub async fn report_incident(
        &self,
        actor: &str,
        filing: Filing,
        today: Date,
        evidence: Evidence,
    ) -> Result<ApplicationRecord, DeskError> {
        debug_assert_eq!(filing.kind, Kind::Incident);
        let records = super::registry::Records::load(&self.store).await?;
        let mut recipients = filing.contacts.clone();
        recipients.extend(self.duty_contacts.iter().filter(|d| !filing.contacts.contains(d)).cloned());
        let received = (filing.kind, &filing.fields);
        let application = Application::receive(filing.applicant, filing.contacts, received, today, &records)
            .map_err(DeskError::Invalid)?;
        let compose = |record: &ApplicationRecord| {
            let view = self.view(record, today);
            vec![OutMail {
                event: "incident".into(),
                recipients: recipients.clone(),
                subject: format!("[perimeter] request {} (incident): {}", view.id, evidence.subject),
                body: format!("{}\n\nFiled at the desk as request {}.\n", evidence.body, view.id),
                attachments: Vec::new(),
            }]
        };
        match self
            .store
            .file_application(actor, &application, (&Default::default(), None), &compose, self.max_undecided)
            .await?
        {
            Filed::Recorded(record) => {
                self.outbox.notify_one();
                Ok(record)
            }
            Filed::TooEarly { .. } => Err(DeskError::Effect("an incident is never refused".into())),
            Filed::TooMany { undecided } => Err(DeskError::TooMany { applicant: application.applicant, undecided }),
        }
    }
}
