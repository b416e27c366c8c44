//! Abnormal-traffic detection: a pure function of one system's [`Counters`] and the
//! settings, one module per signal. Each signal answers nothing, throttle or suspend,
//! with a sentence of evidence a mail administrator can check.
//!
//! `tighten` (1.0 normally; less while the gateway's own addresses are on a DNS
//! blocklist) scales every limit down.

mod bounces;
mod domains;
mod fanout;
mod rejections;
mod volume;

use serde::{Deserialize, Serialize};

use super::config::WatchConfig;
use super::counters::Counters;

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Throttle,
    Suspend,
}

/// One signal that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub signal: String,
    pub level: Level,
    pub detail: String,
}

/// Every signal that fires on these counters.
pub fn detect(cfg: &WatchConfig, c: &Counters, tighten: f64) -> Vec<Finding> {
    [
        volume::check(cfg, c, tighten),
        domains::check(cfg, c, tighten),
        rejections::check(cfg, c, tighten),
        bounces::check(cfg, c, tighten),
        fanout::check(cfg, c, tighten),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The level for `observed` against a throttle `limit` and a suspend limit.
fn level(observed: f64, throttle: f64, suspend: f64) -> Option<Level> {
    if observed > suspend {
        Some(Level::Suspend)
    } else if observed > throttle {
        Some(Level::Throttle)
    } else {
        None
    }
}

fn finding(signal: &str, level: Option<Level>, detail: impl FnOnce() -> String) -> Option<Finding> {
    level.map(|level| Finding { signal: signal.to_string(), level, detail: detail() })
}

/// The larger of a floor and `factor` times a learnt mean, scaled by `tighten`.
fn learnt_limit(floor: u64, factor: f64, mean: f64, tighten: f64) -> f64 {
    (floor as f64).max(factor * mean) * tighten
}

/// A share signal (rejections, bounces): `share` of a population of `count`, judged
/// once the population reaches the minimum; `what` says what the share is of.
fn share_finding(
    signal: &str,
    (share, count): (f64, u64),
    limits: &super::config::ShareLimits,
    tighten: f64,
    what: impl FnOnce() -> String,
) -> Option<Finding> {
    if count < limits.min_count {
        return None;
    }
    let (throttle, suspend) = (limits.throttle * tighten, limits.suspend * tighten);
    finding(signal, level(share, throttle, suspend), || {
        format!(
            "{} ({:.0}%); throttled above {:.0}%, suspended above {:.0}%",
            what(),
            share * 100.0,
            throttle * 100.0,
            suspend * 100.0
        )
    })
}

#[cfg(test)]
mod tests;
