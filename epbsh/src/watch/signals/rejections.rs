//! Rejections: the share of outbound recipients that remote servers refused with 5xx
//! (unknown users, spam refusals), once enough results are in.

use super::{Finding, WatchConfig, share_finding};
use crate::watch::counters::Counters;

pub fn check(cfg: &WatchConfig, c: &Counters, tighten: f64) -> Option<Finding> {
    let (share, results) = c.window.rejected_share();
    share_finding("rejections", (share, results), &cfg.rejections, tighten, || {
        format!("remote servers refused {} of {results} recipients", c.window.total_rejected())
    })
}
