//! What each kind of application holds, read from a JSON object field by field so that
//! every problem is named at once (a missing field, a wrong type, a bad value, an
//! unknown key), then checked as a whole against the kind's rules. The keys are the
//! regulation's items as the CLI, the API, the console and the services created from
//! the applications (the WAF, defacement protection) name them.
//!
//! Must not: look anything up itself (whether an operator exists, whether a key fits a
//! certificate, who owns a mail system): it asks the caller's [`Registry`], which holds
//! the records and the cryptography.

mod read;
mod site;

pub use read::{MAX_ITEMS, MAX_TEXT};
pub use site::{MAX_CERTIFICATE, MAX_KEY, Resource, Specialist};

use std::net::{IpAddr, SocketAddr};

use policies::calendar::Date;
use policies::category::{Category, domain_problem};
use serde::{Deserialize, Serialize};

use crate::{Kind, Problems, Why};
use read::Reader;

/// What the desk's rules ask of the records and the cryptography the caller holds.
pub trait Registry {
    /// Whether `name` is an operator in the registry.
    fn operator_exists(&self, name: &str) -> bool;
    /// Why `certificate` and `key` (PEM) are not a pair whose certificate names `site`.
    fn key_pair(&self, certificate: &str, key: &str, site: &str) -> Result<(), String>;
    /// The BIN of the organisation that owns mail system `system`, if it is registered.
    fn mail_system_owner(&self, system: &str) -> Option<String>;
}

/// A registry for kinds that look nothing up (yearly lists, risky services): it knows
/// no operator, no key and no mail system.
pub struct NoRegistry;

impl Registry for NoRegistry {
    fn operator_exists(&self, _: &str) -> bool {
        false
    }
    fn key_pair(&self, _: &str, _: &str, _: &str) -> Result<(), String> {
        Err("no certificate can be checked here".into())
    }
    fn mail_system_owner(&self, _: &str) -> Option<String> {
        None
    }
}

/// The mask that replaces a secret once it is sealed.
pub const MASK: &str = "********";

/// The fields whose values are secrets: sealed on filing, never shown again.
pub const SECRETS: [&str; 3] = ["private_key", "password", "access_key"];

/// What a change to a resource concerns (IQBSH 19).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Domain,
    Address,
    Responsible,
    Technical,
    Operator,
    Stopped,
}

/// The fields of an application, by kind. Fields added since an application was filed
/// read as empty from its record (records are never re-checked).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "fields")]
pub enum Fields {
    OperatorLink {
        object_name: String,
        object_address: String,
        /// Bandwidth of the main channel, in units of 1 Gbit/s.
        main_gbps: u32,
        backup_gbps: u32,
        planned: Date,
    },
    YearlyLists {
        categories: Vec<String>,
        /// The organisation's networks (prefixes).
        networks: Vec<String>,
    },
    RiskyService {
        category: String,
        purpose: String,
    },
    /// Appendix 3 of the IQBSH rules.
    Waf {
        #[serde(flatten)]
        resource: Resource,
        /// 3.9.
        #[serde(default)]
        specialists: Vec<Specialist>,
    },
    /// Appendix 4 of the IQBSH rules.
    Defacement {
        /// 4.1–4.8.
        #[serde(flatten)]
        resource: Resource,
        /// 4.9: `ftp://`, `ftps://`, `sftp://` or `ssh://` URL of the site's root.
        #[serde(default)]
        access: String,
        /// 4.11: an account that reads and writes the root, with its password or
        /// private key (sealed; only the mask stays here).
        #[serde(default)]
        login: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_key: Option<String>,
        /// The pages watched; none: the service starts from the site's home page.
        #[serde(default)]
        pages: Vec<String>,
        /// 4.10.
        #[serde(default)]
        specialists: Vec<Specialist>,
    },
    ResourceChange {
        resource: String,
        change: ChangeKind,
        changed_on: Date,
        details: String,
    },
    Incident {
        summary: String,
        observed_on: Date,
        addresses: Vec<IpAddr>,
        details: String,
    },
    /// The EPBSH rules' connection form.
    MailConnection {
        /// The mail system's handle in the registry.
        system: String,
        /// M.1: the mail domains.
        domains: Vec<String>,
        servers: Vec<IpAddr>,
        deliver_to: Option<SocketAddr>,
        /// M.4: the domain owner's name, when it is not the applicant.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
        /// M.6.
        #[serde(default)]
        specialists: Vec<Specialist>,
    },
    /// The organisation's letter asking to disconnect its mail system (EPBSH rule 11).
    MailDisconnection {
        system: String,
        reason: String,
        /// The day agreed for the disconnection; none: as soon as it is applied.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on: Option<Date>,
    },
}

impl Fields {
    /// Reads and checks the fields of a `kind` application received on `received`,
    /// asking `registry` what only the records know.
    pub fn parse(
        kind: Kind,
        value: &serde_json::Value,
        received: Date,
        registry: &dyn Registry,
    ) -> Result<Fields, Problems> {
        let mut r = Reader::new(value);
        let fields = Fields::read(kind, &mut r);
        let mut problems = r.finish();
        // The kind's rules run too, except on a field that could not be read (its
        // placeholder value would only add a second, misleading problem).
        let mut rules = Problems::default();
        fields.check(received, registry, &mut rules);
        let unread: Vec<String> = problems.0.iter().map(|p| p.field.clone()).collect();
        problems.0.extend(rules.0.into_iter().filter(|p| !unread.contains(&p.field)));
        if problems.is_empty() { Ok(fields) } else { Err(problems) }
    }

    fn read(kind: Kind, r: &mut Reader<'_>) -> Fields {
        match kind {
            Kind::OperatorLink => Fields::OperatorLink {
                object_name: r.text("object_name"),
                object_address: r.text("object_address"),
                main_gbps: r.number("main_gbps"),
                backup_gbps: r.number("backup_gbps"),
                planned: r.date("planned"),
            },
            Kind::YearlyLists => {
                Fields::YearlyLists { categories: r.texts("categories"), networks: r.texts("networks") }
            }
            Kind::RiskyService => Fields::RiskyService { category: r.text("category"), purpose: r.text("purpose") },
            Kind::Waf => Fields::Waf { resource: Resource::read(r), specialists: r.specialists("specialists") },
            Kind::Defacement => Fields::Defacement {
                resource: Resource::read(r),
                access: r.text("access"),
                login: r.text("login"),
                password: r.optional("password"),
                access_key: r.pem("access_key", MAX_KEY),
                pages: r.optional_texts("pages"),
                specialists: r.specialists("specialists"),
            },
            Kind::ResourceChange => Fields::ResourceChange {
                resource: r.text("resource"),
                change: r.change("change"),
                changed_on: r.date("changed_on"),
                details: r.optional_text("details"),
            },
            Kind::Incident => Fields::Incident {
                summary: r.text("summary"),
                observed_on: r.date("observed_on"),
                addresses: r.optional_ips("addresses"),
                details: r.optional_text("details"),
            },
            Kind::MailConnection => Fields::MailConnection {
                system: r.text("system"),
                domains: r.texts("domains"),
                servers: r.ips("servers"),
                deliver_to: r.optional_socket("deliver_to"),
                owner: r.optional("owner"),
                specialists: r.specialists("specialists"),
            },
            Kind::MailDisconnection => Fields::MailDisconnection {
                system: r.text("system"),
                reason: r.text("reason"),
                on: r.optional_date("on"),
            },
        }
    }

    /// The kind these fields belong to.
    pub fn kind(&self) -> Kind {
        match self {
            Fields::OperatorLink { .. } => Kind::OperatorLink,
            Fields::YearlyLists { .. } => Kind::YearlyLists,
            Fields::RiskyService { .. } => Kind::RiskyService,
            Fields::Waf { .. } => Kind::Waf,
            Fields::Defacement { .. } => Kind::Defacement,
            Fields::ResourceChange { .. } => Kind::ResourceChange,
            Fields::Incident { .. } => Kind::Incident,
            Fields::MailConnection { .. } => Kind::MailConnection,
            Fields::MailDisconnection { .. } => Kind::MailDisconnection,
        }
    }

    /// Takes the secrets out (to be sealed), each by its field, leaving the mask in
    /// their place: the site's private key (3.7, 4.7) and the account's password or
    /// private key (4.11).
    pub fn take_secrets(&mut self) -> Vec<(&'static str, String)> {
        let mut slots: Vec<(&'static str, &mut Option<String>)> = match self {
            Fields::Waf { resource, .. } => vec![("private_key", &mut resource.private_key)],
            Fields::Defacement { resource, password, access_key, .. } => {
                vec![("private_key", &mut resource.private_key), ("password", password), ("access_key", access_key)]
            }
            _ => Vec::new(),
        };
        let mut taken = Vec::new();
        for (field, slot) in slots.iter_mut() {
            if let Some(secret) = slot.as_mut().filter(|s| s.as_str() != MASK) {
                taken.push((*field, std::mem::replace(secret, MASK.to_string())));
            }
        }
        taken
    }

    /// The resources a refusal holds back for 30 days (IQBSH rules 17 and 18, EPBSH
    /// rule 10): the site's domain, or the mail domains; lowercase.
    pub fn resources(&self) -> Vec<String> {
        match self {
            Fields::Waf { resource, .. } | Fields::Defacement { resource, .. } => {
                vec![resource.site.to_ascii_lowercase()]
            }
            Fields::MailConnection { domains, .. } => domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            _ => Vec::new(),
        }
    }

    /// The kind's rules over the fields as a whole.
    fn check(&self, received: Date, registry: &dyn Registry, p: &mut Problems) {
        match self {
            Fields::OperatorLink { main_gbps, backup_gbps, planned, .. } => {
                for (field, gbps) in [("main_gbps", main_gbps), ("backup_gbps", backup_gbps)] {
                    if *gbps < 1 {
                        p.push(field, Why::Bandwidth);
                    }
                }
                if *planned < received {
                    p.push("planned", Why::Before { day: *planned, received });
                }
            }
            Fields::YearlyLists { categories, networks } => check_lists(categories, networks, p),
            Fields::RiskyService { category, .. } => match Category::new(category) {
                Ok(c) if c.is_risky() => {}
                Ok(_) => p.push("category", Why::NotRisky(category.clone())),
                Err(e) => p.push("category", Why::Category(e.to_string())),
            },
            Fields::Waf { resource, .. } => {
                resource.check(registry, p);
            }
            Fields::Defacement { resource, access, password, access_key, .. } => {
                resource.check(registry, p);
                check_access(access, password.as_deref(), access_key.as_deref(), p);
            }
            Fields::ResourceChange { change, changed_on, details, .. } => {
                if *changed_on > received {
                    p.push("changed_on", Why::After { day: *changed_on, received });
                }
                if *change != ChangeKind::Stopped && details.trim().is_empty() {
                    p.push("details", Why::SayWhatChanged);
                }
            }
            Fields::Incident { observed_on, .. } => {
                if *observed_on > received {
                    p.push("observed_on", Why::After { day: *observed_on, received });
                }
            }
            Fields::MailConnection { system, domains, .. } => {
                if !valid_handle(system) {
                    p.push("system", Why::Handle);
                }
                for d in domains {
                    check_domain("domains", d, p);
                }
            }
            Fields::MailDisconnection { system, on, .. } => {
                if registry.mail_system_owner(system).is_none() {
                    p.push("system", Why::UnknownSystem(system.clone()));
                }
                if let Some(day) = on.filter(|d| *d < received) {
                    p.push("on", Why::Before { day, received });
                }
            }
        }
    }
}

/// Access to the site's root (4.9) with a password or a private key (4.11), not both.
fn check_access(access: &str, password: Option<&str>, key: Option<&str>, p: &mut Problems) {
    const SCHEMES: [&str; 4] = ["ftp://", "ftps://", "sftp://", "ssh://"];
    let lower = access.to_ascii_lowercase();
    let host = SCHEMES.iter().find_map(|s| lower.strip_prefix(s));
    if !access.is_empty() && host.is_none_or(|rest| rest.split(['/', ':', '@']).all(str::is_empty)) {
        p.push("access", Why::Scheme(access.to_string()));
    }
    match (password, key) {
        (None, None) | (Some(_), Some(_)) => p.push("password", Why::PasswordOrKey),
        (None, Some(k)) if !site::is_private_key(k) => p.push("access_key", Why::NotPem("private key")),
        _ => {}
    }
}

fn check_lists(categories: &[String], networks: &[String], p: &mut Problems) {
    for c in categories {
        match Category::new(c) {
            Ok(cat) if cat.is_risky() => p.push("categories", Why::Risky(c.clone())),
            Ok(_) => {}
            Err(e) => p.push("categories", Why::Category(e.to_string())),
        }
    }
    for n in networks {
        if let Err(why) = prefix(n) {
            p.push("networks", why);
        }
    }
}

/// An address prefix `ADDR/LEN` (a bare address is one host).
pub fn parse_prefix(text: &str) -> Result<(IpAddr, u8), String> {
    prefix(text).map_err(|why| why.text(crate::Lang::En))
}

fn prefix(text: &str) -> Result<(IpAddr, u8), Why> {
    let (addr, len) = text.split_once('/').unwrap_or((text, ""));
    let addr: IpAddr = addr.trim().parse().map_err(|_| Why::NotPrefix(text.to_string()))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = if len.is_empty() { max } else { len.parse().map_err(|_| Why::PrefixLength(text.to_string()))? };
    if len > max {
        return Err(Why::PrefixLength(text.to_string()));
    }
    Ok((addr, len))
}

fn check_domain(field: &str, domain: &str, p: &mut Problems) {
    if domain.is_empty() {
        return;
    }
    if !domain.contains('.') {
        p.push(field, Why::NoDot(domain.to_string()));
    } else if let Some(why) = domain_problem(domain) {
        p.push(field, Why::BadDomain(domain.to_string(), why.to_string()));
    }
}

/// A registry handle: 1-64 lowercase letters, digits, '-', '_' or '.'.
pub fn valid_handle(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// An e-mail address as the desk accepts one: at most 254 bytes, a dot-atom local part
/// and a host name of two labels or more (no quoting, comments, controls or spaces).
pub fn plausible_email(text: &str) -> bool {
    if text.len() > 254 {
        return false;
    }
    let Some((local, domain)) = text.rsplit_once('@') else { return false };
    valid_local_part(local) && valid_domain(domain)
}

/// A dot-atom local part (RFC 5322): ASCII letters, digits and `!#$%&'*+-/=?^_`{|}~`,
/// dots only between them, at most 64 bytes.
fn valid_local_part(local: &str) -> bool {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    !local.is_empty() && local.len() <= 64 && local.split('.').all(|atom| !atom.is_empty() && atom.chars().all(atext))
}

/// A host name of two labels or more: letters (of any script), digits and inner
/// hyphens, each label at most 63 bytes.
fn valid_domain(domain: &str) -> bool {
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    domain.len() <= 253 && domain.split('.').count() >= 2 && domain.split('.').all(label)
}

#[cfg(test)]
mod tests;
