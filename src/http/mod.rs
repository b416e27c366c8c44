//! The control plane over HTTP, on one listener: the API for programs (`api/`,
//! versioned under `/api/v1`, with its OpenAPI description) and the console for people
//! (`console/`), over TLS when `[api]` names a certificate.
//!
//! Must not: hold logic a room of `app/` holds; a handler checks who asks, reads or
//! calls down into `app/` and the library crates, and answers.

pub mod api;
pub mod body;
pub mod console;
mod lingered;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::service::{Service, Stop};
use api::{ApiConfig, AppState};

/// The API's and the console's listener, bound (and its TLS configuration read) before
/// anything is served, so that `up` can say where it listens.
pub struct Server {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    bodies: Arc<body::Bodies>,
}

impl Server {
    /// Reads the TLS files named in `[api]` (both or neither) and binds `listen`.
    pub async fn bind(config: &ApiConfig, listen: SocketAddr) -> anyhow::Result<Server> {
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(api::tls::server_config(cert, key)?),
            (None, None) => None,
            _ => anyhow::bail!("[api] tls_cert and tls_key go together: give both or neither"),
        };
        let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let bodies = body::Bodies::new(&config.bodies, config.max_body_mib << 20);
        Ok(Server { listener, tls, bodies })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether it speaks TLS.
    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The service serving the API (with `state`) and the console (with `settings`).
    pub fn serving(self, state: AppState, settings: console::Settings) -> Http {
        Http { server: self, state, settings }
    }
}

/// The API and the console served on the bound listener until stopped; then the
/// listener closes and the requests under way finish.
pub struct Http {
    server: Server,
    state: AppState,
    settings: console::Settings,
}

impl Service for Http {
    const NAME: &'static str = "API and console";

    async fn run(self, stop: Stop) -> anyhow::Result<()> {
        let Http { server, state, settings } = self;
        let console = console::Console::new(state.clone(), Arc::new(settings), server.tls.is_some());
        // Every body is read through the one registry of bodies in flight (`body`).
        let app = api::router(state).merge(console::router(console)).layer(axum::Extension(server.bodies));
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let until = async move { stop.stopped().await };
        // `tap_io` gives the wrapped listeners their connection info (the client's address).
        use axum::serve::ListenerExt;
        let served = match server.tls {
            Some(tls) => {
                let listener = lingered::Lingered(api::tls::TlsListener::new(server.listener, tls)?).tap_io(|_| {});
                axum::serve(listener, app).with_graceful_shutdown(until).await
            }
            None => {
                let listener = lingered::Lingered(server.listener).tap_io(|_| {});
                axum::serve(listener, app).with_graceful_shutdown(until).await
            }
        };
        served.context("the API server failed")
    }
}
