//! The duty team's grants of services besides the web proxy: recorded with their
//! organisation, service, reason and expiry, revoked with a reason (once), kept as
//! history, audited, and each moves the store's generation so the gate follows.

use policies::Bin;
use snapshot::{Proto, Service};
use store::{NewOperator, Store, StoreError, now_ms, testing::fresh_database};

async fn store(dir: &tempfile::TempDir) -> (Store, Bin) {
    let store = Store::open(&fresh_database(dir.path()).await).await.unwrap();
    let op = NewOperator { name: "alpha".into(), full_name: String::new(), contacts: vec![], links: vec![] };
    store.add_operator("test", op).await.unwrap();
    let bin: Bin = "980140000015".parse().unwrap();
    store.add_organisation("test", &bin, "Ministry A", &["alpha".to_owned()]).await.unwrap();
    (store, bin)
}

fn vpn() -> Service {
    Service::new(Proto::Udp, Service::parse_ports("1194,51820").unwrap(), vec!["203.0.113.0/24".parse().unwrap()])
        .unwrap()
}

#[tokio::test]
async fn grants_are_recorded_revoked_once_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (store, bin) = store(&dir).await;
    let before = store.generation().await.unwrap();
    let until = now_ms() + 3_600_000;
    let grant = store.grant_service("cli:duty", &bin, &vpn(), "staff VPN, ticket 12", Some(until)).await.unwrap();
    assert_eq!((grant.bin.as_str(), grant.organisation.as_str()), ("980140000015", "Ministry A"));
    assert_eq!((grant.service.clone(), grant.expires_at, grant.state(now_ms())), (vpn(), Some(until), "live"));
    assert_eq!(grant.state(until), "expired");
    assert!(store.generation().await.unwrap() > before, "a grant moves the generation");

    let forever = Service::new(Proto::Tcp, Service::parse_ports("22").unwrap(), vec![]).unwrap();
    let ssh = store.grant_service("cli:duty", &bin, &forever, "admin access", None).await.unwrap();
    assert_eq!(store.gate_grants(false).await.unwrap().iter().map(|g| g.id).collect::<Vec<_>>(), [ssh.id, grant.id]);

    let moved = store.generation().await.unwrap();
    let revoked = store.revoke_grant("cli:duty", grant.id, "ticket closed").await.unwrap();
    assert_eq!((revoked.state(now_ms()), revoked.revoke_reason.as_deref()), ("revoked", Some("ticket closed")));
    assert!(store.generation().await.unwrap() > moved, "a revocation moves the generation");
    let again = store.revoke_grant("cli:duty", grant.id, "twice").await;
    assert!(matches!(again, Err(StoreError::Conflict(ref m)) if m.contains("revoked already")), "{again:?}");
    assert_eq!(store.gate_grants(false).await.unwrap().len(), 1, "revoked grants leave the live list");
    assert_eq!(store.gate_grants(true).await.unwrap().len(), 2, "and stay as history");

    let trail = store.changes(Some(&format!("gate-grant:{}", grant.id)), 10).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(actions, ["gate.grant.revoke", "gate.grant.add"]);
    assert!(trail[0].after.as_ref().unwrap().to_string().contains("ticket closed"));
}

#[tokio::test]
async fn bad_grants_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (store, bin) = store(&dir).await;
    let blank = store.grant_service("cli:duty", &bin, &vpn(), "  ", None).await;
    assert!(matches!(blank, Err(StoreError::Invalid(ref m)) if m.contains("reason")), "{blank:?}");
    let past = store.grant_service("cli:duty", &bin, &vpn(), "late", Some(now_ms() - 1)).await;
    assert!(matches!(past, Err(StoreError::Invalid(ref m)) if m.contains("already passed")), "{past:?}");
    let no_ports = Service { proto: Proto::Tcp, ports: vec![], to: vec![] };
    let refused = store.grant_service("cli:duty", &bin, &no_ports, "x", None).await;
    assert!(matches!(refused, Err(StoreError::Invalid(ref m)) if m.contains("ports")), "{refused:?}");
    let stranger = Bin::with_check_digit("98014000002").unwrap();
    let missing = store.grant_service("cli:duty", &stranger, &vpn(), "x", None).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })), "{missing:?}");
    let unknown = store.revoke_grant("cli:duty", 99, "x").await;
    assert!(matches!(unknown, Err(StoreError::NotFound { .. })), "{unknown:?}");
    assert!(store.gate_grants(true).await.unwrap().is_empty(), "nothing was recorded");
}
