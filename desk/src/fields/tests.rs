//! The forms' rules on whole applications: every appendix-3 and appendix-4 item read and
//! checked, every problem named at once with its field, secrets taken out to be sealed.

use serde_json::json;

use super::*;

/// A registry with operator `alpha`, mail system `b-mail` of BIN 980140000023, and a
/// key pair check that accepts only the text `PAIR` in the key for `a.example.kz`.
struct Known;

impl Registry for Known {
    fn operator_exists(&self, name: &str) -> bool {
        name == "alpha"
    }
    fn key_pair(&self, _: &str, key: &str, site: &str) -> Result<(), String> {
        match key.contains("PAIR") && site == "a.example.kz" {
            true => Ok(()),
            false => Err("the key is not the certificate's".into()),
        }
    }
    fn mail_system_owner(&self, system: &str) -> Option<String> {
        (system == "b-mail").then(|| "980140000023".to_string())
    }
}

const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";

fn day() -> Date {
    "2026-03-02".parse().unwrap()
}

fn specialist() -> serde_json::Value {
    json!({"name": "Aigerim Nurlanovna", "email": "a.n@a.example.kz", "work_phone": "+7 7172 55 00 11",
        "mobile": "+7 701 000 00 00"})
}

fn waf() -> serde_json::Value {
    json!({"site": "a.example.kz", "addresses": "192.0.2.80", "operator": "alpha", "web_server": "nginx 1.24.0",
        "balancer": "HAProxy 2.8", "dbms": "PostgreSQL 15", "cms": "WordPress 6.4", "certificate": CERT,
        "private_key": "-----BEGIN PRIVATE KEY-----\nPAIR\n-----END PRIVATE KEY-----", "app_server": "php-fpm 8.2",
        "specialists": [specialist()]})
}

#[test]
fn a_waf_application_holds_every_appendix_3_item_and_its_key_is_taken_to_be_sealed() {
    let mut fields = Fields::parse(Kind::Waf, &waf(), day(), &Known).unwrap();
    let Fields::Waf { resource, specialists } = &fields else { panic!() };
    assert_eq!((resource.operator.as_str(), resource.cms.as_str()), ("alpha", "WordPress 6.4"));
    assert_eq!(specialists[0].work_phone, "+7 7172 55 00 11");
    let secrets = fields.take_secrets();
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0].0, "private_key");
    assert!(secrets[0].1.contains("PAIR"));
    let stored = serde_json::to_string(&fields).unwrap();
    assert!(!stored.contains("PAIR") && stored.contains(MASK), "{stored}");
    assert!(fields.take_secrets().is_empty(), "a mask is not taken again");
    assert_eq!(fields.resources(), ["a.example.kz"]);
    let back: Fields = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, fields, "the record reads back");
}

#[test]
fn every_bad_field_is_named_at_once_with_why() {
    let mut bad = waf();
    bad["operator"] = json!("gamma");
    bad["web_server"] = json!("nginx");
    bad["addresses"] = json!("192.0.2.300");
    bad["private_key"] = json!("-----BEGIN PRIVATE KEY-----\nOTHER\n-----END PRIVATE KEY-----");
    bad["specialists"] = json!([{"name": "A", "email": "not-an-address", "work_phone": "x", "mobile": ""}]);
    bad["extra"] = json!(1);
    let problems = Fields::parse(Kind::Waf, &bad, day(), &Known).unwrap_err();
    let fields: Vec<&str> = problems.0.iter().map(|p| p.field.as_str()).collect();
    for f in [
        "operator",
        "web_server",
        "addresses",
        "certificate",
        "specialists.0.email",
        "specialists.0.work_phone",
        "specialists.0.mobile",
        "extra",
    ] {
        assert!(fields.contains(&f), "{f} in {problems}");
    }
    let text = problems.to_string();
    assert!(text.contains("the key is not the certificate's") && text.contains("'gamma' is not an operator"), "{text}");
    let ru = problems.0.iter().find(|p| p.field == "specialists.0.email").unwrap().why.text(crate::Lang::Ru);
    assert_eq!(ru, "«not-an-address» не адрес электронной почты");
}

#[test]
fn a_certificate_comes_with_its_key_and_none_is_needed_without_https() {
    let mut plain = waf();
    plain.as_object_mut().unwrap().retain(|k, _| k != "certificate" && k != "private_key");
    assert!(Fields::parse(Kind::Waf, &plain, day(), &Known).is_ok());
    plain["certificate"] = json!(CERT);
    let p = Fields::parse(Kind::Waf, &plain, day(), &Known).unwrap_err();
    assert_eq!(p.0[0].field, "private_key", "{p}");
    plain["private_key"] = json!("not pem");
    let p = Fields::parse(Kind::Waf, &plain, day(), &Known).unwrap_err();
    assert!(p.to_string().contains("private_key: not PEM"), "{p}");
}

#[test]
fn a_defacement_application_gives_access_by_key_and_pages_are_optional() {
    let mut f = waf();
    f["access"] = json!("sftp://deploy@192.0.2.80:22/var/www");
    f["login"] = json!("deploy");
    f["access_key"] = json!("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----");
    let mut fields = Fields::parse(Kind::Defacement, &f, day(), &Known).unwrap();
    let taken: Vec<&str> = fields.take_secrets().iter().map(|(k, _)| *k).collect();
    assert_eq!(taken, ["private_key", "access_key"]);
    f["access"] = json!("http://192.0.2.80/");
    f["password"] = json!("also");
    let p = Fields::parse(Kind::Defacement, &f, day(), &Known).unwrap_err();
    assert!(p.names("access") && p.names("password"), "{p}");
    assert!(p.to_string().contains("ftp://, ftps://, sftp:// or ssh://"), "{p}");
}

#[test]
fn specialists_come_as_a_list_or_as_form_rows_and_at_least_one_is_named() {
    let rows = json!({"system": "b-mail", "domains": "b.example.kz", "servers": "192.0.2.25",
        "specialists": {"1": specialist(), "0": {"name": "", "email": "", "work_phone": "", "mobile": ""}}});
    let fields = Fields::parse(Kind::MailConnection, &rows, day(), &Known).unwrap();
    let Fields::MailConnection { specialists, owner, .. } = fields else { panic!() };
    assert_eq!((specialists.len(), owner), (1, None));
    let none = json!({"system": "b-mail", "domains": "b.example.kz", "servers": "192.0.2.25", "specialists": []});
    let p = Fields::parse(Kind::MailConnection, &none, day(), &Known).unwrap_err();
    assert_eq!(p.0[0].field, "specialists");
}

#[test]
fn a_disconnection_letter_names_a_registered_system_and_a_day_not_past() {
    let ok = json!({"system": "b-mail", "reason": "the ministry moved to another system", "on": "2026-03-20"});
    assert!(Fields::parse(Kind::MailDisconnection, &ok, day(), &Known).is_ok());
    let bad = json!({"system": "c-mail", "reason": "x", "on": "2026-03-01"});
    let p = Fields::parse(Kind::MailDisconnection, &bad, day(), &Known).unwrap_err();
    assert!(p.names("system") && p.names("on"), "{p}");
}
