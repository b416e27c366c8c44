//! What the proxy reports: one access-log line per decision (`accesslog`: Squid format
//! and JSON lines, written on its own thread) and the Prometheus metrics (`metrics`).
//!
//! Must not: decide anything, or block a connection's task on a write.

pub(crate) mod accesslog;
pub(crate) mod metrics;
