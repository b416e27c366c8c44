//! Decisions about a host, a request or a destination: categories and policies
//! (`rules`), threat feeds (`threats`), which destinations may be reached
//! (`destination`, with the host's own addresses from `interfaces`), address literals and host names in canonical form (`literal`,
//! `hostname`), name resolution with static hosts (`resolve`, `hosts`), and the typed
//! reason of every refusal (`denial`).
//!
//! Must not: touch a client connection; a decision is a value the stages act on.

pub(crate) mod denial;
pub(crate) mod destination;
pub(crate) mod hostname;
pub(crate) mod hosts;
pub(crate) mod interfaces;
pub(crate) mod literal;
pub(crate) mod resolve;
pub(crate) mod rules;
pub(crate) mod threats;
