//! [`WatchConfig`]: the traffic watch's settings (`[relay.watch]` in TOML): the counting
//! window, how fast the baseline learns, the limits of each signal and what throttling
//! means. Every field has a default; unknown keys are refused.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;

/// The traffic watch's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchConfig {
    /// Watch connected systems at all (default true). Off: nothing is throttled or
    /// suspended automatically.
    pub enabled: bool,
    /// Length of one counting window (default `10m`).
    #[serde(with = "duration::one")]
    pub window: Duration,
    /// Weight of one normal window in the learnt baseline, 0 < w ≤ 1 (default 0.1).
    pub learning_rate: f64,
    /// A system whose count exceeds its throttle limit this many times over is
    /// suspended (default 2.0; volume and domains).
    pub escalation: f64,
    /// Messages per minute admitted from a throttled system (default 30).
    pub throttle_rate: u32,
    /// How long a throttle lasts after the last finding that asked for it (default `30m`).
    #[serde(with = "duration::one")]
    pub throttle_for: Duration,
    pub volume: VolumeLimits,
    pub domains: DomainLimits,
    #[serde(deserialize_with = "rejections")]
    pub rejections: ShareLimits,
    #[serde(deserialize_with = "bounces")]
    pub bounces: ShareLimits,
    pub fanout: FanoutLimits,
    pub blocklist: BlocklistConfig,
}

/// Messages and recipients per window against the system's baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VolumeLimits {
    /// Messages per window always allowed, whatever the baseline (default 300).
    pub min_messages: u64,
    /// Recipients per window always allowed (default 1000).
    pub min_recipients: u64,
    /// Throttle above this multiple of the baseline (default 5.0).
    pub factor: f64,
}

/// Distinct recipient domains per window against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DomainLimits {
    /// Distinct domains per window always allowed (default 100).
    pub min_domains: u64,
    /// Throttle above this multiple of the baseline (default 5.0).
    pub factor: f64,
}

/// A share (0–1) of a population, judged once the population is large enough.
/// Rejections and bounces have different defaults; a table that gives only some
/// fields takes the others from its own signal's defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShareLimits {
    /// Smallest population that is judged (default 20).
    pub min_count: u64,
    /// Throttle above this share.
    pub throttle: f64,
    /// Suspend above this share.
    pub suspend: f64,
}

impl ShareLimits {
    /// Remote refusals of recipients (default 0.2 to throttle, 0.5 to suspend).
    pub const REJECTIONS: Self = Self { min_count: 20, throttle: 0.2, suspend: 0.5 };
    /// Bounces the system sent (default 0.3 to throttle, 0.6 to suspend).
    pub const BOUNCES: Self = Self { min_count: 20, throttle: 0.3, suspend: 0.6 };
}

/// The fields of a `ShareLimits` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SharePatch {
    min_count: Option<u64>,
    throttle: Option<f64>,
    suspend: Option<f64>,
}

fn share_over<'de, D: serde::Deserializer<'de>>(d: D, base: ShareLimits) -> Result<ShareLimits, D::Error> {
    let p = SharePatch::deserialize(d)?;
    Ok(ShareLimits {
        min_count: p.min_count.unwrap_or(base.min_count),
        throttle: p.throttle.unwrap_or(base.throttle),
        suspend: p.suspend.unwrap_or(base.suspend),
    })
}

fn rejections<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ShareLimits, D::Error> {
    share_over(d, ShareLimits::REJECTIONS)
}

fn bounces<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ShareLimits, D::Error> {
    share_over(d, ShareLimits::BOUNCES)
}

/// Recipients of the same content (subject and body fingerprint) per window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FanoutLimits {
    /// Throttle above this many recipients of one content (default 200).
    pub throttle: u64,
    /// Suspend above this many (default 500).
    pub suspend: u64,
}

/// DNS blocklists the gateway's own sending addresses are checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlocklistConfig {
    /// Zones to query, e.g. `["zen.spamhaus.org"]` (default none: no checks).
    pub zones: Vec<String>,
    /// The gateway's public sending addresses (IPv4).
    pub addresses: Vec<std::net::Ipv4Addr>,
    /// How often to check (default `15m`).
    #[serde(with = "duration::one")]
    pub every: Duration,
    /// While listed, every limit is multiplied by this (default 0.5: half as much is
    /// tolerated, since the gateway's reputation is already at stake).
    pub tighten: f64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            enabled: true,
            window: Duration::from_secs(600),
            learning_rate: 0.1,
            escalation: 2.0,
            throttle_rate: 30,
            throttle_for: Duration::from_secs(1800),
            volume: VolumeLimits::default(),
            domains: DomainLimits::default(),
            rejections: ShareLimits::REJECTIONS,
            bounces: ShareLimits::BOUNCES,
            fanout: FanoutLimits::default(),
            blocklist: BlocklistConfig::default(),
        }
    }
}

impl Default for VolumeLimits {
    fn default() -> Self {
        VolumeLimits { min_messages: 300, min_recipients: 1000, factor: 5.0 }
    }
}

impl Default for DomainLimits {
    fn default() -> Self {
        DomainLimits { min_domains: 100, factor: 5.0 }
    }
}

impl Default for FanoutLimits {
    fn default() -> Self {
        FanoutLimits { throttle: 200, suspend: 500 }
    }
}

impl Default for BlocklistConfig {
    fn default() -> Self {
        BlocklistConfig { zones: Vec::new(), addresses: Vec::new(), every: Duration::from_secs(900), tighten: 0.5 }
    }
}

impl WatchConfig {
    /// Reports every problem with the settings through `bad(field, problem)`.
    pub(crate) fn check(&self, bad: &mut impl FnMut(&str, &str)) {
        let mut check = |ok: bool, field: &str, why: &str| {
            if !ok {
                bad(&format!("watch.{field}"), why);
            }
        };
        check(!self.window.is_zero(), "window", "must be longer than zero");
        check(self.learning_rate > 0.0 && self.learning_rate <= 1.0, "learning_rate", "must be in (0, 1]");
        check(self.escalation >= 1.0, "escalation", "must be at least 1");
        check(self.throttle_rate > 0, "throttle_rate", "must be at least 1 message per minute");
        check(self.volume.factor >= 1.0, "volume.factor", "must be at least 1");
        check(self.domains.factor >= 1.0, "domains.factor", "must be at least 1");
        for (name, s) in [("rejections", &self.rejections), ("bounces", &self.bounces)] {
            let ordered = 0.0 < s.throttle && s.throttle <= s.suspend && s.suspend <= 1.0;
            check(ordered, name, "needs 0 < throttle <= suspend <= 1");
        }
        check(self.fanout.throttle <= self.fanout.suspend, "fanout", "throttle must not exceed suspend");
        let b = &self.blocklist;
        check(b.tighten > 0.0 && b.tighten <= 1.0, "blocklist.tighten", "must be in (0, 1]");
        check(b.zones.is_empty() || !b.addresses.is_empty(), "blocklist.addresses", "zones need addresses to check");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_share_table_keeps_its_own_signals_defaults() {
        let cfg: WatchConfig =
            toml::from_str("[bounces]\nmin_count = 50\n[rejections]\nsuspend = 0.9\n").expect("parses");
        assert_eq!(cfg.bounces, ShareLimits { min_count: 50, ..ShareLimits::BOUNCES });
        assert_eq!(cfg.rejections, ShareLimits { suspend: 0.9, ..ShareLimits::REJECTIONS });
        let err = toml::from_str::<WatchConfig>("[bounces]\nshare = 0.5\n").expect_err("unknown key");
        assert!(err.to_string().contains("share"), "{err}");
    }
}
