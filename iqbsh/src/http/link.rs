//! The origin side of a bumped connection: the name its certificate was verified for,
//! the protocol it chose, and the one HTTP connection to it, reopened (and verified
//! again, speaking the same protocol) when the origin has closed it.
//!
//! Must not: reopen to another name or accept a certificate that fails verification.

use std::net::SocketAddr;

use http::Request;
use tokio::sync::Mutex;

use crate::accept::conn::Conn;
use crate::decide::denial::{Denial, DenyKind};
use crate::http::forward::{Pending, Upstream};
use crate::tls::origin::{H2, OriginError};

/// The origin side of a bumped connection.
pub(crate) struct OriginLink {
    /// The name the origin's certificate was verified for.
    pub(crate) name: String,
    pub(crate) port: u16,
    /// The ALPN protocol the origin chose (and the client was given).
    pub(crate) alpn: Option<Vec<u8>>,
    pub(crate) addr: Option<SocketAddr>,
    upstream: Mutex<Upstream>,
}

impl OriginLink {
    pub(crate) fn new(
        name: String,
        port: u16,
        alpn: Option<Vec<u8>>,
        addr: Option<SocketAddr>,
        upstream: Upstream,
    ) -> Self {
        Self { name, port, alpn, addr, upstream: Mutex::new(upstream) }
    }

    /// Starts `req` on the origin connection, reopening it first if the origin closed it.
    pub(crate) async fn start(
        &self,
        conn: &Conn,
        req: Request<crate::http::page::ProxyBody>,
    ) -> Result<Pending, Denial> {
        let mut upstream = self.upstream.lock().await;
        if upstream.is_closed() || upstream.ready().await.is_err() {
            *upstream = self.reopen(conn).await?;
            let failed = |e: hyper::Error| Denial::new(DenyKind::Upstream, format!("{}: {e}", self.name));
            upstream.ready().await.map_err(failed)?;
        }
        Ok(upstream.start(req))
    }

    /// A new verified connection to the same origin, speaking the same protocol.
    pub(crate) async fn reopen(&self, conn: &Conn) -> Result<Upstream, Denial> {
        let (shared, name) = (&conn.shared, self.name.as_str());
        let settings = &shared.settings;
        let tcp = shared.resolver.connect(name, self.port, settings.connect_timeout).await?;
        let offered: Vec<Vec<u8>> = self.alpn.iter().cloned().collect();
        let tls =
            shared.origin.connect(tcp, name, &offered, settings.handshake_timeout).await.map_err(|e| match e {
                OriginError::Certificate(why) => Denial::new(DenyKind::UpstreamCert, why),
                OriginError::Handshake(why) => {
                    Denial::new(DenyKind::Upstream, format!("TLS with {name} failed: {why}"))
                }
            })?;
        if tls.get_ref().1.alpn_protocol() != self.alpn.as_deref() {
            return Err(Denial::new(DenyKind::Upstream, format!("{name} no longer speaks the negotiated protocol")));
        }
        let h2 = self.alpn.as_deref() == Some(H2);
        Upstream::handshake(tls, h2).await.map_err(|e| Denial::new(DenyKind::Upstream, format!("{name}: {e}")))
    }

    pub(crate) fn authority(&self) -> String {
        if self.port == 443 { self.name.clone() } else { format!("{}:{}", self.name, self.port) }
    }
}
