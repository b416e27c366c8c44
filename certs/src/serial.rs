//! Certificate serial numbers: random, positive, never reused.
//!
//! Lives here: drawing 128-bit serials from the system CSPRNG with the top
//! bit cleared (so the DER INTEGER is positive and at most 16 bytes), and a
//! process-wide set of every serial handed out so none repeats while the
//! process lives. Must not: derive serials from time, counters or any
//! guessable input.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, PoisonError};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rcgen::SerialNumber;

static ISSUED: LazyLock<Mutex<HashSet<u128>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// The system random source failed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RandomFailed;

fn draw() -> Result<u128, RandomFailed> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).map_err(|_| RandomFailed)?;
    Ok(u128::from_be_bytes(bytes) & (u128::MAX >> 1))
}

/// A fresh serial, unique among all serials issued by this process.
pub(crate) fn fresh() -> Result<SerialNumber, RandomFailed> {
    loop {
        let candidate = draw()?;
        if candidate == 0 {
            continue;
        }
        let mut issued = ISSUED.lock().unwrap_or_else(PoisonError::into_inner);
        if issued.insert(candidate) {
            return Ok(SerialNumber::from(candidate.to_be_bytes().to_vec()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_positive_and_distinct() {
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            let serial = fresh().expect("random source");
            let bytes = serial.to_bytes();
            assert_eq!(bytes.len(), 16);
            assert_eq!(bytes[0] & 0x80, 0, "top bit must be clear");
            assert!(seen.insert(bytes));
        }
    }
}
