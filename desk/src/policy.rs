//! The policy book's side of the desk: applied yearly lists and risky services become
//! organisations' policies (the web gateway enforces them; the policy file stays an
//! import and export format beside them). An organisation's newest applied yearly list
//! gives its categories and the year it is in force; each applied risky service is a
//! grant of its category for a year.

use std::collections::BTreeMap;

use policies::category::Category;
use policies::policy::{Grant, GrantTarget, OrgPolicy};

use crate::{Applicant, Application, Fields, State};

/// The policies the applied applications (number, application) make, one per
/// organisation that has any.
pub fn org_policies(applications: &[(i64, Application)]) -> Vec<OrgPolicy> {
    let mut orgs: BTreeMap<String, OrgPolicy> = BTreeMap::new();
    let mut applied: Vec<&(i64, Application)> =
        applications.iter().filter(|(_, a)| a.state == State::Applied).collect();
    applied.sort_by_key(|(id, a)| (a.since, *id));
    for (id, a) in applied {
        let Applicant::Organisation(bin) = &a.applicant else { continue };
        let org = orgs.entry(bin.to_string()).or_insert_with(|| OrgPolicy {
            bin: bin.to_string(),
            name: String::new(),
            received: a.received,
            granted: None,
            categories: Default::default(),
            grants: Vec::new(),
        });
        match &a.fields {
            Fields::YearlyLists { categories, .. } => {
                org.categories = categories.iter().filter_map(|c| Category::new(c).ok()).collect();
                org.received = a.received;
                org.granted = Some(a.since);
            }
            Fields::RiskyService { category, .. } => {
                if let Ok(c) = Category::new(category) {
                    let request = format!("request {id}");
                    org.grants.push(Grant { target: GrantTarget::Category(c), request, granted: a.since });
                }
            }
            _ => {}
        }
    }
    orgs.into_values().collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Action, Kind};

    fn applied(kind: Kind, fields: serde_json::Value, day: &str) -> Application {
        let day = day.parse().unwrap();
        let bin = policies::Bin::with_check_digit("98014000001").unwrap();
        let fields = Fields::parse(kind, &fields, day).unwrap();
        let mut a = Application::file(Applicant::Organisation(bin), vec!["a@b.example".into()], fields, day).unwrap();
        a.act(&Action::Apply, day).unwrap();
        a
    }

    #[test]
    fn the_newest_applied_list_and_every_risky_grant_make_the_policy() {
        let old = applied(Kind::YearlyLists, json!({"categories": "news", "networks": "192.0.2.0/24"}), "2026-01-10");
        let new =
            applied(Kind::YearlyLists, json!({"categories": "education", "networks": "192.0.2.0/24"}), "2026-03-10");
        let vpn = applied(Kind::RiskyService, json!({"category": "vpn", "purpose": "staff"}), "2026-02-01");
        let policies = org_policies(&[(3, new), (1, old), (2, vpn)]);
        assert_eq!(policies.len(), 1);
        let p = &policies[0];
        assert_eq!(p.categories.iter().map(ToString::to_string).collect::<Vec<_>>(), ["education"]);
        assert_eq!(p.granted, Some("2026-03-10".parse().unwrap()));
        assert_eq!(p.grants.len(), 1);
        assert_eq!(p.grants[0].request, "request 2");
    }
}
