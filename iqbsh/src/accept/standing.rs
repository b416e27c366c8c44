//! Whether an open connection may go on: a decision that changes reaches
//! connections already open. [`ended`] completes when a catalog snapshot
//! swapped in after the connection was admitted refuses its source (blocked,
//! unknown, or now another organisation's), or when the connection reaches
//! its maximum lifetime (`timeouts.max_lifetime`). Every client connection,
//! and every tunnel handed on from one, runs raced against it; a spliced
//! tunnel also takes it as the reason it is cut, so its access-log line says
//! why. Rules and threat feeds need no watcher here: they are read anew for
//! every request.
//!
//! Must not: poll or block; it waits on the snapshot's change notifications
//! and one timer.

use std::time::SystemTime;

use crate::accept::conn::Conn;
use crate::decide::denial::{Denial, DenyKind};

/// Completes with the reason once `conn` may no longer go on.
pub(crate) async fn ended(conn: &Conn) -> Denial {
    let lifetime = conn.shared.settings.max_lifetime;
    // A lifetime too long for the clock to count is no limit.
    let expiry = async {
        match conn.born.checked_add(lifetime) {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        denial = conn.shared.gate.withdrawn(&conn.client) => denial,
        () = expiry => {
            let why = format!("the connection reached the gateway's maximum lifetime of {}", policies::duration::format(lifetime));
            Denial::new(DenyKind::Lifetime, why)
        }
    }
}

/// How long a spliced tunnel, told of the same decision, is given to end and write its
/// own line before the connection is dropped and the generic cut line written.
const SPLICE_CUT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs a connection's handler `serve` until it ends or `conn` may no longer go on. On
/// the latter a spliced tunnel (which watches the same decision and writes its own line
/// with the cut in it) is given [`SPLICE_CUT_GRACE`] to do so; any other handler is
/// dropped at once and the cut written here. Either way one line tells the cut.
pub(crate) async fn guard(conn: &Conn, serve: impl Future<Output = ()>) {
    tokio::pin!(serve);
    tokio::select! {
        biased;
        () = &mut serve => {}
        denial = ended(conn) => {
            let splicing = conn.splicing.load(std::sync::atomic::Ordering::Relaxed);
            if !splicing || tokio::time::timeout(SPLICE_CUT_GRACE, &mut serve).await.is_err() {
                note_cut(conn, &denial);
            }
        }
    }
}

/// Writes the access-log line of a connection cut by `denial` (a keep-alive or
/// bumped connection; a spliced tunnel writes its own line with the cut in it).
pub(crate) fn note_cut(conn: &Conn, denial: &Denial) {
    let mut record = conn.record(SystemTime::now(), "-", "", "-".to_owned());
    let cut = Denial::new(denial.kind, format!("open connection cut: {}", denial.reason));
    conn.deny(&mut record, &cut, 0);
    conn.finish(record);
}
