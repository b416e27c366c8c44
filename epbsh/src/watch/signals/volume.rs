//! Volume: messages and recipients in the window against the larger of a floor and
//! `factor` times the system's baseline; `escalation` times over suspends.

use super::{Finding, WatchConfig, finding, learnt_limit, level};
use crate::watch::counters::Counters;

pub fn check(cfg: &WatchConfig, c: &Counters, tighten: f64) -> Option<Finding> {
    let (v, w, b) = (&cfg.volume, &c.window, &c.baseline);
    let messages = learnt_limit(v.min_messages, v.factor, b.messages, tighten);
    let recipients = learnt_limit(v.min_recipients, v.factor, b.recipients, tighten);
    let ratio = (w.total_messages() as f64 / messages).max(w.total_recipients() as f64 / recipients);
    finding("volume", level(ratio, 1.0, cfg.escalation), || {
        format!(
            "{} messages to {} recipients in this window; normal is at most {messages:.0} messages and \
             {recipients:.0} recipients (learnt mean {:.1} messages, {:.1} recipients over {} windows)",
            w.total_messages(),
            w.total_recipients(),
            b.messages,
            b.recipients,
            b.windows
        )
    })
}
