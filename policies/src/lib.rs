//! The pure model every room shares, no I/O (callers pass text in and get values out):
//! - [`org`]: an organisation's identity, its BIN;
//! - [`duration`]: the one spelling of durations in configuration files (`"5m"`);
//! - [`mail`]: the status of a connected mail system;
//! - [`calendar`]: the Kazakhstan working-day calendar and its data;
//! - [`category`]: resource categories, the exempt set of rule 2, the risky services of
//!   rule 4, and the category database (domain suffix → categories) with shipped lists;
//! - [`policy`]: per-organisation access policies with their one-year validity, and the
//!   pure evaluation of a request against them;
//! - [`threat`]: threat feeds (hosts, URLs and address ranges in `malware` and
//!   `phishing`, denied for every organisation) and their lookup database.

pub mod calendar;
pub mod category;
pub mod duration;
pub mod mail;
pub mod org;
pub mod policy;
pub mod threat;

pub use mail::MailStatus;
pub use org::{Bin, BinError};
