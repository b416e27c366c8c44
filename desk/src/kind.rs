//! The kinds of applications the regulation sets and who may file each. The six
//! subjects give eight kinds: yearly lists and risky services are separate applications
//! (rule 15-2), and so are the web-application firewall and defacement protection (each
//! with its own appendix of fields).

use std::fmt;
use std::str::FromStr;

use policies::Bin;
use serde::{Deserialize, Serialize};

/// What an application asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An operator connects a main and a backup channel (IQBSH 5–11).
    OperatorLink,
    /// An organisation's yearly resource categories and network addresses (IQBSH 15, 16).
    YearlyLists,
    /// One risky service (VPN and the like) for an organisation (IQBSH 15-2).
    RiskyService,
    /// Web-application firewall for a government site (IQBSH 17, appendix 3).
    Waf,
    /// Defacement protection for a government site (IQBSH 18, appendix 4).
    Defacement,
    /// A change to a resource the organisation reports (IQBSH 19).
    ResourceChange,
    /// An incident reported by an operator or an organisation (IQBSH 14).
    Incident,
    /// A government mail system's connection to the mail gateway (EPBSH 7–11).
    MailConnection,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::OperatorLink,
        Kind::YearlyLists,
        Kind::RiskyService,
        Kind::Waf,
        Kind::Defacement,
        Kind::ResourceChange,
        Kind::Incident,
        Kind::MailConnection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OperatorLink => "operator-link",
            Kind::YearlyLists => "yearly-lists",
            Kind::RiskyService => "risky-service",
            Kind::Waf => "waf",
            Kind::Defacement => "defacement",
            Kind::ResourceChange => "resource-change",
            Kind::Incident => "incident",
            Kind::MailConnection => "mail-connection",
        }
    }

    /// A few words for people.
    pub fn label(self) -> &'static str {
        match self {
            Kind::OperatorLink => "operator link connection",
            Kind::YearlyLists => "organisation's yearly lists",
            Kind::RiskyService => "risky service",
            Kind::Waf => "web-application firewall",
            Kind::Defacement => "defacement protection",
            Kind::ResourceChange => "change to a resource",
            Kind::Incident => "incident",
            Kind::MailConnection => "mail system connection",
        }
    }

    /// The fields an application of this kind has, as forms name them (a credential's
    /// parts as `credentials.access`, `.login`, `.secret`); lists are comma-separated.
    pub fn fields(self) -> &'static [&'static str] {
        const CREDENTIALS: [&str; 3] = ["credentials.access", "credentials.login", "credentials.secret"];
        match self {
            Kind::OperatorLink => &["object_name", "object_address", "main_gbps", "backup_gbps", "planned"],
            Kind::YearlyLists => &["categories", "networks"],
            Kind::RiskyService => &["category", "purpose"],
            Kind::Waf => {
                const WAF: [&str; 7] =
                    ["site", "addresses", "responsible", "phone", CREDENTIALS[0], CREDENTIALS[1], CREDENTIALS[2]];
                &WAF
            }
            Kind::Defacement => {
                const DEFACEMENT: [&str; 8] = [
                    "site",
                    "addresses",
                    "responsible",
                    "phone",
                    "pages",
                    CREDENTIALS[0],
                    CREDENTIALS[1],
                    CREDENTIALS[2],
                ];
                &DEFACEMENT
            }
            Kind::ResourceChange => &["resource", "change", "changed_on", "details"],
            Kind::Incident => &["summary", "observed_on", "addresses", "details"],
            Kind::MailConnection => &["system", "domains", "servers", "deliver_to"],
        }
    }

    /// Whether an applicant of this sort may file this kind.
    pub fn accepts(self, applicant: &Applicant) -> bool {
        match (self, applicant) {
            (Kind::OperatorLink, Applicant::Operator(_)) => true,
            (Kind::OperatorLink, Applicant::Organisation(_)) => false,
            (Kind::Incident, _) => true,
            (_, Applicant::Organisation(_)) => true,
            (_, Applicant::Operator(_)) => false,
        }
    }

    /// Whether the duty team may refuse it (and the 30-day wait then applies).
    pub fn may_be_refused(self) -> bool {
        !matches!(self, Kind::ResourceChange | Kind::Incident)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown kind name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown kind '{0}': use one of operator-link, yearly-lists, risky-service, waf, defacement, resource-change, incident, mail-connection"
)]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(text: &str) -> Result<Kind, UnknownKind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text.trim()).ok_or_else(|| UnknownKind(text.to_string()))
    }
}

/// Who filed an application: a telecom operator (by its handle) or an organisation (by
/// its BIN). Written `operator:NAME` or `org:BIN`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Applicant {
    Operator(String),
    Organisation(Bin),
}

impl fmt::Display for Applicant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Applicant::Operator(name) => write!(f, "operator:{name}"),
            Applicant::Organisation(bin) => write!(f, "org:{bin}"),
        }
    }
}

impl FromStr for Applicant {
    type Err = String;

    fn from_str(text: &str) -> Result<Applicant, String> {
        match text.trim().split_once(':') {
            Some(("operator", name)) if !name.is_empty() => Ok(Applicant::Operator(name.to_string())),
            Some(("org", bin)) => bin.parse().map(Applicant::Organisation).map_err(|e| e.to_string()),
            _ => Err(format!("applicant '{text}': write operator:NAME or org:BIN")),
        }
    }
}

impl TryFrom<String> for Applicant {
    type Error = String;

    fn try_from(text: String) -> Result<Applicant, String> {
        text.parse()
    }
}

impl From<Applicant> for String {
    fn from(a: Applicant) -> String {
        a.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;
    use crate::Fields;

    /// Every field an empty application is refused for is one the forms offer.
    #[test]
    fn the_forms_offer_every_required_field() {
        let day = "2026-03-02".parse().unwrap();
        for kind in Kind::ALL {
            let problems = Fields::parse(kind, &serde_json::json!({}), day).expect_err("an empty application");
            for p in &problems.0 {
                let offered = kind.fields().iter().any(|f| *f == p.field || f.starts_with(&format!("{}.", p.field)));
                assert!(offered, "{kind}: '{}' is not offered", p.field);
            }
        }
    }
}
