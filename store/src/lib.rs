//! Every record the perimeter service keeps, in one SQL schema served by SQLite (a file
//! in the data directory, the default) or PostgreSQL (a `postgres://` URL), through
//! sqlx's `Any` driver so every query is written once. One module per subject: the
//! catalog's operators and organisations (`entities`) and prefix lists (`lists`),
//! `blocks`, unknown-source `observe`ations, `notices` to operators, connected `mail`
//! systems and their `held` mail, API `tokens`, console `users` and their `sessions`,
//! the request desk's applications (`requests`), defacement protection's sites, findings
//! and events (`deface`), the web application firewall's protected sites (`waf`), the
//! duty team's `grants` of services besides the web proxy,
//! keyset-paginated `pages` of the long lists for the console, the traffic watch's
//! `shares` between nodes, the `states` records move through, and the `audit` trail in
//! which every change is recorded
//! inside the same transaction as the change itself. `follow` and `leader` serve
//! several nodes on one database.
//!
//! Must not: decide anything the catalog's rules decide (whether a list is valid, when
//! a deadline falls): callers bring checked values; the store keeps them consistent
//! and audited.

mod audit;
mod blocks;
mod deface;
mod deface_owner;
mod entities;
mod follow;
mod grants;
mod held;
mod leader;
mod lists;
mod mail;
mod notices;
mod observe;
mod pages;
mod requests;
mod sessions;
mod shares;
mod states;
#[doc(hidden)]
pub mod testing;
mod tokens;
mod users;
mod waf;

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

pub use audit::Change;
pub(crate) use audit::audit;
pub use blocks::{Block, BlockFilter};
pub use deface::{DefaceEvent, DefaceFinding, DefaceSiteRecord, NewDefaceFinding, NewDefaceSite};
pub use deface_owner::DefaceOwner;
pub use entities::{NewOperator, Operator, Organisation, valid_handle};
pub use follow::Generations;
pub use grants::{GateGrant, RiskyGrant};
pub use held::HeldDeletion;
pub use leader::Leadership;
pub use lists::{Applied, Assignment, Current, Entry, ListChange, ListDiff, OrgInfo, Progress};
pub use mail::{MailSystemRecord, NewMailSystem};
pub use notices::{
    DeadlineChange, DeadlineOutcome, DeadlineReport, DueDeadline, NoticeAddress, NoticeInfo, PendingNotice,
};
pub use observe::{IngestReport, MAX_UNKNOWN_PER_OPERATOR, UnknownAddress, UnknownFilter};
pub use pages::{AuditFilter, Page, PageRequest};
pub use requests::{
    Acted, ApplicationRecord, AttachmentInfo, Compose, Filed, MailInfo, NewAttachment, OutMail, PendingMail, Sealer,
    TimelineEntry, Verified, Visible,
};
pub use sessions::{Session, SessionLimits};
pub use snapshot::{Observation, now_ms};
pub use states::{BlockKind, NoticeStatus, ObservationStatus, OutboxStatus, ProposalStatus};
pub use tokens::{Role, TokenInfo};
pub use users::{LANGUAGES, Lockout, LoginOutcome, MIN_PASSWORD, User, UserRole};
pub use waf::{NewWafSite, WafProposal, WafSiteChange, WafSiteRecord};

/// Which database serves the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What went wrong in the store, said so a person can act on it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{what} '{name}' does not exist")]
    NotFound { what: &'static str, name: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Handle to the catalog database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The URL it was opened with (never shown: it may hold a password), for the
    /// dedicated connections of change notifications and leadership.
    url: std::sync::Arc<str>,
    /// The most live unknown addresses kept per operator.
    unknown_cap: i64,
}

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// This store keeping at most `cap` live unknown addresses per operator (default
    /// [`MAX_UNKNOWN_PER_OPERATOR`]).
    pub fn keeping_unknown(mut self, cap: u32) -> Store {
        self.unknown_cap = i64::from(cap.max(1));
        self
    }

    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Invalid(format!(
                "unsupported database URL '{}': use sqlite://PATH or postgres://USER@HOST:PORT/DB",
                redact(url)
            )));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in SQLITE_PRAGMAS {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE.run(&pool).await?,
            Backend::Postgres => POSTGRES.run(&pool).await?,
        }
        Ok(Store { pool, backend, url: url.into(), unknown_cap: observe::MAX_UNKNOWN_PER_OPERATOR })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The id of the newest change: grows with every change, so a reader that saw
    /// generation G needs to reload only when this is above G.
    pub async fn generation(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS g FROM changes").fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>("g")?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 30000",
];

/// Removes a password from a database URL before it is shown anywhere.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Serialises writers that must see a stable catalog while they check and apply:
/// a row update takes PostgreSQL's row lock and SQLite's write lock.
async fn write_lock(tx: &mut sqlx::AnyConnection) -> Result<()> {
    sqlx::query("UPDATE meta SET value = value WHERE key = 'write_lock'").execute(&mut *tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords_only() {
        assert_eq!(super::redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }
}
