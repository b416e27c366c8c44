//! Recovery tests: torn final record at every byte offset, flipped bits in
//! sealed and last segments, quarantine of a dropped final batch.

use std::path::Path;

use super::tests::{body, envelope, open};
use super::*;

/// Writes `n` messages (one batch each) into a fresh spool and returns the
/// bytes of its first segment and the offsets of its records.
async fn build(n: usize, body_len: usize) -> (Vec<u8>, Vec<usize>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (spool, _) = open(dir.path());
    for i in 0..n {
        spool.accept(envelope(1), body(body_len, i as u8)).await.expect("accept");
    }
    spool.shutdown().await.expect("shutdown");
    let mut bytes = segment::read(dir.path(), 1).expect("read");
    let mut offsets = Vec::new();
    let mut pos = 0;
    while bytes[pos..].iter().any(|&b| b != 0) {
        offsets.push(pos);
        pos += record::decode(&bytes[pos..], u32::MAX).expect("valid").total;
    }
    assert!(bytes.len() > pos, "the writer lays zeros ahead of its data");
    bytes.truncate(pos);
    (bytes, offsets)
}

/// A crash image: the given bytes as the only (hence last) segment.
fn crash_image(bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(segment::path(dir.path(), 1), bytes).expect("write image");
    dir
}

fn bodies(rec: &[QueuedMessage]) -> Vec<bytes::Bytes> {
    rec.iter().map(|m| m.body.clone()).collect()
}

#[tokio::test]
async fn torn_last_record_at_every_offset() {
    let (bytes, offs) = build(3, 120).await;
    let last = offs[2];
    for cut in last..bytes.len() {
        let dir = crash_image(&bytes[..cut]);
        let (spool, rec) = open(dir.path());
        assert_eq!(bodies(&rec), vec![body(120, 0), body(120, 1)], "cut at {cut}");
        assert_eq!(spool.stats().torn_tails, u64::from(cut > last), "cut at {cut}");
        assert_eq!(spool.stats().corrupt_records, 0);
        assert_eq!(std::fs::metadata(segment::path(dir.path(), 1)).expect("meta").len(), last as u64, "truncated");
        spool.accept(envelope(1), body(7, 9)).await.expect("accept after recovery");
        spool.shutdown().await.expect("shutdown");
        let (spool, rec) = open(dir.path());
        assert_eq!(rec.len(), 3, "cut at {cut}: appends after recovery survive");
        spool.shutdown().await.expect("shutdown");
    }
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= 0x10;
    b
}

fn quarantined(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .expect("dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().contains(".torn-")))
        .count()
}

#[tokio::test]
async fn flipped_bit_in_sealed_segment_is_counted_and_skipped() {
    let (bytes, offs) = build(3, 300).await;
    for at in [offs[1] + 2, offs[1] + 9, offs[1] + 100] {
        let dir = crash_image(&flip(&bytes, at));
        // A later segment makes segment 1 sealed.
        std::fs::write(segment::path(dir.path(), 2), b"").expect("write");
        let (spool, rec) = open(dir.path());
        assert_eq!(bodies(&rec), vec![body(300, 0), body(300, 2)], "flip at {at}");
        assert_eq!(spool.stats().corrupt_records, 1);
        assert_eq!(spool.stats().torn_tails, 0);
        spool.shutdown().await.expect("shutdown");
    }
}

#[tokio::test]
async fn flipped_payload_bit_in_an_earlier_batch_of_last_segment_is_skipped() {
    let (bytes, offs) = build(4, 300).await;
    let dir = crash_image(&flip(&bytes, offs[2] + 100));
    let (spool, rec) = open(dir.path());
    assert_eq!(bodies(&rec), vec![body(300, 0), body(300, 1), body(300, 3)]);
    assert_eq!((spool.stats().corrupt_records, spool.stats().torn_tails), (1, 0));
    spool.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn flipped_header_bit_before_final_batch_truncates_and_quarantines() {
    let (bytes, offs) = build(4, 300).await;
    let dir = crash_image(&flip(&bytes, offs[2] + 9));
    let (spool, rec) = open(dir.path());
    assert_eq!(bodies(&rec), vec![body(300, 0), body(300, 1)]);
    assert_eq!(spool.stats().torn_tails, 1);
    assert_eq!(quarantined(dir.path()), 1, "dropped checksummed records are saved");
    spool.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn flipped_bit_in_final_record_is_a_torn_tail() {
    let (bytes, offs) = build(3, 300).await;
    let dir = crash_image(&flip(&bytes, offs[2] + 200));
    let (spool, rec) = open(dir.path());
    assert_eq!(rec.len(), 2);
    assert_eq!(spool.stats().torn_tails, 1);
    assert_eq!(quarantined(dir.path()), 0);
    spool.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn garbage_file_never_panics() {
    let junk: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let dir = crash_image(&junk);
    std::fs::write(segment::path(dir.path(), 2), &junk).expect("write");
    let (spool, rec) = open(dir.path());
    assert!(rec.is_empty());
    spool.shutdown().await.expect("shutdown");
}

/// `bytes` followed by `zeros` zero bytes.
fn with_zeros(bytes: &[u8], zeros: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b.resize(bytes.len() + zeros, 0);
    b
}

#[tokio::test]
async fn a_zero_tail_is_a_clean_end_in_the_last_and_in_sealed_segments() {
    let (bytes, offs) = build(3, 300).await;
    // A stop (crash or not) leaves the zeros laid ahead of the data: nothing torn.
    let dir = crash_image(&with_zeros(&bytes, 70_000));
    let (spool, rec) = open(dir.path());
    assert_eq!(bodies(&rec), vec![body(300, 0), body(300, 1), body(300, 2)]);
    assert_eq!((spool.stats().corrupt_records, spool.stats().torn_tails), (0, 0));
    assert_eq!(std::fs::metadata(segment::path(dir.path(), 1)).expect("meta").len(), bytes.len() as u64, "cut");
    spool.shutdown().await.expect("shutdown");
    // The same tail in a sealed segment (a later segment exists).
    let dir = crash_image(&with_zeros(&bytes, 5000));
    std::fs::write(segment::path(dir.path(), 2), b"").expect("write");
    let (spool, rec) = open(dir.path());
    assert_eq!((rec.len(), spool.stats().corrupt_records, spool.stats().torn_tails), (3, 0, 0));
    spool.shutdown().await.expect("shutdown");
    // A final record cut short, then zeros: torn, as without the zeros.
    let cut = offs[2] + 150;
    let dir = crash_image(&with_zeros(&bytes[..cut], 5000));
    let (spool, rec) = open(dir.path());
    assert_eq!((rec.len(), spool.stats().torn_tails), (2, 1));
    spool.shutdown().await.expect("shutdown");
    // Zeros inside the data, with a valid record after them, are not an end.
    let mut holed = bytes.clone();
    holed[offs[1]..offs[2]].fill(0);
    let dir = crash_image(&holed);
    std::fs::write(segment::path(dir.path(), 2), b"").expect("write");
    let (spool, rec) = open(dir.path());
    assert_eq!(bodies(&rec), vec![body(300, 0), body(300, 2)]);
    assert_eq!(spool.stats().corrupt_records, 1);
    spool.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn appends_after_a_restart_survive_the_next_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    for round in 0..3u8 {
        let (spool, rec) = open(dir.path());
        assert_eq!(rec.len(), usize::from(round) * 2, "round {round}");
        assert_eq!((spool.stats().corrupt_records, spool.stats().torn_tails), (0, 0), "round {round}");
        for i in 0..2 {
            spool.accept(envelope(1), body(2000, round * 2 + i)).await.expect("accept");
        }
        spool.shutdown().await.expect("shutdown");
    }
}
