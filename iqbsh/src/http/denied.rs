//! A TLS connection to a name the policy denies, refused before any origin
//! is contacted: the tunnel decides on the names known from the client (the
//! ClientHello's SNI and the `CONNECT` host), so a denied one costs no DNS
//! lookup and no origin connection. Here the client's handshake is completed
//! under a leaf that names the host alone (`LeafForge::page_key`), and every
//! request on the connection gets the block page with the reason and a
//! reference, as a bumped connection's requests do.
//!
//! Must not: relay anything to an origin; the connection only ever carries
//! the gateway's own pages.

use std::sync::Arc;
use std::time::SystemTime;

use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

use crate::accept::conn::Conn;
use crate::decide::denial::Denial;
use crate::http::answer::refuse;
use crate::http::forward::Answer;
use crate::report::accesslog::{Action, Record};
use crate::tls::hello::ClientHello;
use crate::tls::rewind::Rewind;
use clientio::Lingering;

const H2: &[u8] = b"h2";
const HTTP11: &[u8] = b"http/1.1";

/// Completes the client's handshake under a page leaf and answers every request with `denial`'s page.
pub(crate) async fn serve<S>(conn: Arc<Conn>, mut record: Record, client: S, hello: ClientHello, denial: Denial)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let name = record.host.clone();
    let shared = Arc::clone(&conn.shared);
    let key = match shared.forge.page_key(&name).await {
        Ok(key) => key,
        Err(e) => {
            tracing::debug!(error = %e, host = %name, "no page certificate; refusing with an alert");
            return crate::tls::alert::refuse(&conn, record, client, &denial).await;
        }
    };
    let h2 = hello.alpn.iter().any(|p| p == H2);
    let alpn = if h2 { H2 } else { HTTP11 };
    let offered = hello.alpn.iter().any(|p| p == alpn);
    let acceptor = TlsAcceptor::from(shared.client_tls.config(key, offered.then(|| alpn.to_vec())));
    let accept = acceptor.accept(Rewind::new(hello.raw, client));
    let settings = shared.settings.clone();
    conn.deny(&mut record, &denial, 0);
    shared.metrics.connection(Action::Deny);
    let tls = match tokio::time::timeout(settings.handshake_timeout, accept).await {
        Ok(Ok(tls)) => tls,
        _ => return conn.finish(record),
    };
    let page_conn = Arc::clone(&conn);
    let service = service_fn(move |req| page(Arc::clone(&page_conn), req, denial.clone(), !h2));
    let io = TokioIo::new(Lingering::new(tls));
    let served = if h2 {
        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .serve_connection(io, service)
            .await
    } else {
        hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_timeout)
            .max_buf_size(settings.max_header_bytes)
            .serve_connection(io, service)
            .await
    };
    if let Err(e) = served {
        tracing::debug!(error = %e, "refused client connection ended");
    }
    conn.finish(record);
}

/// The block page for one request; its record names the request.
async fn page(conn: Arc<Conn>, req: Request<Incoming>, denial: Denial, close: bool) -> Answer {
    let host = crate::http::relay::authority_of(&req).map(|a| crate::http::relay::host_of(&a)).unwrap_or_default();
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let url = format!("https://{}{path}", crate::http::relay::authority_of(&req).unwrap_or_default());
    let mut record = conn.record(SystemTime::now(), req.method().as_str(), &host, url);
    record.categories = conn.categorize(&*conn.rules(), &host).categories;
    record.reason.clone_from(&denial.reason);
    Ok(refuse(&conn, record, &denial, close))
}
