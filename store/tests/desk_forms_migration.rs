//! Migration 0008 (the desk's forms item by item) on records written before it: a
//! database is built at migration 0007, old applications are written in the old shape
//! (a responsible person and a phone, a defacement application with its credentials and
//! a sealed password, a WAF with the optional credentials, technical conditions as one
//! `details` text, a mail connection), the store is opened (which migrates it) and each
//! is read back in the new shape, on SQLite or PostgreSQL as the test run selects.

use std::path::Path;

use desk::{Fields, Kind, State};
use serde_json::json;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use store::{Sealer, Store, testing::fresh_database};

/// The schema as migration 0007 left it, at `url`: the backend's migrations 0001 to
/// 0007 copied to `dir` and run from there.
async fn at_0007(url: &str, dir: &Path) -> sqlx::AnyPool {
    let backend = if url.starts_with("sqlite:") { "sqlite" } else { "postgres" };
    let all = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    let old = dir.join("migrations-0007");
    std::fs::create_dir_all(&old).unwrap();
    for entry in std::fs::read_dir(&all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.as_str() < "0008" {
            std::fs::copy(&path, old.join(&name)).unwrap();
        }
    }
    assert_eq!(std::fs::read_dir(&old).unwrap().count(), 7, "migrations 0001 to 0007");
    let migrator = Migrator::new(old.as_path()).await.expect("the old migrations read");
    let pool = raw(url).await;
    migrator.run(&pool).await.expect("migrations up to 0007 run");
    pool
}

/// Writes one application in the old shape, with its sealed secret if any.
async fn old(pool: &sqlx::AnyPool, kind: &str, state: &str, record: serde_json::Value, sealed: Option<&str>) -> i64 {
    let sql = "INSERT INTO applications (kind, applicant, state, received, record_json, sealed_secret, created_at, \
               updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, 1) RETURNING id";
    sqlx::query_scalar::<_, i64>(sql)
        .bind(kind)
        .bind(record["applicant"].as_str().unwrap().to_string())
        .bind(state)
        .bind("2026-03-02")
        .bind(record.to_string())
        .bind(sealed.map(str::to_string))
        .fetch_one(pool)
        .await
        .expect("an old application is written")
}

/// The parts every old record had, around its kind's fields.
fn record(applicant: &str, kind: &str, state: &str, fields: serde_json::Value) -> serde_json::Value {
    json!({
        "applicant": applicant, "contacts": ["it@site.example", "duty@site.example"],
        "kind": kind, "fields": fields,
        "received": "2026-03-02", "state": state, "since": "2026-03-02",
        "conditions": null, "valid_through": null, "reason": null,
    })
}

#[tokio::test]
async fn applications_filed_before_the_forms_migration_read_in_the_new_shape() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(dir.path()).await;
    let sealer = Sealer::open_or_create(&dir.path().join("desk.key")).unwrap();
    let pool = at_0007(&url, dir.path()).await;
    let org = "org:990101000004";

    let waf = record(
        org,
        "waf",
        "filed",
        json!({"site": "Portal.Example.kz", "addresses": ["192.0.2.10"], "responsible": "Aigerim Sadykova",
               "phone": "+7 717 200 00 00",
               "credentials": {"access": "https://portal.example.kz/admin", "login": "waf", "secret": "********"}}),
    );
    let waf = old(&pool, "waf", "filed", waf, Some(&sealer.seal("waf secret").unwrap())).await;
    let deface = record(
        org,
        "defacement",
        "filed",
        json!({"site": "news.example.kz", "addresses": ["192.0.2.11", "2001:db8::11"],
               "responsible": "Nurlan Abenov", "phone": "+7 717 200 00 01", "pages": ["/", "/news"],
               "credentials": {"access": "sftp://news.example.kz/var/www", "login": "deploy", "secret": "********"}}),
    );
    let deface = old(&pool, "defacement", "filed", deface, Some(&sealer.seal("old password").unwrap())).await;
    let mut link = record(
        "operator:telecom",
        "operator-link",
        "conditions",
        json!({"object_name": "Node 1", "object_address": "Astana, Mangilik El 55", "main_gbps": 10,
               "backup_gbps": 10, "planned": "2026-04-01"}),
    );
    link["conditions"] = json!({"number": "TU-7", "details": "rack 4, shelf 2, ports 7-8", "issued": "2026-03-03", "expires": "2026-05-01"});
    let link = old(&pool, "operator-link", "conditions", link, None).await;
    let mail = record(
        org,
        "mail-connection",
        "refused",
        json!({"system": "ministry", "domains": ["Mail.Example.kz"], "servers": ["192.0.2.25"], "deliver_to": null}),
    );
    let mail = old(&pool, "mail-connection", "refused", mail, None).await;
    pool.close().await;

    let store = Store::open(&url).await.expect("the store migrates the old database");

    let read = store.application(waf).await.unwrap();
    let Fields::Waf { resource, specialists } = &read.application.fields else { panic!("{read:?}") };
    assert_eq!(resource.site, "Portal.Example.kz");
    assert_eq!(specialists.len(), 1, "the responsible person is the one specialist");
    let one = &specialists[0];
    assert_eq!(
        (one.name.as_str(), one.email.as_str(), one.work_phone.as_str(), one.mobile.as_str()),
        ("Aigerim Sadykova", "it@site.example", "+7 717 200 00 00", "")
    );
    assert!(read.sealed.is_empty(), "the WAF's credentials are gone: {:?}", read.sealed);
    assert!(store.sealed_secrets(waf).await.unwrap().is_empty());
    let shown = serde_json::to_string(&read).unwrap();
    assert!(!shown.contains("credentials") && !shown.contains("responsible"), "{shown}");

    let read = store.application(deface).await.unwrap();
    let Fields::Defacement { resource, access, login, password, access_key, pages, specialists } =
        &read.application.fields
    else {
        panic!("{read:?}")
    };
    assert_eq!(resource.addresses.len(), 2);
    assert_eq!((access.as_str(), login.as_str()), ("sftp://news.example.kz/var/www", "deploy"));
    assert_eq!(password.as_deref(), Some(desk::fields::MASK), "only the mask is in the record");
    assert_eq!(access_key, &None);
    assert_eq!(pages, &["/", "/news"]);
    assert_eq!(specialists[0].name, "Nurlan Abenov");
    assert_eq!(read.sealed, ["password"]);
    let secrets = store.sealed_secrets(deface).await.unwrap();
    assert_eq!(sealer.open(&secrets["password"]).unwrap(), "old password", "the sealed password still opens");

    let read = store.application(link).await.unwrap();
    assert_eq!(read.application.state, State::Conditions);
    let conditions = read.application.conditions.as_ref().expect("the conditions are kept");
    assert_eq!(conditions.number, "TU-7");
    assert_eq!(conditions.items.connection_point, "rack 4, shelf 2, ports 7-8", "the old text is item 2.3");
    assert_eq!(conditions.items.interface, None, "the other items read as the regulation's text");
    assert_eq!(conditions.expires.to_string(), "2026-05-01");

    let read = store.application(mail).await.unwrap();
    assert_eq!(read.application.kind(), Kind::MailConnection);
    assert_eq!(read.application.state, State::Refused);

    // The old refusal holds back its mail domain (lowercase) and its site, nothing else.
    let resources: Vec<(i64, String)> = sqlx::query_as::<_, (i64, String)>(
        "SELECT application_id, resource FROM application_resources ORDER BY application_id, resource",
    )
    .fetch_all(&raw(&url).await)
    .await
    .unwrap();
    assert_eq!(
        resources,
        [(waf, "portal.example.kz".to_string()), (deface, "news.example.kz".into()), (mail, "mail.example.kz".into())]
    );
}

/// A plain pool on the test's database.
async fn raw(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = if url.starts_with("sqlite:") { format!("{url}?mode=rwc") } else { url.to_string() };
    AnyPoolOptions::new().max_connections(1).connect(&url).await.unwrap()
}
