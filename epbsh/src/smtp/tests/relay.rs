//! Relay protection with the registry-like test policy: no open relay,
//! no postmaster exemption, no source routes or percent hacks.

use std::sync::Arc;

use super::harness::*;

async fn rcpt_reply(peer: &str, rcpt: &str) -> String {
    let (mut c, task) = start(config(), Arc::new(MemSink::default()), peer);
    ehlo(&mut c).await;
    c.send(&format!("MAIL FROM:<someone@outside.example>\r\nRCPT TO:{rcpt}\r\nQUIT\r\n")).await;
    c.expect("250 2.1.0").await;
    let r = c.reply().await;
    c.expect("221").await;
    end(task).await;
    r
}

#[tokio::test]
async fn registered_server_may_send_to_external_domains() {
    assert!(rcpt_reply(SERVER_IP, "<x@outside.example>").await.starts_with("250 2.1.5"));
}

#[tokio::test]
async fn anyone_may_send_to_a_registered_domain() {
    assert!(rcpt_reply(STRANGER_IP, "<x@Agency.Gov.Example>").await.starts_with("250 2.1.5"));
}

#[tokio::test]
async fn unregistered_ip_to_external_domain_is_refused() {
    assert_eq!(rcpt_reply(STRANGER_IP, "<x@outside.example>").await, "550 5.7.1 relaying denied");
}

#[tokio::test]
async fn postmaster_gets_no_exemption() {
    assert!(rcpt_reply(STRANGER_IP, "<postmaster@outside.example>").await.starts_with("550 5.7.1"));
    assert!(rcpt_reply(STRANGER_IP, "<Postmaster>").await.starts_with("550 5.7.1"));
}

#[tokio::test]
async fn source_routes_are_refused() {
    for rcpt in ["<@agency.gov.example:x@outside.example>", "<@a.example,@agency.gov.example:x@outside.example>"] {
        assert!(rcpt_reply(STRANGER_IP, rcpt).await.starts_with("553 5.7.1"), "{rcpt}");
        assert!(rcpt_reply(SERVER_IP, rcpt).await.starts_with("553 5.7.1"), "{rcpt}");
    }
}

#[tokio::test]
async fn percent_hack_bang_path_and_quoted_at_are_refused() {
    for rcpt in [
        "<user%outside.example@agency.gov.example>",
        "<outside.example!user@agency.gov.example>",
        "<\"user@outside.example\"@agency.gov.example>",
    ] {
        assert!(rcpt_reply(STRANGER_IP, rcpt).await.starts_with("553 5.7.1"), "{rcpt}");
    }
}

#[tokio::test]
async fn address_literals_are_judged_by_policy() {
    assert!(rcpt_reply(STRANGER_IP, "<x@[203.0.113.5]>").await.starts_with("550 5.7.1"));
}
