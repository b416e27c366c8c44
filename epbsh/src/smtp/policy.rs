//! The session's two collaborators: [`Policy`] takes every relay and
//! admission decision, [`Sink`] stores an accepted message durably.

use std::future::Future;
use std::net::IpAddr;

use bytes::Bytes;

use super::reply::{Reply, fixed};
use crate::envelope::{Envelope, Mailbox};
use crate::spool::{MessageId, Spool, SpoolError};

/// A policy decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on.
    Accept,
    /// Permanent refusal; must be a 5xx reply (else 550 5.7.1 is sent).
    Reject(Reply),
    /// Temporary refusal; must be a 4xx reply (else 451 4.3.0 is sent).
    TempFail(Reply),
}

impl Verdict {
    /// `Reject(Reply::new(code, enhanced, text))`.
    pub fn reject(code: u16, enhanced: (u8, u16, u16), text: impl Into<String>) -> Self {
        Self::Reject(Reply::new(code, enhanced, text))
    }

    /// `TempFail(Reply::new(code, enhanced, text))`.
    pub fn temp_fail(code: u16, enhanced: (u8, u16, u16), text: impl Into<String>) -> Self {
        Self::TempFail(Reply::new(code, enhanced, text))
    }

    /// The reply to send for a refusal, forced into the right class; `None`
    /// for `Accept`.
    pub(crate) fn refusal(self) -> Option<Reply> {
        let class_ok = |r: &Reply, c: u16| r.code / 100 == c && r.enhanced.is_none_or(|e| u16::from(e.0) == c);
        match self {
            Verdict::Accept => None,
            Verdict::Reject(r) if class_ok(&r, 5) => Some(r),
            Verdict::Reject(_) => Some(fixed::policy_reject()),
            Verdict::TempFail(r) if class_ok(&r, 4) => Some(r),
            Verdict::TempFail(_) => Some(fixed::policy_tempfail()),
        }
    }
}

/// Relay and admission decisions. The session enforces protocol rules only;
/// everything about who may send what to whom is asked here.
pub trait Policy: Send + Sync + 'static {
    /// A client connected from `peer` (before the greeting).
    fn on_connect(&self, peer: IpAddr) -> impl Future<Output = Verdict> + Send;

    /// MAIL FROM; `sender` is `None` for the null reverse-path.
    fn on_mail_from(&self, sender: Option<&Mailbox>, peer: IpAddr) -> impl Future<Output = Verdict> + Send;

    /// RCPT TO; the relay decision (open-relay protection lives here).
    fn on_rcpt_to(
        &self,
        sender: Option<&Mailbox>,
        rcpt: &Mailbox,
        peer: IpAddr,
    ) -> impl Future<Output = Verdict> + Send;

    /// The complete message was received (`size` content bytes) and is about
    /// to be handed to the sink: the last word on the whole transaction (a
    /// change since MAIL and RCPT counts). The policy may stamp the envelope
    /// (`system_id`) for the sink.
    fn on_data(&self, envelope: &mut Envelope, size: usize) -> impl Future<Output = Verdict> + Send;
}

/// Why the sink did not take a message.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The spool failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// Another sink failed.
    #[error("{0}")]
    Other(String),
    /// The sink refused the message itself (mail authentication): this verdict is the
    /// answer to the final dot.
    #[error("refused: {0:?}")]
    Refused(Verdict),
}

/// Where accepted messages go. The session answers 250 only after `store`
/// returned `Ok`, i.e. once the message is durable.
pub trait Sink: Send + Sync + 'static {
    /// Stores the message; returns its queue id.
    fn store(&self, envelope: Envelope, body: Bytes) -> impl Future<Output = Result<MessageId, SinkError>> + Send;
}

impl Sink for Spool {
    async fn store(&self, envelope: Envelope, body: Bytes) -> Result<MessageId, SinkError> {
        Ok(self.accept(envelope, body).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_forced_into_their_class() {
        assert_eq!(Verdict::Accept.refusal(), None);
        let ok = Verdict::reject(554, (5, 7, 1), "no");
        assert_eq!(ok.refusal().map(|r| r.code), Some(554));
        assert_eq!(Verdict::reject(250, (2, 0, 0), "oops").refusal(), Some(fixed::policy_reject()));
        assert_eq!(Verdict::reject(550, (4, 7, 1), "mixed").refusal(), Some(fixed::policy_reject()));
        assert_eq!(Verdict::temp_fail(550, (5, 0, 0), "no").refusal(), Some(fixed::policy_tempfail()));
        assert_eq!(Verdict::temp_fail(450, (4, 7, 1), "later").refusal().map(|r| r.code), Some(450));
    }
}
