//! The request desk's records: filing, transitions with their timeline and audit, the
//! latest refusal, attachments checked and recorded, secrets kept only sealed.

use desk::{Action, Applicant, Application, Fields, Kind, State};
use policies::Bin;
use policies::calendar::Date;
use serde_json::json;
use store::{Sealer, Store, StoreError, testing::fresh_database};

fn d(text: &str) -> Date {
    text.parse().unwrap()
}

async fn store_with_org(dir: &tempfile::TempDir) -> (Store, Bin) {
    let store = Store::open(&fresh_database(dir.path()).await).await.unwrap();
    let owner = Bin::with_check_digit("99010100000").unwrap();
    store.add_organisation("test", &owner, "Ministry of Examples", &[]).await.unwrap();
    (store, owner)
}

fn lists(owner: &Bin, received: &str) -> Application {
    let f = json!({"categories": ["news"], "networks": ["192.0.2.0/24"]});
    let fields = Fields::parse(Kind::YearlyLists, &f, d(received)).unwrap();
    Application::file(Applicant::Organisation(owner.clone()), vec!["it@min.example".into()], fields, d(received))
        .unwrap()
}

#[tokio::test]
async fn a_filed_application_moves_through_audited_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let (store, owner) = store_with_org(&dir).await;
    let filed = store.file_application("cli:anna", &lists(&owner, "2026-03-02"), None).await.unwrap();
    assert_eq!((filed.application.state, filed.secret_sealed), (State::Filed, false));

    let refuse = Action::Refuse { reason: "networks unknown".into() };
    let acted = store.act_on_application("cli:duty", filed.id, &refuse, d("2026-03-05")).await.unwrap();
    assert_eq!((acted.from, acted.record.application.state), (State::Filed, State::Refused));
    let again = store.act_on_application("cli:duty", filed.id, &Action::Apply, d("2026-03-06")).await;
    assert!(matches!(&again, Err(StoreError::Conflict(m)) if m.contains("'refused'")), "{again:?}");

    let timeline = store.timeline(filed.id).await.unwrap();
    let verbs: Vec<_> = timeline.iter().map(|t| (t.verb.as_str(), t.to, t.day)).collect();
    assert_eq!(verbs, [("file", State::Filed, d("2026-03-02")), ("refuse", State::Refused, d("2026-03-05"))]);
    assert_eq!(timeline[1].note.as_deref(), Some("networks unknown"));
    let audit = store.changes(Some(&format!("request:{}", filed.id)), 10).await.unwrap();
    let actions: Vec<_> = audit.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(actions, ["request.refuse", "request.file"]);

    let who = Applicant::Organisation(owner.clone());
    let last = store.last_refusal(&who, Kind::YearlyLists).await.unwrap().unwrap();
    assert_eq!(last.application.resubmit_from(), Some(d("2026-04-05")));
    assert!(store.last_refusal(&who, Kind::RiskyService).await.unwrap().is_none());
    assert_eq!(store.applications(Some(&who)).await.unwrap().len(), 1);
    assert!(store.applications(Some(&Applicant::Operator("alpha".into()))).await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_applicants_are_refused_and_attachments_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (store, owner) = store_with_org(&dir).await;
    let stranger = Bin::with_check_digit("99010100001").unwrap();
    let missing = store.file_application("t", &lists(&stranger, "2026-03-02"), None).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })), "{missing:?}");

    let filed = store.file_application("t", &lists(&owner, "2026-03-02"), None).await.unwrap();
    let pdf = store.attach("t", filed.id, ("letter.pdf", "application/pdf", b"%PDF-1.7\n..."), None).await.unwrap();
    assert_eq!((pdf.size, pdf.sha256.len()), (12, 64));
    let fake = store.attach("t", filed.id, ("letter.pdf", "application/pdf", b"MZ\x90"), None).await;
    assert!(matches!(fake, Err(StoreError::Invalid(m)) if m.contains("does not match")));
    assert_eq!(store.attachments(filed.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_secret_is_kept_only_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let (store, owner) = store_with_org(&dir).await;
    let sealer = Sealer::open_or_create(&dir.path().join("desk.key")).unwrap();
    let f = json!({"site": "min.example.kz", "addresses": "192.0.2.80", "responsible": "A. Admin", "phone": "1",
        "credentials": {"access": "https://min.example.kz/admin", "login": "waf", "secret": "hunter22"}});
    let mut fields = Fields::parse(Kind::Waf, &f, d("2026-03-02")).unwrap();
    let secret = fields.take_secret().unwrap();
    let app = Application::file(Applicant::Organisation(owner), vec!["it@min.example".into()], fields, d("2026-03-02"))
        .unwrap();
    let filed = store.file_application("t", &app, Some(sealer.seal(&secret).unwrap())).await.unwrap();
    assert!(filed.secret_sealed);
    let shown = serde_json::to_string(&store.application(filed.id).await.unwrap()).unwrap();
    assert!(!shown.contains("hunter22") && shown.contains("********"), "{shown}");
    let audit = serde_json::to_string(&store.changes(None, 10).await.unwrap()).unwrap();
    assert!(!audit.contains("hunter22"));
    let sealed = store.sealed_secret(filed.id).await.unwrap().unwrap();
    assert_eq!(sealer.open(&sealed).unwrap(), "hunter22");
}
