//! Session tests over in-memory duplex pipes: harness (test policy, sinks,
//! client), protocol basics, limits, relay policy and STARTTLS.

mod basic;
mod harness;
mod limits;
mod relay;
mod throughput;
mod tls;
