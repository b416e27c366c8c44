//! TLS on both sides: the client's ClientHello read without answering it (`hello`),
//! the decision to splice or bump a tunnel (`tunnel`), bumping under a forged leaf
//! (`bump`, with the client-facing settings in `config`), the origin side and its
//! certificate checks (`origin`, `verify`), refusals as TLS alerts (`alert`), the
//! peeked bytes replayed (`rewind`), and spliced tunnels relayed through kernel pipes
//! (`zerocopy`, `idle`).
//!
//! Must not: trust an origin certificate that fails verification, or read HTTP
//! (bumped requests go to the `http` stage).

pub(crate) mod alert;
pub(crate) mod bump;
pub(crate) mod config;
pub mod hello;
pub(crate) mod idle;
pub(crate) mod origin;
pub(crate) mod rewind;
pub(crate) mod tunnel;
pub(crate) mod verify;
pub(crate) mod zerocopy;
