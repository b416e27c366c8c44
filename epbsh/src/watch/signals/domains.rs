//! Domains: distinct recipient domains in the window against the larger of a floor and
//! `factor` times the baseline (a compromised account mails everyone, everywhere).

use super::{Finding, WatchConfig, finding, learnt_limit, level};
use crate::watch::counters::Counters;

pub fn check(cfg: &WatchConfig, c: &Counters, tighten: f64) -> Option<Finding> {
    let (d, w, b) = (&cfg.domains, &c.window, &c.baseline);
    let limit = learnt_limit(d.min_domains, d.factor, b.domains, tighten);
    let seen = w.total_domains() as f64;
    finding("domains", level(seen, limit, limit * cfg.escalation), || {
        format!(
            "{} distinct recipient domains in this window; normal is at most {limit:.0} (learnt mean {:.1})",
            w.total_domains(),
            b.domains
        )
    })
}
