//! An applied WAF application becomes a protected site (IQBSH rule 17): the desk's
//! `connect` creates the site from the application's fields (appendix 3: 3.1 the site
//! and its addresses as origins, 3.7 its certificate with the private key opened from
//! the desk's seal and sealed again for the WAF, 3.9 the specialists told with the
//! application's contacts), owned by the applicant. (The desk has no `disconnect` for a
//! WAF application: a site is removed with `perimeter waf site remove`.) Run before
//! the transition is recorded, so a site the WAF refuses (a certificate that does not
//! fit its key or name, a domain already protected) refuses the connection too.
//!
//! Must not: read an application's fields anywhere but [`site_from_application`];
//! show or log the private key.

use std::net::SocketAddr;

use desk::{Action, Applicant, Fields};
use store::{ApplicationRecord, Sealer, Store};
use waf::OriginTls;

use super::manage::{Manager, SiteInput, WafError};
use super::settings::SiteSettings;

/// The site a WAF application asks for, with `private_key` (opened) beside its
/// certificate. The origins are the site's addresses on 443 with verified TLS when it
/// uses HTTPS, on 80 otherwise; the duty team adjusts them (`perimeter waf site set`).
pub fn site_from_application(record: &ApplicationRecord, private_key: Option<String>) -> Result<SiteInput, WafError> {
    let a = &record.application;
    let Fields::Waf { resource, specialists } = &a.fields else {
        return Err(WafError::Invalid(vec![format!("request {} is not a WAF application", record.id)]));
    };
    let Applicant::Organisation(bin) = &a.applicant else {
        return Err(WafError::Invalid(vec![format!(
            "request {}: a protected site belongs to an organisation",
            record.id
        )]));
    };
    let certificate = match (&resource.certificate, private_key) {
        (Some(cert), Some(key)) => Some((cert.clone(), key)),
        (None, _) => None,
        (Some(_), None) => {
            return Err(WafError::Invalid(vec![format!(
                "request {}: the certificate's private key (3.7) is missing",
                record.id
            )]));
        }
    };
    let port = if certificate.is_some() { 443 } else { 80 };
    let origin_tls = certificate.as_ref().map(|_| OriginTls { verify: true, ca_pem: None, server_name: None });
    let mut contacts: Vec<String> = specialists.iter().map(|s| s.email.clone()).collect();
    contacts.extend(a.contacts.iter().filter(|c| !contacts.contains(c)).cloned().collect::<Vec<_>>());
    Ok(SiteInput {
        domain: resource.site.trim().trim_end_matches('.').to_ascii_lowercase(),
        aliases: Vec::new(),
        origins: resource.addresses.iter().map(|ip| SocketAddr::new(*ip, port)).collect(),
        origin_tls,
        certificate,
        settings: SiteSettings::default(),
        owner: Some(bin.clone()),
        application: Some(record.id),
        contacts,
    })
}

/// What `action` on `record` does to the WAF's sites: `connect` of a WAF application
/// protects its site.
pub async fn apply(
    (store, sealer, key_file): (&Store, &Sealer, &std::path::Path),
    actor: &str,
    record: &ApplicationRecord,
    action: &Action,
) -> Result<(), WafError> {
    if !matches!(record.application.fields, Fields::Waf { .. }) {
        return Ok(());
    }
    // The rules are the defaults, which the engine checks when the service loads them.
    let engine = Err("checked when the WAF service loads the site".to_string());
    let manager = Manager { store, key_file, engine };
    if *action == Action::Connect {
        let key = match store.sealed_secrets(record.id).await?.get("private_key") {
            Some(sealed) => Some(sealer.open(sealed)?),
            None => None,
        };
        manager.add(actor, site_from_application(record, key)?).await?;
    }
    Ok(())
}
