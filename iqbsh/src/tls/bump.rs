//! Bumping (TLS interception): handshake with the origin first (offering
//! the client's ALPN, verifying its certificate), forge a leaf from the
//! verified origin certificate, complete the client's handshake with it and
//! the origin's chosen ALPN, then hand the connection to `relay`.
//!
//! Must not: forge for an origin whose certificate failed verification
//! (the connection is refused instead).

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

use crate::accept::conn::Conn;
use crate::decide::denial::{Denial, DenyKind};
use crate::http::forward::Upstream;
use crate::http::link::OriginLink;
use crate::report::accesslog::{Action, Record};
use crate::tls::alert::refuse;
use crate::tls::hello::ClientHello;
use crate::tls::origin::{H2, OriginError};
use crate::tls::rewind::Rewind;

/// Bumps a client TLS connection whose ClientHello was peeked into `hello`.
pub(crate) async fn run<S>(conn: Arc<Conn>, mut record: Record, client: S, hello: ClientHello, port: u16)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let name = record.host.clone();
    let shared = Arc::clone(&conn.shared);
    let settings = &shared.settings;
    let tcp = match shared.resolver.connect(&name, port, settings.connect_timeout).await {
        Ok(tcp) => tcp,
        Err(denial) => return refuse(&conn, record, client, &denial).await,
    };
    record.upstream = tcp.peer_addr().ok();
    let origin = match shared.origin.connect(tcp, &name, &hello.alpn, settings.handshake_timeout).await {
        Ok(origin) => origin,
        Err(OriginError::Certificate(why)) => {
            record.cert_error = Some(why.clone());
            let denial = Denial::new(DenyKind::UpstreamCert, format!("the certificate of {name} is not valid: {why}"));
            return refuse(&conn, record, client, &denial).await;
        }
        Err(OriginError::Handshake(why)) => {
            let denial = Denial::new(DenyKind::Upstream, format!("TLS with {name}:{port} failed: {why}"));
            return refuse(&conn, record, client, &denial).await;
        }
    };
    let session = origin.get_ref().1;
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let Some(leaf) = session.peer_certificates().and_then(|chain| chain.first()).cloned() else {
        let denial = Denial::new(DenyKind::UpstreamCert, format!("{name} presented no certificate"));
        return refuse(&conn, record, client, &denial).await;
    };
    let key = match shared.forge.certified_key(&name, &leaf).await {
        Ok(key) => key,
        Err(e) => {
            let denial = Denial::new(DenyKind::UpstreamCert, format!("no certificate can be made for {name}: {e}"));
            return refuse(&conn, record, client, &denial).await;
        }
    };
    let h2 = alpn.as_deref() == Some(H2);
    let alpn_chosen = alpn.clone();
    let acceptor = TlsAcceptor::from(shared.client_tls.config(key, alpn));
    let accept = acceptor.accept(Rewind::new(hello.raw, client));
    let client = match tokio::time::timeout(settings.handshake_timeout, accept).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => return client_gave_up(&conn, record, &format!("client TLS handshake failed: {e}")),
        Err(_) => return client_gave_up(&conn, record, "client TLS handshake timed out"),
    };
    let upstream = match Upstream::handshake(origin, h2).await {
        Ok(upstream) => upstream,
        Err(e) => return client_gave_up(&conn, record, &format!("HTTP with {name} failed: {e}")),
    };
    record.action = Action::Bump;
    record.status = 200;
    record.reason = format!("inspected: {name} is not in an exempt category");
    shared.metrics.connection(Action::Bump);
    let origin = OriginLink::new(name, port, alpn_chosen, record.upstream, upstream);
    crate::http::relay::serve(Arc::clone(&conn), origin, client, h2).await;
    conn.finish(record);
}

/// Logs a bump that ended before any request (the client refused the forged certificate, say).
fn client_gave_up(conn: &Conn, mut record: Record, why: &str) {
    record.action = Action::Bump;
    record.reason = why.to_owned();
    conn.shared.metrics.connection(Action::Bump);
    conn.finish(record);
}
