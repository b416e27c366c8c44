//! What a transition changes outside the desk: a connected mail-system application
//! becomes a mail system in the registry (the relay then accepts its mail), and its
//! disconnection disconnects that system, now or at the agreed time; an applied
//! disconnection letter (EPBSH rule 11) disconnects the system it names, now or from the
//! start of the agreed day (Astana time). Run before the transition is recorded, so a
//! registry that refuses (a domain already taken) refuses the transition too.

use desk::{Action, Applicant, Fields};
use policies::MailStatus;
use store::{ApplicationRecord, NewMailSystem, Store};

use super::DeskError;

pub async fn apply(store: &Store, actor: &str, record: &ApplicationRecord, action: &Action) -> Result<(), DeskError> {
    let a = &record.application;
    if let Fields::MailDisconnection { system, reason, on } = &a.fields {
        return disconnect_on_letter(store, actor, (record.id, system, reason), *on, action).await;
    }
    let Fields::MailConnection { system, domains, servers, deliver_to, .. } = &a.fields else { return Ok(()) };
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

/// The disconnection a letter asks for, when the duty team applies it: the system is
/// disconnected now, or scheduled for the start of the agreed day if that is to come.
async fn disconnect_on_letter(
    store: &Store,
    actor: &str,
    (id, system, reason): (i64, &str, &str),
    on: Option<policies::calendar::Date>,
    action: &Action,
) -> Result<(), DeskError> {
    if *action != Action::Apply {
        return Ok(());
    }
    let why = format!("the owner's letter (request {id}): {reason}");
    let at = on.map(|day| day.midnight_unix(policies::calendar::ASTANA_OFFSET) * 1000);
    match at.filter(|at| *at > store::now_ms()) {
        Some(at) => store.schedule_disconnect(actor, system, at, &why).await?,
        None => store.set_mail_status(actor, system, MailStatus::Disconnected, &why).await?,
    };
    Ok(())
}
