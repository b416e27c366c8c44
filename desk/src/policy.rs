//! The policy book's side of the desk: applied yearly lists and risky services become
//! organisations' policies (the web gateway enforces them; the policy file stays an
//! import and export format beside them). An organisation's newest applied yearly list
//! gives its categories and the year it is in force; each applied risky service is a
//! grant of its category for a year. The other way, an organisation's policy from the
//! file becomes the applications that make it (`from_policy`), for importing the file.

use std::collections::BTreeMap;

use policies::category::Category;
use policies::policy::{Grant, GrantTarget, OrgPolicy};

use policies::calendar::Date;

use crate::{Action, Applicant, Application, Fields, Kind, Problem, Problems, State, Why};

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

/// The applications that make `org`'s policy from the file: its yearly lists (filed on
/// the day received, applied on the day granted, or still filed when pending) with
/// `networks` (the file does not hold them), and one applied risky service per granted
/// category. A grant of a single domain has no application kind: it is a problem, as is
/// anything the desk's rules refuse; `contacts` receive the applications' e-mails.
pub fn from_policy(org: &OrgPolicy, networks: &[String], contacts: &[String]) -> Result<Vec<Application>, Problems> {
    let mut problems = Problems::default();
    let applicant = match org.bin.parse() {
        Ok(bin) => Applicant::Organisation(bin),
        Err(e) => {
            problems.push("bin", Why::Bin(e.to_string()));
            return Err(problems);
        }
    };
    let categories: Vec<String> = org.categories.iter().map(ToString::to_string).collect();
    let lists = serde_json::json!({ "categories": categories, "networks": networks });
    let mut wanted = vec![(Kind::YearlyLists, lists, org.received, org.granted)];
    for grant in &org.grants {
        match &grant.target {
            GrantTarget::Category(c) => {
                let purpose = format!("imported from the policy file ({})", grant.request);
                let fields = serde_json::json!({ "category": c.to_string(), "purpose": purpose });
                wanted.push((Kind::RiskyService, fields, grant.granted, Some(grant.granted)));
            }
            GrantTarget::Domain(d) => problems.push("grant", Why::DomainGrant(format!("{d} ({})", grant.request))),
        }
    }
    let mut made = Vec::new();
    for (kind, fields, received, applied) in wanted {
        match one(&applicant, contacts, (kind, &fields), received, applied) {
            Ok(a) => made.push(a),
            Err(p) => problems.0.extend(p.0.into_iter().map(|p| Problem { field: format!("{kind} {}", p.field), ..p })),
        }
    }
    if problems.is_empty() { Ok(made) } else { Err(problems) }
}

/// One application filed on `received` and, if `applied` names a day, applied then.
fn one(
    applicant: &Applicant,
    contacts: &[String],
    (kind, fields): (Kind, &serde_json::Value),
    received: Date,
    applied: Option<Date>,
) -> Result<Application, Problems> {
    let fields = Fields::parse(kind, fields, received, &crate::fields::NoRegistry)?;
    let mut a = Application::file(applicant.clone(), contacts.to_vec(), fields, received)?;
    if let Some(day) = applied {
        a.act(&Action::Apply, day).map_err(|r| {
            let mut p = Problems::default();
            p.push("state", Why::Refused(r.to_string()));
            p
        })?;
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn applied(kind: Kind, fields: serde_json::Value, day: &str) -> Application {
        let day = day.parse().unwrap();
        let bin = policies::Bin::with_check_digit("98014000001").unwrap();
        let fields = Fields::parse(kind, &fields, day, &crate::fields::NoRegistry).unwrap();
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

    #[test]
    fn a_policy_from_the_file_becomes_the_applications_that_make_it_again() {
        let file = r#"
            [default]
            categories = []
            [[organisation]]
            bin = "980140000015"
            received = 2026-01-05
            granted = 2026-01-12
            categories = ["news", "education"]
            [[organisation.grant]]
            category = "vpn"
            request = "REQ-7"
            granted = 2026-02-02
        "#;
        let book = policies::policy::PolicyBook::parse(file, "test").unwrap();
        let org = book.organisation("980140000015").unwrap();
        let apps = from_policy(org, &["192.0.2.0/24".into()], &["it@min.example".into()]).unwrap();
        assert_eq!(
            apps.iter().map(|a| (a.kind(), a.state)).collect::<Vec<_>>(),
            [(Kind::YearlyLists, State::Applied), (Kind::RiskyService, State::Applied)]
        );
        let numbered: Vec<(i64, Application)> = apps.into_iter().zip(1..).map(|(a, n)| (n, a)).collect();
        let again = org_policies(&numbered);
        assert_eq!((again[0].categories.clone(), again[0].granted), (org.categories.clone(), org.granted));
        assert_eq!(again[0].received, org.received);
        assert_eq!(again[0].grants.len(), 1);
        let no_networks = from_policy(org, &[], &["it@min.example".into()]).unwrap_err();
        assert!(no_networks.0.iter().any(|p| p.field == "yearly-lists networks"), "{no_networks}");
    }
}
