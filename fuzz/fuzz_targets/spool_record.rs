//! The spool's record framing as recovery reads it: a record is accepted only with its
//! magic and both checksums right, the fields it returns are the bytes it checked, and
//! resynchronisation stops at the first valid record.
//!
//! Input: byte 0 picks the length limit and whether the checksums are fixed up first
//! (so the fuzzer reaches valid records without forging crc32c), byte 1 where resync
//! starts; the rest is the segment's bytes.
#![no_main]

use epbsh::fuzzing::{FrameRefusal, RECORD_HEADER_LEN as HEADER, record, resync};
use libfuzzer_sys::fuzz_target;

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Writes correct checksums into a buffer that has a whole header.
fn fix_up(buf: &mut [u8]) {
    if buf.len() < HEADER {
        return;
    }
    let len = le32(&buf[8..12]) as usize;
    let end = (HEADER + len).min(buf.len());
    let pcrc = crc32c::crc32c(&buf[HEADER..end]);
    buf[21..25].copy_from_slice(&pcrc.to_le_bytes());
    let hcrc = crc32c::crc32c(&buf[8..HEADER]);
    buf[4..8].copy_from_slice(&hcrc.to_le_bytes());
}

fn check(buf: &[u8], max_len: u32) {
    let header_ok = buf.len() >= HEADER && buf[..4] == *b"EPBR" && le32(&buf[4..8]) == crc32c::crc32c(&buf[8..HEADER]);
    match record(buf, max_len) {
        Ok(f) => {
            assert!(header_ok && matches!(f.kind, 1 | 2) && f.kind == buf[12]);
            assert_eq!(f.total, HEADER + f.payload.len());
            assert!(f.payload.len() <= max_len as usize && f.total <= buf.len());
            assert_eq!(f.payload, &buf[HEADER..f.total]);
            assert_eq!(f.batch.to_le_bytes(), buf[13..21]);
            assert_eq!(le32(&buf[21..25]), crc32c::crc32c(f.payload), "payload checksum not checked");
        }
        Err(FrameRefusal::BadPayload { batch, total }) => {
            assert!(header_ok && total <= buf.len());
            assert_eq!(batch.to_le_bytes(), buf[13..21]);
            assert_ne!(le32(&buf[21..25]), crc32c::crc32c(&buf[HEADER..total]));
        }
        Err(FrameRefusal::Incomplete) => {
            let torn_header = buf.len() < HEADER && buf[..buf.len().min(4)] == b"EPBR"[..buf.len().min(4)];
            let torn_payload = header_ok && HEADER + le32(&buf[8..12]) as usize > buf.len();
            assert!(torn_header || torn_payload, "complete bytes called incomplete");
        }
        Err(FrameRefusal::Corrupt) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let max_len = [0, 16, 256, 1 << 20][usize::from(data[0] & 3)];
    let mut buf = data[2..].to_vec();
    if data[0] & 4 != 0 {
        fix_up(&mut buf);
    }
    check(&buf, max_len);
    let from = usize::from(data[1]).min(buf.len());
    if let Some(at) = resync(&buf, from, max_len) {
        assert!(at >= from && record(&buf[at..], max_len).is_ok(), "resync stopped on a bad record");
        assert!((from..at).all(|p| record(&buf[p..], max_len).is_err()), "resync skipped a valid record");
    } else {
        assert!((from..buf.len()).all(|p| record(&buf[p..], max_len).is_err()), "resync missed a valid record");
    }
});
