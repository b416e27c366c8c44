//! The API's and the console's listener with the lingering close: every accepted
//! connection is wrapped so that an answer given before its body was read (401 before
//! an upload, 413 over the limit) reaches the client instead of a reset.
//!
//! Must not: look at what it accepts; it only wraps the stream.

use axum::serve::Listener;
use clientio::Lingering;

/// `L` with each accepted stream wrapped in [`Lingering`].
pub struct Lingered<L>(pub L);

impl<L: Listener> Listener for Lingered<L> {
    type Io = Lingering<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.0.accept().await;
        (Lingering::new(io), addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}
