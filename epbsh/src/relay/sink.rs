//! Where one connection's accepted messages go: stamped with the sending system, spooled
//! (fsynced before the session answers 250; the [`Guard`] reads the content meanwhile),
//! reported to the guard, then queued for delivery.

use std::sync::Arc;

use bytes::Bytes;

use super::metrics::{Metrics, bump};
use crate::delivery::Shared;
use crate::envelope::{Envelope, SystemId};
use crate::hooks::{Accepted, Guard};
use crate::smtp::{Sink, SinkError};
use crate::spool::MessageId;

/// The sink of one connection.
pub(crate) struct ConnSink {
    pub system: Option<SystemId>,
    pub guard: Arc<dyn Guard>,
    pub delivery: Arc<Shared>,
    pub metrics: Arc<Metrics>,
}

impl Sink for ConnSink {
    async fn store(&self, mut envelope: Envelope, body: Bytes) -> Result<MessageId, SinkError> {
        envelope.system_id = self.system;
        let stored = self.delivery.spool.accept(envelope.clone(), body.clone());
        // Polled after the spool has the message: runs while the writer's fsync is under way.
        let inspected = async { self.system.and_then(|_| self.guard.inspect(&body)) };
        let (stored, digest) = tokio::join!(stored, inspected);
        let id = stored?;
        bump(&self.metrics.messages_accepted);
        if let Some(system) = self.system {
            self.guard.accepted(&Accepted { id, system, envelope: &envelope, digest });
        }
        tracing::debug!(%id, system = ?self.system, rcpts = envelope.recipients.len(), "message accepted");
        self.delivery.enqueue(id, envelope, None);
        Ok(id)
    }
}
