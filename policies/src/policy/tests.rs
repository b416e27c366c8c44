//! Policy book: parsing with located problems, one-year validity, grants, evaluation.

use super::*;
use crate::calendar::Calendar;
use crate::category::Category;

const BOOK: &str = r#"
[default]
categories = ["search"]

[[organisation]]
bin = "123456789012"
name = "Ministry of Examples"
received = 2026-03-01
granted = 2026-03-10
categories = ["news", "social"]
  [[organisation.grant]]
  category = "vpn"
  request = "REQ-2026-014"
  granted = "2026-04-01"
  [[organisation.grant]]
  domain = "remote.example.net"
  request = "REQ-2026-020"
  granted = 2026-04-02

[[organisation]]
bin = "210987654321"
name = "Pending Agency"
received = 2026-03-02
categories = ["news"]
"#;

fn day(s: &str) -> Date {
    s.parse().unwrap()
}

fn cats(list: &[&str]) -> Vec<Category> {
    list.iter().map(|c| Category::new(c).unwrap()).collect()
}

fn book() -> PolicyBook {
    PolicyBook::parse(BOOK, "policies.toml").unwrap()
}

const ORG: Option<&str> = Some("123456789012");

#[test]
fn one_calendar_year_from_the_grant() {
    assert_eq!(valid_through(day("2026-03-10")), day("2027-03-09"));
    assert_eq!(valid_through(day("2028-02-29")), day("2029-02-28"));
    let b = book();
    let news = cats(&["news"]);
    assert!(b.evaluate(ORG, "n.example", &news, day("2027-03-09")).allow, "last valid day");
    let expired = b.evaluate(ORG, "n.example", &news, day("2027-03-10"));
    assert!(!expired.allow, "first expired day");
    assert!(expired.reason.contains("expired on 2027-03-09"), "{}", expired.reason);
    assert!(!b.evaluate(ORG, "n.example", &news, day("2026-03-09")).allow, "not before the grant");
}

#[test]
fn categories_default_uncategorised_and_exempt() {
    let b = book();
    let on = day("2026-06-01");
    let d = b.evaluate(ORG, "n.example", &cats(&["news"]), on);
    assert_eq!(d.rule, Rule::OrgCategory { category: "news".into() });
    assert!(d.reason.contains("Ministry of Examples (policy valid until 2027-03-09)"), "{}", d.reason);
    let d = b.evaluate(ORG, "casino.example", &cats(&["gambling"]), on);
    assert!(!d.allow && d.reason.contains("'gambling' is not in the access list of Ministry of Examples"));
    assert!(b.evaluate(None, "s.example", &cats(&["search"]), on).allow, "default categories for everyone");
    assert!(b.evaluate(None, "bank.kz", &cats(&["finance"]), on).allow, "exempt categories for everyone");
    assert_eq!(b.evaluate(None, "x.example", &[], on).rule, Rule::Uncategorised);
    assert!(b.evaluate(None, "x.example", &[], on).allow);
    let strict = PolicyBook::parse("[default]\nallow_uncategorised = false\n", "p").unwrap();
    assert!(!strict.evaluate(None, "x.example", &[], on).allow);
    let pending = b.evaluate(Some("210987654321"), "n.example", &cats(&["news"]), on);
    assert!(!pending.allow && pending.reason.contains("still pending"), "{}", pending.reason);
}

#[test]
fn risky_services_need_a_valid_grant() {
    let b = book();
    let vpn = cats(&["vpn", "news"]);
    assert!(!b.evaluate(ORG, "vpn.example", &vpn, day("2026-03-31")).allow, "before the grant, even with news");
    let d = b.evaluate(ORG, "vpn.example", &vpn, day("2026-04-01"));
    assert_eq!(d.rule, Rule::Grant { request: "REQ-2026-014".into() });
    assert!(!b.evaluate(ORG, "vpn.example", &vpn, day("2027-04-01")).allow, "the grant expired");
    let d = b.evaluate(Some("210987654321"), "vpn.example", &vpn, day("2026-06-01"));
    assert_eq!(d.rule, Rule::RiskyWithoutGrant { category: "vpn".into() });
    let ra = cats(&["remote-access"]);
    assert!(b.evaluate(ORG, "a.remote.example.net", &ra, day("2026-05-01")).allow, "a domain grant");
    assert!(!b.evaluate(ORG, "other.example.net", &ra, day("2026-05-01")).allow);
}

#[test]
fn bad_files_are_refused_with_every_problem_located() {
    let text = r#"
[[organisation]]
bin = "12345"
received = 2026-03-10
granted = 2026-03-01
categories = ["vpn", "Bad Slug"]
  [[organisation.grant]]
  category = "news"
  request = "R-1"
  granted = 2026-03-01

[[organisation]]
bin = "123456789012"
received = 2026-03-01
[[organisation]]
bin = "123456789012"
received = 2026-03-01
"#;
    let err = PolicyBook::parse(text, "policies.toml").unwrap_err().to_string();
    for needle in [
        "organisation #1 (bin 12345): bin must be exactly 12 digits",
        "granted 2026-03-01 is before received 2026-03-10",
        "'vpn' is a risky service",
        "'Bad Slug' is not a category name",
        "grant #1: 'news' is not a risky service",
        "organisation #3 (bin 123456789012): BIN 123456789012 is listed twice",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in\n{err}");
    }
    let err = PolicyBook::parse("[default]\ncolour = 1\n", "p.toml").unwrap_err().to_string();
    assert!(err.contains("p.toml: line 2") && err.contains("colour"), "{err}");
}

#[test]
fn requests_are_applied_within_ten_working_days() {
    let cal = Calendar::kazakhstan_default();
    let b = book();
    let org = b.organisation("123456789012").unwrap();
    // Received Sunday 2026-03-01; 10 working days skip 8 March (Sunday → Monday 9 March off).
    assert_eq!(org.apply_by(&cal), day("2026-03-16"));
    let late = b.overdue(&cal, day("2026-03-20"));
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].0.bin, "210987654321", "the pending request is overdue; the granted one was on time");
}

#[test]
fn ip_literals_are_denied_unless_the_organisation_lists_them() {
    let on = day("2026-06-01");
    let literal = cats(&[crate::category::IP_LITERAL]);
    let d = book().evaluate(ORG, "192.0.2.1", &literal, on);
    assert!(!d.allow, "not open by default, unlike uncategorised sites: {d:?}");
    assert_eq!(d.rule, Rule::NotListed);
    let open = BOOK.replace(r#"categories = ["news", "social"]"#, r#"categories = ["news", "ip-literal"]"#);
    let b = PolicyBook::parse(&open, "policies.toml").unwrap();
    assert!(b.evaluate(ORG, "192.0.2.1", &literal, on).allow, "granted in the access list");
}

#[test]
fn a_merged_policy_prevails_over_the_file_and_keeps_its_grants() {
    let mut b = book();
    let org = |granted: Option<&str>, categories: &[&str], grants: Vec<Grant>| OrgPolicy {
        bin: "123456789012".into(),
        name: String::new(),
        received: day("2026-06-01"),
        granted: granted.map(day),
        categories: cats(categories).into_iter().collect(),
        grants,
    };
    let before = b.organisation("123456789012").unwrap().clone();
    let vpn = Grant {
        target: GrantTarget::Category(Category::new("vpn").unwrap()),
        request: "request 7".into(),
        granted: day("2026-06-02"),
    };
    b.merge(org(None, &[], vec![vpn.clone()]));
    let merged = b.organisation("123456789012").unwrap();
    assert_eq!(
        (merged.granted, &merged.categories),
        (before.granted, &before.categories),
        "a grant alone adds a grant"
    );
    assert_eq!(merged.grants.len(), before.grants.len() + 1);
    b.merge(org(Some("2026-06-03"), &["education"], vec![]));
    let merged = b.organisation("123456789012").unwrap();
    assert_eq!(merged.granted, Some(day("2026-06-03")));
    assert_eq!(merged.categories, cats(&["education"]).into_iter().collect());
    assert!(merged.grants.contains(&vpn), "grants stay");
    b.merge(OrgPolicy { bin: "999999999999".into(), ..org(Some("2026-06-03"), &["news"], vec![]) });
    assert!(b.organisation("999999999999").is_some());
}

#[test]
fn the_book_written_as_toml_reads_back_the_same() {
    let b = book();
    let text = b.to_toml();
    assert_eq!(PolicyBook::parse(&text, "export.toml").unwrap(), b, "{text}");
    assert!(text.contains("request = \"REQ-2026-014\""), "{text}");
}
