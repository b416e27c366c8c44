//! The identity of an organisation: its business identification number (BIN), 12
//! digits with the national register's check digit. One type for every room that names
//! an organisation (catalog lists, policies, mail-system owners, applications).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A business identification number: 12 digits whose last one is the check digit
/// defined by the national register (weights 1..11, then 3..11,1,2 if the first sum
/// gives 10).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Bin(String);

/// Why a text is not a BIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinError {
    #[error("'{0}' is not a BIN: a BIN is exactly 12 digits")]
    Format(String),
    #[error("'{0}' is not a valid BIN: its check digit should be {1}")]
    Check(String, u32),
    #[error("'{0}' is not a valid BIN: no check digit exists for its first 11 digits")]
    NoCheck(String),
}

impl Bin {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The check digit for the first 11 digits, if one exists.
    pub fn check_digit(first11: &[u32]) -> Option<u32> {
        let sum = |w: &[u32]| first11.iter().zip(w).map(|(d, w)| d * w).sum::<u32>() % 11;
        let first = sum(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        let digit = if first == 10 { sum(&[3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]) } else { first };
        (digit != 10).then_some(digit)
    }

    /// The BIN made of `first11` digits and their check digit, if one exists (for
    /// fixtures and examples).
    pub fn with_check_digit(first11: &str) -> Option<Bin> {
        let digits: Vec<u32> = first11.chars().map(|c| c.to_digit(10)).collect::<Option<_>>()?;
        (digits.len() == 11).then_some(())?;
        format!("{first11}{}", Bin::check_digit(&digits)?).parse().ok()
    }
}

impl FromStr for Bin {
    type Err = BinError;

    fn from_str(text: &str) -> Result<Bin, BinError> {
        let text = text.trim();
        let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
        if digits.len() != 12 || text.len() != 12 {
            return Err(BinError::Format(text.to_string()));
        }
        match Bin::check_digit(&digits[..11]) {
            None => Err(BinError::NoCheck(text.to_string())),
            Some(d) if d != digits[11] => Err(BinError::Check(text.to_string(), d)),
            Some(_) => Ok(Bin(text.to_string())),
        }
    }
}

impl TryFrom<String> for Bin {
    type Error = BinError;
    fn try_from(s: String) -> Result<Bin, BinError> {
        s.parse()
    }
}

impl From<Bin> for String {
    fn from(b: Bin) -> String {
        b.0
    }
}

impl fmt::Display for Bin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(first11: &str) -> String {
        Bin::with_check_digit(first11).unwrap().to_string()
    }

    #[test]
    fn accepts_a_bin_with_its_check_digit() {
        let bin = complete("98014000001");
        assert!(bin.parse::<Bin>().is_ok(), "{bin}");
    }

    #[test]
    fn wrong_check_digit_says_which_is_right() {
        let good = complete("98014000001");
        let last = good.chars().last().unwrap().to_digit(10).unwrap();
        let bad = format!("{}{}", &good[..11], (last + 1) % 10);
        let err = bad.parse::<Bin>().unwrap_err();
        assert_eq!(err, BinError::Check(bad.clone(), last));
    }

    #[test]
    fn rejects_wrong_shapes() {
        for bad in ["12345", "1234567890123", "12345678901a", "１２３４５６７８９０１２", ""] {
            assert!(matches!(bad.parse::<Bin>(), Err(BinError::Format(_))), "{bad}");
        }
    }
}
