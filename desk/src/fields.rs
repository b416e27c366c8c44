//! What each kind of application holds, read from a JSON object field by field so that
//! every problem is named at once (a missing field, a wrong type, a bad value, an
//! unknown key), then checked as a whole against the kind's rules.
//!
//! Must not: look anything up (whether an operator exists, whether a domain is taken):
//! that is for the callers, who hold the records.

mod read;

pub use read::{MAX_ITEMS, MAX_TEXT};

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use policies::calendar::Date;
use policies::category::{Category, domain_problem};
use serde::{Deserialize, Serialize};

use crate::Kind;
use read::Reader;

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

/// Every problem of an application.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(Problem { field: field.to_string(), message: message.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            writeln!(f, "{}: {}", p.field, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Access the duty team is given to a site (the defacement service restores pages with
/// it). The secret is stored sealed and never shown again: after filing, `secret` holds
/// only a mask.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// How to reach the site's files or console (`sftp://files.example.gov.kz`).
    pub access: String,
    pub login: String,
    pub secret: String,
}

/// The mask that replaces a secret once it is sealed.
pub const MASK: &str = "********";

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

/// The fields of an application, by kind.
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
    Waf {
        site: String,
        addresses: Vec<IpAddr>,
        responsible: String,
        phone: String,
        credentials: Option<Credentials>,
    },
    Defacement {
        site: String,
        addresses: Vec<IpAddr>,
        responsible: String,
        phone: String,
        /// The pages watched for defacement.
        pages: Vec<String>,
        /// The access for restoring pages.
        credentials: Credentials,
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
    MailConnection {
        /// The mail system's handle in the registry.
        system: String,
        domains: Vec<String>,
        servers: Vec<IpAddr>,
        deliver_to: Option<SocketAddr>,
    },
}

impl Fields {
    /// Reads and checks the fields of a `kind` application received on `received`.
    pub fn parse(kind: Kind, value: &serde_json::Value, received: Date) -> Result<Fields, Problems> {
        let mut r = Reader::new(value);
        let fields = match kind {
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
            Kind::Waf => Fields::Waf {
                site: r.text("site"),
                addresses: r.ips("addresses"),
                responsible: r.text("responsible"),
                phone: r.text("phone"),
                credentials: r.credentials("credentials", false),
            },
            Kind::Defacement => Fields::Defacement {
                site: r.text("site"),
                addresses: r.ips("addresses"),
                responsible: r.text("responsible"),
                phone: r.text("phone"),
                pages: r.texts("pages"),
                credentials: r.credentials("credentials", true).unwrap_or_else(read::empty_credentials),
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
            },
        };
        let mut problems = r.finish();
        // The kind's rules run too, except on a field that could not be read (its
        // placeholder value would only add a second, misleading problem).
        let mut rules = Problems::default();
        fields.check(received, &mut rules);
        let unread: Vec<String> = problems.0.iter().map(|p| p.field.clone()).collect();
        problems.0.extend(rules.0.into_iter().filter(|p| !unread.contains(&p.field)));
        if problems.is_empty() { Ok(fields) } else { Err(problems) }
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
        }
    }

    /// Takes the credentials' secret out (to be sealed), leaving the mask in its place.
    pub fn take_secret(&mut self) -> Option<String> {
        let credentials = match self {
            Fields::Waf { credentials: Some(c), .. } | Fields::Defacement { credentials: c, .. } => c,
            _ => return None,
        };
        (credentials.secret != MASK).then(|| std::mem::replace(&mut credentials.secret, MASK.to_string()))
    }

    /// The kind's rules over the fields as a whole.
    fn check(&self, received: Date, p: &mut Problems) {
        match self {
            Fields::OperatorLink { main_gbps, backup_gbps, planned, .. } => {
                for (field, gbps) in [("main_gbps", main_gbps), ("backup_gbps", backup_gbps)] {
                    if *gbps < 1 {
                        p.push(field, "bandwidth is counted in 1 Gbit/s units: at least 1");
                    }
                }
                if *planned < received {
                    p.push("planned", format!("{planned} is before the application ({received})"));
                }
            }
            Fields::YearlyLists { categories, networks } => check_lists(categories, networks, p),
            Fields::RiskyService { category, .. } => match Category::new(category) {
                Ok(c) if c.is_risky() => {}
                Ok(_) => {
                    p.push("category", format!("'{category}' is not a risky service: ask for it in the yearly lists"))
                }
                Err(e) => p.push("category", e.to_string()),
            },
            Fields::Waf { site, .. } => check_domain("site", site, p),
            Fields::Defacement { site, pages, .. } => {
                check_domain("site", site, p);
                if pages.is_empty() {
                    p.push("pages", "name at least one page to watch");
                }
            }
            Fields::ResourceChange { change, changed_on, details, .. } => {
                if *changed_on > received {
                    p.push("changed_on", format!("{changed_on} is after the report ({received})"));
                }
                if *change != ChangeKind::Stopped && details.trim().is_empty() {
                    p.push("details", "say what changed (the new domain, address, person or operator)");
                }
            }
            Fields::Incident { observed_on, .. } => {
                if *observed_on > received {
                    p.push("observed_on", format!("{observed_on} is after the report ({received})"));
                }
            }
            Fields::MailConnection { system, domains, .. } => {
                if !valid_handle(system) {
                    p.push("system", "use 1-64 lowercase letters, digits, '-', '_' or '.'");
                }
                for d in domains {
                    check_domain("domains", d, p);
                }
            }
        }
    }
}

fn check_lists(categories: &[String], networks: &[String], p: &mut Problems) {
    for c in categories {
        match Category::new(c) {
            Ok(cat) if cat.is_risky() => {
                p.push("categories", format!("'{c}' is a risky service: it needs its own application"))
            }
            Ok(_) => {}
            Err(e) => p.push("categories", e.to_string()),
        }
    }
    for n in networks {
        if let Err(e) = parse_prefix(n) {
            p.push("networks", e);
        }
    }
}

/// An address prefix `ADDR/LEN` (a bare address is one host).
pub fn parse_prefix(text: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = text.split_once('/').unwrap_or((text, ""));
    let addr: IpAddr = addr.trim().parse().map_err(|_| format!("'{text}' is not an address prefix"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = if len.is_empty() { max } else { len.parse().map_err(|_| format!("'{text}': bad prefix length"))? };
    if len > max {
        return Err(format!("'{text}': the prefix length is over {max}"));
    }
    Ok((addr, len))
}

fn check_domain(field: &str, domain: &str, p: &mut Problems) {
    if !domain.contains('.') {
        p.push(field, format!("'{domain}' is not a domain name: it has no dot"));
    } else if let Some(why) = domain_problem(domain) {
        p.push(field, format!("'{domain}' {why}"));
    }
}

/// A registry handle: 1-64 lowercase letters, digits, '-', '_' or '.'.
pub fn valid_handle(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}
