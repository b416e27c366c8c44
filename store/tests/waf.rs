//! The WAF's protected sites in the store: added with their names checked and kept apart
//! from other sites', changed only from the version read, the sealed key never in a
//! record or an audit entry, removed with a reason; exclusions proposed, confirmed with
//! the new settings in the same transaction, or declined, each audited.

use policies::Bin;
use serde_json::json;
use store::{NewWafSite, ProposalStatus, Store, StoreError, WafSiteChange, testing::fresh_database};

async fn store(dir: &tempfile::TempDir) -> (Store, Bin) {
    let store = Store::open(&fresh_database(dir.path()).await).await.unwrap();
    let owner = Bin::with_check_digit("99010100000").unwrap();
    store.add_organisation("test", &owner, "Ministry of Examples", &[]).await.unwrap();
    (store, owner)
}

fn site(domain: &str, alias: &str) -> NewWafSite {
    NewWafSite {
        domain: domain.into(),
        aliases: if alias.is_empty() { vec![] } else { vec![alias.into()] },
        origins: vec!["192.0.2.10:80".parse().unwrap()],
        certificate: Some("-----BEGIN CERTIFICATE-----".into()),
        sealed_key: Some("00aa11bb-sealed".into()),
        settings: json!({ "rules": { "mode": "block" } }),
        contacts: vec!["web@example.gov.kz".into()],
        ..NewWafSite::default()
    }
}

#[tokio::test]
async fn sites_are_added_changed_by_version_and_removed_with_the_key_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let (store, owner) = store(&dir).await;
    let mut new = site("portal.example.kz", "www.portal.example.kz");
    new.owner_bin = Some(owner.clone());
    let added = store.add_waf_site("duty", new).await.unwrap();
    assert!(added.key_kept && added.version == 1 && added.owner_bin.as_deref() == Some(owner.as_str()));

    let taken = store.add_waf_site("duty", site("other.example.kz", "www.portal.example.kz")).await;
    assert!(matches!(taken, Err(StoreError::Conflict(m)) if m.contains("www.portal.example.kz")), "alias taken");
    let again = store.add_waf_site("duty", site("portal.example.kz", "")).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))));
    let bad = store.add_waf_site("duty", site("Portal.example.kz", "")).await;
    assert!(matches!(bad, Err(StoreError::Invalid(m)) if m.contains("Portal.example.kz")));
    let mut stranger = site("x.example.kz", "");
    stranger.owner_bin = Some(Bin::with_check_digit("99010100001").unwrap());
    assert!(matches!(store.add_waf_site("duty", stranger).await, Err(StoreError::NotFound { .. })));

    let change = WafSiteChange { settings: Some(json!({ "rules": { "mode": "detect" } })), ..Default::default() };
    let changed =
        store.change_waf_site("duty", "waf.site.set", ("portal.example.kz", 1), change.clone()).await.unwrap();
    assert_eq!((changed.version, changed.settings["rules"]["mode"].as_str()), (2, Some("detect")));
    let stale = store.change_waf_site("duty", "waf.site.set", ("portal.example.kz", 1), change).await;
    assert!(matches!(stale, Err(StoreError::Conflict(m)) if m.contains("changed meanwhile")), "a stale version");

    let keys = store.waf_sealed_keys().await.unwrap();
    assert_eq!(keys, [("portal.example.kz".to_string(), "00aa11bb-sealed".to_string())]);
    let removed = store.remove_waf_site("duty", "portal.example.kz", "moved elsewhere").await.unwrap();
    assert_eq!(removed.domain, "portal.example.kz");
    assert!(matches!(store.waf_site("portal.example.kz").await, Err(StoreError::NotFound { .. })));
    let history = store.changes(Some("waf:portal.example.kz"), 10).await.unwrap();
    let actions: Vec<&str> = history.iter().rev().map(|c| c.action.as_str()).collect();
    assert_eq!(actions, ["waf.site.add", "waf.site.set", "waf.site.remove"]);
    let trail = serde_json::to_string(&history).unwrap();
    assert!(!trail.contains("00aa11bb-sealed"), "the sealed key is in no audit entry");
}

#[tokio::test]
async fn a_proposed_exclusion_is_confirmed_with_its_settings_or_declined() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store(&dir).await;
    store.add_waf_site("duty", site("portal.example.kz", "")).await.unwrap();
    let p = store
        .propose_waf_exclusion("user:aida", "portal.example.kz", (942100, Some("ARGS:q")), Some("tx1"), "search form")
        .await
        .unwrap();
    assert_eq!((p.status, p.rule, p.target.as_deref()), (ProposalStatus::Proposed, 942100, Some("ARGS:q")));
    let settings = json!({ "rules": { "exclusions": [{ "rule": 942100, "target": "ARGS:q" }] } });
    let site = store.confirm_waf_proposal("user:duty", p.id, 1, settings.clone()).await.unwrap();
    assert_eq!((site.version, &site.settings), (2, &settings));
    let twice = store.confirm_waf_proposal("user:duty", p.id, 2, settings).await;
    assert!(matches!(twice, Err(StoreError::Conflict(m)) if m.contains("already confirmed")));

    let q = store.propose_waf_exclusion("user:aida", "portal.example.kz", (941100, None), None, "").await.unwrap();
    let declined = store.decline_waf_proposal("user:duty", q.id).await.unwrap();
    assert_eq!(declined.status, ProposalStatus::Declined);
    let all = store.waf_proposals(Some("portal.example.kz")).await.unwrap();
    assert_eq!(all.iter().map(|p| p.status).collect::<Vec<_>>(), [ProposalStatus::Declined, ProposalStatus::Confirmed]);
    let history = store.changes(Some("waf:portal.example.kz"), 10).await.unwrap();
    let actions: Vec<&str> = history.iter().rev().map(|c| c.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "waf.site.add",
            "waf.exclusion.propose",
            "waf.exclusion.confirm",
            "waf.exclusion.propose",
            "waf.exclusion.decline"
        ]
    );
}
