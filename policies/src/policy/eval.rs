//! Evaluating a request against the policy book: a pure function, so the proxy can call
//! it per request and tests can pin every case.

use serde::Serialize;

use crate::calendar::Date;
use crate::category::Category;

use super::book::{GrantTarget, OrgPolicy, PolicyBook};

/// What decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    /// An exempt category: reachable by everyone (it is only spared inspection).
    Exempt { category: String },
    /// A risky service opened by an explicit grant.
    Grant { request: String },
    /// A risky service without a valid grant.
    RiskyWithoutGrant { category: String },
    /// A category in the organisation's valid policy.
    OrgCategory { category: String },
    /// A category in the default policy.
    Default { category: String },
    /// No category listed for the host.
    Uncategorised,
    /// None of the host's categories is allowed.
    NotListed,
}

/// Allow or deny, with a sentence a user can read on the block page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allow: bool,
    pub reason: String,
    pub rule: Rule,
}

fn decision(allow: bool, reason: String, rule: Rule) -> Decision {
    Decision { allow, reason, rule }
}

fn host_matches(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == domain || host.strip_suffix(domain).is_some_and(|rest| rest.ends_with('.'))
}

impl PolicyBook {
    /// May organisation `org` (a BIN; `None` when unknown) reach `host`, which carries
    /// `categories`, on `day`?
    pub fn evaluate(&self, org: Option<&str>, host: &str, categories: &[Category], day: Date) -> Decision {
        let policy = org.and_then(|b| self.orgs.get(b));
        let valid = policy.filter(|p| p.valid_on(day));
        if let Some(d) = grant_for(valid.or(policy), host, categories, day) {
            return d;
        }
        if let Some(c) = categories.iter().find(|c| c.is_risky()) {
            let why = format!("'{}' ({}) needs a separate request and grant (rule 4)", c, c.label());
            return decision(false, why, Rule::RiskyWithoutGrant { category: c.to_string() });
        }
        if let Some(c) = categories.iter().find(|c| c.is_exempt()) {
            return decision(true, format!("'{c}' is open to everyone"), Rule::Exempt { category: c.to_string() });
        }
        if let Some(p) = valid
            && let Some(c) = categories.iter().find(|c| p.categories.contains(*c))
        {
            let why = format!("'{c}' is in the access list of {}", who(p));
            return decision(true, why, Rule::OrgCategory { category: c.to_string() });
        }
        if let Some(c) = categories.iter().find(|c| self.default_categories.contains(*c)) {
            let why = format!("'{c}' is open to every organisation");
            return decision(true, why, Rule::Default { category: c.to_string() });
        }
        if categories.is_empty() {
            let why = if self.allow_uncategorised {
                format!("{host} is not in any category; uncategorised sites are allowed")
            } else {
                format!("{host} is not in any category; uncategorised sites are not allowed")
            };
            return decision(self.allow_uncategorised, why, Rule::Uncategorised);
        }
        decision(false, not_listed(policy, valid.is_some(), categories, day), Rule::NotListed)
    }
}

/// A valid grant that opens `host`, checked before the risky-category refusal.
fn grant_for(policy: Option<&OrgPolicy>, host: &str, categories: &[Category], day: Date) -> Option<Decision> {
    let g = policy?.grants.iter().filter(|g| g.valid_on(day)).find(|g| match &g.target {
        GrantTarget::Category(c) => categories.contains(c),
        GrantTarget::Domain(d) => host_matches(host, d),
    })?;
    let why = format!("granted by request {} (valid until {})", g.request, super::valid_through(g.granted));
    Some(decision(true, why, Rule::Grant { request: g.request.clone() }))
}

fn who(p: &OrgPolicy) -> String {
    let name = if p.name.is_empty() { format!("BIN {}", p.bin) } else { p.name.clone() };
    match p.valid_through() {
        Some(until) => format!("{name} (policy valid until {until})"),
        None => name,
    }
}

fn not_listed(policy: Option<&OrgPolicy>, valid: bool, categories: &[Category], day: Date) -> String {
    let list = categories.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ");
    match policy {
        Some(p) if valid => format!("category {list} is not in the access list of {}", who(p)),
        Some(p) if p.granted.is_none() => {
            format!("category {list} is not open by default; the request of {} is still pending", p.name)
        }
        Some(p) => format!(
            "category {list} is not open by default; the policy of {} expired on {} (today is {day}): submit a new request",
            p.name,
            p.valid_through().map_or_else(String::new, |d| d.to_string())
        ),
        None => format!("category {list} is not open by default and the organisation has no policy"),
    }
}
