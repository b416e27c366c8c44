//! The kinds of applications the regulation sets and who may file each: yearly lists
//! (IQBSH rule 15) and risky services (rule 15-2) are separate applications, and so are
//! the web-application firewall (rule 17, appendix 3) and defacement protection (rule
//! 18, appendix 4); a mail system's connection (EPBSH rule 10) and its disconnection on
//! the owner's letter (EPBSH rule 11) are two kinds too.

use std::fmt;
use std::str::FromStr;

use policies::Bin;
use serde::{Deserialize, Serialize};

/// What an application asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An operator connects a main and a backup channel (IQBSH rules 5–11; the
    /// technical conditions are appendix 2).
    OperatorLink,
    /// An organisation's yearly resource categories and network addresses (IQBSH rules
    /// 15 and 16).
    YearlyLists,
    /// One risky service (VPN and the like) for an organisation (IQBSH rule 15-2).
    RiskyService,
    /// Web-application firewall for a government site (IQBSH rule 17, appendix 3).
    Waf,
    /// Defacement protection for a government site (IQBSH rule 18, appendix 4).
    Defacement,
    /// A change to a resource the organisation reports (IQBSH rule 19).
    ResourceChange,
    /// An incident reported by an operator or an organisation (IQBSH rule 14).
    Incident,
    /// A government mail system's connection to the mail gateway (EPBSH rules 7–10).
    MailConnection,
    /// The owner's letter asking to disconnect its mail system (EPBSH rule 11).
    MailDisconnection,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::OperatorLink,
        Kind::YearlyLists,
        Kind::RiskyService,
        Kind::Waf,
        Kind::Defacement,
        Kind::ResourceChange,
        Kind::Incident,
        Kind::MailConnection,
        Kind::MailDisconnection,
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
            Kind::MailDisconnection => "mail-disconnection",
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
            Kind::MailDisconnection => "mail system disconnection",
        }
    }

    /// The kind's name for people in `lang`.
    pub fn name(self, lang: crate::Lang) -> &'static str {
        let (en, ru, kk) = match self {
            Kind::OperatorLink => ("operator link connection", "подключение канала оператора", "оператор арнасын қосу"),
            Kind::YearlyLists => {
                ("organisation's yearly lists", "ежегодные перечни организации", "ұйымның жылдық тізімдері")
            }
            Kind::RiskyService => ("risky service", "рискованный сервис", "қауіпті сервис"),
            Kind::Waf => {
                ("web-application firewall", "межсетевой экран веб-приложений", "веб-қосымшалардың желіаралық экраны")
            }
            Kind::Defacement => ("defacement protection", "защита от дефейса", "дефейстен қорғау"),
            Kind::ResourceChange => ("change to a resource", "изменение ресурса", "ресурстың өзгеруі"),
            Kind::Incident => ("incident", "инцидент", "инцидент"),
            Kind::MailConnection => ("mail system connection", "подключение почтовой системы", "пошта жүйесін қосу"),
            Kind::MailDisconnection => {
                ("mail system disconnection", "отключение почтовой системы", "пошта жүйесін ажырату")
            }
        };
        lang.pick(en, ru, kk)
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

    /// Whether the duty team may refuse it.
    pub fn may_be_refused(self) -> bool {
        !matches!(self, Kind::ResourceChange | Kind::Incident)
    }

    /// Whether a refusal holds its resource back for 30 calendar days: only where the
    /// regulation says so, the WAF (IQBSH rule 17), defacement protection (rule 18) and
    /// mail connection (EPBSH rule 10). A refused link, yearly list or risky service may
    /// be filed again the next day with its fault corrected.
    pub fn waits_after_refusal(self) -> bool {
        matches!(self, Kind::Waf | Kind::Defacement | Kind::MailConnection)
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
    "unknown kind '{0}': use one of operator-link, yearly-lists, risky-service, waf, defacement, resource-change, incident, mail-connection, mail-disconnection"
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
    use crate::{Fields, form};

    /// Every field an empty application is refused for is one the forms offer.
    #[test]
    fn the_forms_offer_every_required_field() {
        let day = "2026-03-02".parse().unwrap();
        for kind in Kind::ALL {
            let problems = Fields::parse(kind, &serde_json::json!({}), day, &crate::fields::NoRegistry)
                .expect_err("an empty application");
            for p in &problems.0 {
                let offered = form::fields(kind).iter().any(|f| f.key == p.field);
                assert!(offered, "{kind}: '{}' is not offered", p.field);
            }
        }
    }
}
