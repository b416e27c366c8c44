//! Detection over fixture traffic: a normal day learnt into the baseline, then bursts,
//! rejections, backscatter and mass mailings, each firing only its own signal.

use super::*;
use crate::Mailbox;
use crate::watch::counters::Message;

const WINDOW: u64 = 600_000;

/// Counters after `windows` normal windows of `per_window` messages, each to 2
/// recipients in 2 domains, with distinct content; then an empty open window.
fn learnt(windows: u64, per_window: u64) -> Counters {
    let mut c = Counters::new(0);
    for w in 0..windows {
        send(&mut c, per_window, 2, |i| w * 1000 + i);
        c.window.delivered += per_window * 2;
        c.roll((w + 1) * WINDOW, WINDOW, 0.2);
    }
    c
}

/// Sends `n` messages of `rcpts` recipients each (in `rcpts` domains); `content(i)`
/// is the fingerprint of message `i`.
fn send(c: &mut Counters, n: u64, rcpts: u64, content: impl Fn(u64) -> u64) {
    for i in 0..n {
        let to: Vec<Mailbox> = (0..rcpts).map(|r| Mailbox::new("u", format!("d{r}.example"))).collect();
        let m = Message {
            id: format!("m{i}"),
            recipients: &to,
            bounce: false,
            fingerprint: Some((content(i), "s".into())),
        };
        c.window.add_message(&m);
    }
}

fn signals(c: &Counters, cfg: &WatchConfig, tighten: f64) -> Vec<(String, Level)> {
    detect(cfg, c, tighten).into_iter().map(|f| (f.signal, f.level)).collect()
}

fn named(s: &str, l: Level) -> Vec<(String, Level)> {
    vec![(s.to_string(), l)]
}

#[test]
fn normal_traffic_fires_nothing() {
    let cfg = WatchConfig::default();
    let mut c = learnt(20, 100);
    send(&mut c, 120, 2, |i| i);
    c.window.delivered = 230;
    c.window.rejected = 10;
    assert_eq!(signals(&c, &cfg, 1.0), vec![]);
}

#[test]
fn a_burst_over_the_baseline_throttles_then_suspends() {
    let volume = crate::watch::config::VolumeLimits { min_messages: 50, min_recipients: 100, factor: 3.0 };
    let cfg = WatchConfig { volume, ..WatchConfig::default() };
    let mut c = learnt(20, 100);
    send(&mut c, 290, 1, |i| i);
    assert_eq!(signals(&c, &cfg, 1.0), vec![], "within three times the learnt 100 per window");
    send(&mut c, 20, 1, |i| i + 10_000);
    assert_eq!(signals(&c, &cfg, 1.0), named("volume", Level::Throttle));
    send(&mut c, 300, 1, |i| i + 20_000);
    assert_eq!(signals(&c, &cfg, 1.0), named("volume", Level::Suspend), "over twice the throttle limit");
    let detail = &detect(&cfg, &c, 1.0)[0].detail;
    assert!(detail.contains("610 messages") && detail.contains("at most 300 messages"), "{detail}");
}

#[test]
fn a_new_system_is_judged_by_the_floors() {
    let cfg = WatchConfig::default();
    let mut c = Counters::new(0);
    send(&mut c, 300, 1, |i| i);
    assert_eq!(signals(&c, &cfg, 1.0), vec![]);
    send(&mut c, 1, 1, |i| i + 1000);
    assert_eq!(signals(&c, &cfg, 1.0), named("volume", Level::Throttle));
}

#[test]
fn many_domains_fire_the_domain_signal() {
    let fanout = crate::watch::config::FanoutLimits { throttle: 1000, suspend: 1000 };
    let cfg = WatchConfig { fanout, ..WatchConfig::default() };
    let mut c = learnt(20, 100);
    send(&mut c, 1, 150, |_| 1);
    assert_eq!(signals(&c, &cfg, 1.0), named("domains", Level::Throttle));
    send(&mut c, 1, 250, |_| 2);
    assert_eq!(signals(&c, &cfg, 1.0), named("domains", Level::Suspend));
}

#[test]
fn remote_rejections_count_once_there_are_enough_results() {
    let cfg = WatchConfig::default();
    let mut c = learnt(5, 10);
    c.window.rejected = 15;
    assert_eq!(signals(&c, &cfg, 1.0), vec![], "15 results are too few to judge");
    c.window.delivered = 45;
    assert_eq!(signals(&c, &cfg, 1.0), named("rejections", Level::Throttle), "25%");
    c.window.rejected = 50;
    assert_eq!(signals(&c, &cfg, 1.0), named("rejections", Level::Suspend), "53%");
}

#[test]
fn backscatter_fires_the_bounce_signal() {
    let cfg = WatchConfig::default();
    let mut c = learnt(5, 10);
    send(&mut c, 30, 1, |i| i);
    c.window.bounces = 10;
    assert_eq!(signals(&c, &cfg, 1.0), named("bounces", Level::Throttle), "a third");
    c.window.bounces = 20;
    assert_eq!(signals(&c, &cfg, 1.0), named("bounces", Level::Suspend), "two thirds");
}

#[test]
fn one_content_to_many_recipients_fires_fanout() {
    let cfg = WatchConfig::default();
    let mut c = learnt(20, 100);
    send(&mut c, 100, 2, |i| i % 2);
    assert_eq!(signals(&c, &cfg, 1.0), vec![], "two contents of 100 recipients each");
    send(&mut c, 101, 2, |_| 7);
    assert_eq!(signals(&c, &cfg, 1.0), named("fanout", Level::Throttle));
    send(&mut c, 150, 2, |_| 7);
    assert_eq!(signals(&c, &cfg, 1.0), named("fanout", Level::Suspend));
}

#[test]
fn a_listed_gateway_tightens_every_limit() {
    let cfg = WatchConfig::default();
    let mut c = learnt(20, 10);
    send(&mut c, 160, 1, |i| i);
    assert_eq!(signals(&c, &cfg, 1.0), vec![]);
    assert_eq!(signals(&c, &cfg, 0.5), named("volume", Level::Throttle));
}
