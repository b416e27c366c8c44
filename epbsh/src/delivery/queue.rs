//! The in-memory view of the queue: per message its envelope, recipient states, attempt
//! count, expiry, hold flag and next attempt, with a due index ordered by time. Pure state
//! with no I/O: the scheduler and the jobs change it under a short lock and persist each
//! change in the spool themselves.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::envelope::{Envelope, SystemId};
use crate::spool::{MessageId, RecipientState};

/// The most due messages with full destinations one [`Queue::take_due`] looks at.
const SCAN: usize = 1024;
/// How soon a message whose destinations were all full is looked at again.
pub(crate) const BUSY_RECHECK: Duration = Duration::from_secs(1);

/// One queued message.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub envelope: Envelope,
    pub states: Vec<RecipientState>,
    pub held: bool,
    pub in_flight: bool,
    /// Attempts that left recipients pending.
    pub attempts: u32,
    pub expires_at: OffsetDateTime,
    pub next_at: Option<Instant>,
    pub last_error: Option<String>,
}

impl Item {
    /// Indexes of the recipients still to be delivered.
    pub fn pending(&self) -> Vec<usize> {
        (0..self.states.len()).filter(|&i| self.states[i] == RecipientState::Pending).collect()
    }
}

/// Queue counts of one sending system (`None`: mail from outside and our own reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemQueue {
    pub system: Option<SystemId>,
    /// All its queued messages (held and deferred included).
    pub queued: usize,
    /// Held because the system is suspended.
    pub held: usize,
    /// Not held, tried at least once, waiting for a retry.
    pub deferred: usize,
    /// Arrival of its oldest queued message.
    #[serde(with = "time::serde::rfc3339::option")]
    pub oldest: Option<OffsetDateTime>,
}

/// The queue state.
pub(crate) struct Queue {
    items: HashMap<MessageId, Item>,
    due: BTreeSet<(Instant, MessageId)>,
    retry: Vec<Duration>,
    lifetime: Duration,
}

impl Queue {
    pub fn new(retry: Vec<Duration>, lifetime: Duration) -> Queue {
        Queue { items: HashMap::new(), due: BTreeSet::new(), retry, lifetime }
    }

    /// Adds a message whose queue lifetime started at `since`; due at once unless held.
    pub fn insert(
        &mut self,
        id: MessageId,
        envelope: Envelope,
        states: Vec<RecipientState>,
        held: bool,
        since: OffsetDateTime,
        now: Instant,
    ) {
        let expires_at = since + self.lifetime;
        let item =
            Item { envelope, states, held, in_flight: false, attempts: 0, expires_at, next_at: None, last_error: None };
        self.items.insert(id, item);
        if !held {
            self.schedule(id, now);
        }
    }

    fn schedule(&mut self, id: MessageId, at: Instant) {
        if let Some(item) = self.items.get_mut(&id) {
            if let Some(old) = item.next_at.replace(at) {
                self.due.remove(&(old, id));
            }
            self.due.insert((at, id));
        }
    }

    fn unschedule(&mut self, id: MessageId) {
        if let Some(old) = self.items.get_mut(&id).and_then(|i| i.next_at.take()) {
            self.due.remove(&(old, id));
        }
    }

    pub fn get(&self, id: MessageId) -> Option<&Item> {
        self.items.get(&id)
    }

    /// When the earliest message is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.first().map(|(at, _)| *at)
    }

    /// Takes up to `max` due messages and marks them in flight; due messages of a system
    /// for which `suspended` is true are held instead (second list, to be persisted); a
    /// due message for which `full` is true (all its destinations busy) is looked at
    /// again after [`BUSY_RECHECK`], its attempts untouched. At most [`SCAN`] full ones
    /// per call, so that the scheduler's lock is short.
    pub fn take_due(
        &mut self,
        now: Instant,
        max: usize,
        suspended: impl Fn(SystemId) -> bool,
        full: impl Fn(&Item) -> bool,
    ) -> (Vec<MessageId>, Vec<MessageId>) {
        let (mut run, mut hold, mut skipped) = (Vec::new(), Vec::new(), 0);
        while run.len() < max && skipped < SCAN {
            let Some(&(at, id)) = self.due.first() else { break };
            if at > now {
                break;
            }
            self.unschedule(id);
            let Some(item) = self.items.get_mut(&id) else { continue };
            if item.envelope.system_id.is_some_and(&suspended) {
                item.held = true;
                hold.push(id);
            } else if full(item) {
                skipped += 1;
                self.schedule(id, now + BUSY_RECHECK);
            } else {
                item.in_flight = true;
                run.push(id);
            }
        }
        (run, hold)
    }

    /// Ends the attempt of `id`, which tried nothing (its destinations were full): due
    /// again after [`BUSY_RECHECK`], attempts and last error as they were.
    pub fn busy(&mut self, id: MessageId, now: Instant) {
        let Some(item) = self.items.get_mut(&id) else { return };
        item.in_flight = false;
        if !item.held {
            self.schedule(id, now + BUSY_RECHECK);
        }
    }

    /// Holds one message (also while it is in flight: its attempt then ends without a
    /// reschedule).
    pub fn hold(&mut self, id: MessageId) {
        self.unschedule(id);
        if let Some(i) = self.items.get_mut(&id) {
            i.held = true;
        }
    }

    /// Holds every queued message (not in flight, not held) of a system for which
    /// `suspended` is true; returns them.
    pub fn hold_where(&mut self, suspended: impl Fn(SystemId) -> bool) -> Vec<MessageId> {
        let ids: Vec<MessageId> = self
            .items
            .iter()
            .filter(|(_, i)| !i.held && !i.in_flight && i.envelope.system_id.is_some_and(&suspended))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            self.unschedule(*id);
            if let Some(i) = self.items.get_mut(id) {
                i.held = true;
            }
        }
        ids
    }

    /// Records the end of an attempt: `settled` recipients got their final state. Returns
    /// true while the message stays queued (then rescheduled per the retry schedule, never
    /// past its expiry).
    pub fn finish_attempt(
        &mut self,
        id: MessageId,
        settled: &[(usize, RecipientState)],
        error: Option<String>,
        now: Instant,
        wall: OffsetDateTime,
    ) -> bool {
        let Some(item) = self.items.get_mut(&id) else { return false };
        item.in_flight = false;
        for &(i, s) in settled {
            if let Some(slot) = item.states.get_mut(i) {
                *slot = s;
            }
        }
        if item.pending().is_empty() {
            self.items.remove(&id);
            return false;
        }
        item.attempts += 1;
        if error.is_some() {
            item.last_error = error;
        }
        if item.held {
            return true;
        }
        let step = self.retry[(item.attempts as usize - 1).min(self.retry.len() - 1)];
        let to_expiry = Duration::try_from(item.expires_at - wall).unwrap_or(Duration::ZERO);
        self.schedule(id, now + step.min(to_expiry));
        true
    }

    /// Restores the retry state recorded before a restart: `attempts` so far, the next
    /// attempt at `at` (unless the message is held), the last error.
    pub fn restore(&mut self, id: MessageId, attempts: u32, at: Instant, last_error: Option<String>) {
        let Some(item) = self.items.get_mut(&id) else { return };
        item.attempts = attempts;
        item.last_error = last_error;
        if !item.held {
            self.schedule(id, at);
        }
    }

    /// Held messages of `system`.
    pub fn held_of(&self, system: SystemId) -> Vec<MessageId> {
        let mut v: Vec<_> = self
            .items
            .iter()
            .filter(|(_, i)| i.held && i.envelope.system_id == Some(system))
            .map(|(id, _)| *id)
            .collect();
        v.sort_unstable();
        v
    }

    /// Held messages from outside (no sending system) with a recipient in `domains`.
    pub fn quarantined_for(&self, domains: &[String]) -> Vec<MessageId> {
        let mut v: Vec<_> = self
            .items
            .iter()
            .filter(|(_, i)| i.held && i.envelope.system_id.is_none())
            .filter(|(_, i)| i.envelope.recipients.iter().any(|r| domains.iter().any(|d| d == r.domain())))
            .map(|(id, _)| *id)
            .collect();
        v.sort_unstable();
        v
    }

    /// Releases a held message with a fresh lifetime from `since`; due at once.
    pub fn release(&mut self, id: MessageId, since: OffsetDateTime, now: Instant) {
        if let Some(i) = self.items.get_mut(&id).filter(|i| i.held) {
            i.held = false;
            i.attempts = 0;
            i.expires_at = since + self.lifetime;
            self.schedule(id, now);
        }
    }

    /// Removes a held message (the duty team deleted it); false if it is not held.
    pub fn remove_held(&mut self, id: MessageId) -> bool {
        if !self.items.get(&id).is_some_and(|i| i.held && !i.in_flight) {
            return false;
        }
        self.unschedule(id);
        self.items.remove(&id).is_some()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Counts per sending system, ordered by system (`None` first).
    pub fn summary(&self) -> Vec<SystemQueue> {
        let mut by: BTreeMap<Option<SystemId>, SystemQueue> = BTreeMap::new();
        for i in self.items.values() {
            let s = i.envelope.system_id;
            let e = by.entry(s).or_insert(SystemQueue { system: s, queued: 0, held: 0, deferred: 0, oldest: None });
            e.queued += 1;
            e.held += usize::from(i.held);
            e.deferred += usize::from(!i.held && i.attempts > 0);
            let at = i.envelope.received_at;
            e.oldest = Some(e.oldest.map_or(at, |o| o.min(at)));
        }
        by.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::envelope::Mailbox;
    use RecipientState::*;

    fn env(system: Option<u32>, n: usize) -> Envelope {
        Envelope {
            sender: Some(Mailbox::new("a", "a.gov.test")),
            recipients: (0..n).map(|i| Mailbox::new(format!("r{i}"), "x.example")).collect(),
            received_at: OffsetDateTime::UNIX_EPOCH,
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            helo: "h".into(),
            system_id: system.map(SystemId),
        }
    }

    fn queue() -> Queue {
        Queue::new(vec![Duration::from_secs(60), Duration::from_secs(300)], Duration::from_secs(3600))
    }

    #[test]
    fn retries_follow_the_schedule_and_stop_at_expiry() {
        let mut q = queue();
        let t0 = Instant::now();
        let wall = OffsetDateTime::UNIX_EPOCH;
        q.insert(MessageId(1), env(None, 2), vec![Pending; 2], false, wall, t0);
        let (run, hold) = q.take_due(t0, 10, |_| false, |_| false);
        assert_eq!((run, hold), (vec![MessageId(1)], vec![]));
        assert!(q.take_due(t0, 10, |_| false, |_| false).0.is_empty(), "in flight is not due");
        assert!(q.finish_attempt(MessageId(1), &[(0, Delivered)], Some("451 later".into()), t0, wall));
        assert_eq!(q.next_due(), Some(t0 + Duration::from_secs(60)));
        q.take_due(t0 + Duration::from_secs(60), 10, |_| false, |_| false);
        q.finish_attempt(MessageId(1), &[], None, t0, wall);
        assert_eq!(q.next_due(), Some(t0 + Duration::from_secs(300)));
        q.take_due(t0 + Duration::from_secs(300), 10, |_| false, |_| false);
        q.finish_attempt(MessageId(1), &[], None, t0, wall + Duration::from_secs(3500));
        assert_eq!(q.next_due(), Some(t0 + Duration::from_secs(100)), "never past the expiry");
        assert_eq!(q.get(MessageId(1)).unwrap().last_error.as_deref(), Some("451 later"));
        q.take_due(t0 + Duration::from_secs(100), 10, |_| false, |_| false);
        assert!(!q.finish_attempt(MessageId(1), &[(1, Failed)], None, t0, wall));
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn hold_release_delete_and_summary() {
        let mut q = queue();
        let t0 = Instant::now();
        let wall = OffsetDateTime::UNIX_EPOCH;
        for id in 1..=3 {
            q.insert(MessageId(id), env(Some(7), 1), vec![Pending], false, wall, t0);
        }
        q.insert(MessageId(4), env(None, 1), vec![Pending], false, wall, t0);
        let (run, hold) = q.take_due(t0, 1, |s| s == SystemId(7), |_| false);
        assert_eq!((run, hold), (vec![MessageId(4)], vec![MessageId(1), MessageId(2), MessageId(3)]));
        q.insert(MessageId(5), env(Some(7), 1), vec![Pending], false, wall, t0 + Duration::from_secs(9));
        assert_eq!(q.hold_where(|s| s == SystemId(7)), vec![MessageId(5)], "sweep holds what is not yet due");
        assert!(q.remove_held(MessageId(5)));
        assert_eq!(q.held_of(SystemId(7)), vec![MessageId(1), MessageId(2), MessageId(3)]);
        assert_eq!(q.next_due(), None, "held mail is never due, so it never expires");
        let s = q.summary();
        assert_eq!((s[0].system, s[0].queued, s[0].held), (None, 1, 0));
        assert_eq!((s[1].system, s[1].queued, s[1].held, s[1].deferred), (Some(SystemId(7)), 3, 3, 0));
        assert!(q.remove_held(MessageId(3)));
        assert!(!q.remove_held(MessageId(4)), "not held");
        let later = wall + Duration::from_secs(86_400);
        q.release(MessageId(1), later, t0);
        assert_eq!(q.get(MessageId(1)).unwrap().expires_at, later + Duration::from_secs(3600), "fresh expiry");
        assert_eq!(q.take_due(t0, 10, |_| false, |_| false).0, vec![MessageId(1)]);
    }

    #[test]
    fn messages_with_full_destinations_are_passed_over_without_counting_an_attempt() {
        let mut q = queue();
        let t0 = Instant::now();
        let wall = OffsetDateTime::UNIX_EPOCH;
        // Two thousand messages to a full destination ahead of one to a free destination.
        for id in 1..=2000 {
            q.insert(MessageId(id), env(Some(1), 1), vec![Pending], false, wall, t0);
        }
        q.insert(MessageId(5000), env(Some(2), 1), vec![Pending], false, wall, t0 + Duration::from_millis(1));
        let full = |item: &Item| item.envelope.system_id == Some(SystemId(1));
        let now = t0 + Duration::from_millis(1);
        let (run, _) = q.take_due(now, 10, |_| false, full);
        assert!(run.is_empty(), "at most SCAN full ones are looked at in one call");
        let (run, _) = q.take_due(now, 10, |_| false, full);
        assert_eq!(run, vec![MessageId(5000)], "the next call reaches the free destination");
        assert!(q.due.iter().all(|&(at, _)| at >= now + BUSY_RECHECK), "the full ones wait a moment");
        assert_eq!(q.get(MessageId(1)).unwrap().attempts, 0);
        // A job that found its destinations full after all: due again soon, nothing counted.
        let (run, _) = q.take_due(now + BUSY_RECHECK, 1, |_| false, |_| false);
        q.busy(run[0], now + BUSY_RECHECK);
        let item = q.get(run[0]).unwrap();
        assert_eq!((item.in_flight, item.attempts, item.next_at), (false, 0, Some(now + BUSY_RECHECK * 2)));
    }
}
