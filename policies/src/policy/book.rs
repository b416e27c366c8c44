//! The policy book: the default policy and every organisation's policy, read from the
//! TOML file the duty team edits. Parsing checks everything and reports each problem
//! with the organisation and field it concerns; a bad file yields no book.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::Deserialize;

use crate::calendar::{Calendar, Date};
use crate::category::Category;

use super::{APPLY_WITHIN_WORKING_DAYS, valid_through};

/// What a grant opens: a risky category, or one domain (and its subdomains).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantTarget {
    Category(Category),
    Domain(String),
}

/// An explicit grant for a risky service, on its own request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub target: GrantTarget,
    /// The request reference (`REQ-2026-014`).
    pub request: String,
    pub granted: Date,
}

impl Grant {
    pub fn valid_on(&self, day: Date) -> bool {
        self.granted <= day && day <= valid_through(self.granted)
    }
}

/// One organisation's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgPolicy {
    pub bin: String,
    pub name: String,
    /// When the organisation's request arrived.
    pub received: Date,
    /// When the policy was applied; `None` while the request is pending.
    pub granted: Option<Date>,
    pub categories: BTreeSet<Category>,
    pub grants: Vec<Grant>,
}

impl OrgPolicy {
    /// In force on `day`: granted, and within one calendar year of the grant.
    pub fn valid_on(&self, day: Date) -> bool {
        self.granted.is_some_and(|g| g <= day && day <= valid_through(g))
    }

    /// The last day it is in force, once granted.
    pub fn valid_through(&self) -> Option<Date> {
        self.granted.map(valid_through)
    }

    /// The day by which the request must be applied: ten working days after receipt.
    pub fn apply_by(&self, calendar: &Calendar) -> Date {
        calendar.add_working_days(self.received, APPLY_WITHIN_WORKING_DAYS)
    }
}

/// The default policy and the organisations' policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyBook {
    pub default_categories: BTreeSet<Category>,
    pub allow_uncategorised: bool,
    pub(super) orgs: HashMap<String, OrgPolicy>,
}

impl Default for PolicyBook {
    /// No organisation policies; uncategorised sites allowed, every category denied
    /// except the exempt ones.
    fn default() -> PolicyBook {
        PolicyBook { default_categories: BTreeSet::new(), allow_uncategorised: true, orgs: HashMap::new() }
    }
}

/// Every problem of a refused policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub source: String,
    pub problems: Vec<String>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            writeln!(f, "{}: {p}", self.source)?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

/// A date written either as a TOML date (`2026-03-01`) or a string (`"2026-03-01"`).
#[derive(Deserialize)]
#[serde(untagged)]
enum DateText {
    Toml(toml::value::Datetime),
    Text(String),
}

impl DateText {
    fn date(&self) -> Result<Date, String> {
        match self {
            DateText::Toml(d) if d.time.is_none() && d.offset.is_none() => d.to_string().parse(),
            DateText::Toml(d) => Err(format!("'{d}' must be a date without a time")),
            DateText::Text(t) => t.parse(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    default: DefaultSection,
    #[serde(default)]
    organisation: Vec<OrgSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultSection {
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default = "yes")]
    allow_uncategorised: bool,
}

impl Default for DefaultSection {
    fn default() -> DefaultSection {
        DefaultSection { categories: Vec::new(), allow_uncategorised: true }
    }
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgSection {
    bin: String,
    #[serde(default)]
    name: String,
    received: DateText,
    granted: Option<DateText>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    grant: Vec<GrantSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantSection {
    category: Option<String>,
    domain: Option<String>,
    request: String,
    granted: DateText,
}

impl PolicyBook {
    /// Parses a policy file; `source` names it in error messages.
    pub fn parse(text: &str, source: &str) -> Result<PolicyBook, PolicyError> {
        let fail = |problems: Vec<String>| PolicyError { source: source.to_string(), problems };
        let file: File = toml::from_str(text).map_err(|e| fail(vec![toml_problem(text, &e)]))?;
        let mut problems = Vec::new();
        let default_categories = categories(&file.default.categories, "[default] categories", &mut problems);
        let mut orgs = HashMap::new();
        for (i, section) in file.organisation.into_iter().enumerate() {
            let at = format!("organisation #{} (bin {})", i + 1, section.bin);
            if let Some(org) = org_policy(section, &at, &mut problems) {
                if orgs.contains_key(&org.bin) {
                    problems.push(format!("{at}: BIN {} is listed twice", org.bin));
                }
                orgs.insert(org.bin.clone(), org);
            }
        }
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(PolicyBook { default_categories, allow_uncategorised: file.default.allow_uncategorised, orgs })
    }

    /// Takes in a policy that comes from elsewhere than the file (the request desk's
    /// applied applications, which prevail): a granted policy replaces the file's lists
    /// and dates for that organisation; its grants are added to the file's.
    pub fn merge(&mut self, org: OrgPolicy) {
        match self.orgs.get_mut(&org.bin) {
            Some(current) if org.granted.is_none() => current.grants.extend(org.grants),
            Some(current) => {
                let mut grants = std::mem::take(&mut current.grants);
                grants.extend(org.grants.iter().cloned());
                *current = OrgPolicy { grants, ..org };
            }
            None => {
                self.orgs.insert(org.bin.clone(), org);
            }
        }
    }

    pub fn organisation(&self, bin: &str) -> Option<&OrgPolicy> {
        self.orgs.get(bin)
    }

    pub fn organisations(&self) -> impl Iterator<Item = &OrgPolicy> {
        self.orgs.values()
    }

    /// Requests not applied by their ten-working-day deadline as of `today`, with the
    /// deadline: pending ones past it, and ones granted after it.
    pub fn overdue(&self, calendar: &Calendar, today: Date) -> Vec<(&OrgPolicy, Date)> {
        let mut late: Vec<_> = self
            .orgs
            .values()
            .map(|o| (o, o.apply_by(calendar)))
            .filter(|(o, by)| o.granted.map_or(today > *by, |g| g > *by))
            .collect();
        late.sort_by(|a, b| a.0.bin.cmp(&b.0.bin));
        late
    }
}

fn toml_problem(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}

fn categories(slugs: &[String], at: &str, problems: &mut Vec<String>) -> BTreeSet<Category> {
    let mut out = BTreeSet::new();
    for s in slugs {
        match Category::new(s) {
            Ok(c) => {
                out.insert(c);
            }
            Err(e) => problems.push(format!("{at}: {e}")),
        }
    }
    out
}

fn org_policy(s: OrgSection, at: &str, problems: &mut Vec<String>) -> Option<OrgPolicy> {
    let before = problems.len();
    if s.bin.len() != 12 || !s.bin.bytes().all(|b| b.is_ascii_digit()) {
        problems.push(format!("{at}: bin must be exactly 12 digits"));
    }
    let mut date = |d: &DateText, field: &str| d.date().map_err(|e| problems.push(format!("{at}: {field}: {e}"))).ok();
    let received = date(&s.received, "received");
    let granted = s.granted.as_ref().and_then(|g| date(g, "granted"));
    let cats = categories(&s.categories, &format!("{at}: categories"), problems);
    for c in cats.iter().filter(|c| c.is_risky()) {
        problems.push(format!("{at}: '{c}' is a risky service: it needs a [[organisation.grant]] with its request"));
    }
    if let (Some(r), Some(g)) = (received, granted)
        && g < r
    {
        problems.push(format!("{at}: granted {g} is before received {r}"));
    }
    let grants: Vec<Grant> = s
        .grant
        .iter()
        .enumerate()
        .filter_map(|(i, g)| grant(g, &format!("{at}, grant #{}", i + 1), problems))
        .collect();
    if problems.len() > before {
        return None;
    }
    Some(OrgPolicy { bin: s.bin, name: s.name, received: received?, granted, categories: cats, grants })
}

fn grant(g: &GrantSection, at: &str, problems: &mut Vec<String>) -> Option<Grant> {
    let target = match (&g.category, &g.domain) {
        (Some(c), None) => match Category::new(c) {
            Ok(c) if c.is_risky() => GrantTarget::Category(c),
            Ok(c) => {
                problems.push(format!("{at}: '{c}' is not a risky service; list it in the organisation's categories"));
                return None;
            }
            Err(e) => {
                problems.push(format!("{at}: {e}"));
                return None;
            }
        },
        (None, Some(d)) => match crate::category::domain_problem(&d.to_ascii_lowercase()) {
            None => GrantTarget::Domain(d.trim_end_matches('.').to_ascii_lowercase()),
            Some(why) => {
                problems.push(format!("{at}: domain \"{d}\" {why}"));
                return None;
            }
        },
        _ => {
            problems.push(format!("{at}: give exactly one of category or domain"));
            return None;
        }
    };
    if g.request.trim().is_empty() {
        problems.push(format!("{at}: request must name the request reference"));
        return None;
    }
    let granted = g.granted.date().map_err(|e| problems.push(format!("{at}: granted: {e}"))).ok()?;
    Some(Grant { target, request: g.request.trim().to_string(), granted })
}
