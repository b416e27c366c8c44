//! The rules checked on dates whose answers are known from the Kazakhstan calendar:
//! weekends, holidays moved off a weekend, the turn of the year, the 30-day wait and the
//! lapse of technical conditions.

use serde_json::json;

use super::*;
use crate::clock::resubmit_from;
use crate::conditions::Items;
use crate::fields::NoRegistry;

fn conditions(number: &str, point: &str) -> Action {
    let items = Items { connection_point: point.into(), ..Items::default() };
    Action::Conditions { number: number.into(), items }
}

fn d(text: &str) -> Date {
    text.parse().unwrap()
}

fn bin() -> policies::Bin {
    policies::Bin::with_check_digit("98014000001").unwrap()
}

fn app(kind: Kind, fields: serde_json::Value, received: &str) -> Application {
    let applicant = match kind {
        Kind::OperatorLink => Applicant::Operator("alpha".into()),
        _ => Applicant::Organisation(bin()),
    };
    let fields = Fields::parse(kind, &fields, d(received), &NoRegistry).unwrap();
    Application::file(applicant, vec!["noc@alpha.example".into()], fields, d(received)).unwrap()
}

fn link(received: &str) -> Application {
    let f = json!({"object_name": "Akimat B", "object_address": "Astana, Beibitshilik 1", "main_gbps": 2,
        "backup_gbps": "1", "planned": "2027-06-01"});
    app(Kind::OperatorLink, f, received)
}

fn lists(received: &str) -> Application {
    app(Kind::YearlyLists, json!({"categories": "news,education", "networks": ["192.0.2.0/24"]}), received)
}

fn mail(received: &str) -> Application {
    let f = json!({"system": "akimat-mail", "domains": ["akimat.example.kz"], "servers": "192.0.2.25",
        "specialists": [{"name": "A. Admin", "email": "a@akimat.example.kz", "work_phone": "+7 7172 000000",
        "mobile": "+7 701 0000000"}]});
    app(Kind::MailConnection, f, received)
}

#[test]
fn an_answer_due_in_ten_working_days_skips_weekends() {
    let calendar = Calendar::kazakhstan_default();
    // Received on Friday 20 November 2026: 23–27 November and 30 November – 4 December.
    let step = lists("2026-11-20").step(&calendar);
    assert_eq!(step, Step { holder: Some(Holder::Duty), due: Some(d("2026-12-04")) });
    // Received on a Saturday: the period starts on Monday all the same.
    assert_eq!(lists("2026-11-21").step(&calendar).due, Some(d("2026-12-04")));
}

#[test]
fn a_holiday_moved_off_a_weekend_is_not_counted() {
    let calendar = Calendar::kazakhstan_default();
    let mut a = link("2026-03-02");
    a.act(&conditions("TC-7", "port 3"), d("2026-03-06")).unwrap();
    // Conditions on Friday 6 March 2026: Monday 9 March is off (8 March was a Sunday),
    // so the seven days are 10–13 and 16–18 March. The operator holds the application.
    assert_eq!(a.step(&calendar), Step { holder: Some(Holder::Applicant), due: Some(d("2026-03-18")) });
}

#[test]
fn deadlines_cross_the_year_end_over_new_year_and_christmas() {
    let calendar = Calendar::kazakhstan_default();
    // Friday 25 December 2026: 28–31 December, then 1 January (Friday) and 4 January
    // (2 January fell on a Saturday) off, 5–6, 7 January off, 8, 11, 12, 13.
    assert_eq!(lists("2026-12-25").step(&calendar).due, Some(d("2027-01-13")));
    // A mail connection received on 31 December 2026: 5, 6, 8, 11, 12 January.
    let mut m = mail("2026-12-31");
    assert_eq!(m.step(&calendar).due, Some(d("2027-01-12")));
    // Checking does not restart the clock: connected within five days of receipt.
    m.act(&Action::Check, d("2027-01-05")).unwrap();
    assert_eq!(m.step(&calendar), Step { holder: Some(Holder::Duty), due: Some(d("2027-01-12")) });
    assert!(m.overdue(d("2027-01-13"), &calendar) && !m.overdue(d("2027-01-12"), &calendar));
}

#[test]
fn a_refusal_opens_a_thirty_day_wait_counted_in_calendar_days() {
    let mut a = mail("2026-02-20");
    a.act(&Action::Refuse { reason: "the owner is not eligible".into() }, d("2026-03-01")).unwrap();
    assert_eq!(a.state, State::Refused);
    assert_eq!(a.resubmit_from(), Some(d("2026-04-01")), "the wait is 2–31 March");
    assert_eq!(resubmit_from(d("2026-12-15")), d("2027-01-15"));
    assert_eq!(a.step(&Calendar::kazakhstan_default()), Step { holder: None, due: None });
}

#[test]
fn technical_conditions_lapse_after_sixty_days_unless_extended_ten_days_ahead() {
    let mut a = link("2026-01-05");
    a.act(&conditions("TC-1", "rack 1"), d("2026-01-10")).unwrap();
    assert_eq!(a.conditions.as_ref().unwrap().expires, d("2026-03-11"));
    assert!(!a.lapse_due(d("2026-03-11")) && a.lapse_due(d("2026-03-12")));

    let mut late = a.clone();
    let refused = late.act(&Action::Extend, d("2026-03-02")).unwrap_err();
    assert_eq!(refused, Refusal::TooLateToExtend { expires: d("2026-03-11"), until: d("2026-03-01") });
    assert_eq!(late.act(&Action::Ready, d("2026-03-12")).unwrap_err(), Refusal::Lapsed(d("2026-03-11")));
    late.act(&Action::Lapse, d("2026-03-12")).unwrap();
    assert_eq!(late.state, State::Lapsed);

    a.act(&Action::Extend, d("2026-03-01")).unwrap();
    assert_eq!(a.conditions.as_ref().unwrap().expires, d("2026-05-10"));
    assert!(!a.lapse_due(d("2026-03-12")));
}

#[test]
fn an_operator_link_runs_to_connection_through_non_conformities() {
    let calendar = Calendar::kazakhstan_default();
    let mut a = link("2026-04-01");
    a.act(&conditions("TC-2", "two paths"), d("2026-04-03")).unwrap();
    a.act(&Action::Ready, d("2026-04-08")).unwrap();
    assert_eq!(a.step(&calendar), Step { holder: Some(Holder::Duty), due: None });
    a.act(&Action::NonConformities { reason: "patch cords unlabelled".into() }, d("2026-04-09")).unwrap();
    // Thursday 9 April: 10, 13, 14, 15, 16 April.
    assert_eq!(a.step(&calendar), Step { holder: Some(Holder::Applicant), due: Some(d("2026-04-16")) });
    a.act(&Action::Ready, d("2026-04-14")).unwrap();
    assert_eq!(a.verbs(), ["nonconform", "extend", "connect"]);
    a.act(&Action::Connect, d("2026-04-15")).unwrap();
    assert!(a.verbs().is_empty());
    assert_eq!((a.state, a.since), (State::Connected, d("2026-04-15")));
    let wrong = a.act(&Action::Apply, d("2026-04-16")).unwrap_err();
    assert!(matches!(wrong, Refusal::NotNow { state: State::Connected, verb: "apply", .. }), "{wrong}");
}

#[test]
fn applied_lists_are_valid_one_calendar_year() {
    let mut a = lists("2026-03-02");
    a.act(&Action::Apply, d("2026-03-10")).unwrap();
    assert_eq!(a.valid_through, Some(d("2027-03-09")));
    assert!(!a.reminder_due(d("2027-02-06"), 30) && a.reminder_due(d("2027-02-07"), 30));
    assert!(a.reminder_due(d("2027-03-09"), 30) && !a.reminder_due(d("2027-03-10"), 30), "lapsed: no reminder");
}

#[test]
fn every_kind_has_a_path_from_filed_to_an_answer() {
    let today = d("2026-06-01");
    for kind in Kind::ALL {
        let verb = match kind {
            Kind::OperatorLink => conditions("TC", "rack 1"),
            Kind::YearlyLists | Kind::RiskyService => Action::Apply,
            Kind::Waf | Kind::Defacement => Action::Connect,
            Kind::ResourceChange | Kind::Incident => Action::Close { note: "noted".into() },
            Kind::MailConnection => Action::Check,
            Kind::MailDisconnection => Action::Apply,
        };
        assert!(next(kind, State::Filed, &verb).is_some(), "{kind}");
        let refusal = next(kind, State::Filed, &Action::Refuse { reason: "r".into() });
        assert_eq!(refusal.is_some(), kind.may_be_refused(), "{kind}");
    }
    let mut incident =
        app(Kind::Incident, json!({"summary": "defaced page", "observed_on": "2026-06-01"}), "2026-06-01");
    assert_eq!(incident.step(&Calendar::kazakhstan_default()).due, Some(today), "an incident is due at once");
    assert!(incident.act(&Action::Close { note: " ".into() }, today).is_err(), "a reason is required");
}

#[test]
fn every_problem_of_an_application_is_named() {
    let f = json!({"object_name": "", "main_gbps": 0, "backup_gbps": "x", "planned": "2026-02-30", "colour": "red"});
    let problems = Fields::parse(Kind::OperatorLink, &f, d("2026-01-01"), &NoRegistry).unwrap_err();
    let named: Vec<(&str, String)> = problems.0.iter().map(|p| (p.field.as_str(), p.message())).collect();
    let named: Vec<(&str, &str)> = named.iter().map(|(f, m)| (*f, m.as_str())).collect();
    assert_eq!(
        named,
        [
            ("object_name", "empty: fill it in"),
            ("object_address", "missing: fill it in"),
            ("backup_gbps", "must be a whole number"),
            ("planned", "not a date (YYYY-MM-DD): 2026-02-30 does not exist"),
            ("colour", "unknown field for this kind"),
            ("main_gbps", "bandwidth is counted in 1 Gbit/s units: at least 1"),
        ]
    );
    let f = json!({"categories": ["news", "vpn", "Bad Name"], "networks": ["192.0.2.0/33", "10.0.0.0/8"]});
    let problems = Fields::parse(Kind::YearlyLists, &f, d("2026-01-01"), &NoRegistry).unwrap_err();
    assert_eq!(problems.0.len(), 3, "{problems}");
    let who = Applicant::Operator("alpha".into());
    let fields =
        Fields::parse(Kind::RiskyService, &json!({"category": "vpn", "purpose": "x"}), d("2026-01-01"), &NoRegistry);
    let refused = Application::file(who, vec!["not-mail".into()], fields.unwrap(), d("2026-01-01")).unwrap_err();
    assert_eq!(refused.0.len(), 2, "{refused}");
}

#[test]
fn what_an_applicant_sends_is_bounded_in_every_field() {
    use crate::fields::{MAX_ITEMS, MAX_TEXT};
    let long = "x".repeat(MAX_TEXT + 1);
    let at_most = "ы".repeat(MAX_TEXT);
    let f = json!({"category": "vpn", "purpose": long});
    let problems = Fields::parse(Kind::RiskyService, &f, d("2026-01-01"), &NoRegistry).unwrap_err();
    assert_eq!(problems.0[0].field, "purpose");
    assert!(problems.0[0].message().contains("at most 2000"), "{problems}");
    assert!(
        Fields::parse(
            Kind::RiskyService,
            &json!({"category": "vpn", "purpose": at_most}),
            d("2026-01-01"),
            &NoRegistry
        )
        .is_ok()
    );
    let many: Vec<String> = (0..=MAX_ITEMS).map(|i| format!("10.{}.{}.0/24", i / 256, i % 256)).collect();
    let problems = Fields::parse(
        Kind::YearlyLists,
        &json!({"categories": "news", "networks": many}),
        d("2026-01-01"),
        &NoRegistry,
    );
    assert_eq!(problems.unwrap_err().to_string(), "networks: more than 10000 items\n", "one problem, said once");
    let one_text = (0..=MAX_ITEMS).map(|i| format!("a{i}.example.kz")).collect::<Vec<_>>().join(",");
    let f = json!({"system": "m", "domains": one_text, "servers": "192.0.2.25"});
    assert!(
        Fields::parse(Kind::MailConnection, &f, d("2026-01-01"), &NoRegistry)
            .unwrap_err()
            .to_string()
            .contains("items")
    );
    let f = json!({"site": "min.example.kz", "access": "sftp://min.example.kz/", "login": "deploy",
        "access_key": format!("-----BEGIN PRIVATE KEY-----{}", "s".repeat(crate::fields::MAX_KEY))});
    let problems = Fields::parse(Kind::Defacement, &f, d("2026-01-01"), &NoRegistry).unwrap_err();
    assert!(problems.0.iter().any(|p| p.field == "access_key" && p.message().contains("at most 16384")), "{problems}");
    // Contacts: at most ten, each a plausible address of at most 254 bytes.
    let fields =
        || Fields::parse(Kind::RiskyService, &json!({"category": "vpn", "purpose": "x"}), d("2026-01-01"), &NoRegistry);
    let org = || Applicant::Organisation(bin());
    let eleven: Vec<String> = (0..11).map(|i| format!("it{i}@min.example")).collect();
    let refused = Application::file(org(), eleven, fields().unwrap(), d("2026-01-01")).unwrap_err();
    assert!(refused.to_string().contains("at most 10"), "{refused}");
    let ten: Vec<String> = (0..10).map(|i| format!("it{i}@min.example")).collect();
    assert!(Application::file(org(), ten, fields().unwrap(), d("2026-01-01")).is_ok());
    let huge = format!("{}@min.example", "a".repeat(250));
    assert!(Application::file(org(), vec![huge], fields().unwrap(), d("2026-01-01")).is_err());
}

#[test]
fn a_refusal_waits_thirty_days_only_where_the_regulation_says_so() {
    let mut refused = lists("2026-03-02");
    refused.act(&Action::Refuse { reason: "networks not in the catalog".into() }, d("2026-03-03")).unwrap();
    assert_eq!(refused.resubmit_from(), None, "yearly lists may be filed again the next day");
    let mut m = mail("2026-03-02");
    m.act(&Action::Refuse { reason: "not a government body".into() }, d("2026-03-03")).unwrap();
    assert_eq!(m.resubmit_from(), Some(d("2026-04-03")));
    assert_eq!(m.fields.resources(), ["akimat.example.kz"]);
}

#[test]
fn a_disconnection_letter_is_due_on_the_agreed_day_and_apply_disconnects() {
    let calendar = Calendar::kazakhstan_default();
    let f = json!({"system": "akimat-mail", "reason": "moved to another system", "on": "2026-03-31"});
    let fields = Fields::parse(Kind::MailDisconnection, &f, d("2026-03-02"), &OwnsAkimatMail).unwrap();
    let mut a = Application::file(Applicant::Organisation(bin()), vec!["it@a.example".into()], fields, d("2026-03-02"))
        .unwrap();
    assert_eq!(a.step(&calendar), Step { holder: Some(Holder::Duty), due: Some(d("2026-03-31")) });
    a.act(&Action::Apply, d("2026-03-31")).unwrap();
    assert_eq!((a.state, a.valid_through), (State::Disconnected, None));
    // Another organisation's system is refused when filing.
    let other = Applicant::Organisation(policies::Bin::with_check_digit("98014000002").unwrap());
    let refused = Application::receive(
        other,
        vec!["it@b.example".into()],
        (Kind::MailDisconnection, &json!({"system": "akimat-mail", "reason": "x"})),
        d("2026-03-02"),
        &OwnsAkimatMail,
    )
    .unwrap_err();
    assert!(refused.to_string().contains("belongs to another organisation"), "{refused}");
}

struct OwnsAkimatMail;

impl Registry for OwnsAkimatMail {
    fn operator_exists(&self, _: &str) -> bool {
        false
    }
    fn key_pair(&self, _: &str, _: &str, _: &str) -> Result<(), String> {
        Err("none".into())
    }
    fn mail_system_owner(&self, system: &str) -> Option<String> {
        (system == "akimat-mail").then(|| bin().to_string())
    }
}

#[test]
fn a_change_reported_after_five_working_days_is_late() {
    let calendar = Calendar::kazakhstan_default();
    let change = |received: &str| {
        let f = json!({"resource": "a.example.kz", "change": "stopped", "changed_on": "2026-03-06"});
        app(Kind::ResourceChange, f, received)
    };
    // Changed on Friday 6 March 2026: 10–13 and 16 March (9 March was off).
    assert_eq!(change("2026-03-16").reported_late(&calendar), None);
    assert_eq!(change("2026-03-17").reported_late(&calendar), Some(d("2026-03-16")));
    assert_eq!(lists("2026-03-17").reported_late(&calendar), None);
}

#[test]
fn contacts_are_mail_addresses_and_nothing_around_them() {
    for good in ["noc@example.kz", "a.b+tag@mail.example.org", "o'brien@example.com", "noc@пример.қаз", "x@a-b.example"]
    {
        assert!(plausible_email(good), "{good}");
    }
    let long_local = format!("{}@example.com", "a".repeat(65));
    for bad in [
        "",
        "noc",
        "noc@",
        "@example.com",
        "noc@example",
        "noc@example.com\r\nBcc: victim@example.org",
        "noc@example.com,other@example.org",
        "Name <noc@example.com>",
        "\"quoted\"@example.com",
        "no c@example.com",
        "noc\u{0}@example.com",
        "noc@exa\u{202E}mple.com",
        ".noc@example.com",
        "noc.@example.com",
        "no..c@example.com",
        "noc@-example.com",
        "noc@example-.com",
        "noc@example..com",
        "noc@exam_ple.com",
        "noc@[192.0.2.1]",
        "nöc@example.com",
        &long_local,
    ] {
        assert!(!plausible_email(bad), "{bad:?}");
    }
}
