//! Where one connection's accepted messages go: mail to this relay's postmaster readdressed
//! to the configured postmaster; mail authentication before anything is stored (a
//! connected system's message DKIM-signed, a message from outside checked: refused or
//! deferred with a reply, held, or given our results header); spooled (fsynced before the
//! session answers 250; the [`Guard`] reads the content meanwhile), reported to the guard,
//! then queued for delivery — held at once when the guard has just suspended its system.

use std::sync::Arc;

use bytes::Bytes;

use crate::auth::{Action, Auth};
use crate::delivery::Shared;
use crate::envelope::{Envelope, Mailbox};
use crate::hooks::{Accepted, Guard};
use crate::metrics::bump;
use crate::smtp::{Sink, SinkError, Verdict, is_postmaster};
use crate::spool::MessageId;

/// The sink of the listener's connections.
pub(crate) struct ConnSink {
    pub guard: Arc<dyn Guard>,
    pub delivery: Arc<Shared>,
    pub auth: Arc<Auth>,
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

    /// Signs (outbound) or checks (inbound) the message: the content to spool and whether
    /// it is held, or the refusal to answer.
    async fn authenticate(&self, envelope: &Envelope, body: Bytes) -> Result<(Bytes, bool), SinkError> {
        let registry = self.delivery.registry.load();
        if let Some(sys) = envelope.system_id.and_then(|id| registry.get(id)) {
            return Ok((self.auth.sign_outbound(sys, envelope, &body), false));
        }
        let checked = self.auth.check_inbound(&registry, envelope, &body).await;
        let d = &checked.decision;
        match d.action {
            Action::Deliver => Ok((checked.body, false)),
            Action::Hold => Ok((checked.body, true)),
            Action::Refuse { code, enhanced } => {
                tracing::info!(peer = %envelope.client_ip, domain = ?d.domain, reason = %d.reason, "message refused");
                Err(SinkError::Refused(Verdict::reject(code, enhanced, d.reason.clone())))
            }
            Action::Defer { code, enhanced } => {
                tracing::info!(peer = %envelope.client_ip, domain = ?d.domain, reason = %d.reason, "message deferred");
                Err(SinkError::Refused(Verdict::temp_fail(code, enhanced, d.reason.clone())))
            }
        }
    }
}

impl Sink for ConnSink {
    async fn store(&self, mut envelope: Envelope, body: Bytes) -> Result<MessageId, SinkError> {
        self.readdress(&mut envelope);
        let (body, held) = self.authenticate(&envelope, body).await?;
        let system = envelope.system_id;
        let stored = self.delivery.spool.accept(envelope.clone(), body.clone());
        // Polled after the spool has the message: runs while the writer's fsync is under way.
        let inspected = async { system.and_then(|_| self.guard.inspect(&body)) };
        let (stored, digest) = tokio::join!(stored, inspected);
        let id = stored?;
        bump(&self.delivery.metrics.messages_accepted);
        if held {
            // Recorded before the 250: a restart keeps it held.
            if let Err(e) = self.delivery.spool.hold(id).await {
                tracing::error!(%id, error = %e, "cannot record the hold; it is held in memory only");
            }
            tracing::info!(%id, "message from outside held (DMARC quarantine)");
            self.delivery.enqueue_held(id, envelope);
            return Ok(id);
        }
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
