//! The counters of one connected system: the current [`Window`] (messages, recipients,
//! distinct recipient domains, remote results, bounces, recipients per content
//! fingerprint, sample message ids) and the [`Baseline`] learnt from its own normal
//! windows. Plain data, serialisable, so that the counters survive restarts. With
//! several nodes, each window also carries what the other nodes counted for the same
//! system ([`Peers`], from their [`Share`]s), and every signal reads the totals, so a
//! burst spread over the nodes is judged whole.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// Distinct recipient domains remembered per window (more are not told apart).
const DOMAIN_CAP: usize = 10_000;
/// Content fingerprints remembered per window.
const CONTENT_CAP: usize = 4_096;
/// Sample message ids kept per window and per content.
const SAMPLES: usize = 5;

/// Counts of one window of one system's outbound traffic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// When the window opened (Unix milliseconds).
    pub start_ms: u64,
    pub messages: u64,
    pub recipients: u64,
    pub domains: BTreeSet<String>,
    /// Recipients the remote servers accepted.
    pub delivered: u64,
    /// Recipients the remote servers refused with 5xx.
    pub rejected: u64,
    /// Messages with the null reverse-path (bounces) the system sent.
    pub bounces: u64,
    /// Recipients per content fingerprint.
    pub content: HashMap<u64, Content>,
    /// Ids of the last messages accepted.
    pub samples: Vec<String>,
    /// A finding fired in this window: it is not learnt into the baseline.
    pub abnormal: bool,
    /// What the other nodes counted in their current windows (shown with the counters;
    /// exchanged again within a second, so a saved one is soon replaced).
    #[serde(default)]
    pub peers: Peers,
}

/// The other nodes' counts for one system, summed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Peers {
    pub messages: u64,
    pub recipients: u64,
    pub delivered: u64,
    pub rejected: u64,
    pub bounces: u64,
    /// Their recipient domains this node has not seen in its window.
    pub domains_unseen: u64,
    /// Recipients per content fingerprint.
    pub content: HashMap<u64, u64>,
}

/// What one node tells the others about one system's current window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub start_ms: u64,
    pub messages: u64,
    pub recipients: u64,
    pub delivered: u64,
    pub rejected: u64,
    pub bounces: u64,
    /// Its recipient domains (at most [`SHARED_DOMAINS`]).
    pub domains: Vec<String>,
    /// Its most widely sent contents: (fingerprint, recipients, subject).
    pub content: Vec<(u64, u64, String)>,
}

/// Domains and contents a node shares per system.
const SHARED_DOMAINS: usize = 1_000;
const SHARED_CONTENT: usize = 32;

/// Recipients of one content in a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    pub recipients: u64,
    pub subject: String,
    pub samples: Vec<String>,
}

/// A message as the counters see it.
pub struct Message<'a> {
    pub id: String,
    pub recipients: &'a [crate::Mailbox],
    pub bounce: bool,
    pub fingerprint: Option<(u64, String)>,
}

impl Window {
    pub fn opened(start_ms: u64) -> Window {
        Window { start_ms, ..Window::default() }
    }

    /// Counts one accepted message.
    pub fn add_message(&mut self, m: &Message<'_>) {
        self.messages += 1;
        self.recipients += m.recipients.len() as u64;
        self.bounces += u64::from(m.bounce);
        for r in m.recipients {
            if self.domains.len() < DOMAIN_CAP && !self.domains.contains(r.domain()) {
                self.domains.insert(r.domain().to_string());
            }
        }
        push_sample(&mut self.samples, &m.id);
        if let Some((fp, subject)) = &m.fingerprint
            && (self.content.len() < CONTENT_CAP || self.content.contains_key(fp))
        {
            let c =
                self.content.entry(*fp).or_insert_with(|| Content { subject: subject.clone(), ..Content::default() });
            c.recipients += m.recipients.len() as u64;
            push_sample(&mut c.samples, &m.id);
        }
    }

    /// The content sent to the most recipients in this window, on every node: its
    /// recipients and subject.
    pub fn top_content(&self) -> Option<(u64, &str)> {
        let local = self.content.iter().map(|(fp, c)| (c.recipients + self.peers.content.get(fp).unwrap_or(&0), c));
        local.max_by_key(|(n, _)| *n).map(|(n, c)| (n, c.subject.as_str()))
    }

    /// Messages in this window, on every node.
    pub fn total_messages(&self) -> u64 {
        self.messages + self.peers.messages
    }

    /// Recipients in this window, on every node.
    pub fn total_recipients(&self) -> u64 {
        self.recipients + self.peers.recipients
    }

    /// Distinct recipient domains in this window, on every node.
    pub fn total_domains(&self) -> u64 {
        self.domains.len() as u64 + self.peers.domains_unseen
    }

    /// Recipients remote servers refused with 5xx, on every node.
    pub fn total_rejected(&self) -> u64 {
        self.rejected + self.peers.rejected
    }

    /// Bounces the system sent, on every node.
    pub fn total_bounces(&self) -> u64 {
        self.bounces + self.peers.bounces
    }

    /// Share of finished remote results that were rejections, with their number.
    pub fn rejected_share(&self) -> (f64, u64) {
        share(self.total_rejected(), self.delivered + self.peers.delivered + self.total_rejected())
    }

    /// Share of messages that were bounces, with the number of messages.
    pub fn bounce_share(&self) -> (f64, u64) {
        share(self.total_bounces(), self.total_messages())
    }

    /// What this node tells the others about this window.
    pub fn share(&self) -> Share {
        let mut content: Vec<(u64, u64, String)> =
            self.content.iter().map(|(fp, c)| (*fp, c.recipients, c.subject.clone())).collect();
        content.sort_by(|a, b| b.1.cmp(&a.1));
        content.truncate(SHARED_CONTENT);
        Share {
            start_ms: self.start_ms,
            messages: self.messages,
            recipients: self.recipients,
            delivered: self.delivered,
            rejected: self.rejected,
            bounces: self.bounces,
            domains: self.domains.iter().take(SHARED_DOMAINS).cloned().collect(),
            content,
        }
    }

    /// Takes the other nodes' shares for this system as its peers' counts; a share of a
    /// window that ended before this one began is not counted.
    pub fn set_peers(&mut self, shares: &[Share], window_ms: u64) {
        let mut peers = Peers::default();
        let mut unseen = BTreeSet::new();
        for s in shares.iter().filter(|s| s.start_ms + window_ms > self.start_ms) {
            peers.messages += s.messages;
            peers.recipients += s.recipients;
            peers.delivered += s.delivered;
            peers.rejected += s.rejected;
            peers.bounces += s.bounces;
            unseen.extend(s.domains.iter().filter(|d| !self.domains.contains(*d)));
            for (fp, recipients, _) in &s.content {
                *peers.content.entry(*fp).or_default() += recipients;
            }
        }
        peers.domains_unseen = unseen.len() as u64;
        self.peers = peers;
    }
}

fn share(part: u64, whole: u64) -> (f64, u64) {
    if whole == 0 { (0.0, 0) } else { (part as f64 / whole as f64, whole) }
}

fn push_sample(samples: &mut Vec<String>, id: &str) {
    if samples.len() == SAMPLES {
        samples.remove(0);
    }
    samples.push(id.to_string());
}

/// What a system normally sends per window, learnt as exponentially weighted means of
/// its normal windows (idle windows count as zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// How many windows have been learnt.
    pub windows: u64,
    pub messages: f64,
    pub recipients: f64,
    pub domains: f64,
}

impl Baseline {
    /// Learns a closed window with weight `rate`; abnormal windows are not learnt.
    pub fn learn(&mut self, w: &Window, rate: f64) {
        if w.abnormal {
            return;
        }
        let (m, r, d) = (w.total_messages() as f64, w.total_recipients() as f64, w.total_domains() as f64);
        if self.windows == 0 {
            (self.messages, self.recipients, self.domains) = (m, r, d);
        } else {
            self.messages += rate * (m - self.messages);
            self.recipients += rate * (r - self.recipients);
            self.domains += rate * (d - self.domains);
        }
        self.windows += 1;
    }

    /// Learns `n` idle windows at once.
    pub fn learn_idle(&mut self, n: u64, rate: f64) {
        if n == 0 || self.windows == 0 {
            return;
        }
        let keep = (1.0 - rate).powi(i32::try_from(n.min(10_000)).unwrap_or(10_000));
        self.messages *= keep;
        self.recipients *= keep;
        self.domains *= keep;
        self.windows += n;
    }
}

/// One system's counters: the open window and the baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub window: Window,
    pub baseline: Baseline,
}

impl Counters {
    pub fn new(now_ms: u64) -> Counters {
        Counters { window: Window::opened(now_ms), baseline: Baseline::default() }
    }

    /// Closes the window if `now_ms` is past it: learns it (and any idle windows after
    /// it) and opens the window that contains `now_ms`. True when a window closed.
    pub fn roll(&mut self, now_ms: u64, window_ms: u64, rate: f64) -> bool {
        let window_ms = window_ms.max(1);
        let elapsed = now_ms.saturating_sub(self.window.start_ms);
        if elapsed < window_ms {
            return false;
        }
        let windows = elapsed / window_ms;
        self.baseline.learn(&self.window, rate);
        self.baseline.learn_idle(windows - 1, rate);
        self.window = Window::opened(self.window.start_ms + windows * window_ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mailbox;

    fn msg<'a>(id: &str, rcpts: &'a [Mailbox], fp: u64) -> Message<'a> {
        Message { id: id.into(), recipients: rcpts, bounce: false, fingerprint: Some((fp, "s".into())) }
    }

    #[test]
    fn a_window_counts_recipients_domains_and_content() {
        let rcpts = [Mailbox::new("a", "x.example"), Mailbox::new("b", "X.example"), Mailbox::new("c", "y.example")];
        let mut w = Window::opened(0);
        for i in 0..7 {
            w.add_message(&msg(&format!("m{i}"), &rcpts, 42));
        }
        w.add_message(&Message { id: "b".into(), recipients: &rcpts[..1], bounce: true, fingerprint: None });
        assert_eq!((w.messages, w.recipients, w.domains.len(), w.bounces), (8, 22, 2, 1));
        assert_eq!(w.top_content().unwrap().0, 21);
        assert_eq!(w.content[&42].samples, ["m2", "m3", "m4", "m5", "m6"], "the last five samples");
        assert_eq!(w.samples.last().map(String::as_str), Some("b"));
    }

    #[test]
    fn other_nodes_shares_count_towards_every_total() {
        let rcpts = [Mailbox::new("a", "x.example"), Mailbox::new("b", "y.example")];
        let mut here = Window::opened(1_000);
        here.add_message(&msg("m1", &rcpts, 7));
        let mut there = Window::opened(900);
        for i in 0..3 {
            there.add_message(&msg(&format!("n{i}"), &rcpts[1..], 7));
        }
        there.domains.insert("z.example".into());
        let stale = Share { start_ms: 0, messages: 1000, ..Share::default() };
        here.set_peers(&[there.share(), stale], 600);
        assert_eq!((here.total_messages(), here.total_recipients()), (4, 5), "the stale window is not counted");
        assert_eq!(here.total_domains(), 3, "x and y here, z only there");
        assert_eq!(here.top_content().map(|(n, _)| n), Some(5), "one content, seen on both nodes");
        assert_eq!(here.messages, 1, "the node's own count is unchanged");
    }

    #[test]
    fn the_baseline_learns_normal_windows_and_forgets_with_idle_ones() {
        let mut c = Counters::new(0);
        c.window.messages = 100;
        assert!(!c.roll(599, 600, 0.5), "still inside the window");
        assert!(c.roll(600, 600, 0.5));
        assert_eq!((c.baseline.windows, c.baseline.messages), (1, 100.0), "the first window is taken whole");
        c.window.messages = 200;
        c.roll(1200, 600, 0.5);
        assert_eq!(c.baseline.messages, 150.0);
        c.window.messages = 10_000;
        c.window.abnormal = true;
        c.roll(1800, 600, 0.5);
        assert_eq!(c.baseline.messages, 150.0, "an abnormal window is not learnt");
        assert_eq!(c.baseline.windows, 2);
        c.roll(1800 + 600 * 3, 600, 0.5);
        assert_eq!(c.baseline.messages, 150.0 * 0.5 * 0.25, "the empty window, then two idle ones");
        assert_eq!(c.baseline.windows, 5);
        assert_eq!(c.window.start_ms, 3600);
    }
}
