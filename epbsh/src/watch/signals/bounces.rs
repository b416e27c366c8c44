//! Bounces: the share of the system's messages that are bounces (null reverse-path),
//! the mark of a server answering spam it received (backscatter).

use super::{Finding, WatchConfig, share_finding};
use crate::watch::counters::Counters;

pub fn check(cfg: &WatchConfig, c: &Counters, tighten: f64) -> Option<Finding> {
    let (share, messages) = c.window.bounce_share();
    share_finding("bounces", (share, messages), &cfg.bounces, tighten, || {
        format!("{} of {messages} messages were bounces", c.window.total_bounces())
    })
}
