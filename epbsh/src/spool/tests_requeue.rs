//! Requeue and deferral: a held message released with a fresh queue lifetime keeps that
//! start time across a restart, and so does a deferred message its retry time.

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

#[tokio::test]
async fn deferral_survives_restart_and_requeue_clears_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (spool, _) = open(dir.path());
    let id = spool.accept(envelope(1), body(100, 1)).await.expect("accept");
    assert_eq!(spool.retry_state(id), Some((0, None)));
    let next = OffsetDateTime::from_unix_timestamp_nanos(1_900_000_000_000_000_007).expect("time");
    spool.defer(id, 1, next - time::Duration::minutes(5)).await.expect("defer");
    spool.defer(id, 3, next).await.expect("defer");
    assert_eq!(spool.retry_state(id), Some((3, Some(next))));
    spool.shutdown().await.expect("shutdown");

    let (spool, _) = open(dir.path());
    assert_eq!(spool.retry_state(id), Some((3, Some(next))), "the last deferral is recovered");
    spool.hold(id).await.expect("hold");
    let since = OffsetDateTime::from_unix_timestamp_nanos(1_950_000_000_000_000_000).expect("time");
    spool.requeue(id, since).await.expect("requeue");
    assert_eq!(spool.retry_state(id), Some((0, None)), "a requeue starts afresh");
    spool.shutdown().await.expect("shutdown");

    let (spool, _) = open(dir.path());
    assert_eq!(spool.retry_state(id), Some((0, None)));
    spool.shutdown().await.expect("shutdown");
}
