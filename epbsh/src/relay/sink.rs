//! Where one connection's accepted messages go: mail to this relay's postmaster readdressed
//! to the configured postmaster, spooled (fsynced before the session answers 250; the
//! [`Guard`] reads the content meanwhile), reported to the guard, then queued for
//! delivery — held at once when the guard has just suspended its system.

use std::sync::Arc;

use bytes::Bytes;

use crate::delivery::Shared;
use crate::envelope::{Envelope, Mailbox};
use crate::hooks::{Accepted, Guard};
use crate::metrics::bump;
use crate::smtp::{Sink, SinkError, is_postmaster};
use crate::spool::MessageId;

/// The sink of the listener's connections.
pub(crate) struct ConnSink {
    pub guard: Arc<dyn Guard>,
    pub delivery: Arc<Shared>,
    /// This relay's name (`postmaster@` it is the postmaster).
    pub hostname: String,
    /// Where the postmaster's mail goes.
    pub postmaster: Mailbox,
}

impl ConnSink {
    /// Readdresses the relay's postmaster (the policy stamped the system at the dot).
    fn readdress(&self, envelope: &mut Envelope) {
        let mut recipients = Vec::with_capacity(envelope.recipients.len());
        for r in envelope.recipients.drain(..) {
            let r = if is_postmaster(&r, &self.hostname) { self.postmaster.clone() } else { r };
            if !recipients.contains(&r) {
                recipients.push(r);
            }
        }
        envelope.recipients = recipients;
    }
}

impl Sink for ConnSink {
    async fn store(&self, mut envelope: Envelope, body: Bytes) -> Result<MessageId, SinkError> {
        self.readdress(&mut envelope);
        let system = envelope.system_id;
        let stored = self.delivery.spool.accept(envelope.clone(), body.clone());
        // Polled after the spool has the message: runs while the writer's fsync is under way.
        let inspected = async { system.and_then(|_| self.guard.inspect(&body)) };
        let (stored, digest) = tokio::join!(stored, inspected);
        let id = stored?;
        bump(&self.delivery.metrics.messages_accepted);
        if let Some(system) = system {
            self.guard.accepted(&Accepted { id, system, envelope: &envelope, digest });
        }
        tracing::debug!(%id, ?system, rcpts = envelope.recipients.len(), "message accepted");
        self.delivery.enqueue(id, envelope, None);
        if let Some(system) = system.filter(|s| self.guard.suspended(*s)) {
            // This message tripped the watch: it and the rest of the system's queue wait.
            self.delivery.hold_system(system).await;
        }
        Ok(id)
    }
}
