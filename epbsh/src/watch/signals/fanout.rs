//! Fanout: the same content (subject and body fingerprint) sent to many recipients in
//! one window.

use super::{Finding, WatchConfig, finding, level};
use crate::watch::counters::Counters;

pub fn check(cfg: &WatchConfig, c: &Counters, tighten: f64) -> Option<Finding> {
    let (recipients, subject) = c.window.top_content()?;
    let (throttle, suspend) = (cfg.fanout.throttle as f64 * tighten, cfg.fanout.suspend as f64 * tighten);
    finding("fanout", level(recipients as f64, throttle, suspend), || {
        format!(
            "one content (subject {subject:?}) went to {recipients} recipients in this window; throttled above \
             {throttle:.0}, suspended above {suspend:.0}"
        )
    })
}
