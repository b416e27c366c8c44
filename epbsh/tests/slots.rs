//! No set of outside sources can take the session slots a connected system needs, over
//! the real listener in a network namespace of the test's own (every party on its
//! loopback, addressed from the documentation ranges). The relay listens on `[::]`, so
//! IPv4 clients reach it as IPv4-mapped IPv6 addresses, as on a dual-stack host.
//!
//! Each variant opens sessions from many outside sources (one /24, several /24s, IPv6
//! /64s), counts what they were given and what they were refused, then, with the flood
//! still connected, two connected systems (one IPv4 server inside a flooding /24, one
//! IPv6) each get 220 and relay a message with swaks to smtp-sink; one system cannot take
//! more than its own share while the other still gets in. Limits: 12 sessions, 4 kept for
//! systems, 2 per system, 3 per outside network.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::netns::Netns;
use common::peers::Sink;
use common::raw::Raw;
use common::*;

/// The relay's addresses in the namespace (it listens on `[::]`).
const RELAY_V4: &str = "192.0.2.1";
const RELAY_V6: &str = "2001:db8::1";
/// Connected systems' servers: one inside the first flooding /24, one IPv6.
const SYSTEM_V4: &str = "192.0.2.25";
const SYSTEM_V6: &str = "2001:db8:25::25";
/// IPv6 /64s the flood comes from, three addresses in each.
const V6_NETWORKS: [&str; 4] = ["2001:db8:1:1::", "2001:db8:1:2::", "2001:db8:1:3::", "2001:db8:1:4::"];

/// The namespace: three IPv4 /24s local on its loopback, and every IPv6 address used.
fn namespace(prefix: &str) -> Netns {
    let mut addrs: Vec<String> = ["192.0.2.1/24", "198.51.100.1/24", "203.0.113.1/24"].map(String::from).into();
    addrs.extend([RELAY_V6, SYSTEM_V6].map(|a| format!("{a}/128")));
    addrs.extend(V6_NETWORKS.iter().flat_map(|n| (1..=3).map(move |i| format!("{n}{i}/128"))));
    Netns::new(prefix, &addrs.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The relay's address as a client from `source` reaches it.
fn relay_for(port: u16, source: &str) -> SocketAddr {
    let ip = if source.contains(':') { RELAY_V6 } else { RELAY_V4 };
    SocketAddr::new(ip.parse().expect("ip"), port)
}

/// Opens one session from each source in turn: the sessions greeted with 220, and the
/// other greetings (each a 421 the connection was closed after).
async fn flood(port: u16, sources: &[String]) -> (Vec<Raw>, Vec<String>) {
    let (mut open, mut refused) = (Vec::new(), Vec::new());
    for source in sources {
        let mut c = Raw::connect(relay_for(port, source), source).await;
        let greeting = c.reply().await.expect("a greeting");
        if greeting.starts_with("220") {
            open.push(c);
        } else {
            assert!(greeting.starts_with("421 4."), "{source}: {greeting}");
            assert_eq!(c.reply().await, None, "{source}: closed after the 421");
            refused.push(greeting);
        }
    }
    (open, refused)
}

/// Starts the relay with two connected systems and the test's slot limits.
async fn relay(sink: &Sink) -> Running {
    let systems = vec![system(1, "a.gov.test", SYSTEM_V4, sink.addr), system(2, "b.gov.test", SYSTEM_V6, sink.addr)];
    start(systems, &[("ext.test", sink.addr)], |c| {
        c.listen = "[::]:0".parse().expect("listen");
        let l = &mut c.limits;
        (l.max_sessions, l.reserved_for_systems, l.max_sessions_per_system, l.max_sessions_per_network) = (12, 4, 2, 3);
    })
    .await
}

/// With the flood still connected: both systems get 220 and relay a message each with
/// swaks; one system's third session is refused while the other still gets in.
async fn systems_still_served(r: &Running, sink: &Sink) {
    let port = r.relay.local_addr().port();
    for (server, sender) in [(SYSTEM_V4, "alice@a.gov.test"), (SYSTEM_V6, "carol@b.gov.test")] {
        let (ok, transcript) =
            swaks(relay_for(port, server), server, &["--from", sender, "--to", "bob@ext.test"]).await;
        assert!(ok, "{server} could not relay:\n{transcript}");
        has(&transcript, "<-  220 relay.test ESMTP");
        has(&transcript, "<-  250 2.0.0 OK: queued as");
    }
    let delivered = sink.wait_messages(2, Duration::from_secs(30)).await;
    for sender in ["alice@a.gov.test", "carol@b.gov.test"] {
        assert!(delivered.iter().any(|m| m.contains(sender)), "no message from {sender} delivered");
    }
    let mut own = Vec::new();
    for _ in 0..2 {
        own.push(greeted_once_free(relay_for(port, SYSTEM_V4), SYSTEM_V4).await);
    }
    let mut third = Raw::connect(relay_for(port, SYSTEM_V4), SYSTEM_V4).await;
    third.expect("421 4.7.0 relay.test too many connections from your system").await;
    let mut other = Raw::connect(relay_for(port, SYSTEM_V6), SYSTEM_V6).await;
    other.expect("220").await;
    other.command("EHLO b.gov.test", "250").await;
    other.command("QUIT", "221").await;
}

/// A session from `source` greeted with 220, retried (bounded) while the system's
/// share is still held by a session that swaks has quit but the relay not yet closed.
async fn greeted_once_free(relay: SocketAddr, source: &str) -> Raw {
    for _ in 0..100 {
        let mut c = Raw::connect(relay, source).await;
        let greeting = c.reply().await.expect("a greeting");
        if greeting.starts_with("220") {
            return c;
        }
        assert!(greeting.contains("from your system"), "{greeting}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{source} never got its system's place back");
}

/// Counts the refusals by reply, `(4.7.0 network, 4.3.2 full)`.
fn tally(refused: &[String]) -> (usize, usize) {
    let network = refused.iter().filter(|g| g.starts_with("421 4.7.0") && g.contains("your network")).count();
    let full = refused.iter().filter(|g| g.starts_with("421 4.3.2")).count();
    assert_eq!(network + full, refused.len(), "{refused:#?}");
    (network, full)
}

#[test]
fn one_24_takes_its_network_share_and_connected_systems_still_relay() {
    let ns = namespace("epslot1-");
    ns.run(|| async {
        let sink = Sink::start(&[]);
        let r = relay(&sink).await;
        let port = r.relay.local_addr().port();
        let sources: Vec<String> = (100..120).map(|i| format!("192.0.2.{i}")).collect();
        let (open, refused) = flood(port, &sources).await;
        assert_eq!((open.len(), tally(&refused)), (3, (17, 0)), "one /24: 3 sessions, whatever its addresses");
        systems_still_served(&r, &sink).await;
        assert_eq!(r.relay.metrics().sessions_refused_per_network, 17);
        drop(open);
        r.relay.shutdown().await.expect("shutdown");
    });
}

#[test]
fn several_24s_fill_the_outside_share_and_never_the_slots_kept_for_systems() {
    let ns = namespace("epslot2-");
    ns.run(|| async {
        let sink = Sink::start(&[]);
        let r = relay(&sink).await;
        let port = r.relay.local_addr().port();
        let nets = ["192.0.2", "198.51.100", "203.0.113"];
        let sources: Vec<String> = (10..16).flat_map(|i| nets.map(|n| format!("{n}.{i}"))).collect();
        let (open, refused) = flood(port, &sources).await;
        assert_eq!(open.len(), 8, "the outside share: 12 - 4 kept for systems");
        let (network, full) = tally(&refused);
        assert!(full > 0 && network > 0, "both limits met: {refused:#?}");
        systems_still_served(&r, &sink).await;
        let (more, _) = flood(port, &["203.0.113.99".into(), "2001:db8:1:4::1".into()]).await;
        assert!(more.is_empty(), "outside sources still get no slot");
        drop(open);
        r.relay.shutdown().await.expect("shutdown");
    });
}

#[test]
fn ipv6_64s_fill_the_outside_share_and_never_the_slots_kept_for_systems() {
    let ns = namespace("epslot3-");
    ns.run(|| async {
        let sink = Sink::start(&[]);
        let r = relay(&sink).await;
        let port = r.relay.local_addr().port();
        let sources: Vec<String> = V6_NETWORKS.iter().flat_map(|n| (1..=3).map(move |i| format!("{n}{i}"))).collect();
        let (open, refused) = flood(port, &sources).await;
        assert_eq!(open.len(), 8, "three addresses of a /64 count as one network; 8 outside slots");
        assert_eq!(tally(&refused), (0, 4), "the fourth /64 finds the outside share full");
        systems_still_served(&r, &sink).await;
        let m = r.relay.metrics();
        assert_eq!((m.sessions_refused, m.sessions_refused_per_network), (4, 0));
        assert!(m.sessions_refused_per_system >= 1, "the system's third session");
        drop(open);
        r.relay.shutdown().await.expect("shutdown");
    });
}
