//! Client connections for the delivery side: [`Shared::connect`] takes an idle pooled
//! connection to the target or opens one (TLS per policy, counted), and
//! [`Shared::probe`] asks a connected system's inbound server whether it takes a
//! recipient (for recipient verification), over the same pooled connections. Must not:
//! decide what a probe's answer means for the sender (the relay's verifier does).

use std::net::SocketAddr;

use super::Shared;
use super::client::{Client, ClientOptions};
use super::resolve::Target;
use super::tls::TlsState;
use crate::envelope::Mailbox;
use crate::metrics::bump;

/// What a recipient probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The server took the recipient (2xx).
    Valid,
    /// The server refused it permanently (5xx): its reply.
    Invalid(String),
    /// No answer either way (connection failed, 4xx, null sender refused): why.
    Unavailable(String),
}

impl Shared {
    /// An idle pooled connection to `t` that answers RSET, or a new one.
    pub(crate) async fn connect(&self, t: &Target) -> Result<Client, String> {
        if let Some(c) = self.pool.take(t.addr, &t.name).await {
            bump(&self.metrics.connections_reused);
            return Ok(c);
        }
        let opts = ClientOptions {
            helo: &self.hostname,
            tls: self.tls.as_ref(),
            connect_timeout: self.cfg.connect_timeout,
            command_timeout: self.cfg.command_timeout,
            data_timeout: self.cfg.data_timeout,
        };
        let c = Client::connect(t.addr, &t.name, &opts).await.map_err(|e| format!("{} [{}]: {e}", t.name, t.addr))?;
        match &c.tls {
            TlsState::Plain => bump(&self.metrics.tls_none),
            TlsState::Verified => bump(&self.metrics.tls_verified),
            TlsState::Unverified(why) => {
                tracing::info!(host = %t.name, addr = %t.addr, reason = %why, "TLS certificate not verified; sending encrypted anyway");
                bump(&self.metrics.tls_unverified);
            }
        }
        Ok(c)
    }

    /// Asks the server at `target` whether it takes `rcpt`.
    pub(crate) async fn probe(&self, target: SocketAddr, rcpt: &Mailbox) -> Probe {
        let t = Target { addr: target, name: target.ip().to_string() };
        let mut client = match self.connect(&t).await {
            Ok(c) => c,
            Err(e) => return Probe::Unavailable(e),
        };
        match client.probe(rcpt).await {
            Ok(reply) => {
                self.pool.put(client).await;
                match reply.code {
                    200..=299 => Probe::Valid,
                    500..=599 => Probe::Invalid(reply.to_string()),
                    _ => Probe::Unavailable(reply.to_string()),
                }
            }
            Err(e) => Probe::Unavailable(format!("{target}: {e}")),
        }
    }
}
