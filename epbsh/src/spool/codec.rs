//! Payload encoding of message and state records (version 1, little endian).
//!
//! Message payload: `version u8, id u64, received_at i64 (unix ns), ip (u8
//! family 4|6 + octets), helo str16, system (u8 flag + u32), sender (u8 flag +
//! mailbox), recipients (u32 count + mailboxes), body (the rest)`, where a
//! mailbox is `local str16, domain str16` and `str16` is `u16 length + UTF-8`.
//!
//! State payload: `version u8, id u64, op u8 [, recipient u32, outcome u8 | since i64 |
//! attempts u32, next_at i64, error str16]`; op 5 (requeue) carries the new start of the
//! queue lifetime in unix ns, op 6 (defer) the attempts so far, the next one in unix ns
//! and the last error (at most `MAX_ERROR` bytes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use time::OffsetDateTime;

use super::{MessageId, RecipientOutcome, SpoolError};
use crate::envelope::{Envelope, Mailbox, SystemId};

const VERSION: u8 = 1;

/// Longest last-error text a defer record keeps (cut at a character boundary).
const MAX_ERROR: usize = 1024;

/// A payload that passed its checksum but does not decode (format bug or
/// unknown version): counted as a corrupt record by recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed record payload")]
pub(crate) struct Malformed;

/// A state change carried by a state record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StateOp {
    Outcome {
        recipient: u32,
        outcome: RecipientOutcome,
    },
    Hold,
    Release,
    Finish,
    /// Release with a fresh queue lifetime starting at `since` (unix ns).
    Requeue {
        since: i64,
    },
    /// An attempt left recipients pending: `attempts` so far, the next due at `next_at`
    /// (unix ns), and the last error a next hop gave (empty: none).
    Defer {
        attempts: u32,
        next_at: i64,
        error: String,
    },
}

/// The part of a last-error text a defer record keeps: at most `MAX_ERROR` bytes, cut
/// at a character boundary.
pub(crate) fn bounded(error: &str) -> &str {
    let mut cut = error.len().min(MAX_ERROR);
    while !error.is_char_boundary(cut) {
        cut -= 1;
    }
    &error[..cut]
}

/// A decoded message record.
#[derive(Debug)]
pub(crate) struct MessageRecord<'a> {
    pub id: MessageId,
    pub envelope: Envelope,
    pub body: &'a [u8],
}

struct Enc(Vec<u8>);

impl Enc {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str16(&mut self, s: &str) -> Result<(), SpoolError> {
        let len = u16::try_from(s.len()).map_err(|_| SpoolError::InvalidEnvelope("field longer than 65535 bytes"))?;
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
    fn mailbox(&mut self, m: &Mailbox) -> Result<(), SpoolError> {
        self.str16(m.local())?;
        self.str16(m.domain())
    }
    fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => {
                self.u8(4);
                self.0.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                self.u8(6);
                self.0.extend_from_slice(&v6.octets());
            }
        }
    }
}

/// Encodes the head of a message record payload: everything but the body, which
/// follows it in the record.
pub(crate) fn encode_message_head(id: MessageId, env: &Envelope) -> Result<Vec<u8>, SpoolError> {
    if env.recipients.is_empty() {
        return Err(SpoolError::InvalidEnvelope("no recipients"));
    }
    let nanos = i64::try_from(env.received_at.unix_timestamp_nanos())
        .map_err(|_| SpoolError::InvalidEnvelope("received-at out of range"))?;
    let count = u32::try_from(env.recipients.len()).map_err(|_| SpoolError::InvalidEnvelope("too many recipients"))?;
    let mut e = Enc(Vec::with_capacity(128 + 64 * env.recipients.len()));
    e.u8(VERSION);
    e.u64(id.0);
    e.u64(nanos as u64);
    e.ip(env.client_ip);
    e.str16(&env.helo)?;
    match env.system_id {
        Some(SystemId(s)) => {
            e.u8(1);
            e.u32(s);
        }
        None => e.u8(0),
    }
    match &env.sender {
        Some(m) => {
            e.u8(1);
            e.mailbox(m)?;
        }
        None => e.u8(0),
    }
    e.u32(count);
    for r in &env.recipients {
        e.mailbox(r)?;
    }
    Ok(e.0)
}

/// Encodes a state record payload.
pub(crate) fn encode_state(id: MessageId, op: &StateOp) -> Vec<u8> {
    let mut e = Enc(Vec::with_capacity(16));
    e.u8(VERSION);
    e.u64(id.0);
    match op {
        StateOp::Outcome { recipient, outcome } => {
            e.u8(1);
            e.u32(*recipient);
            e.u8(match outcome {
                RecipientOutcome::Delivered => 1,
                RecipientOutcome::Failed => 2,
            });
        }
        StateOp::Hold => e.u8(2),
        StateOp::Release => e.u8(3),
        StateOp::Finish => e.u8(4),
        StateOp::Requeue { since } => {
            e.u8(5);
            e.u64(*since as u64);
        }
        StateOp::Defer { attempts, next_at, error } => {
            e.u8(6);
            e.u32(*attempts);
            e.u64(*next_at as u64);
            // At most MAX_ERROR bytes: always fits the 16-bit length.
            let _ = e.str16(bounded(error));
        }
    }
    e.0
}

struct Dec<'a>(&'a [u8]);

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Malformed> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, Malformed> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, Malformed> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn str16(&mut self) -> Result<String, Malformed> {
        let n = usize::from(self.u16()?);
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| Malformed)
    }
    fn mailbox(&mut self) -> Result<Mailbox, Malformed> {
        let local = self.str16()?;
        let domain = self.str16()?;
        Ok(Mailbox::new(local, domain))
    }
    fn ip(&mut self) -> Result<IpAddr, Malformed> {
        match self.u8()? {
            4 => {
                let mut a = [0u8; 4];
                a.copy_from_slice(self.take(4)?);
                Ok(IpAddr::V4(Ipv4Addr::from(a)))
            }
            6 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(self.take(16)?);
                Ok(IpAddr::V6(Ipv6Addr::from(a)))
            }
            _ => Err(Malformed),
        }
    }
    fn version(&mut self) -> Result<(), Malformed> {
        if self.u8()? == VERSION { Ok(()) } else { Err(Malformed) }
    }
}

/// Decodes a message record payload.
pub(crate) fn decode_message(payload: &[u8]) -> Result<MessageRecord<'_>, Malformed> {
    let mut d = Dec(payload);
    d.version()?;
    let id = MessageId(d.u64()?);
    let received_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(d.u64()? as i64)).map_err(|_| Malformed)?;
    let client_ip = d.ip()?;
    let helo = d.str16()?;
    let system_id = match d.u8()? {
        0 => None,
        1 => Some(SystemId(d.u32()?)),
        _ => return Err(Malformed),
    };
    let sender = match d.u8()? {
        0 => None,
        1 => Some(d.mailbox()?),
        _ => return Err(Malformed),
    };
    let count = d.u32()? as usize;
    // Each mailbox takes at least 4 bytes: reject absurd counts before allocating.
    if count == 0 || count > d.0.len() / 4 {
        return Err(Malformed);
    }
    let recipients = (0..count).map(|_| d.mailbox()).collect::<Result<Vec<_>, _>>()?;
    let envelope = Envelope { sender, recipients, received_at, client_ip, helo, system_id };
    Ok(MessageRecord { id, envelope, body: d.0 })
}

/// Decodes a state record payload.
pub(crate) fn decode_state(payload: &[u8]) -> Result<(MessageId, StateOp), Malformed> {
    let mut d = Dec(payload);
    d.version()?;
    let id = MessageId(d.u64()?);
    let op = match d.u8()? {
        1 => {
            let recipient = d.u32()?;
            let outcome = match d.u8()? {
                1 => RecipientOutcome::Delivered,
                2 => RecipientOutcome::Failed,
                _ => return Err(Malformed),
            };
            StateOp::Outcome { recipient, outcome }
        }
        2 => StateOp::Hold,
        3 => StateOp::Release,
        4 => StateOp::Finish,
        5 => StateOp::Requeue { since: d.u64()? as i64 },
        6 => StateOp::Defer { attempts: d.u32()?, next_at: d.u64()? as i64, error: d.str16()? },
        _ => return Err(Malformed),
    };
    if d.0.is_empty() { Ok((id, op)) } else { Err(Malformed) }
}
