//! The inbound SMTP server session.
//!
//! [`Session`] speaks ESMTP (SIZE, PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES,
//! STARTTLS) over any `AsyncRead + AsyncWrite` stream, enforces the protocol
//! limits of [`SessionConfig`], asks a [`Policy`] for every relay decision and
//! answers 250 to DATA only after the [`Sink`] has stored the message.
//!
//! Files: `wire` (buffered line I/O, TLS stream), `command` and `address`
//! (parsers), `data` (DATA phase), `session` (state and loop), `handlers`
//! (EHLO/HELO, MAIL, RCPT, simple commands), `transfer` (DATA, STARTTLS),
//! `policy` (collaborator traits), `reply` (reply codes), `config`.

mod address;
mod command;
mod config;
mod data;
mod handlers;
mod policy;
mod reply;
mod session;
mod transfer;
mod wire;

#[cfg(test)]
mod tests;

pub use config::SessionConfig;
pub use policy::{Policy, Sink, SinkError, Verdict};
pub use reply::{Enhanced, Reply};
pub use session::{Session, SessionEnd, SessionError};

/// True when `name` is a syntactically valid RFC 5321 domain (LDH labels), as the
/// session checks the domains of paths.
pub fn is_domain(name: &str) -> bool {
    address::valid_domain(name)
}
