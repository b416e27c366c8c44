//! Defacement protection's records: sites (conflicts, states told once, host key pinned
//! then confirmed), findings and their acceptance, events, windows; each audited.

use serde_json::json;
use store::{NewDefaceFinding, NewDefaceSite, Store, StoreError, testing::fresh_database};

fn site(domain: &str) -> NewDefaceSite {
    NewDefaceSite {
        domain: domain.into(),
        spec: json!({"domain": domain}),
        secret_kind: "password".into(),
        sealed_secret: "00ff".into(),
        application_id: Some(7),
    }
}

#[tokio::test]
async fn sites_states_findings_and_acceptance_are_recorded_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&fresh_database(dir.path()).await).await.unwrap();
    let s = store.add_deface_site("duty", site("site.example.kz")).await.unwrap();
    assert_eq!((s.state.as_str(), s.window_open, s.application_id), ("new", false, Some(7)));
    assert!(!serde_json::to_string(&s).unwrap().contains("00ff"), "the sealed secret is never shown");
    let again = store.add_deface_site("duty", site("site.example.kz")).await;
    assert!(matches!(again, Err(StoreError::Conflict(m)) if m.contains("already protected")));

    store.pin_deface_host_key("site.example.kz", "ssh-ed25519 AAAA1").await.unwrap();
    store.pin_deface_host_key("site.example.kz", "ssh-ed25519 AAAA2").await.unwrap();
    let s = store.deface_site("site.example.kz").await.unwrap();
    assert_eq!(s.host_key.as_deref(), Some("ssh-ed25519 AAAA1"), "pinned once");
    store.confirm_deface_host_key("duty", "site.example.kz", "ssh-ed25519 AAAA1").await.unwrap();
    assert_eq!(store.deface_site("site.example.kz").await.unwrap().host_key_confirmed_by.as_deref(), Some("duty"));

    store.set_deface_state("site.example.kz", "protected", Some("as the reference")).await.unwrap();
    store.set_deface_state("site.example.kz", "protected", Some("again")).await.unwrap();
    let states = store.changes(Some("deface:site.example.kz"), 100).await.unwrap();
    assert_eq!(states.iter().filter(|c| c.action == "deface.state").count(), 1, "a state is audited when it changes");

    let f = NewDefaceFinding {
        kind: "unauthorised".into(),
        detected_at: 1,
        restored_at: Some(2),
        outcome: "restored".into(),
        files: json!([{"path": "index.html", "change": "changed", "action": "put back"}]),
        pages: json!([]),
        diff: "-a\n+b\n".into(),
        evidence: Some("1".into()),
        ..NewDefaceFinding::default()
    };
    let f = store.add_deface_finding("site.example.kz", f).await.unwrap();
    assert_eq!((f.domain.as_str(), f.outcome.as_str()), ("site.example.kz", "restored"));
    let accepted = store.accept_deface_finding("webmaster", f.id).await.unwrap();
    assert_eq!((accepted.outcome.as_str(), accepted.accepted_by.as_deref()), ("accepted", Some("webmaster")));
    assert!(matches!(store.accept_deface_finding("webmaster", f.id).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.deface_findings("site.example.kz", 10).await.unwrap().len(), 1);

    store.add_deface_event("site.example.kz", "unreachable", "no route").await.unwrap();
    assert_eq!(store.deface_events("site.example.kz", 10).await.unwrap()[0].kind, "unreachable");

    store.set_deface_window("webmaster", "site.example.kz", true).await.unwrap();
    assert!(store.set_deface_window("webmaster", "site.example.kz", true).await.is_err(), "already open");
    store.set_deface_window("webmaster", "site.example.kz", false).await.unwrap();
    store.set_deface_reference("webmaster", "site.example.kz", 3, 300, 2).await.unwrap();
    let s = store.deface_site("site.example.kz").await.unwrap();
    assert_eq!((s.reference_files, s.reference_bytes, s.reference_pages), (3, 300, 2));

    let actions: Vec<String> =
        store.changes(Some("deface:site.example.kz"), 100).await.unwrap().into_iter().map(|c| c.action).collect();
    for a in [
        "deface.site.add",
        "deface.host-key.pin",
        "deface.host-key.confirm",
        "deface.finding",
        "deface.accept",
        "deface.event",
        "deface.window.open",
        "deface.window.close",
        "deface.reference",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
    assert!(matches!(store.deface_site("other.kz").await, Err(StoreError::NotFound { .. })));
}

#[tokio::test]
async fn a_site_has_an_owner_and_is_removed_with_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&fresh_database(dir.path()).await).await.unwrap();
    store.add_deface_site("duty", site("a.example.kz")).await.unwrap();
    // Added by the duty team, not from an application.
    store.add_deface_site("duty", NewDefaceSite { application_id: None, ..site("b.example.kz") }).await.unwrap();
    assert_eq!(store.deface_owner("a.example.kz").await.unwrap(), store::DefaceOwner::default());
    let owner = store::DefaceOwner { org: Some("123456789012".into()), contacts: vec!["web@a.example.kz".into()] };
    store.set_deface_owner("duty", "a.example.kz", &owner).await.unwrap();
    assert_eq!(store.deface_owner("a.example.kz").await.unwrap(), owner);
    assert_eq!(store.deface_domains_of("123456789012").await.unwrap(), ["a.example.kz"]);
    assert_eq!(store.deface_domain_of_application(7).await.unwrap().as_deref(), Some("a.example.kz"));
    let missing = store.set_deface_owner("duty", "c.example.kz", &owner).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })), "{missing:?}");

    store.add_deface_event("a.example.kz", "unreachable", "no route").await.unwrap();
    store.remove_deface_site("duty", "a.example.kz").await.unwrap();
    assert!(matches!(store.deface_site("a.example.kz").await, Err(StoreError::NotFound { .. })));
    assert!(store.deface_events("a.example.kz", 10).await.unwrap().is_empty());
    assert_eq!(store.deface_sites().await.unwrap().len(), 1, "the other site stays");
    let changes = store.changes(Some("deface:a.example.kz"), 100).await.unwrap();
    assert!(changes.iter().any(|c| c.action == "deface.site.remove"), "the removal is audited");
    store.add_deface_site("duty", site("a.example.kz")).await.unwrap();
}
