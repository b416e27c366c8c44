//! Test support: a fresh, empty database for each test, on the backend the test run
//! selects (`PERIMETER_TEST_DATABASE` = a PostgreSQL URL; unset or empty: SQLite).

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The PostgreSQL server URL the test run uses, if any.
pub fn postgres_server() -> Option<String> {
    std::env::var("PERIMETER_TEST_DATABASE").ok().filter(|u| !u.is_empty())
}

/// A URL of a new empty database: a new PostgreSQL database on the test server, or a
/// SQLite file in `dir`.
pub async fn fresh_database(dir: &Path) -> String {
    let Some(server) = postgres_server() else {
        return format!("sqlite://{}", dir.join("catalog.db").display());
    };
    let name = format!(
        "perimeter_t{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        crate::now_ms() % 1_000_000
    );
    let mut conn = sqlx::PgConnection::connect(&server).await.expect("the PostgreSQL test server is reachable");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("a test database can be created");
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}
