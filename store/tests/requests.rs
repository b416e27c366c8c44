//! The request desk's records: filing, transitions with their timeline and audit, the
//! 30-day wait after a refusal and the bound on an applicant's undecided applications
//! checked inside the filing, attachments bounded per application, e-mails recorded with their
//! events and sent once, who sees which applications, attachments checked and kept
//! whole, secrets kept only sealed.

use std::collections::BTreeMap;

use desk::fields::NoRegistry;
use desk::{Action, Applicant, Application, Fields, Kind, Resource, Specialist, State};
use policies::Bin;
use policies::calendar::Date;
use serde_json::json;
use store::{ApplicationRecord, Filed, OutMail, Sealer, Store, StoreError, Visible, testing::fresh_database};

fn d(text: &str) -> Date {
    text.parse().unwrap()
}

async fn store_with_org(dir: &tempfile::TempDir) -> (Store, Bin) {
    let store = Store::open(&fresh_database(dir.path()).await).await.unwrap();
    let owner = Bin::with_check_digit("99010100000").unwrap();
    store.add_organisation("test", &owner, "Ministry of Examples", &[]).await.unwrap();
    (store, owner)
}

/// One e-mail per event, to the application's contacts.
fn tell(record: &ApplicationRecord) -> Vec<OutMail> {
    let a = &record.application;
    vec![OutMail {
        event: a.state.as_str().to_string(),
        recipients: a.contacts.clone(),
        subject: format!("request {}", record.id),
        body: format!("state {}", a.state),
        attachments: Vec::new(),
    }]
}

fn nothing(_: &ApplicationRecord) -> Vec<OutMail> {
    Vec::new()
}

/// The most undecided applications of one applicant, as the desk's default.
const LIMIT: i64 = 20;

async fn file(store: &Store, app: &Application) -> ApplicationRecord {
    match store.file_application("t", app, (&BTreeMap::new(), None), &tell, LIMIT).await.unwrap() {
        Filed::Recorded(record) => record,
        Filed::TooEarly { from, .. } => panic!("refused as early, accepted from {from}"),
        Filed::TooMany { undecided } => panic!("refused with {undecided} undecided"),
    }
}

fn lists(owner: &Bin, received: &str) -> Application {
    let f = json!({"categories": ["news"], "networks": ["192.0.2.0/24"]});
    let fields = Fields::parse(Kind::YearlyLists, &f, d(received), &NoRegistry).unwrap();
    Application::file(Applicant::Organisation(owner.clone()), vec!["it@min.example".into()], fields, d(received))
        .unwrap()
}

#[tokio::test]
async fn a_filed_application_moves_through_audited_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let (store, owner) = store_with_org(&dir).await;
    let filed = file(&store, &lists(&owner, "2026-03-02")).await;
    assert_eq!((filed.application.state, filed.sealed.len()), (State::Filed, 0));

    let refuse = Action::Refuse { reason: "networks unknown".into() };
    let acted = store.act_on_application("cli:duty", (filed.id, &refuse, d("2026-03-05")), &tell, None).await.unwrap();
    assert_eq!((acted.from, acted.record.application.state), (State::Filed, State::Refused));
    let again = store.act_on_application("cli:duty", (filed.id, &Action::Apply, d("2026-03-06")), &tell, None).await;
    assert!(matches!(&again, Err(StoreError::Conflict(m)) if m.contains("'refused'")), "{again:?}");

    let timeline = store.timeline(filed.id).await.unwrap();
    let verbs: Vec<_> = timeline.iter().map(|t| (t.verb.as_str(), t.to, t.day)).collect();
    assert_eq!(verbs, [("file", State::Filed, d("2026-03-02")), ("refuse", State::Refused, d("2026-03-05"))]);
    assert_eq!(timeline[1].note.as_deref(), Some("networks unknown"));
    let audit = store.changes(Some(&format!("request:{}", filed.id)), 10).await.unwrap();
    let actions: Vec<_> = audit.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(actions, ["request.refuse", "request.file"]);
    let mail = store.desk_mail(filed.id).await.unwrap();
    let events: Vec<_> = mail.iter().map(|m| (m.event.as_str(), m.status.as_str())).collect();
    assert_eq!(events, [("filed", "pending"), ("refused", "pending")], "the refused Apply recorded no e-mail");
}

fn mail(owner: &Bin, domain: &str, received: &str) -> Application {
    let f = json!({"system": format!("m-{}", domain.split('.').next().unwrap().to_lowercase()), "domains": domain,
        "servers": "192.0.2.25", "specialists": [{"name": "A", "email": "a@min.example", "work_phone": "+7 7172 000000",
        "mobile": "+7 701 0000000"}]});
    let fields = Fields::parse(Kind::MailConnection, &f, d(received), &NoRegistry).unwrap();
    Application::file(Applicant::Organisation(owner.clone()), vec!["it@min.example".into()], fields, d(received))
        .unwrap()
}

#[tokio::test]
async fn a_refiling_for_a_refused_resource_within_30_days_is_refused_inside_its_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (store, owner) = store_with_org(&dir).await;
    let filed = file(&store, &mail(&owner, "min.example.kz", "2026-03-02")).await;
    let refuse = Action::Refuse { reason: "not eligible".into() };
    store.act_on_application("t", (filed.id, &refuse, d("2026-03-05")), &nothing, None).await.unwrap();
    // Eight filings at once, a day before the wait ends: every one is refused, none recorded.
    let mut tries = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (store, early) = (store.clone(), mail(&owner, "MIN.example.kz", "2026-04-04"));
        tries.spawn(async move { store.file_application("t", &early, (&BTreeMap::new(), None), &tell, LIMIT).await });
    }
    for outcome in tries.join_all().await {
        match outcome.unwrap() {
            Filed::TooEarly { refused, resource, from } => {
                assert_eq!((refused.id, resource.as_str(), from), (filed.id, "min.example.kz", d("2026-04-05")))
            }
            other => panic!("not refused as early: {}", matches!(other, Filed::Recorded(_))),
        }
    }
    assert_eq!(store.applications(&Visible::All).await.unwrap().len(), 1);
    // Another domain waits for nothing; the same domain is accepted once the wait ends.
    file(&store, &mail(&owner, "other.example.kz", "2026-03-06")).await;
    file(&store, &mail(&owner, "min.example.kz", "2026-04-05")).await;
    // Yearly lists wait for nothing either: filed again the next day.
    let lists_filed = file(&store, &lists(&owner, "2026-03-02")).await;
    store.act_on_application("t", (lists_filed.id, &refuse, d("2026-03-05")), &nothing, None).await.unwrap();
    file(&store, &lists(&owner, "2026-03-06")).await;
}

#[tokio::test]
async fn operators_see_their_own_and_their_organisations_applications_organisations_only_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let (store, owner) = store_with_org(&dir).await;
    for name in ["alpha", "beta"] {
        let op = store::NewOperator { name: name.into(), ..Default::default() };
        store.add_operator("t", op).await.unwrap();
    }
    store.connect("t", &owner, "alpha").await.unwrap();
    let other = Bin::with_check_digit("99010100001").unwrap();
    store.add_organisation("t", &other, "Other Ministry", &["beta".to_string()]).await.unwrap();
    let mine = file(&store, &lists(&owner, "2026-03-02")).await;
    let theirs = file(&store, &lists(&other, "2026-03-02")).await;
    let ids = |v: Vec<ApplicationRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(store.applications(&Visible::Operator("alpha".into())).await.unwrap()), [mine.id]);
    assert_eq!(ids(store.applications(&Visible::Operator("beta".into())).await.unwrap()), [theirs.id]);
    assert_eq!(ids(store.applications(&Visible::Organisation(owner.clone())).await.unwrap()), [mine.id]);
    assert_eq!(store.applications(&Visible::All).await.unwrap().len(), 2);
    let alpha = Visible::Operator("alpha".into());
    assert!(store.sees_applicant(&alpha, &mine.application.applicant).await.unwrap());
    assert!(!store.sees_applicant(&alpha, &theirs.application.applicant).await.unwrap());
    let org = Visible::Organisation(owner.clone());
    assert!(!store.sees_applicant(&org, &Applicant::Operator("alpha".into())).await.unwrap());
}

#[tokio::test]
async fn recorded_e_mails_are_claimed_once_retried_and_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let (store, owner) = store_with_org(&dir).await;
    let filed = file(&store, &lists(&owner, "2026-03-02")).await;
    let now = store::now_ms();
    let due = store.due_desk_mail(now).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].mail.recipients, ["it@min.example"]);
    let id = due[0].id;
    assert!(store.claim_desk_mail(id, now, now + 60_000).await.unwrap());
    assert!(!store.claim_desk_mail(id, now, now + 60_000).await.unwrap(), "claimed once");
    assert!(store.due_desk_mail(now).await.unwrap().is_empty(), "a claimed message is not due");
    store.desk_mail_failed(id, "451 try later", Some(now + 1_000)).await.unwrap();
    assert!(store.due_desk_mail(now).await.unwrap().is_empty());
    let retried = store.due_desk_mail(now + 1_000).await.unwrap();
    assert_eq!((retried.len(), retried[0].attempts), (1, 1));
    store.desk_mail_sent(id, now + 1_000).await.unwrap();
    assert!(store.due_desk_mail(now + 10_000).await.unwrap().is_empty());
    store.act_on_application("t", (filed.id, &Action::Apply, d("2026-03-03")), &tell, None).await.unwrap();
    let second = store.due_desk_mail(now + 10_000).await.unwrap()[0].id;
    store.desk_mail_failed(second, "550 no such user", None).await.unwrap();
    let shown = store.desk_mail(filed.id).await.unwrap();
    let states: Vec<_> = shown.iter().map(|m| (m.status.as_str(), m.attempts, m.last_error.as_deref())).collect();
    assert_eq!(states, [("sent", 2, None), ("failed", 1, Some("550 no such user"))]);
}

#[tokio::test]
async fn unknown_applicants_are_refused_and_attachments_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (store, owner) = store_with_org(&dir).await;
    let stranger = Bin::with_check_digit("99010100001").unwrap();
    let missing =
        store.file_application("t", &lists(&stranger, "2026-03-02"), (&BTreeMap::new(), None), &tell, LIMIT).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })), "{missing:?}");

    let filed = file(&store, &lists(&owner, "2026-03-02")).await;
    let pdf = store.attach("t", filed.id, ("letter.pdf", "application/pdf", b"%PDF-1.7\n..."), None).await.unwrap();
    assert_eq!((pdf.size, pdf.sha256.len()), (12, 64));
    let fake = store.attach("t", filed.id, ("letter.pdf", "application/pdf", b"MZ\x90"), None).await;
    assert!(matches!(fake, Err(StoreError::Invalid(m)) if m.contains("does not match")));
    assert_eq!(store.attachments(filed.id).await.unwrap().len(), 1);
    let (info, content) = store.attachment(filed.id, pdf.id).await.unwrap();
    assert_eq!((info.name.as_str(), content.as_deref()), ("letter.pdf", Some(&b"%PDF-1.7\n..."[..])));
    let elsewhere = store.attachment(filed.id + 1, pdf.id).await;
    assert!(matches!(elsewhere, Err(StoreError::NotFound { .. })), "an attachment is found only under its application");
}

#[tokio::test]
async fn an_applicants_undecided_applications_are_bounded_inside_the_filing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, owner) = store_with_org(&dir).await;
    let first = file(&store, &lists(&owner, "2026-03-02")).await;
    file(&store, &lists(&owner, "2026-03-02")).await;
    // Eight filings at once with room for three more under a limit of five: three recorded.
    let mut tries = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (store, app) = (store.clone(), lists(&owner, "2026-03-03"));
        tries.spawn(async move { store.file_application("t", &app, (&BTreeMap::new(), None), &tell, 5).await });
    }
    let outcomes: Vec<Filed> = tries.join_all().await.into_iter().map(Result::unwrap).collect();
    let recorded = outcomes.iter().filter(|o| matches!(o, Filed::Recorded(_))).count();
    let too_many = outcomes.iter().filter(|o| matches!(o, Filed::TooMany { undecided: 5 })).count();
    assert_eq!((recorded, too_many), (3, 5));
    assert_eq!(store.applications(&Visible::All).await.unwrap().len(), 5);
    // A decided application makes room for one more; another applicant was never limited.
    store.act_on_application("t", (first.id, &Action::Apply, d("2026-03-04")), &nothing, None).await.unwrap();
    let one_more =
        store.file_application("t", &lists(&owner, "2026-03-05"), (&BTreeMap::new(), None), &nothing, 5).await.unwrap();
    assert!(matches!(one_more, Filed::Recorded(_)));
    let full =
        store.file_application("t", &lists(&owner, "2026-03-05"), (&BTreeMap::new(), None), &nothing, 5).await.unwrap();
    assert!(matches!(full, Filed::TooMany { undecided: 5 }));
    let other = Bin::with_check_digit("99010100001").unwrap();
    store.add_organisation("test", &other, "Ministry of Others", &[]).await.unwrap();
    file(&store, &lists(&other, "2026-03-05")).await;
}

#[tokio::test]
async fn an_application_holds_a_bounded_number_and_size_of_attachments_even_uploaded_at_once() {
    use desk::attachment::{MAX_BYTES, MAX_PER_APPLICATION, MAX_TOTAL_BYTES};
    let dir = tempfile::tempdir().unwrap();
    let (store, owner) = store_with_org(&dir).await;
    let filed = file(&store, &lists(&owner, "2026-03-02")).await;
    // Large files at once: only as many as fit the total are kept.
    let big = vec![b'a'; MAX_BYTES];
    let mut tries = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (store, big) = (store.clone(), big.clone());
        tries.spawn(
            async move { store.attach("t", filed.id, (&format!("big{i}.txt"), "text/plain", &big), None).await },
        );
    }
    let kept = tries.join_all().await.into_iter().filter(Result::is_ok).count();
    let fit = usize::try_from(MAX_TOTAL_BYTES).unwrap() / MAX_BYTES;
    assert_eq!(kept, fit);
    let over = store.attach("t", filed.id, ("more.txt", "text/plain", b"x".repeat(MAX_BYTES).as_slice()), None).await;
    assert!(matches!(&over, Err(StoreError::Invalid(m)) if m.contains("in all")), "{over:?}");
    // Small files up to the count, on another application (each has its own room).
    let second = file(&store, &lists(&owner, "2026-03-02")).await;
    for i in 0..MAX_PER_APPLICATION {
        store.attach("t", second.id, (&format!("n{i}.txt"), "text/plain", b"note"), None).await.unwrap();
    }
    let over = store.attach("t", second.id, ("one-more.txt", "text/plain", b"note"), None).await;
    assert!(matches!(&over, Err(StoreError::Invalid(m)) if m.contains("20 attachments")), "{over:?}");
    assert_eq!(store.attachments(second.id).await.unwrap().len(), usize::try_from(MAX_PER_APPLICATION).unwrap());
}

#[tokio::test]
async fn secrets_are_kept_only_sealed_each_by_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let (store, owner) = store_with_org(&dir).await;
    let sealer = Sealer::open_or_create(&dir.path().join("desk.key")).unwrap();
    let resource = Resource {
        site: "min.example.kz".into(),
        addresses: vec!["192.0.2.80".parse().unwrap()],
        private_key: Some("-----BEGIN PRIVATE KEY-----\nhunter22\n-----END PRIVATE KEY-----".into()),
        ..Resource::default()
    };
    let specialists = vec![Specialist { name: "A. Admin".into(), ..Specialist::default() }];
    let mut fields = Fields::Defacement {
        resource,
        access: "sftp://192.0.2.80/var/www".into(),
        login: "deploy".into(),
        password: Some("correct horse".into()),
        access_key: None,
        pages: Vec::new(),
        specialists,
    };
    let sealed: BTreeMap<String, String> =
        fields.take_secrets().into_iter().map(|(k, v)| (k.to_string(), sealer.seal(&v).unwrap())).collect();
    let app = Application::file(Applicant::Organisation(owner), vec!["it@min.example".into()], fields, d("2026-03-02"))
        .unwrap();
    let Filed::Recorded(filed) = store.file_application("t", &app, (&sealed, None), &nothing, LIMIT).await.unwrap()
    else {
        panic!("refused")
    };
    assert_eq!(filed.sealed, ["password", "private_key"]);
    let shown = serde_json::to_string(&store.application(filed.id).await.unwrap()).unwrap();
    assert!(!shown.contains("hunter22") && !shown.contains("horse") && shown.contains("********"), "{shown}");
    let audit = serde_json::to_string(&store.changes(None, 10).await.unwrap()).unwrap();
    assert!(!audit.contains("hunter22") && !audit.contains("horse"));
    let kept = store.sealed_secrets(filed.id).await.unwrap();
    assert!(sealer.open(&kept["private_key"]).unwrap().contains("hunter22"));
    assert_eq!(sealer.open(&kept["password"]).unwrap(), "correct horse");
}
