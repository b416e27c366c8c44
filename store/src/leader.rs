//! Leadership of the cluster-wide jobs (the reconciler and its notices, reminders): of
//! all nodes on one PostgreSQL exactly one holds a session advisory lock for the job and
//! runs it; the lock lives with that node's own connection, so when the node dies (or
//! its connection does) the database releases it and another node takes over within a
//! retry period. On SQLite there is one node, always the leader.
//!
//! Must not: claim leadership it cannot prove: a node that loses its connection steps
//! down at once.

use std::time::Duration;

use sqlx::{Connection, PgConnection, Row};
use tokio::sync::watch;

use crate::{Backend, Store};

/// How often a follower tries to take the lead, and a leader checks it still holds it.
const RETRY: Duration = Duration::from_secs(1);

/// Whether this node leads a job now; changes as nodes come and go.
#[derive(Clone)]
pub struct Leadership {
    leading: watch::Receiver<bool>,
}

impl Leadership {
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Waits until this node leads (returns at once if it does).
    pub async fn until_leader(&mut self) {
        let _ = self.leading.wait_for(|leads| *leads).await;
    }

    /// Waits until this node no longer leads.
    pub async fn until_follower(&mut self) {
        let _ = self.leading.wait_for(|leads| !*leads).await;
    }
}

impl Store {
    /// Competes for the lead of `job` for as long as the returned value (or a clone)
    /// lives.
    pub fn lead(&self, job: &str) -> Leadership {
        if self.backend == Backend::Sqlite {
            let (tx, leading) = watch::channel(true);
            std::mem::forget(tx);
            return Leadership { leading };
        }
        let (tx, leading) = watch::channel(false);
        tokio::spawn(compete(self.url.to_string(), key(job), job.to_string(), tx));
        Leadership { leading }
    }
}

/// A stable 63-bit key for an advisory lock, from the job's name (FNV-1a).
fn key(job: &str) -> i64 {
    let hash = format!("perimeter:{job}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    (hash >> 1) as i64
}

async fn compete(url: String, key: i64, job: String, leading: watch::Sender<bool>) {
    while !leading.is_closed() {
        let mut conn = match PgConnection::connect(&url).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(%job, error = %e, "cannot reach the store to compete for the lead");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        while !leading.is_closed() {
            let won = sqlx::query("SELECT pg_try_advisory_lock($1) AS won").bind(key).fetch_one(&mut conn).await;
            match won.and_then(|r| r.try_get::<bool, _>("won")) {
                Ok(true) => {
                    tracing::info!(%job, "this node leads");
                    leading.send_replace(true);
                    hold(&mut conn, &leading).await;
                    leading.send_replace(false);
                    tracing::warn!(%job, "this node no longer leads");
                    break;
                }
                Ok(false) => tokio::time::sleep(RETRY).await,
                Err(_) => break,
            }
        }
    }
}

/// Keeps the lead while the connection answers (the lock is the connection's).
async fn hold(conn: &mut PgConnection, leading: &watch::Sender<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = leading.closed() => return,
        }
        let alive = tokio::time::timeout(RETRY, sqlx::query("SELECT 1").execute(&mut *conn)).await;
        if !matches!(alive, Ok(Ok(_))) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_stable_and_distinct() {
        assert_eq!(super::key("reconciler"), super::key("reconciler"));
        assert_ne!(super::key("reconciler"), super::key("reminders"));
        assert!(super::key("reconciler") >= 0);
    }
}
