//! IQBSH, the Internet access gateway: the web proxy.
//!
//! Lives here: the explicit proxy (plain HTTP and `CONNECT`) and the
//! transparent TLS listener; admission of clients by source address through
//! the catalog snapshot (rule 1, unknown sources reported); splicing of
//! exempt categories and bumping of everything else under forged leaves
//! (rule 2), with HTTP/1.1 and HTTP/2 relayed request by request under the
//! rules of the client's organisation (rule 4), WebSocket upgrades included;
//! the access log (Squid format and JSON lines) and Prometheus metrics. The
//! packet gate (rule 1 for every packet, in the kernel) is the `gate` crate.
//! It reads only the store-free `snapshot` crate: no database driver is
//! linked into the data plane.
//!
//! Grouped by the stage of a connection, as g3proxy groups its serving code:
//! `accept/` (listeners, admission, the connection's context and standing),
//! `tls/` (ClientHello, splice or bump, origin TLS, the byte relay of tunnels),
//! `http/` (requests relayed, forwarded, inspected, upgraded; the answers and
//! pages the client gets), `decide/` (categories and policies, threat feeds,
//! destinations, name resolution, denials), `report/` (access log, metrics), and
//! `icap/` (content scanning). A connection runs accept → tls → http; every stage
//! reads its context (`accept::conn`), decides through `decide` and reports
//! through `report`; `http` reuses the origin connector and the byte relay of
//! `tls` for a reopened origin and an upgraded connection.
//!
//! Entry: [`serve`] with a [`ProxyConfig`] and [`ProxyDeps`]; the category
//! database and policies come in through the [`Rules`] trait, held in a
//! [`RulesHandle`] so they can be replaced at runtime.
//!
//! Must not: decide categories or policies itself, store anything (the
//! control plane does), or trust an origin certificate that fails
//! verification.

mod accept;
mod config;
mod decide;
mod http;
mod icap;
mod report;
mod tls;

/// Entry points for the fuzz targets (`fuzz/`); not an API.
#[doc(hidden)]
pub mod fuzzing;
pub use tls::hello;

pub use accept::server::{ProxyDeps, ProxyHandle, ServeError, serve};
pub use config::{
    AccessLogConfig, ConfigError, DestinationConfig, DnsConfig, ExplicitConfig, Problem, ProxyConfig, RateLimitConfig,
    TimeoutConfig, TransparentConfig, UpstreamConfig,
};
pub use decide::denial::{Denial, DenyKind};
pub use decide::interfaces::{LocalAddrs, read as interface_addresses};
pub use decide::rules::{Categorized, Decision, Rules, RulesHandle};
pub use decide::threats::ThreatsHandle;
pub use icap::{
    ContentRule, HoldConfig, IcapConfig, Method as IcapMethod, OnFailure, OverLimit, ScanNote, ScanOutcome,
    ServiceConfig as IcapServiceConfig, Size, StreamingConfig,
};
pub use report::accesslog::{Action, Record, json_line, squid_line};
pub use report::metrics::Metrics;
