//! Messages accepted and not yet read back, kept in memory up to a byte budget so
//! that the first delivery attempt need not read its segment. The fsynced record
//! stays the truth: what is not here (over budget, after a restart, on a later
//! attempt) is read from disk, and a state change of a message drops it here.

use std::collections::HashMap;

use bytes::Bytes;

use super::MessageId;
use crate::envelope::Envelope;

pub(crate) struct Fresh {
    messages: HashMap<MessageId, (Envelope, Bytes)>,
    bytes: usize,
    budget: usize,
}

impl Fresh {
    pub fn new(budget: usize) -> Self {
        Self { messages: HashMap::new(), bytes: 0, budget }
    }

    /// Keeps a just-accepted message if the budget allows.
    pub fn put(&mut self, id: MessageId, envelope: Envelope, body: Bytes) {
        if self.bytes + body.len() > self.budget {
            return;
        }
        self.bytes += body.len();
        if let Some((_, old)) = self.messages.insert(id, (envelope, body)) {
            self.bytes -= old.len();
        }
    }

    /// Removes and returns a kept message.
    pub fn take(&mut self, id: MessageId) -> Option<(Envelope, Bytes)> {
        let (envelope, body) = self.messages.remove(&id)?;
        self.bytes -= body.len();
        Some((envelope, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            sender: None,
            recipients: Vec::new(),
            received_at: time::OffsetDateTime::UNIX_EPOCH,
            client_ip: std::net::Ipv4Addr::LOCALHOST.into(),
            helo: "h".into(),
            system_id: None,
        }
    }

    #[test]
    fn keeps_within_budget_and_gives_each_message_once() {
        let mut fresh = Fresh::new(10);
        fresh.put(MessageId(1), envelope(), Bytes::from_static(b"123456"));
        fresh.put(MessageId(2), envelope(), Bytes::from_static(b"123456"));
        assert_eq!(fresh.take(MessageId(2)), None, "over budget: not kept");
        assert_eq!(fresh.take(MessageId(1)).map(|(_, b)| b), Some(Bytes::from_static(b"123456")));
        assert_eq!(fresh.take(MessageId(1)), None);
        fresh.put(MessageId(3), envelope(), Bytes::from_static(b"0123456789"));
        assert!(fresh.take(MessageId(3)).is_some(), "the budget is free again");
    }
}
