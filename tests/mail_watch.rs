//! The traffic watch end to end: two connected systems behind `perimeter up`; one sends
//! a burst of the same text to many recipients and is throttled, then suspended (451,
//! its accepted mail held), its owner's contacts get the evidence by e-mail (Postfix's
//! smtp-sink as their server); the other keeps relaying and is never suspended. After
//! the duty team resumes the system, every message the relay answered 250 is delivered
//! exactly once. Everything is checked from the CLI and the API.

mod common;

use common::swaks::{accepted, send};
use common::{Env, SmtpSink, eventually};

const MINEX: &str = "127.0.0.2";
const MINFIN: &str = "127.0.0.3";
/// Most burst messages the test sends; the watch must stop the burst well before.
const BURST: usize = 40;

/// One burst message: the same text (only the ticket number differs) to five recipients.
fn burst(relay: &str, n: usize) -> String {
    let to = (0..5).map(|r| format!("winner{r}.{n}@later.example")).collect::<Vec<_>>().join(",");
    let tag = format!("X-Burst: {n}");
    let subject = format!("Subject: You won, ticket {n}");
    send(relay, MINEX, "clerk@minex.gov.kz", &to, &[&subject, &tag], &format!("Claim prize {n} at the link"))
}

/// One ordinary message of the other system.
fn ordinary(relay: &str, n: usize) -> String {
    let subject = format!("Subject: budget report {n}");
    send(relay, MINFIN, "office@minfin.gov.kz", "partner@example.net", &[&subject], &format!("report number {n}"))
}

#[test]
fn a_burst_gets_its_system_suspended_and_its_owner_told_while_the_other_system_flows() {
    let mut env = Env::new();
    let cast = env.cast();
    let contacts = SmtpSink::start(&[]);
    let outside = SmtpSink::start(&[]);
    let later_port = common::free_port();
    env.configure(&format!(
        "[catalog]\nrefresh = \"200ms\"\n\
         [notices]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"Gateway duty <duty@gateway.example>\"\n\
         [relay]\nspool_dir = \"spool\"\nhostname = \"relay.test\"\n\
         [relay.delivery]\nretry = [\"1s\"]\n\
         [relay.delivery.transport]\n\"example.net\" = \"127.0.0.1:{}\"\n\"later.example\" = \"127.0.0.1:{later_port}\"\n\
         [relay.watch]\nthrottle_rate = 3\n[relay.watch.fanout]\nthrottle = 20\nsuspend = 30\n",
        contacts.port, outside.port
    ));
    for (name, owner, domain, server) in
        [("minex", &cast.a, "minex.gov.kz", MINEX), ("minfin", &cast.b, "minfin.gov.kz", MINFIN)]
    {
        let contact = format!("postmaster@{domain}");
        env.ok(&[
            "mail",
            "connect",
            name,
            "--owner",
            owner,
            "--domain",
            domain,
            "--server",
            server,
            "--contact",
            &contact,
        ]);
    }
    let duty = env.token("duty", &["--duty"]);
    let server = env.up();
    let relay = server.relay.clone().expect("the mail relay runs");

    // The other system's normal traffic flows before, during and after the burst.
    assert!(accepted(&ordinary(&relay, 0)), "an ordinary message is accepted");

    // The burst: accepted until the watch throttles, then suspends the system. The
    // receiving side for these recipients is down, so what was accepted stays queued.
    let (mut taken, mut suspended, mut throttled_first) = (Vec::new(), None, false);
    for n in 0..BURST {
        let t = burst(&relay, n);
        if accepted(&t) {
            taken.push(n);
            let traffic = &server.get("/api/v1/mail/systems/minex", &duty).json()["traffic"];
            throttled_first |= traffic["throttled_until_ms"].is_u64() && traffic["suspended"].is_null();
        } else if t.contains("<** 451 4.7.1") {
            suspended = Some(t);
            break;
        } else {
            assert!(
                t.contains("<** 451 4.7.0"),
                "a burst message is accepted, throttled or refused as suspended:\n{t}"
            );
        }
        if n % 3 == 0 {
            assert!(accepted(&ordinary(&relay, n + 1)), "the other system is never held back");
        }
    }
    let refusal = suspended.unwrap_or_else(|| panic!("the burst was not stopped after {BURST} messages"));
    assert!(throttled_first, "the system is throttled before it is suspended");
    assert!(refusal.contains("suspended"), "{refusal}");
    assert!(taken.len() >= 5 && taken.len() < 10, "accepted up to the throttle, a few more at its rate: {taken:?}");

    // Recorded in the store: visible from the CLI and the API, audited as the watch.
    eventually("the suspension is recorded", || env.ok(&["mail", "show", "minex"]).contains("status       suspended"));
    let shown = env.ok(&["mail", "show", "minex"]);
    assert!(shown.contains("abnormal traffic: fanout") && shown.contains("by traffic-watch"), "{shown}");
    let api = server.get("/api/v1/mail/systems/minex", &duty).json();
    assert_eq!(api["system"]["status"], "suspended");
    assert_eq!(api["traffic"]["findings"][0]["signal"], "fanout", "{api}");
    assert_eq!(api["traffic"]["counters"]["window"]["messages"], taken.len(), "{api}");

    // The owner's contacts are told, with the evidence.
    eventually("the owner's contacts get the evidence", || !contacts.readable().is_empty());
    let notice = contacts.readable().remove(0);
    eprintln!("NOTICE\n{notice}");
    for expected in ["postmaster@minex.gov.kz", "minex", "fanout (suspend)", "You won, ticket", "Sample messages"] {
        assert!(notice.contains(expected), "the notice names {expected:?}:\n{notice}");
    }
    assert!(!notice.contains("postmaster@minfin.gov.kz"), "only the suspended system's contacts");

    // Its accepted mail is held, not dropped or bounced; new mail gets 4xx.
    eventually("the accepted burst is held", || {
        let q = server.get("/api/v1/mail/queue", &duty).json();
        q.as_array().unwrap().iter().any(|l| l["system"] == "minex" && l["held"] == taken.len())
    });
    assert!(burst(&relay, BURST).contains("<** 451 4.7.1"), "still suspended");
    assert!(accepted(&ordinary(&relay, 100)), "the other system still relays");
    let minfin = server.get("/api/v1/mail/systems/minfin", &duty).json();
    assert_eq!(minfin["system"]["status"], "active");
    assert_eq!(minfin["traffic"]["findings"], serde_json::json!([]), "{minfin}");

    // The counters are saved: the CLI shows them without the running gateway's help.
    eventually("the counters are saved", || env.ok(&["mail", "show", "minex"]).contains("signal       fanout"));

    // Resumed by the duty team: the held mail is delivered, each message exactly once.
    let later = SmtpSink::start_on(later_port, &[]);
    env.ok(&["mail", "resume", "minex", "--reason", "account password reset, mailbox cleaned"]);
    eventually("every accepted burst message is delivered", || later.messages().len() >= taken.len());
    std::thread::sleep(std::time::Duration::from_secs(2));
    let mut delivered: Vec<usize> = later
        .messages()
        .iter()
        .filter_map(|m| m.lines().find_map(|l| l.strip_prefix("X-Burst: ")).and_then(|n| n.trim().parse().ok()))
        .collect();
    delivered.sort_unstable();
    assert_eq!(delivered, taken, "every message answered 250 arrives, once");
    assert!(accepted(&burst(&relay, BURST + 1)), "a resumed system relays again, on a fresh window");
    assert!(outside.messages().iter().all(|m| !m.contains("Undelivered Mail")), "nothing bounced");
    let api = server.get("/api/v1/mail/systems/minex", &duty).json();
    assert_eq!(api["traffic"]["suspended"], serde_json::Value::Null, "{api}");
}
