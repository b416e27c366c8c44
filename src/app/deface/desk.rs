//! An applied defacement application becomes a protected site: the desk's `connect`
//! creates the site from the application's fields (its secret opened with the desk's key
//! and sealed again for the service), owned by the applicant with the application's
//! contacts. Run before the transition is recorded, so a site the service refuses (a bad
//! access URL, a domain already protected) refuses the connection too.
//!
//! Must not: read an application's fields anywhere but [`site_from_application`] (the
//! one place to adjust when the desk's forms change).

use deface::{DefaceError, NewSite};
use desk::{Action, Applicant, Fields};
use store::{ApplicationRecord, DefaceOwner, Sealer, Store};

/// The site and its owner from a defacement application's fields and its opened secret.
pub fn site_from_application(record: &ApplicationRecord, secret: &str) -> Result<(NewSite, DefaceOwner), DefaceError> {
    let a = &record.application;
    let Fields::Defacement { site, addresses, pages, credentials, .. } = &a.fields else {
        return Err(DefaceError::Invalid(vec![format!("request {} is not a defacement application", record.id)]));
    };
    let Applicant::Organisation(bin) = &a.applicant else {
        return Err(DefaceError::Invalid(vec![format!(
            "request {}: a protected site belongs to an organisation",
            record.id
        )]));
    };
    let new =
        NewSite::from_application(site, addresses, &credentials.access, &credentials.login, secret, pages, record.id)?;
    Ok((new, DefaceOwner { org: Some(bin.to_string()), contacts: a.contacts.clone() }))
}

/// What `action` on `record` does to the protected sites: `connect` of a defacement
/// application protects its site.
pub async fn apply(
    (store, sealer): (&Store, &Sealer),
    actor: &str,
    record: &ApplicationRecord,
    action: &Action,
) -> Result<(), DefaceError> {
    if !matches!(record.application.fields, Fields::Defacement { .. }) || *action != Action::Connect {
        return Ok(());
    }
    let secret = match store.sealed_secret(record.id).await? {
        Some(sealed) => sealer.open(&sealed)?,
        None => String::new(),
    };
    let (site, owner) = site_from_application(record, &secret)?;
    super::sites::protect((store, sealer), actor, site, owner).await?;
    Ok(())
}
