//! Session tests over in-memory duplex pipes: harness (test policy, sinks,
//! client), protocol basics, limits, the session's clocks, relay policy and
//! STARTTLS.

mod basic;
mod clocks;
mod harness;
mod limits;
mod relay;
mod throughput;
mod tls;
