//! The WAF's own settings (the `[waf]` section the binary reads): listeners, the
//! engine's threads, queue and time budget, limits on input, timeouts, origin health
//! checks and the audit log. Serde, unknown keys refused, every field defaulted by a
//! named function; [`WafConfig::check`] names every problem by field.
//!
//! Must not: hold anything about one site (sites come in the snapshot).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use policies::duration;
use serde::{Deserialize, Serialize};

/// Everything the WAF needs to know at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WafConfig {
    /// The HTTPS listener. Default `0.0.0.0:443`.
    pub https_listen: SocketAddr,
    /// The HTTP listener, which sends browsers to HTTPS; none when absent. Default `0.0.0.0:80`.
    pub http_listen: Option<SocketAddr>,
    /// The rule engine's threads and limits.
    pub engine: EngineLimits,
    /// Limits on what clients send.
    pub limits: InputLimits,
    /// Time limits.
    pub timeouts: Timeouts,
    /// How often each origin address is checked. Default 5 s.
    #[serde(with = "duration::one")]
    pub health_interval: Duration,
    /// The audit log (one JSON line per transaction decided or matched); none when absent.
    pub audit_log: Option<PathBuf>,
    /// Audit lines queued for the writer before new ones are dropped (and counted). Default 65536.
    pub audit_queue: usize,
}

impl Default for WafConfig {
    fn default() -> Self {
        Self {
            https_listen: SocketAddr::from(([0, 0, 0, 0], 443)),
            http_listen: Some(SocketAddr::from(([0, 0, 0, 0], 80))),
            engine: EngineLimits::default(),
            limits: InputLimits::default(),
            timeouts: Timeouts::default(),
            health_interval: Duration::from_secs(5),
            audit_log: None,
            audit_queue: 65_536,
        }
    }
}

/// The engine's threads, queue and time budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineLimits {
    /// Blocking threads running rules. Default: the machine's cores.
    pub threads: usize,
    /// Engine calls waiting for a thread before requests are refused with 503. Default 256.
    pub queue: usize,
    /// The engine time one transaction may take, queueing included, before it is refused
    /// with 503. Default 2 s.
    #[serde(with = "duration::one")]
    pub budget: Duration,
}

impl Default for EngineLimits {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        Self { threads, queue: 256, budget: Duration::from_secs(2) }
    }
}

/// Limits on what clients send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputLimits {
    /// Client connections at once; more wait to be accepted. Default 10,000.
    pub max_connections: usize,
    /// Largest request head (request line and headers), in bytes; larger gets 431. Default 16384.
    pub max_header_bytes: usize,
    /// Most header fields in a request; more gets 431. Default 100.
    pub max_headers: usize,
    /// Memory all request bodies held for the engine share at once; past it, 503. Default 256 MiB.
    pub body_memory: u64,
    /// Bytes per second a request body must average after `body_grace`; slower gets 408. Default 1024.
    pub body_min_rate: u64,
    /// Concurrent HTTP/2 streams per connection. Default 100.
    pub h2_streams: u32,
}

impl Default for InputLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            body_memory: 256 << 20,
            body_min_rate: 1024,
            h2_streams: 100,
        }
    }
}

/// Time limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// A TLS handshake. Default 10 s.
    #[serde(with = "duration::one")]
    pub handshake: Duration,
    /// A request head, and the wait for one on an idle keep-alive connection. Default 10 s.
    #[serde(with = "duration::one")]
    pub header: Duration,
    /// The longest pause within a request body. Default 10 s.
    #[serde(with = "duration::one")]
    pub body_idle: Duration,
    /// Time a body may take before `body_min_rate` applies. Default 5 s.
    #[serde(with = "duration::one")]
    pub body_grace: Duration,
    /// An origin's response head after the request was sent. Default 60 s.
    #[serde(with = "duration::one")]
    pub origin_response: Duration,
    /// An idle WebSocket. Default 10 min.
    #[serde(with = "duration::one")]
    pub websocket_idle: Duration,
    /// At shutdown, how long open connections may finish what they are doing. Default 10 s.
    #[serde(with = "duration::one")]
    pub drain: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            handshake: Duration::from_secs(10),
            header: Duration::from_secs(10),
            body_idle: Duration::from_secs(10),
            body_grace: Duration::from_secs(5),
            origin_response: Duration::from_secs(60),
            websocket_idle: Duration::from_secs(600),
            drain: Duration::from_secs(10),
        }
    }
}

/// Why the configuration was refused: every problem, by field.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.iter().map(|(f, m)| format!("waf.{f}: {m}")).collect::<Vec<_>>().join("; "))]
pub struct ConfigError {
    pub problems: Vec<(String, String)>,
}

impl WafConfig {
    /// Every problem of the settings.
    pub fn check(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut need = |ok: bool, field: &str, message: &str| {
            if !ok {
                problems.push((field.to_owned(), message.to_owned()));
            }
        };
        need(self.engine.threads >= 1, "engine.threads", "at least 1");
        need(self.engine.queue >= 1, "engine.queue", "at least 1");
        need(!self.engine.budget.is_zero(), "engine.budget", "more than 0");
        need(self.limits.max_connections >= 1, "limits.max_connections", "at least 1");
        need(self.limits.max_header_bytes >= 8192, "limits.max_header_bytes", "at least 8192");
        need(self.limits.max_headers >= 16, "limits.max_headers", "at least 16");
        need(self.limits.body_memory >= 1 << 20, "limits.body_memory", "at least 1 MiB");
        need(self.limits.h2_streams >= 1, "limits.h2_streams", "at least 1");
        need(!self.health_interval.is_zero(), "health_interval", "more than 0");
        need(
            self.http_listen != Some(self.https_listen) || self.https_listen.port() == 0,
            "http_listen",
            "must differ from https_listen",
        );
        if problems.is_empty() { Ok(()) } else { Err(ConfigError { problems }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_unknown_keys_fail() {
        let config: WafConfig =
            toml::from_str("https_listen = \"127.0.0.1:8443\"\n[engine]\nbudget = \"500ms\"\n").expect("parses");
        assert_eq!(config.engine.budget, Duration::from_millis(500));
        config.check().expect("valid");
        let err = toml::from_str::<WafConfig>("[limits]\nmax_header = 1\n").expect_err("unknown key");
        assert!(err.to_string().contains("max_header"), "{err}");
        let bad =
            WafConfig { limits: InputLimits { max_header_bytes: 10, ..Default::default() }, ..Default::default() };
        assert!(bad.check().expect_err("refused").to_string().contains("waf.limits.max_header_bytes"));
    }
}
