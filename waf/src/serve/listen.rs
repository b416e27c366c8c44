//! The listeners: accept (at most `limits.max_connections` at once), the TLS handshake
//! within its time limit, then HTTP/1.1 or HTTP/2 on the connection with hyper's limits
//! on heads (size, field count, time) and streams. On shutdown a listener stops
//! accepting and each connection is asked to end gracefully (HTTP/1.1 after its
//! request, HTTP/2 with GOAWAY), then cut when the drain time is over.
//!
//! Must not: look at requests; `request` (HTTPS) and `redirect` (HTTP) do.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clientio::{Lingering, Watched};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::Shared;
use super::request::{self, Conn};

/// How often an idle HTTP/2 connection is pinged.
const H2_PING: Duration = Duration::from_secs(30);

fn builder(shared: &Shared) -> auto::Builder<TokioExecutor> {
    let (limits, timeouts) = (&shared.config.limits, &shared.config.timeouts);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header)
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(H2_PING);
    builder
}

/// Serves HTTPS on `listener` until the stop signal, then drains.
pub(crate) fn spawn_https(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shared: Arc<Shared>,
) -> JoinHandle<()> {
    let acceptor = TlsAcceptor::from(tls);
    let builder = Arc::new(builder(&shared));
    tokio::spawn(accept_loop(listener, Arc::clone(&shared), move |tcp, peer, local, watcher| {
        let (acceptor, builder, shared) = (acceptor.clone(), Arc::clone(&builder), Arc::clone(&shared));
        async move {
            let handshake = tokio::time::timeout(shared.config.timeouts.handshake, acceptor.accept(tcp)).await;
            let stream = match handshake {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return tracing::debug!(client = %peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(client = %peer, "no TLS handshake in time"),
            };
            let sni = stream.get_ref().1.server_name().map(|n| n.trim_end_matches('.').to_ascii_lowercase());
            // HTTP/1.1 framing is watched for what hyper hides (HTTP/2 frames its own messages).
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            let max_head = if h2 { 0 } else { shared.config.limits.max_header_bytes };
            let (stream, watch) = Watched::new(stream, max_head);
            let framing = (!h2).then_some(watch);
            let conn = Arc::new(Conn { shared: Arc::clone(&shared), client: peer, local, sni, tls: true, framing });
            let service = service_fn(move |req| {
                let conn = Arc::clone(&conn);
                async move { Ok::<_, Infallible>(request::handle(conn, req).await) }
            });
            let serving = watcher.watch(
                builder.serve_connection_with_upgrades(TokioIo::new(Lingering::new(stream)), service).into_owned(),
            );
            until_drained(&shared, serving).await;
        }
    }))
}

/// Serves plain HTTP on `listener` (redirects to HTTPS) until the stop signal, then drains.
pub(crate) fn spawn_http(listener: TcpListener, shared: Arc<Shared>) -> JoinHandle<()> {
    let builder = Arc::new(builder(&shared).http1_only());
    tokio::spawn(accept_loop(listener, Arc::clone(&shared), move |tcp, _peer, _local, watcher| {
        let (builder, shared) = (Arc::clone(&builder), Arc::clone(&shared));
        async move {
            let (sites, port) = (shared.sites.clone(), shared.https_port);
            let service = service_fn(move |req| {
                let answer = super::redirect::answer(&sites, port, &req);
                async move { Ok::<_, Infallible>(answer) }
            });
            let serving =
                watcher.watch(builder.serve_connection(TokioIo::new(Lingering::new(tcp)), service).into_owned());
            until_drained(&shared, serving).await;
        }
    }))
}

/// Runs a connection until it ends, or until the drain time after the stop signal.
async fn until_drained<T>(shared: &Shared, serving: impl Future<Output = T>) {
    let mut stop = shared.stop.clone();
    let drain = shared.config.timeouts.drain;
    let cut = async {
        let _ = stop.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        _ = serving => {}
        () = cut => {}
    }
}

/// Accepts until the stop signal, each connection in a task of its own, then waits
/// for them to end gracefully.
async fn accept_loop<F, Fut>(listener: TcpListener, shared: Arc<Shared>, serve: F)
where
    F: Fn(TcpStream, SocketAddr, SocketAddr, Watcher) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(shared.config.limits.max_connections));
    let mut stop = shared.stop.clone();
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                let local = tcp.local_addr().unwrap_or(peer);
                let task = serve(tcp, peer, local, graceful.watcher());
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    shared.metrics.opened();
                    task.await;
                    shared.metrics.closed();
                    drop(slot);
                });
            }
            Err(e) => {
                // Out of descriptors, typically: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
}
