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

/// The site and its owner from a defacement application's fields (appendix 4: 4.1 the
/// site and its addresses, 4.9 the access URL, 4.11 the login with its sealed password
/// or key, the pages, 4.10 the specialists) and its opened secret. The specialists'
/// addresses are told first, then the application's contacts.
pub fn site_from_application(record: &ApplicationRecord, secret: &str) -> Result<(NewSite, DefaceOwner), DefaceError> {
    let a = &record.application;
    let Fields::Defacement { resource, access, login, pages, specialists, .. } = &a.fields else {
        return Err(DefaceError::Invalid(vec![format!("request {} is not a defacement application", record.id)]));
    };
    let Applicant::Organisation(bin) = &a.applicant else {
        return Err(DefaceError::Invalid(vec![format!(
            "request {}: a protected site belongs to an organisation",
            record.id
        )]));
    };
    let new = NewSite::from_application(&resource.site, &resource.addresses, access, login, secret, pages, record.id)?;
    let mut contacts: Vec<String> = specialists.iter().map(|s| s.email.clone()).collect();
    contacts.extend(a.contacts.iter().cloned());
    contacts.dedup();
    Ok((new, DefaceOwner { org: Some(bin.to_string()), contacts }))
}

/// The account's secret of application `id` (4.11): its sealed private key, or else its
/// sealed password; empty when neither was given.
async fn secret_of((store, sealer): (&Store, &Sealer), id: i64) -> Result<String, DefaceError> {
    let sealed = store.sealed_secrets(id).await?;
    match sealed.get("access_key").or_else(|| sealed.get("password")) {
        Some(s) => Ok(sealer.open(s)?),
        None => Ok(String::new()),
    }
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
    let secret = secret_of((store, sealer), record.id).await?;
    let (site, owner) = site_from_application(record, &secret)?;
    super::sites::protect((store, sealer), actor, site, owner).await?;
    Ok(())
}
