//! [`Shutdown`]: what a stopping relay tells its sessions, in two steps, and
//! [`until_cut`], which ends a wait on the client when the second step comes.
//!
//! - `Stopping`: a session ends with 421 4.3.2 at its next command; a transfer under way
//!   is finished and answered first.
//! - `Cut` (the shutdown grace is over): whatever the session waits for from its client
//!   (the rest of a DATA transfer, a command line, a TLS handshake, the client reading a
//!   reply) or from a recipient check ends at once, and the session answers 421 4.3.2
//!   where the protocol has room for a reply (not inside a TLS handshake) and closes. A
//!   message whose content was cut is dropped: never stored, never acknowledged.
//!
//! Must not: cut a message being stored (the sink answers within its own bounds, and the
//! 250 that follows is sent before the 421).

use std::future::Future;

use tokio::sync::watch;

/// The relay's stop, as its sessions see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shutdown {
    /// Serving.
    #[default]
    Running,
    /// Stopping: 421 at the next command.
    Stopping,
    /// The grace is over: every wait on the client ends now.
    Cut,
}

/// `work`'s output, or `None` when `cut` says the grace is over first (at once when it
/// already has). A signal whose sender is gone never cuts.
pub(crate) async fn until_cut<F: Future>(cut: Option<&mut watch::Receiver<Shutdown>>, work: F) -> Option<F::Output> {
    let Some(cut) = cut else { return Some(work.await) };
    tokio::select! {
        biased;
        Ok(_) = cut.wait_for(|s| *s == Shutdown::Cut) => None,
        out = work => Some(out),
    }
}
