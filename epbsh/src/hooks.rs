//! The seam between the relay (SMTP listener, queue, delivery) and the traffic watch
//! (counters, abnormal-traffic detection, throttling, suspension): the relay asks a
//! [`Guard`] before it takes new mail from a connected system and tells it what it
//! accepted and how each delivery ended. The calls are synchronous and cheap: a guard
//! that needs I/O queues the work for its own task. What a guard reads from a message's
//! content ([`Guard::inspect`]) is worked out while the spool's fsync is under way, so
//! it adds nothing to the wait for the 250.

use std::time::Duration;

use crate::envelope::{Envelope, Mailbox, SystemId};
use crate::spool::MessageId;

/// What a guard keeps of one message's content (see [`Guard::inspect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub fingerprint: u64,
    pub subject: String,
    /// The Message-ID header, without angle brackets.
    pub message_id: Option<String>,
}

/// Whether a connected system may hand over new outbound mail right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Accept,
    /// Over its rate: answer 451 4.7.0 and let its server retry after about `retry_after`.
    Throttle {
        retry_after: Duration,
    },
    /// Suspended: answer 451 4.7.1 with this reason; nothing is accepted from it.
    Suspended {
        reason: String,
    },
}

/// A message the relay has just answered 250 for (after fsync).
pub struct Accepted<'a> {
    pub id: MessageId,
    pub system: SystemId,
    pub envelope: &'a Envelope,
    /// What [`Guard::inspect`] made of its content.
    pub digest: Option<Digest>,
}

/// How one recipient's delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// 4xx or a connection failure; will be retried.
    Deferred {
        reply: String,
    },
    /// 5xx from the remote server.
    Rejected {
        code: u16,
        reply: String,
    },
    /// Gave up after the queue lifetime.
    Expired,
}

/// One recipient's delivery result for an outbound message of a connected system.
pub struct Delivery<'a> {
    pub id: MessageId,
    pub system: SystemId,
    pub recipient: &'a Mailbox,
    pub outcome: Outcome,
    /// True when the message is a bounce (null reverse-path) that this system sent.
    pub bounce: bool,
}

/// Watches connected systems' outbound traffic and decides admission.
pub trait Guard: Send + Sync + 'static {
    /// Called at MAIL FROM of a session from `system`'s server.
    fn admit(&self, system: SystemId) -> Admission;
    /// Reads a message's content (headers and body) before it is stored; the result
    /// comes back in [`Accepted::digest`]. Nothing by default.
    fn inspect(&self, _data: &[u8]) -> Option<Digest> {
        None
    }
    /// Called after a message from `system` was accepted.
    fn accepted(&self, message: &Accepted<'_>);
    /// True while the guard itself holds `system` suspended (it suspended it and nobody
    /// resumed it yet): its mail is then refused at every transaction and its queue held,
    /// before the registry shows the suspension. False by default.
    fn suspended(&self, _system: SystemId) -> bool {
        false
    }
    /// Called for every outbound recipient whose attempt finished.
    fn delivered(&self, delivery: &Delivery<'_>);
}

/// A guard that admits everything and watches nothing (tests, or detection switched off).
pub struct OpenGuard;

impl Guard for OpenGuard {
    fn admit(&self, _: SystemId) -> Admission {
        Admission::Accept
    }
    fn accepted(&self, _: &Accepted<'_>) {}
    fn delivered(&self, _: &Delivery<'_>) {}
}
