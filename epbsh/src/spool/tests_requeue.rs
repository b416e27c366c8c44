//! Requeue and deferral: a held message released with a fresh queue lifetime keeps that
//! start time across a restart, and so does a deferred message its retry time.

use time::OffsetDateTime;

use super::Retry;
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
    assert_eq!(spool.retry_state(id), Some(Retry::default()));
    let next = OffsetDateTime::from_unix_timestamp_nanos(1_900_000_000_000_000_007).expect("time");
    let first = Retry { attempts: 1, next_at: Some(next - time::Duration::minutes(5)), last_error: None };
    spool.defer(id, &first).await.expect("defer");
    // A long error is kept up to its limit, cut at a character boundary.
    let error = format!("451 4.3.0 {}", "é".repeat(600));
    let third = Retry { attempts: 3, next_at: Some(next), last_error: Some(error.clone()) };
    spool.defer(id, &third).await.expect("defer");
    let kept = spool.retry_state(id).expect("queued");
    assert_eq!((kept.attempts, kept.next_at), (3, Some(next)));
    let kept_error = kept.last_error.expect("error kept");
    assert!(kept_error.len() <= 1024 && error.starts_with(&kept_error) && kept_error.len() > 1000, "{kept_error}");
    spool.shutdown().await.expect("shutdown");

    let (spool, _) = open(dir.path());
    let recovered = spool.retry_state(id).expect("queued");
    assert_eq!((recovered.attempts, recovered.next_at), (3, Some(next)), "the last deferral is recovered");
    assert_eq!(recovered.last_error.as_deref(), Some(kept_error.as_str()));
    spool.hold(id).await.expect("hold");
    let since = OffsetDateTime::from_unix_timestamp_nanos(1_950_000_000_000_000_000).expect("time");
    spool.requeue(id, since).await.expect("requeue");
    assert_eq!(spool.retry_state(id), Some(Retry::default()), "a requeue starts afresh");
    spool.shutdown().await.expect("shutdown");

    let (spool, _) = open(dir.path());
    assert_eq!(spool.retry_state(id), Some(Retry::default()));
    spool.shutdown().await.expect("shutdown");
}
