//! Spool tests: round trip, locking, state replay, rotation, compaction.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use bytes::Bytes;
use time::OffsetDateTime;

use super::*;
use crate::envelope::{Envelope, Mailbox, SystemId};

pub(super) fn envelope(n: usize) -> Envelope {
    Envelope {
        sender: Some(Mailbox::new("alice", "Agency.example")),
        recipients: (0..n).map(|i| Mailbox::new(format!("r{i}"), "example.org")).collect(),
        received_at: OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).expect("valid time"),
        client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        helo: "mx.agency.example".into(),
        system_id: Some(SystemId(42)),
    }
}

pub(super) fn body(n: usize, tag: u8) -> Bytes {
    Bytes::from(
        (0..n).map(|i| if i % 78 == 77 { b'\n' } else { b'a' + (i as u8).wrapping_add(tag) % 26 }).collect::<Vec<_>>(),
    )
}

pub(super) fn open(dir: &Path) -> (Spool, Vec<QueuedMessage>) {
    Spool::open(dir, SpoolConfig::default()).expect("open spool")
}

#[tokio::test]
async fn round_trip_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (spool, none) = open(dir.path());
    assert!(none.is_empty());
    let mut env = envelope(2);
    env.sender = None;
    env.client_ip = "2001:db8::1".parse().expect("ip");
    let id = spool.accept(env.clone(), body(5000, 1)).await.expect("accept");
    let read = spool.read(id).await.expect("read");
    assert_eq!((read.envelope.clone(), read.body.clone()), (env.clone(), body(5000, 1)));
    spool.shutdown().await.expect("shutdown");

    let (spool, recovered) = open(dir.path());
    assert_eq!(recovered.len(), 1);
    assert_eq!(
        recovered[0],
        QueuedMessage {
            id,
            envelope: env,
            body: body(5000, 1),
            recipients: vec![RecipientState::Pending; 2],
            held: false
        }
    );
    let next = spool.accept(envelope(1), body(10, 2)).await.expect("accept");
    assert!(next > id, "ids keep increasing across restarts");
    spool.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn second_open_is_refused_while_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (spool, _) = open(dir.path());
    assert!(matches!(Spool::open(dir.path(), SpoolConfig::default()), Err(SpoolError::Locked(_))));
    spool.shutdown().await.expect("shutdown");
    let (spool, _) = open(dir.path());
    spool.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn state_records_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (spool, _) = open(dir.path());
    let done = spool.accept(envelope(2), body(100, 1)).await.expect("accept");
    let partial = spool.accept(envelope(3), body(100, 2)).await.expect("accept");
    let held = spool.accept(envelope(1), body(100, 3)).await.expect("accept");
    let finished = spool.accept(envelope(1), body(100, 4)).await.expect("accept");
    spool.mark(done, 0, RecipientOutcome::Delivered).await.expect("mark");
    spool.mark(done, 1, RecipientOutcome::Failed).await.expect("mark");
    spool.mark(partial, 1, RecipientOutcome::Delivered).await.expect("mark");
    spool.hold(held).await.expect("hold");
    spool.finish(finished).await.expect("finish");
    assert!(matches!(spool.mark(done, 0, RecipientOutcome::Delivered).await, Err(SpoolError::UnknownMessage(_))));
    assert!(matches!(
        spool.mark(partial, 3, RecipientOutcome::Delivered).await,
        Err(SpoolError::NoSuchRecipient { .. })
    ));
    assert_eq!(spool.queued(), vec![partial, held]);
    spool.shutdown().await.expect("shutdown");

    let (spool, rec) = open(dir.path());
    let ids: Vec<_> = rec.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![partial, held], "delivered and finished messages are not returned");
    use RecipientState::*;
    assert_eq!(rec[0].recipients, vec![Pending, Delivered, Pending]);
    assert!(!rec[0].held && rec[1].held);
    spool.release(held).await.expect("release");
    spool.shutdown().await.expect("shutdown");
    let (spool, rec) = open(dir.path());
    assert!(!rec[1].held);
    spool.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn rotation_and_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = SpoolConfig {
        segment_size: 4096,
        compact_interval: std::time::Duration::from_secs(3600),
        ..SpoolConfig::default()
    };
    let (spool, _) = Spool::open(dir.path(), cfg.clone()).expect("open");
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(spool.accept(envelope(1), body(1500, i)).await.expect("accept"));
    }
    let segs = segment::list(dir.path()).expect("list");
    assert!(segs.len() >= 4, "rotation happened: {segs:?}");
    // Keep the last message live; everything else is delivered.
    for id in &ids[..11] {
        spool.mark(*id, 0, RecipientOutcome::Delivered).await.expect("mark");
    }
    let report = spool.compact().await.expect("compact");
    assert!(report.segments_deleted >= 3, "{report:?}");
    let left = segment::list(dir.path()).expect("list");
    assert!(left.len() < segs.len());
    spool.shutdown().await.expect("shutdown");

    let (spool, rec) = Spool::open(dir.path(), cfg).expect("reopen");
    assert_eq!(rec.iter().map(|m| m.id).collect::<Vec<_>>(), vec![ids[11]]);
    spool.finish(ids[11]).await.expect("finish");
    spool.compact().await.expect("compact");
    assert_eq!(segment::list(dir.path()).expect("list").len(), 1, "only the active segment is left");
    spool.shutdown().await.expect("shutdown");
    assert_eq!(open_count(dir.path()), 0);
}

#[tokio::test]
async fn state_record_of_a_live_message_blocks_compaction_of_its_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = SpoolConfig {
        segment_size: 1,
        compact_interval: std::time::Duration::from_secs(3600),
        ..SpoolConfig::default()
    };
    let (spool, _) = Spool::open(dir.path(), cfg.clone()).expect("open");
    // Every batch goes to its own segment (segment_size 1).
    let live = spool.accept(envelope(2), body(100, 1)).await.expect("accept");
    spool.mark(live, 0, RecipientOutcome::Delivered).await.expect("mark");
    spool.accept(envelope(1), body(100, 2)).await.expect("accept");
    spool.compact().await.expect("compact");
    spool.shutdown().await.expect("shutdown");
    let (spool, rec) = Spool::open(dir.path(), cfg).expect("reopen");
    assert_eq!(
        rec[0].recipients,
        vec![RecipientState::Delivered, RecipientState::Pending],
        "the delivered mark survived compaction"
    );
    spool.shutdown().await.expect("shutdown");
}

pub(super) fn open_count(dir: &Path) -> usize {
    let (_spool, rec) = open(dir);
    rec.len()
}

#[tokio::test]
async fn runtime_read_detects_corruption_and_oversize_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = SpoolConfig { max_record_size: 4096, fresh_budget: 0, ..SpoolConfig::default() };
    let (spool, _) = Spool::open(dir.path(), cfg).expect("open");
    let id = spool.accept(envelope(1), body(500, 1)).await.expect("accept");
    let big = spool.accept(envelope(1), body(5000, 1)).await;
    assert!(matches!(big, Err(SpoolError::TooLarge { .. })), "{big:?}");
    let seg = segment::path(dir.path(), 1);
    let mut bytes = std::fs::read(&seg).expect("read");
    bytes[300] ^= 1;
    std::fs::write(&seg, &bytes).expect("write");
    assert!(matches!(spool.read(id).await, Err(SpoolError::CorruptOnRead(_))));
    spool.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_first_read_after_acceptance_comes_from_memory_later_ones_from_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (spool, _) = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
    let sent = body(500, 7);
    let id = spool.accept(envelope(2), sent.clone()).await.expect("accept");
    let seg = segment::path(dir.path(), 1);
    let good = std::fs::read(&seg).expect("read");
    let mut bad = good.clone();
    bad[300] ^= 1;
    std::fs::write(&seg, &bad).expect("write");
    let first = spool.read(id).await.expect("first read, from memory");
    assert_eq!((first.body, first.envelope), (sent.clone(), envelope(2)));
    assert!(matches!(spool.read(id).await, Err(SpoolError::CorruptOnRead(_))), "second read goes to disk");
    std::fs::write(&seg, &good).expect("restore");
    assert_eq!(spool.read(id).await.expect("read from disk").body, sent);
    spool.shutdown().await.expect("shutdown");
}
