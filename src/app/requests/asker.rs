//! Who is asking at the desk, read from a token's or a person's role, and what that
//! one may see and do: the duty team everything; auditors see everything and do
//! nothing; an operator sees its own applications and those of the organisations it
//! connects, an organisation only its own; an applicant files for itself, attaches to
//! and reports readiness on its own applications, and answers nothing.
//!
//! Must not: decide whether a transition fits the application's state (the desk's
//! rules do) or read more than whether an operator connects an organisation.

use desk::Applicant;
use store::{ApplicationRecord, AttachmentInfo, Role, Store, StoreError, UserRole, Visible};

/// The desk's reading of a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asker {
    /// The applications listed to it.
    pub visible: Visible,
    /// The applicant it files and acts as; `None` for the duty team and auditors.
    pub own: Option<Applicant>,
    /// Whether it answers applications (the duty team).
    pub answers: bool,
}

impl Asker {
    pub fn of_token(role: &Role) -> Asker {
        match role {
            Role::Duty => Asker { visible: Visible::All, own: None, answers: true },
            Role::Operator { operator } => Asker::operator(operator),
            Role::Organisation { organisation } => Asker::organisation(organisation),
        }
    }

    pub fn of_person(role: &UserRole) -> Asker {
        match role {
            UserRole::Duty => Asker { visible: Visible::All, own: None, answers: true },
            UserRole::Auditor => Asker { visible: Visible::All, own: None, answers: false },
            UserRole::Operator { operator } => Asker::operator(operator),
            UserRole::Organisation { organisation } => Asker::organisation(organisation),
        }
    }

    fn operator(name: &str) -> Asker {
        let own = Some(Applicant::Operator(name.to_string()));
        Asker { visible: Visible::Operator(name.to_string()), own, answers: false }
    }

    fn organisation(bin: &policies::Bin) -> Asker {
        let own = Some(Applicant::Organisation(bin.clone()));
        Asker { visible: Visible::Organisation(bin.clone()), own, answers: false }
    }

    /// Whether it sees `applicant`'s applications.
    pub async fn sees(&self, store: &Store, applicant: &Applicant) -> Result<bool, StoreError> {
        store.sees_applicant(&self.visible, applicant).await
    }

    /// Application `id` if it sees it; otherwise the same `NotFound` as a missing one,
    /// so that nobody learns another applicant's application exists.
    pub async fn application(&self, store: &Store, id: i64) -> Result<ApplicationRecord, StoreError> {
        let record = store.application(id).await?;
        match self.sees(store, &record.application.applicant).await? {
            true => Ok(record),
            false => Err(StoreError::NotFound { what: "application", name: id.to_string() }),
        }
    }

    /// Attachment `attachment` of application `id` with its content, if it sees the
    /// application (one recorded before contents were kept has none to give).
    pub async fn attachment(
        &self,
        store: &Store,
        (id, attachment): (i64, i64),
    ) -> Result<(AttachmentInfo, Vec<u8>), StoreError> {
        self.application(store, id).await?;
        match store.attachment(id, attachment).await? {
            (info, Some(content)) => Ok((info, content)),
            (_, None) => {
                let name = format!("{attachment} (recorded before contents were kept)");
                Err(StoreError::NotFound { what: "content of attachment", name })
            }
        }
    }

    /// Whether it files applications at all (the duty team, and applicants for themselves).
    pub fn files(&self) -> bool {
        self.answers || self.own.is_some()
    }

    /// Whether it files, attaches and reports as `applicant`.
    pub fn is(&self, applicant: &Applicant) -> bool {
        self.answers || self.own.as_ref() == Some(applicant)
    }

    /// Whether it may give `verb` on an application of `applicant`: the duty team any
    /// verb, the applicant itself only `ready`.
    pub fn may_give(&self, verb: &str, applicant: &Applicant) -> bool {
        self.answers || (verb == "ready" && self.own.as_ref() == Some(applicant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applicants_act_only_as_themselves_and_only_report_readiness() {
        let bin = policies::Bin::with_check_digit("98014000001").unwrap();
        let org = Applicant::Organisation(bin.clone());
        let alpha = Applicant::Operator("alpha".into());
        let asker = Asker::of_person(&UserRole::Organisation { organisation: bin });
        assert!(asker.is(&org) && !asker.is(&alpha));
        assert!(asker.may_give("ready", &org) && !asker.may_give("apply", &org) && !asker.may_give("ready", &alpha));
        let auditor = Asker::of_person(&UserRole::Auditor);
        assert!(!auditor.is(&org) && !auditor.may_give("ready", &org) && auditor.visible == Visible::All);
        let duty = Asker::of_token(&Role::Duty);
        assert!(duty.is(&alpha) && duty.may_give("apply", &org));
    }
}
