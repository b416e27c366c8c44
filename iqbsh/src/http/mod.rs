//! HTTP requests, bumped or plain: relayed one by one under the rules of the client's
//! organisation (`relay`), forwarded to the origin (`forward`, over the origin
//! connection of `link`), their bodies scanned (`inspect`), WebSocket upgrades
//! (`upgrade`), idle HTTP/2 clients closed (`quiet`), and what the client gets back:
//! the origin's response or a refusal (`answer`) and the block page (`page`), also on a
//! TLS connection to a denied name, which never reaches an origin (`denied`).
//!
//! Must not: decide; every request is decided (in `decide`) before it is forwarded.

pub(crate) mod answer;
pub(crate) mod denied;
pub(crate) mod forward;
pub(crate) mod inspect;
pub(crate) mod link;
pub(crate) mod page;
pub(crate) mod quiet;
pub(crate) mod relay;
pub(crate) mod upgrade;
