//! IQBSH, the Internet access gateway: the web proxy.
//!
//! Lives here: the explicit proxy (plain HTTP and `CONNECT`) and the
//! transparent TLS listener; admission of clients by source address through
//! the catalog snapshot (rule 1, unknown sources reported); splicing of
//! exempt categories and bumping of everything else under forged leaves
//! (rule 2), with HTTP/1.1 and HTTP/2 relayed request by request under the
//! rules of the client's organisation (rule 4), WebSocket upgrades included;
//! the access log (Squid format and JSON lines) and Prometheus metrics; and
//! the packet gate ([`gate`]: rule 1 for every packet, in the kernel's fast
//! path, with the XDP program in `bpf/`).
//! It reads only the store-free `snapshot` crate: no database driver is
//! linked into the data plane.
//!
//! Entry: [`serve`] with a [`ProxyConfig`] and [`ProxyDeps`]; the category
//! database and policies come in through the [`Rules`] trait, held in a
//! [`RulesHandle`] so they can be replaced at runtime.
//!
//! Must not: decide categories or policies itself, store anything (the
//! control plane does), or trust an origin certificate that fails
//! verification.

mod accesslog;
mod admission;
mod alert;
mod bump;
mod config;
mod conn;
mod denial;
mod denied;
mod destination;
mod explicit;
mod forward;
pub mod gate;

/// Entry points for the fuzz targets (`fuzz/`); not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod hello;
mod hostname;
mod hosts;
mod icap;
mod idle;
mod inspect;
mod interfaces;
mod link;
mod literal;
mod metrics;
mod origin;
mod page;
mod quiet;
mod relay;
mod resolve;
mod rewind;
mod rules;
mod server;
mod standing;
mod threats;
mod tls;
mod tunnel;
mod upgrade;
mod verify;
mod zerocopy;

pub use accesslog::{Action, Record, json_line, squid_line};
pub use config::{
    AccessLogConfig, ConfigError, DestinationConfig, DnsConfig, ExplicitConfig, Problem, ProxyConfig, RateLimitConfig,
    TimeoutConfig, TransparentConfig, UpstreamConfig,
};
pub use denial::{Denial, DenyKind};
pub use icap::{
    ContentRule, HoldConfig, IcapConfig, Method as IcapMethod, OnFailure, OverLimit, ScanNote, ScanOutcome,
    ServiceConfig as IcapServiceConfig, Size, StreamingConfig,
};
pub use interfaces::{LocalAddrs, read as interface_addresses};
pub use metrics::Metrics;
pub use rules::{Categorized, Decision, Rules, RulesHandle};
pub use server::{ProxyDeps, ProxyHandle, ServeError, serve};
pub use threats::ThreatsHandle;
