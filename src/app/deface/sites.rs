//! What the CLI, the API and the desk do to the set of protected sites beyond what the
//! crate does: a site is added with its owner (organisation and technical contacts),
//! both checked before anything is recorded.
//!
//! Must not: read people's input (the CLI and API do) or print.

use deface::{DefaceError, NewSite};
use store::{DefaceOwner, DefaceSiteRecord, Sealer, Store};

/// Protects `site` for `owner` as `actor`, its secret sealed with `sealer` (the desk's
/// key): the organisation must be registered and the contacts plausible e-mail
/// addresses, else nothing is recorded.
pub async fn protect(
    (store, sealer): (&Store, &Sealer),
    actor: &str,
    site: NewSite,
    owner: DefaceOwner,
) -> Result<DefaceSiteRecord, DefaceError> {
    let mut problems = Vec::new();
    if let Some(org) = &owner.org {
        match org.parse::<policies::Bin>() {
            Ok(bin) => {
                if let Err(e) = store.organisation(&bin).await {
                    problems.push(format!("org: {e}"));
                }
            }
            Err(e) => problems.push(format!("org: '{org}': {e}")),
        }
    }
    for c in &owner.contacts {
        let ok = c.split_once('@').is_some_and(|(u, d)| !u.is_empty() && d.contains('.'))
            && !c.chars().any(|ch| ch.is_whitespace() || ch.is_control());
        if !ok {
            problems.push(format!("contacts: '{c}' is not an e-mail address"));
        }
    }
    if !problems.is_empty() {
        return Err(DefaceError::Invalid(problems));
    }
    let record = deface::service::record_site(store, sealer, actor, site).await?;
    store.set_deface_owner(actor, &record.domain, &owner).await?;
    Ok(record)
}
