//! Outbound delivery by DNS: MX hosts, the implicit MX (A record only), a null MX and a
//! domain that does not exist, served by a private dnsmasq; MX hosts listen on the
//! smtp-sink's port (`delivery.mx_port`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::peers::{Dns, Sink};
use common::*;
use epbsh::hooks::OpenGuard;
use epbsh::registry::{self, Registry};
use epbsh::relay;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_implicit_mx_null_mx_and_nxdomain() {
    let mx = Sink::start(&[]);
    let inbox = Sink::start(&[]);
    let dns = Dns::start(&[
        "--mx-host=mx.test,mail.mx.test,10",
        "--mx-host=mx.test,backup.mx.test,20",
        "--host-record=mail.mx.test,127.0.0.1",
        "--host-record=implicit.test,127.0.0.1",
        "--mx-host=nullmx.test,.,0",
    ]);
    let spool = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(spool.path(), &[]);
    cfg.delivery.dns_servers = vec![dns.addr];
    cfg.delivery.mx_port = mx.addr.port();
    let handle =
        registry::handle(Registry::new(vec![system(1, "a.gov.test", SERVER_A, inbox.addr)]).expect("registry"));
    let relay = relay::start(cfg, handle, Arc::new(OpenGuard)).await.expect("start");
    for to in ["bob@mx.test", "carol@implicit.test", "dave@nullmx.test", "erin@nope.test"] {
        let (ok, t) = swaks(relay.local_addr(), SERVER_A, &["--from", "alice@a.gov.test", "--to", to]).await;
        assert!(ok, "{t}");
    }
    let got = mx.wait_messages(2, WAIT).await;
    for rcpt in ["X-Rcpt-Args: <bob@mx.test>", "X-Rcpt-Args: <carol@implicit.test>"] {
        assert!(got.iter().any(|m| m.contains(rcpt)), "{rcpt} not delivered: {got:?}");
    }
    let dsns = inbox.wait_messages(2, WAIT).await;
    let find = |rcpt: &str| dsns.iter().find(|m| m.contains(rcpt)).cloned().unwrap_or_default();
    let null = find("Final-Recipient: rfc822; dave@nullmx.test");
    assert!(null.contains("Status: 5.1.10") && null.contains("null MX"), "{dsns:?}");
    let nx = find("Final-Recipient: rfc822; erin@nope.test");
    assert!(nx.contains("Status: 5.1.2") && nx.contains("nope.test does not exist"), "{dsns:?}");
    relay.shutdown().await.expect("shutdown");
}
