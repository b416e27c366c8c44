//! The console's records in the store: people with argon2 passwords and the lockout,
//! sessions with their idle and absolute limits, and keyset pages that visit every row
//! exactly once in both directions, with their filters.

use store::{
    AuditFilter, BlockFilter, Lockout, LoginOutcome, NewOperator, PageRequest, SessionLimits, Store, StoreError,
    UserRole, testing::fresh_database,
};

const LOCKOUT: Lockout = Lockout { after: 5, for_ms: 15 * 60_000 };
const LIMITS: SessionLimits = SessionLimits { idle_ms: 30 * 60_000, absolute_ms: 12 * 3_600_000 };

async fn store(dir: &tempfile::TempDir) -> Store {
    let store = Store::open(&fresh_database(dir.path()).await).await.unwrap();
    let op = |name: &str| NewOperator { name: name.into(), full_name: String::new(), contacts: vec![], links: vec![] };
    store.add_operator("test", op("alpha")).await.unwrap();
    store.add_operator("test", op("beta")).await.unwrap();
    store
}

#[tokio::test]
async fn people_are_checked_hashed_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let op = UserRole::Operator { operator: "alpha".into() };
    let user = store.add_user("cli:root", "anna", &op, "long enough pw", "ru").await.unwrap();
    assert_eq!((user.name.as_str(), user.lang.as_str(), &user.role), ("anna", "ru", &op));
    let again = store.add_user("cli:root", "anna", &UserRole::Duty, "long enough pw", "ru").await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let short = store.add_user("cli:root", "bob", &UserRole::Duty, "short", "ru").await;
    assert!(matches!(short, Err(StoreError::Invalid(m)) if m.contains("10 characters")));
    let no_op = UserRole::Operator { operator: "gamma".into() };
    let missing = store.add_user("cli:root", "bob", &no_op, "long enough pw", "ru").await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })), "{missing:?}");
    let lang = store.add_user("cli:root", "bob", &UserRole::Auditor, "long enough pw", "de").await;
    assert!(matches!(lang, Err(StoreError::Invalid(_))));

    let changes = store.changes(Some("user:anna"), 10).await.unwrap();
    assert_eq!(changes[0].action, "user.add");
    assert!(!changes[0].after.as_ref().unwrap().to_string().contains("argon2"), "the hash is never audited");
}

#[tokio::test]
async fn wrong_passwords_lock_the_account_for_a_while() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    store.add_user("cli:root", "anna", &UserRole::Duty, "the right password", "en").await.unwrap();
    let t0 = 1_800_000_000_000;
    assert!(matches!(store.login("anna", "the right password", t0, LOCKOUT).await.unwrap(), LoginOutcome::Accepted(_)));
    assert_eq!(store.login("nobody", "whatever it is", t0, LOCKOUT).await.unwrap(), LoginOutcome::Refused);
    for i in 1..=4 {
        assert_eq!(store.login("anna", "wrong", t0 + i, LOCKOUT).await.unwrap(), LoginOutcome::Refused, "try {i}");
    }
    let locked = store.login("anna", "wrong", t0 + 5, LOCKOUT).await.unwrap();
    assert_eq!(locked, LoginOutcome::Locked { until: t0 + 5 + LOCKOUT.for_ms });
    let still = store.login("anna", "the right password", t0 + 6, LOCKOUT).await.unwrap();
    assert_eq!(still, LoginOutcome::Locked { until: t0 + 5 + LOCKOUT.for_ms }, "the right password waits too");
    let later = store.login("anna", "the right password", t0 + 6 + LOCKOUT.for_ms, LOCKOUT).await.unwrap();
    assert!(matches!(later, LoginOutcome::Accepted(_)), "{later:?}");
    // A right password resets the count: four more wrong ones do not lock.
    for i in 0..4 {
        store.login("anna", "wrong", t0 + LOCKOUT.for_ms + 10 + i, LOCKOUT).await.unwrap();
    }
    let fine = store.login("anna", "the right password", t0 + LOCKOUT.for_ms + 20, LOCKOUT).await.unwrap();
    assert!(matches!(fine, LoginOutcome::Accepted(_)));
    assert!(store.changes(Some("user:anna"), 10).await.unwrap().iter().any(|c| c.action == "user.locked"));

    store.set_user_disabled("cli:root", "anna", true).await.unwrap();
    let disabled = store.login("anna", "the right password", t0 + LOCKOUT.for_ms + 30, LOCKOUT).await.unwrap();
    assert_eq!(disabled, LoginOutcome::Refused, "a disabled person cannot log in");
}

#[tokio::test]
async fn wrong_passwords_sent_at_once_each_count_and_lock_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    store.add_user("cli:root", "anna", &UserRole::Duty, "the right password", "en").await.unwrap();
    let t0 = 1_800_000_000_000;
    // Twelve wrong passwords at once, each past the first read of the count.
    let tries: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.login("anna", &format!("wrong {i}"), t0, LOCKOUT).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tries {
        outcomes.push(t.await.unwrap());
    }
    let refused = outcomes.iter().filter(|o| **o == LoginOutcome::Refused).count();
    assert_eq!(refused, 4, "the fifth wrong password locks, whatever the order: {outcomes:?}");
    let right = store.login("anna", "the right password", t0 + 1, LOCKOUT).await.unwrap();
    assert!(matches!(right, LoginOutcome::Locked { .. }), "{right:?}");
    let audited = store.changes(Some("user:anna"), 50).await.unwrap();
    assert_eq!(audited.iter().filter(|c| c.action == "user.locked").count(), 1, "locked once");
}

#[tokio::test]
async fn sessions_end_on_idle_absolute_limits_disabling_and_new_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let anna = store.add_user("cli:root", "anna", &UserRole::Duty, "the right password", "en").await.unwrap();
    let t0 = 1_800_000_000_000;
    let secret = store.open_session(anna.id, "127.0.0.1", t0).await.unwrap();
    let s = store.session(&secret, t0 + 1000, LIMITS).await.unwrap().expect("live");
    assert_eq!((s.user.name.as_str(), s.csrf.len()), ("anna", 64));
    assert!(store.session("0".repeat(64).as_str(), t0, LIMITS).await.unwrap().is_none());
    assert!(store.session("not hex", t0, LIMITS).await.unwrap().is_none());

    // Busy every 20 minutes: never idle, but over the absolute limit in the end.
    let mut t = t0;
    while t + 20 * 60_000 < t0 + LIMITS.absolute_ms {
        t += 20 * 60_000;
        assert!(store.session(&secret, t, LIMITS).await.unwrap().is_some(), "at +{} min", (t - t0) / 60_000);
    }
    assert!(store.session(&secret, t0 + LIMITS.absolute_ms + 1, LIMITS).await.unwrap().is_none());

    // A short idle limit: requests more often than the limit keep the session alive.
    let short = SessionLimits { idle_ms: 2_000, absolute_ms: LIMITS.absolute_ms };
    let busy = store.open_session(anna.id, "127.0.0.1", t0).await.unwrap();
    for step in 1..=10 {
        assert!(store.session(&busy, t0 + step * 1_500, short).await.unwrap().is_some(), "request {step}");
    }
    let idle = store.open_session(anna.id, "127.0.0.1", t0).await.unwrap();
    assert!(store.session(&idle, t0 + LIMITS.idle_ms + 1, LIMITS).await.unwrap().is_none(), "idle too long");
    assert!(store.session(&idle, t0 + 1, LIMITS).await.unwrap().is_none(), "an ended session stays ended");

    let a = store.open_session(anna.id, "127.0.0.1", t0).await.unwrap();
    store.set_password("cli:root", "anna", "another right password").await.unwrap();
    assert!(store.session(&a, t0 + 1, LIMITS).await.unwrap().is_none(), "a new password ends sessions");
    let b = store.open_session(anna.id, "127.0.0.1", t0).await.unwrap();
    store.set_user_disabled("cli:root", "anna", true).await.unwrap();
    assert!(store.session(&b, t0 + 1, LIMITS).await.unwrap().is_none(), "disabling ends sessions");
}

#[tokio::test]
async fn keyset_pages_visit_every_row_once_both_ways_with_filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    for i in 0..25 {
        let net = format!("198.51.100.{i}/32").parse().unwrap();
        let actor = if i % 2 == 0 { "user:even" } else { "user:odd" };
        store.block(actor, net, &format!("reason {i}")).await.unwrap();
    }
    let filter = BlockFilter::default();
    let mut seen = Vec::new();
    let mut request = PageRequest::first(10);
    let mut pages = Vec::new();
    loop {
        let page = store.blocks_page(&filter, None, &request).await.unwrap();
        assert!(page.rows.len() <= 10);
        seen.extend(page.rows.iter().map(|b| b.id));
        pages.push(page.clone());
        match page.next {
            Some(after) => request = PageRequest { after: Some(after), before: None, limit: 10 },
            None => break,
        }
    }
    assert_eq!(pages.len(), 3);
    assert_eq!(seen.len(), 25);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats: {seen:?}");
    assert!(pages[0].prev.is_none() && pages[2].next.is_none());
    let back =
        store.blocks_page(&filter, None, &PageRequest { after: None, before: pages[2].prev, limit: 10 }).await.unwrap();
    assert_eq!(back.rows, pages[1].rows, "previous of the last page is the middle page");
    assert_eq!(back.prev, pages[1].prev);

    let narrowed = store.blocks_page(&filter, Some("198.51.100.1"), &PageRequest::first(50)).await.unwrap();
    let mut prefixes: Vec<String> = narrowed.rows.iter().map(|b| b.prefix.to_string()).collect();
    prefixes.sort();
    assert_eq!(prefixes.len(), 11, "198.51.100.1 and 198.51.100.10-19: {prefixes:?}");

    let odd = AuditFilter { actor: Some("user:odd".into()), action: Some("block.".into()), ..Default::default() };
    let changes = store.changes_page(&odd, &PageRequest::first(100)).await.unwrap();
    assert_eq!(changes.rows.len(), 12);
    assert!(changes.rows.iter().all(|c| c.actor == "user:odd" && c.action == "block.add"));
    let literal = AuditFilter { action: Some("block_".into()), ..Default::default() };
    assert!(store.changes_page(&literal, &PageRequest::first(10)).await.unwrap().rows.is_empty(), "_ is literal");
}
