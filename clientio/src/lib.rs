//! The client stream beneath HTTP, as every server of the project (the web proxy, the
//! WAF, the API and console) wraps it: the lingering close that lets an early answer
//! reach the client (`linger`), and the watch on HTTP/1.1 framing that sees what the
//! HTTP library hides once it has parsed a head (`framing`).
//!
//! Must not: answer or decide anything itself; it reports, and the servers decide.

pub mod framing;
pub mod linger;

pub use framing::{Framing, FramingWatch, Watched};
pub use linger::Lingering;
