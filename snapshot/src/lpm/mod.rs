//! Longest-prefix match tables for IPv4 and IPv6, built once and then only read.
//!
//! Both start by flattening the prefixes into disjoint address intervals, each carrying
//! the answer for every address in it (the value and length of the most specific
//! prefix, or nothing). IPv4 (`v4`) turns them into run bitmaps over /24 slots so that
//! a lookup is two loads; IPv6 (`v6`) keeps the sorted intervals under a direct index.

mod pages;
mod v4;
mod v6;

pub use v4::LpmV4;
pub use v6::LpmV6;

use std::fmt;

/// The answer for an address: the matched prefix's value and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    pub value: u32,
    pub len: u8,
}

/// Why a table could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The same network and length twice.
    Duplicate { network: u128, len: u8 },
    /// A length beyond the family's bits.
    Length(u8),
    /// A value that does not fit in 24 bits (`MAX_VALUE`).
    Value(u32),
    /// The memory for the table could not be mapped.
    Memory(String),
    /// More intervals than the table's 32-bit (IPv6 index: 27-bit) positions address.
    TooLarge,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Duplicate { network, len } => write!(f, "prefix {network:#x}/{len} is listed twice"),
            BuildError::Length(l) => write!(f, "prefix length {l} is out of range"),
            BuildError::Value(v) => write!(f, "value {v} exceeds {MAX_VALUE}"),
            BuildError::Memory(e) => write!(f, "mapping memory for the table failed: {e}"),
            BuildError::TooLarge => write!(f, "too many prefixes for one lookup table"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<std::io::Error> for BuildError {
    fn from(e: std::io::Error) -> Self {
        BuildError::Memory(e.to_string())
    }
}

/// Largest value a prefix may carry.
pub const MAX_VALUE: u32 = (1 << 24) - 2;

/// A prefix as `flatten` takes it: network, last address, length, payload.
type Span = (u128, u128, u8, u32);

/// Flattens prefixes over a `bits`-wide space into disjoint intervals (start, payload)
/// sorted by start, the first starting at 0; addresses no prefix covers get `none`.
/// Neighbours with the same payload are merged.
fn flatten(mut prefixes: Vec<Span>, bits: u8, none: u32) -> Result<Vec<(u128, u32)>, BuildError> {
    prefixes.sort_unstable_by_key(|p| (p.0, p.2));
    if let Some(w) = prefixes.windows(2).find(|w| w[0].0 == w[1].0 && w[0].2 == w[1].2) {
        return Err(BuildError::Duplicate { network: w[0].0, len: w[0].2 });
    }
    let max = if bits == 32 { u32::MAX as u128 } else { u128::MAX };
    let mut out: Vec<(u128, u32)> = vec![(0, none)];
    let mut stack: Vec<(u128, u32)> = Vec::new();
    let emit = |out: &mut Vec<(u128, u32)>, at: u128, payload: u32| match out.last_mut() {
        Some(last) if last.0 == at => last.1 = payload,
        Some(last) if last.1 == payload => {}
        _ => out.push((at, payload)),
    };
    let close = |out: &mut Vec<(u128, u32)>, stack: &mut Vec<(u128, u32)>, before: Option<u128>| {
        while let Some(&(end, _)) = stack.last() {
            if before.is_some_and(|s| end >= s) {
                break;
            }
            stack.pop();
            if end < max {
                emit(out, end + 1, stack.last().map_or(none, |t| t.1));
            }
        }
    };
    for (start, last, _len, payload) in prefixes {
        close(&mut out, &mut stack, Some(start));
        emit(&mut out, start, payload);
        stack.push((last, payload));
    }
    close(&mut out, &mut stack, None);
    // Merges neighbours with the same payload (left behind by replaced starts).
    out.dedup_by(|next, prev| next.1 == prev.1);
    Ok(out)
}

/// The last address of `network/len` in a `bits`-wide space.
fn last_address(network: u128, len: u8, bits: u8) -> u128 {
    let host = u128::MAX.checked_shr(u32::from(len) + 128 - u32::from(bits)).unwrap_or(0);
    network | host
}

/// Checks a prefix's length and value and turns it into a `flatten` span whose payload
/// `encode` makes from (value, length).
fn span(network: u128, len: u8, value: u32, bits: u8, encode: fn(u32, u8) -> u32) -> Result<Span, BuildError> {
    if len > bits {
        return Err(BuildError::Length(len));
    }
    if value > MAX_VALUE {
        return Err(BuildError::Value(value));
    }
    Ok((network, last_address(network, len, bits), len, encode(value, len)))
}

#[cfg(test)]
mod tests;
