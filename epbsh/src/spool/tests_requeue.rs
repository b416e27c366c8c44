//! Requeue: a held message released with a fresh queue lifetime keeps that start time
//! across a restart.

use time::OffsetDateTime;

use super::tests::{body, envelope, open};

#[tokio::test]
async fn requeue_releases_and_survives_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (spool, _) = open(dir.path());
    let id = spool.accept(envelope(1), body(100, 1)).await.expect("accept");
    assert_eq!(spool.requeued_at(id), None);
    spool.hold(id).await.expect("hold");
    let since = OffsetDateTime::from_unix_timestamp_nanos(1_800_000_000_000_000_001).expect("time");
    spool.requeue(id, since).await.expect("requeue");
    assert_eq!(spool.status(id).map(|(_, held)| held), Some(false));
    assert_eq!(spool.requeued_at(id), Some(since));
    spool.shutdown().await.expect("shutdown");

    let (spool, rec) = open(dir.path());
    assert!(!rec[0].held);
    assert_eq!(spool.requeued_at(id), Some(since));
    spool.shutdown().await.expect("shutdown");
}
