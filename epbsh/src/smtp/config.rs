//! Per-listener session settings and their defaults.

use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::TlsAcceptor;

use super::memory::DataMemory;
use crate::metrics::Metrics;

/// Limits and identity of the SMTP server sessions.
#[derive(Clone)]
pub struct SessionConfig {
    /// Name used in the greeting, EHLO reply and Received header.
    pub hostname: String,
    /// Largest message content accepted (advertised as SIZE).
    pub max_message_size: usize,
    /// Most recipients per message; more get 452 4.5.3.
    pub max_recipients: usize,
    /// Longest command or DATA line, including CRLF.
    pub max_line_length: usize,
    /// Longest wait for one whole command line (or for output to drain), and the
    /// allowance a DATA transfer starts with.
    pub idle_timeout: Duration,
    /// Slowest DATA transfer in bytes per second: each byte adds 1/rate s.
    pub min_data_rate: u64,
    /// Longest session.
    pub max_session_time: Duration,
    /// Memory for messages being received, shared by every session of the listener.
    pub data_memory: DataMemory,
    /// 5xx replies tolerated before the session is closed with 421.
    pub max_errors: u32,
    /// STARTTLS is offered when set.
    pub tls: Option<TlsAcceptor>,
    /// Where refusals are counted.
    pub metrics: Arc<Metrics>,
}

impl SessionConfig {
    /// Defaults for `hostname`: 25 MiB, 100 recipients, 1000-byte lines, 5 minutes per
    /// line, 1 KiB/s in DATA, 30 minutes a session, 256 MiB for messages in flight, 10
    /// errors, no TLS.
    pub fn new(hostname: impl Into<String>) -> Self {
        Self {
            hostname: hostname.into(),
            max_message_size: 25 << 20,
            max_recipients: 100,
            max_line_length: 1000,
            idle_timeout: Duration::from_secs(300),
            min_data_rate: 1024,
            max_session_time: Duration::from_secs(1800),
            data_memory: DataMemory::new(256 << 20),
            max_errors: 10,
            tls: None,
            metrics: Arc::default(),
        }
    }
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("hostname", &self.hostname)
            .field("max_message_size", &self.max_message_size)
            .field("max_recipients", &self.max_recipients)
            .field("max_line_length", &self.max_line_length)
            .field("idle_timeout", &self.idle_timeout)
            .field("min_data_rate", &self.min_data_rate)
            .field("max_session_time", &self.max_session_time)
            .field("data_memory", &self.data_memory.total())
            .field("max_errors", &self.max_errors)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}
