//! One destination policy for every way out, with raw requests and curl:
//! plain `http://` reaches only the open ports and Internet addresses (the
//! default deny list holds loopback, private and CGNAT ranges), decided on
//! the address a name resolves to and on literals in any textual form; the
//! gateway never connects to its own listeners, whatever the allow list
//! says; and a host written as an address falls in the `ip-literal`
//! category, decided like any other.

mod common;

use std::sync::Arc;

use common::curl::curl;
use common::world::{TestRules, World};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends one absolute-form request for `authority` through the explicit proxy; the status line.
async fn status_of(w: &World, authority: &str) -> String {
    let mut tcp = TcpStream::connect(w.proxy.explicit_addr()).await.expect("proxy");
    let request = format!("GET http://{authority}/ HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("request");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), tcp.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_reaches_only_open_ports_and_internet_addresses() {
    let w = World::start(|cfg, _| {
        cfg.destinations.deny = iqbsh::DestinationConfig::default().deny;
        cfg.dns.hosts.insert("intranet.test".into(), vec!["10.1.2.3".parse().expect("ip")]);
        cfg.dns.hosts.insert("cgnat.test".into(), vec!["100.64.0.1".parse().expect("ip")]);
    })
    .await;
    let port = w.plain.addr.port();
    for authority in [
        format!("news.test:{port}"),
        format!("intranet.test:{port}"),
        format!("cgnat.test:{port}"),
        format!("127.0.0.1:{port}"),
        format!("2130706433:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
        format!("[fd00::1]:{port}"),
        "news.test:22".to_owned(),
    ] {
        let status = status_of(&w, &authority).await;
        assert!(status.starts_with("HTTP/1.1 403"), "{authority}: {status}");
    }
    let denied = w.json_records().await;
    let destination = denied.iter().filter(|r| r["deny"] == "destination").count();
    assert_eq!(destination, 8, "every one refused by the destination policy: {denied:#?}");
    assert_eq!(w.plain.connections.load(std::sync::atomic::Ordering::Relaxed), 0, "no byte reached the origin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_opens_a_range_but_never_the_gateway_itself() {
    // The listener's port must be open for the test to mean anything: pick it first.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let proxy_port = free.local_addr().expect("addr").port();
    drop(free);
    let w = World::start(|cfg, _| {
        cfg.explicit.listen = ([127, 0, 0, 1], proxy_port).into();
        cfg.destinations.deny = iqbsh::DestinationConfig::default().deny;
        cfg.destinations.allow = vec!["127.0.0.0/8".parse().expect("net")];
        cfg.destinations.ports.push(proxy_port);
    })
    .await;
    let url = format!("http://news.test:{}/", w.plain.addr.port());
    let out = curl(&["-x", &w.proxy_url(), "-o", "/dev/null", "-w", "%{http_code}", &url]).await;
    assert_eq!(out.stdout, "200", "loopback allowed: {out:?}");
    for authority in [format!("127.0.0.1:{proxy_port}"), format!("news.test:{proxy_port}")] {
        let status = status_of(&w, &authority).await;
        assert!(status.starts_with("HTTP/1.1 403"), "{authority}: {status}");
    }
    let r = w.wait_record("the refusal", |r| r["deny"] == "destination").await;
    assert!(r["reason"].as_str().unwrap_or_default().contains("the gateway's own address"), "{r}");
    assert!(w.catalog.sightings.lock().expect("sightings").is_empty(), "the gateway never saw itself as a source");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_written_as_an_address_is_in_the_ip_literal_category_in_every_form() {
    let w = World::start(|_, _| {}).await;
    let mut rules = TestRules::standard();
    rules.denied.insert("ip-literal");
    w.rules.replace(Arc::new(rules));
    let port = w.plain.addr.port();
    let forms = ["127.0.0.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0x7f000001", "[::ffff:127.0.0.1]"];
    for form in forms {
        let status = status_of(&w, &format!("{form}:{port}")).await;
        assert!(status.starts_with("HTTP/1.1 403"), "{form}: {status}");
    }
    let records = w.json_records().await;
    assert_eq!(records.len(), forms.len(), "{records:#?}");
    for r in &records {
        assert_eq!((&r["deny"], &r["categories"]), (&"policy".into(), &serde_json::json!(["ip-literal"])), "{r}");
    }
    // Granted, the same literal passes: a category like any other.
    w.rules.replace(Arc::new(TestRules::standard()));
    assert!(status_of(&w, &format!("2130706433:{port}")).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_interface_addresses_are_the_gateways_own_unless_turned_off() {
    let own: Vec<std::net::IpAddr> = iqbsh::interface_addresses()
        .expect("the kernel lists the addresses")
        .into_iter()
        .filter(|ip| ip.is_ipv4())
        .collect();
    assert!(!own.is_empty(), "this host has an IPv4 address besides loopback");
    // Something listening on every address of the host, counting who reaches it.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let reached = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&reached);
    tokio::spawn(async move {
        while let Ok((_tcp, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    for follow in [true, false] {
        let w = World::start(|cfg, _| {
            cfg.destinations.ports.push(port);
            cfg.destinations.own_interfaces = follow;
        })
        .await;
        for ip in &own {
            let status = status_of(&w, &format!("{ip}:{port}")).await;
            let seen = reached.load(std::sync::atomic::Ordering::Relaxed);
            if follow {
                assert!(status.starts_with("HTTP/1.1 403"), "{ip}: {status}");
                assert_eq!(seen, 0, "{ip}: never connected to");
            } else {
                assert!(seen > 0, "{ip}: reached when turned off ({status})");
            }
        }
        if follow {
            let r = w.wait_record("own address", |r| r["deny"] == "destination").await;
            assert!(r["reason"].as_str().unwrap_or_default().contains("the gateway's own address"), "{r}");
            assert!(w.proxy.own_addresses().iter().any(|ip| own.contains(ip)), "{:?}", w.proxy.own_addresses());
        }
    }
}
