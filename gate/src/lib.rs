//! The packet gate: rule 1 for every packet. On the client-facing interfaces named in
//! `[gate]` it decides each inbound packet by its source address through the catalog
//! snapshot (known → pass, unknown → drop and report, blocked → drop), drops UDP to
//! ports 443 and 80 (QUIC) so browsers fall back to TCP, which the proxy inspects, and
//! QUIC to any other port. Link control (neighbour discovery, link-local and unspecified
//! sources) passes only to the gateway itself; what the XDP program cannot read whole
//! (an IPv6 header chain past its bound) is dropped. A gate killed without stopping keeps
//! enforcing (`pin` for XDP; the nftables table stays).
//! Enforcement runs in the kernel: an XDP program (`bpf/gate.c`, compiled by `build.rs`,
//! [`xdp`]) or, where XDP cannot be used, an nftables table ([`nft`]); both sit behind
//! [`Backend`] and are fed the same [`tables::Tables`] from each snapshot generation.
//! Unknown sources sampled by the kernel become observations with the interface's link
//! ([`sample`]).
//!
//! It shares nothing with the web proxy (`iqbsh`): the proxy's crate links no BPF or
//! netlink code, and this one no TLS or HTTP.
//!
//! Must not: decide anything per packet in userspace, or leave the kernel without a
//! complete table (a failed load keeps the previous one).

pub mod config;
pub mod counters;
pub mod explain;
pub mod rules;
pub mod tables;

mod caps;
pub mod loadgen;
mod nflog;
mod nft;
mod nft_sets;
mod pin;
mod run;
mod sample;
mod xdp;

use serde::{Deserialize, Serialize};

pub use caps::check_privileges;
pub use config::{BackendChoice, GateConfig, GateInterface, XdpModeChoice};
pub use counters::{Counts, Verdict};
pub use nft::{NftOptions, TABLE as NFT_TABLE};
pub use rules::Redirect;
pub use run::{GateHandle, GateStatus, InterfaceStatus, start};
pub use xdp::availability as xdp_availability;

/// Why the gate could not start or change.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("the XDP backend is unavailable: {0}")]
    XdpUnavailable(String),
    #[error("the nftables backend is unavailable: {0}")]
    NftUnavailable(String),
    #[error("{0}")]
    Privileges(String),
    #[error("interface {name}: {reason}")]
    Interface { name: String, reason: String },
    #[error("XDP: {0}")]
    Xdp(String),
    #[error("nftables: {0}")]
    Nft(String),
    #[error("{field}: {message}")]
    Config { field: String, message: String },
}

/// Which kernel mechanism enforces the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Xdp,
    Nftables,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Xdp => "xdp",
            BackendKind::Nftables => "nftables",
        })
    }
}

/// A guarded interface as the kernel knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub link: String,
    pub ifindex: u32,
    /// Counter slot (1..=63).
    pub slot: u32,
}

/// The result of an in-place change.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// The live tables have no room for it: load a whole generation instead.
    NeedsWhole,
}

/// One enforcement mechanism. Its calls block (syscalls, `nft`): run them off the async
/// workers.
pub trait Backend: Send {
    fn kind(&self) -> BackendKind;
    /// Loads a whole generation and makes it the one enforced, at once. On error the
    /// previous generation stays enforced.
    fn load(&mut self, tables: &tables::Tables) -> Result<(), GateError>;
    /// Changes the enforced tables in place to `next`, which `diff` leads to.
    fn apply(&mut self, diff: &tables::Diff, next: &tables::Tables) -> Result<Applied, GateError>;
    /// Starts enforcing on the interfaces (after the first load).
    fn attach(&mut self) -> Result<(), GateError>;
    /// How each interface is attached, in order.
    fn modes(&self) -> Vec<String>;
    /// What the kernel goes on doing if the process is killed without stopping the gate.
    fn on_crash(&self) -> String;
}

/// Reads the kernel's packet counts, one [`Counts`] per guarded interface in order.
pub trait CounterSource: Send + Sync {
    fn read(&self) -> Result<Vec<Counts>, GateError>;
}
