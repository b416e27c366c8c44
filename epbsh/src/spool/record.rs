//! On-disk record framing of the spool segments.
//!
//! Every record is:
//!
//! ```text
//! offset  size  field
//!      0     4  magic  "EPBR"
//!      4     4  hcrc   crc32c of bytes 8..25 (the rest of the header), LE
//!      8     4  len    payload length, LE
//!     12     1  kind   1 = message, 2 = state
//!     13     8  batch  group-commit batch sequence number, LE
//!     21     4  pcrc   crc32c of the payload, LE
//!     25   len  payload
//! ```
//!
//! The header checksum makes a damaged length detectable before it is trusted;
//! the payload checksum is computed by the submitting task so that the writer
//! only has to checksum the 17 header bytes. The batch number lets recovery tell
//! a torn final batch (never acknowledged) from damage to data that had been
//! fsynced (a later batch exists).

/// Record magic.
pub(crate) const MAGIC: [u8; 4] = *b"EPBR";
/// Size of the fixed header.
pub(crate) const HEADER_LEN: usize = 25;

/// crc32c (Castagnoli) of `bytes` (the CPU's CRC32 instruction where it has one).
pub(crate) fn checksum(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// The checksum of `head` followed by `tail`, as if they were one buffer.
pub(crate) fn checksum2(head: &[u8], tail: &[u8]) -> u32 {
    crc32c::crc32c_append(checksum(head), tail)
}

/// What a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    /// A message: envelope and body.
    Message = 1,
    /// A state change of an earlier message.
    State = 2,
}

impl RecordKind {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Message),
            2 => Some(Self::State),
            _ => None,
        }
    }
}

/// A record that decoded and passed both checksums.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub kind: RecordKind,
    pub batch: u64,
    pub payload: &'a [u8],
    /// Header plus payload length: the offset of the next record.
    pub total: usize,
}

/// Why the bytes at an offset are not a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The buffer ends inside the record (typical torn write).
    Incomplete,
    /// Bad magic, header checksum or field: nothing in the header is trusted.
    Corrupt,
    /// The header is intact but the payload fails its checksum.
    BadPayload {
        /// The batch the record belongs to (from the intact header).
        batch: u64,
        /// Header plus payload length.
        total: usize,
    },
}

/// Appends the framed record to `out`.
#[cfg(test)]
pub(crate) fn encode_into(out: &mut Vec<u8>, kind: RecordKind, batch: u64, payload: &[u8], pcrc: u32) {
    encode_header_into(out, kind, batch, payload.len(), pcrc);
    out.extend_from_slice(payload);
}

/// Appends the header of a record whose payload is `len` bytes with checksum `pcrc`.
pub(crate) fn encode_header_into(out: &mut Vec<u8>, kind: RecordKind, batch: u64, len: usize, pcrc: u32) {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    let mut rest = [0u8; HEADER_LEN - 8];
    rest[0..4].copy_from_slice(&len.to_le_bytes());
    rest[4] = kind as u8;
    rest[5..13].copy_from_slice(&batch.to_le_bytes());
    rest[13..17].copy_from_slice(&pcrc.to_le_bytes());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&checksum(&rest).to_le_bytes());
    out.extend_from_slice(&rest);
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Decodes the record starting at `buf[0]`, refusing payloads above `max_len`.
pub(crate) fn decode(buf: &[u8], max_len: u32) -> Result<Frame<'_>, FrameError> {
    if buf.len() < HEADER_LEN {
        // A short prefix of a real header is a torn write; anything else is junk.
        let n = buf.len().min(4);
        return if buf[..n] == MAGIC[..n] { Err(FrameError::Incomplete) } else { Err(FrameError::Corrupt) };
    }
    if buf[0..4] != MAGIC || le_u32(&buf[4..8]) != checksum(&buf[8..HEADER_LEN]) {
        return Err(FrameError::Corrupt);
    }
    let len = le_u32(&buf[8..12]);
    let kind = RecordKind::from_u8(buf[12]).ok_or(FrameError::Corrupt)?;
    if len > max_len {
        return Err(FrameError::Corrupt);
    }
    let total = HEADER_LEN + len as usize;
    if buf.len() < total {
        return Err(FrameError::Incomplete);
    }
    let payload = &buf[HEADER_LEN..total];
    let batch = le_u64(&buf[13..21]);
    if le_u32(&buf[21..25]) != checksum(payload) {
        return Err(FrameError::BadPayload { batch, total });
    }
    Ok(Frame { kind, batch, payload, total })
}

/// Offset of the next valid record strictly after `from`, if any.
pub(crate) fn resync(buf: &[u8], from: usize, max_len: u32) -> Option<usize> {
    let mut pos = from;
    while pos + HEADER_LEN <= buf.len() {
        let rel = memchr::memmem::find(&buf[pos..], &MAGIC)?;
        pos += rel;
        if decode(&buf[pos..], max_len).is_ok() {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8], batch: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(&mut out, RecordKind::State, batch, payload, checksum(payload));
        out
    }

    #[test]
    fn crc32c_known_vector() {
        assert_eq!(checksum(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn round_trip_and_every_prefix_is_incomplete() {
        let buf = frame(b"hello world", 7);
        let f = decode(&buf, 1 << 20).expect("valid");
        assert_eq!((f.kind, f.batch, f.payload, f.total), (RecordKind::State, 7, &b"hello world"[..], buf.len()));
        for cut in 0..buf.len() {
            assert_eq!(decode(&buf[..cut], 1 << 20).err(), Some(FrameError::Incomplete), "cut {cut}");
        }
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let buf = frame(b"payload bytes", 3);
        for bit in 0..buf.len() * 8 {
            let mut b = buf.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&b, 1 << 20).is_err(), "bit {bit} undetected");
        }
    }

    #[test]
    fn resync_finds_next_record() {
        let mut buf = vec![0u8; 10];
        buf.extend(frame(b"x", 1));
        assert_eq!(resync(&buf, 0, 1 << 20), Some(10));
        assert_eq!(resync(&buf, 11, 1 << 20), None);
    }
}
