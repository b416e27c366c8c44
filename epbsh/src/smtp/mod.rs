//! The inbound SMTP server session.
//!
//! [`Session`] speaks ESMTP (SIZE, PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES,
//! STARTTLS) over any `AsyncRead + AsyncWrite` stream, enforces the protocol
//! limits of [`SessionConfig`], asks a [`Policy`] for every relay decision and
//! answers 250 to DATA only after the [`Sink`] has stored the message.
//!
//! Files: `wire` (buffered line I/O, TLS stream, time limits), `command` and
//! `address` (parsers), `data` (DATA phase), `memory` (the memory budget of
//! messages in flight), `session` (state and loop), `handlers` (EHLO/HELO, MAIL,
//! RCPT, simple commands), `transfer` (DATA, STARTTLS), `shutdown` (the two steps of a
//! relay's stop as sessions see them), `policy` (collaborator traits), `reply` (reply
//! codes), `config`.

pub(crate) mod address;
pub(crate) mod command;
mod config;
pub(crate) mod data;
mod handlers;
mod memory;
mod policy;
mod reply;
mod session;
mod shutdown;
mod transfer;
pub(crate) mod wire;

#[cfg(test)]
mod tests;

pub use config::SessionConfig;
pub use data::MAX_HOPS;
pub(crate) use data::hops;
pub use memory::DataMemory;
pub use policy::{Policy, Sink, SinkError, Verdict};
pub use reply::{Enhanced, Reply};
pub use session::{Session, SessionEnd, SessionError};
pub use shutdown::Shutdown;

/// True when `name` is a syntactically valid RFC 5321 domain (LDH labels), as the
/// session checks the domains of paths.
pub fn is_domain(name: &str) -> bool {
    address::valid_domain(name)
}

/// A mailbox `local@domain` written without angle brackets, checked as the session
/// checks paths (routing characters refused); `None` when it is not one.
pub fn parse_mailbox(text: &str) -> Option<crate::envelope::Mailbox> {
    match address::parse_path(&format!("<{text}>")) {
        Ok((address::Path::Mailbox(m), "")) if !address::has_routing_chars(m.local()) => Some(m),
        _ => None,
    }
}

/// True for the postmaster of `domain` (RFC 5321 §4.5.1): `postmaster@domain`, the
/// local part in any case.
pub fn is_postmaster(rcpt: &crate::envelope::Mailbox, domain: &str) -> bool {
    rcpt.local().eq_ignore_ascii_case("postmaster") && rcpt.domain().eq_ignore_ascii_case(domain)
}
