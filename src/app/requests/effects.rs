//! What a transition changes outside the desk: a connected mail-system application
//! becomes a mail system in the registry (the relay then accepts its mail), and its
//! disconnection disconnects that system, now or at the agreed time. Run before the transition is recorded, so a
//! registry that refuses (a domain already taken) refuses the transition too.

use desk::{Action, Applicant, Fields};
use policies::MailStatus;
use store::{ApplicationRecord, NewMailSystem, Store};

use super::DeskError;

pub async fn apply(store: &Store, actor: &str, record: &ApplicationRecord, action: &Action) -> Result<(), DeskError> {
    let a = &record.application;
    let Fields::MailConnection { system, domains, servers, deliver_to } = &a.fields else { return Ok(()) };
    match action {
        Action::Connect => {
            let Applicant::Organisation(bin) = &a.applicant else {
                return Err(DeskError::Effect("a mail system belongs to an organisation".into()));
            };
            let new = NewMailSystem {
                name: system.clone(),
                owner_bin: bin.to_string(),
                domains: domains.clone(),
                servers: servers.clone(),
                deliver_to: *deliver_to,
                contacts: a.contacts.clone(),
            };
            store.connect_mail_system(actor, new).await?;
        }
        Action::Disconnect { reason, at: None } => {
            store.set_mail_status(actor, system, MailStatus::Disconnected, reason).await?;
        }
        Action::Disconnect { reason, at: Some(at) } => {
            let at = crate::app::output::parse_instant(at).map_err(|e| DeskError::Effect(format!("{e:#}")))?;
            store.schedule_disconnect(actor, system, at, reason).await?;
        }
        _ => {}
    }
    Ok(())
}
