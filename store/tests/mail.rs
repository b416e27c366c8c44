//! The mail-system registry in the store: connect with validation and conflicts, status
//! changes with history, agreed disconnections, saved state.

use policies::{Bin, MailStatus};
use store::{NewMailSystem, Store, StoreError, testing::fresh_database};

fn bin(first11: &str) -> Bin {
    Bin::with_check_digit(first11).unwrap()
}

async fn store_with_org(dir: &tempfile::TempDir) -> (Store, Bin) {
    let store = Store::open(&fresh_database(dir.path()).await).await.unwrap();
    let owner = bin("99010100000");
    store.add_organisation("test", &owner, "Ministry of Examples", &[]).await.unwrap();
    (store, owner)
}

fn system(name: &str, bin: &Bin, domain: &str, ip: &str) -> NewMailSystem {
    NewMailSystem {
        name: name.into(),
        owner_bin: bin.to_string(),
        domains: vec![domain.into()],
        servers: vec![ip.parse().unwrap()],
        deliver_to: None,
        contacts: vec!["postmaster@example.gov.kz".into()],
    }
}

#[tokio::test]
async fn connects_validates_and_refuses_double_claims() {
    let dir = tempfile::tempdir().unwrap();
    let (store, owner) = store_with_org(&dir).await;
    let a = store.connect_mail_system("duty", system("minex", &owner, "MinEx.Gov.KZ.", "192.0.2.10")).await.unwrap();
    assert_eq!((a.domains[0].as_str(), a.status.as_str()), ("minex.gov.kz", "active"));

    let clash = store.connect_mail_system("duty", system("other", &owner, "minex.gov.kz", "192.0.2.11")).await;
    assert!(matches!(clash, Err(StoreError::Conflict(m)) if m.contains("minex.gov.kz") && m.contains("minex")));
    let clash = store.connect_mail_system("duty", system("other", &owner, "other.gov.kz", "192.0.2.10")).await;
    assert!(matches!(clash, Err(StoreError::Conflict(m)) if m.contains("192.0.2.10")));
    let bad = store.connect_mail_system("duty", system("other", &owner, "not a domain", "192.0.2.11")).await;
    assert!(matches!(bad, Err(StoreError::Invalid(m)) if m.contains("not a domain")));
    let unknown = bin("99010100001");
    let missing = store.connect_mail_system("duty", system("other", &unknown, "other.gov.kz", "192.0.2.11")).await;
    assert!(matches!(missing, Err(StoreError::NotFound { what: "organisation", .. })));
    assert_eq!(store.mail_systems().await.unwrap().len(), 1);
}

#[tokio::test]
async fn status_changes_are_audited_and_disconnection_frees_the_names() {
    let dir = tempfile::tempdir().unwrap();
    let (store, owner) = store_with_org(&dir).await;
    store.connect_mail_system("duty", system("minex", &owner, "minex.gov.kz", "192.0.2.10")).await.unwrap();
    assert!(store.set_mail_status("duty", "minex", MailStatus::Suspended, " ").await.is_err(), "a reason is required");
    let s = store.set_mail_status("watch", "minex", MailStatus::Suspended, "volume 40x baseline").await.unwrap();
    assert_eq!((s.status.as_str(), s.status_reason.as_deref()), ("suspended", Some("volume 40x baseline")));
    store.set_mail_status("duty", "minex", MailStatus::Active, "reviewed: a mailing list").await.unwrap();

    let at = store::now_ms() + 1000;
    store.schedule_disconnect("duty", "minex", at, "owner no longer eligible").await.unwrap();
    assert!(store.apply_due_disconnects(at - 1).await.unwrap().is_empty(), "not before the agreed time");
    assert_eq!(store.apply_due_disconnects(at).await.unwrap(), vec!["minex".to_string()]);
    assert_eq!(store.mail_system("minex").await.unwrap().status, MailStatus::Disconnected);
    assert!(store.set_mail_status("duty", "minex", MailStatus::Active, "oops").await.is_err());

    let history: Vec<String> =
        store.changes(Some("mail:minex"), 10).await.unwrap().into_iter().rev().map(|c| c.action).collect();
    assert_eq!(history, ["mail.connect", "mail.suspend", "mail.resume", "mail.schedule_disconnect", "mail.disconnect"]);
    // The domain and address are free for a new connection.
    store.connect_mail_system("duty", system("minex2", &owner, "minex.gov.kz", "192.0.2.10")).await.unwrap();
}

#[tokio::test]
async fn saved_state_replaces_the_previous_document() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_org(&dir).await;
    assert_eq!(store.load_state("watch").await.unwrap(), None);
    store.save_state("watch", "{\"v\":1}").await.unwrap();
    store.save_state("watch", "{\"v\":2}").await.unwrap();
    assert_eq!(store.load_state("watch").await.unwrap().as_deref(), Some("{\"v\":2}"));
}
