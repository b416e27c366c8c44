//! Refusing a client's TLS connection before any TLS is spoken back: the decision is
//! logged and counted, then a fatal alert (access denied, or handshake failure when the
//! origin side failed) goes out in a plaintext record and the connection closes.
//!
//! Must not: send anything but the alert; the client never gets a page over TLS it
//! has not negotiated.

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::accept::conn::Conn;
use crate::decide::denial::{Denial, DenyKind};
use crate::report::accesslog::{Action, Record};

/// TLS alert descriptions sent when refusing.
pub(crate) const ALERT_HANDSHAKE_FAILURE: u8 = 40;
pub(crate) const ALERT_ACCESS_DENIED: u8 = 49;

/// Refuses a named TLS connection: logs it and sends a fatal alert.
pub(crate) async fn refuse<S: AsyncWrite + Unpin>(conn: &Conn, mut record: Record, stream: S, denial: &Denial) {
    conn.deny(&mut record, denial, 0);
    conn.shared.metrics.connection(Action::Deny);
    conn.finish(record);
    let description = match denial.kind {
        DenyKind::UpstreamCert | DenyKind::Upstream => ALERT_HANDSHAKE_FAILURE,
        _ => ALERT_ACCESS_DENIED,
    };
    alert(stream, description).await;
}

/// Sends a fatal TLS alert (in a plaintext record, as before a handshake) and closes.
pub(crate) async fn alert<S: AsyncWrite + Unpin>(mut stream: S, description: u8) {
    let _ = stream.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]).await;
    let _ = stream.shutdown().await;
}
