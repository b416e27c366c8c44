//! The mail gateway end to end, as the duty team runs it: `perimeter up`, a connected
//! mail system registered with the CLI, swaks as its mail server (from 127.0.0.2) and as
//! an outside server (from 127.0.0.1), Postfix's smtp-sink as the receiving servers.
//! Outbound and inbound relay, no open relay, suspension by hand (4xx, also in a session
//! opened before it; mail held) and resumption (held mail delivered), deletion of held
//! mail after review, all visible from the CLI and the API (queue times in RFC 3339, the
//! relay's counters on `/metrics`).

mod common;

use common::swaks::accepted;
use common::{Env, SmtpSink, eventually};

const SYSTEM_SERVER: &str = "127.0.0.2";

/// An SMTP session held open across a change: a raw client on a socket bound to `from_ip`.
struct Held {
    rt: tokio::runtime::Runtime,
    io: tokio::io::BufReader<tokio::net::TcpStream>,
}

impl Held {
    fn open(relay: &str, from_ip: &str) -> Held {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (relay, local) = (relay.parse().expect("relay addr"), format!("{from_ip}:0").parse().expect("ip"));
        let stream = rt.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket.bind(local).expect("bind");
            socket.connect(relay).await.expect("connect")
        });
        let mut held = Held { rt, io: tokio::io::BufReader::new(stream) };
        assert!(held.reply().starts_with("220"));
        assert!(held.command("EHLO held.client.test").starts_with("250"));
        held
    }

    /// The last line of the next reply.
    fn reply(&mut self) -> String {
        use tokio::io::AsyncBufReadExt;
        self.rt.block_on(async {
            loop {
                let mut line = String::new();
                let read = tokio::time::timeout(std::time::Duration::from_secs(20), self.io.read_line(&mut line));
                assert!(read.await.expect("a reply in time").expect("read") > 0, "the relay closed the session");
                if line.as_bytes().get(3) != Some(&b'-') {
                    return line.trim_end().to_string();
                }
            }
        })
    }

    fn command(&mut self, line: &str) -> String {
        use tokio::io::AsyncWriteExt;
        self.rt.block_on(self.io.get_mut().write_all(format!("{line}\r\n").as_bytes())).expect("write");
        self.reply()
    }
}

/// One test message with swaks; returns its transcript.
fn swaks(relay: &str, from_ip: &str, from: &str, to: &str) -> String {
    common::swaks::send(relay, from_ip, from, to, &["Subject: perimeter relay test"], "hello through the gateway")
}

#[test]
fn a_connected_system_relays_both_ways_is_suspended_and_resumed_without_losing_mail() {
    let mut env = Env::new();
    let cast = env.cast();
    let owner = SmtpSink::start(&[]);
    let outside = SmtpSink::start(&[]);
    let later_port = common::free_port();
    env.configure(&format!(
        "[catalog]\nrefresh = \"200ms\"\n[relay]\nspool_dir = \"spool\"\nhostname = \"relay.test\"\n\
         [relay.delivery]\nretry = [\"1s\"]\n[relay.delivery.transport]\n\"example.net\" = \"127.0.0.1:{}\"\n\
         \"later.example\" = \"127.0.0.1:{later_port}\"\n",
        outside.port
    ));
    env.ok(&[
        "mail",
        "connect",
        "minex",
        "--owner",
        &cast.a,
        "--domain",
        "minex.gov.kz",
        "--server",
        SYSTEM_SERVER,
        "--deliver-to",
        &format!("127.0.0.1:{}", owner.port),
        "--contact",
        "postmaster@minex.gov.kz",
    ]);
    let duty = env.token("duty", &["--duty"]);
    let server = env.up();
    let relay = server.relay.clone().expect("the mail relay runs");

    // Outbound: from the system's server to an external domain.
    let t = swaks(&relay, SYSTEM_SERVER, "clerk@minex.gov.kz", "someone@example.net");
    assert!(accepted(&t), "{t}");
    eventually("the outbound message arrives", || {
        outside.messages().iter().any(|m| m.contains("hello through the gateway"))
    });

    // Inbound: from outside to the system's domain, delivered to its own server.
    let t = swaks(&relay, "127.0.0.1", "partner@example.net", "clerk@minex.gov.kz");
    assert!(accepted(&t), "{t}");
    eventually("the inbound message arrives", || {
        owner.messages().iter().any(|m| m.contains("hello through the gateway"))
    });

    // No open relay: outside to outside, and a foreign sender domain from the system.
    let t = swaks(&relay, "127.0.0.1", "spammer@example.org", "victim@example.net");
    assert!(t.contains("<** 550") && t.contains("relaying denied"), "{t}");
    let t = swaks(&relay, SYSTEM_SERVER, "ceo@bank.example", "victim@example.net");
    assert!(t.contains("<** 550"), "a sender outside the system's domains is refused:\n{t}");

    // Accepted while the next hop is down: it waits in the queue.
    let t = swaks(&relay, SYSTEM_SERVER, "clerk@minex.gov.kz", "friend@later.example");
    assert!(accepted(&t), "{t}");

    // Suspended by the duty team: 4xx for new mail, whoever the sender claims to be, also
    // in a session opened before; the waiting message is held, neither dropped nor bounced.
    let mut held = Held::open(&relay, SYSTEM_SERVER);
    env.ok(&["mail", "suspend", "minex", "--reason", "phishing wave reported"]);
    eventually("the suspension reaches the open session", || {
        let r = held.command("MAIL FROM:<clerk@minex.gov.kz>");
        if r.starts_with("250") {
            held.command("RSET");
        }
        r.starts_with("451 4.7.1")
    });
    eventually("the suspension reaches the relay", || {
        swaks(&relay, SYSTEM_SERVER, "postmaster@minex.gov.kz", "someone@example.net").contains("<** 451")
    });
    let shown = env.ok(&["mail", "show", "minex"]);
    assert!(
        shown.contains("suspended") && shown.contains("phishing wave reported") && shown.contains("mail.suspend"),
        "{shown}"
    );

    eventually("the waiting message is held", || {
        let q = server.get("/api/v1/mail/queue", &duty).json();
        q.as_array().unwrap().iter().any(|l| l["system"] == "minex" && l["held"].as_u64() >= Some(1))
    });
    let q = server.get("/api/v1/mail/queue", &duty).json();
    let oldest = q.as_array().unwrap().iter().find(|l| l["system"] == "minex").unwrap()["oldest"].clone();
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    assert!(
        oldest.as_str().is_some_and(|t| time::OffsetDateTime::parse(t, rfc3339).is_ok()),
        "queue times are RFC 3339: {oldest}"
    );
    let metrics = server.get("/api/v1/metrics", &duty);
    assert_eq!(metrics.status, 200);
    for family in
        ["epbsh_messages_accepted_total 3", "epbsh_queue_messages{state=\"held\"} 1", "epbsh_dsns_suppressed_total 0"]
    {
        assert!(metrics.body.contains(family), "{family} not in /metrics:\n{}", metrics.body);
    }
    let later = SmtpSink::start_on(later_port, &[]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(later.messages().is_empty(), "held mail is not delivered while the system is suspended");

    // Resumed: accepted again and delivered, held mail too.
    let before = outside.messages().len();
    env.ok(&["mail", "resume", "minex", "--reason", "owner cleaned the compromised account"]);
    eventually("the system relays again", || {
        accepted(&swaks(&relay, SYSTEM_SERVER, "clerk@minex.gov.kz", "x@example.net"))
    });
    eventually("mail after resumption is delivered", || outside.messages().len() > before);
    eventually("the held message is released and delivered", || {
        later.messages().iter().any(|m| m.contains("hello through the gateway"))
    });
    assert!(outside.messages().iter().all(|m| !m.contains("Undelivered Mail")), "nothing bounced");

    let queue = server.get("/api/v1/mail/queue", &duty);
    assert_eq!(queue.status, 200, "{queue:?}");
    let systems = server.get("/api/v1/mail/systems", &duty).json();
    assert_eq!(systems[0]["status"], "active");
    let operator = env.token("alpha-upload", &["--operator", "alpha"]);
    assert_eq!(server.get("/api/v1/mail/systems", &operator).status, 403, "mail systems are the duty team's");
}

#[test]
fn the_duty_team_deletes_held_mail_from_the_cli_after_review() {
    let mut env = Env::new();
    let cast = env.cast();
    let owner = SmtpSink::start(&[]);
    let later_port = common::free_port();
    env.configure(&format!(
        "[catalog]\nrefresh = \"200ms\"\n[relay]\nspool_dir = \"spool\"\nhostname = \"relay.test\"\n\
         [relay.delivery]\nretry = [\"1s\"]\n[relay.delivery.transport]\n\"later.example\" = \"127.0.0.1:{later_port}\"\n"
    ));
    let deliver_to = format!("127.0.0.1:{}", owner.port);
    env.ok(&["mail", "connect", "minex", "--owner", &cast.a, "--domain", "minex.gov.kz"]
        .into_iter()
        .chain(["--server", SYSTEM_SERVER, "--deliver-to", &deliver_to, "--contact", "postmaster@minex.gov.kz"])
        .collect::<Vec<_>>());
    let refused = env.fails(&["mail", "delete-held", "minex", "--reason", "too early"]);
    assert!(refused.contains("is active") && refused.contains("only a suspended system's mail is held"), "{refused}");

    let duty = env.token("duty", &["--duty"]);
    let server = env.up();
    let relay = server.relay.clone().expect("the mail relay runs");
    for _ in 0..2 {
        let t = swaks(&relay, SYSTEM_SERVER, "clerk@minex.gov.kz", "friend@later.example");
        assert!(accepted(&t), "{t}");
    }
    env.ok(&["mail", "suspend", "minex", "--reason", "phishing wave reported"]);
    let held = || {
        let q = server.get("/api/v1/mail/queue", &duty).json();
        q.as_array().unwrap().iter().find(|l| l["system"] == "minex").and_then(|l| l["held"].as_u64()).unwrap_or(0)
    };
    eventually("both messages are held", || held() == 2);

    let out = env.ok(&["mail", "delete-held", "minex", "--reason", "reviewed: all phishing"]);
    assert!(out.contains("deletion of the held mail of 'minex' requested"), "{out}");
    eventually("the gateway deletes them", || held() == 0);
    let shown = env.ok(&["mail", "show", "minex", "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).expect("json");
    let history = shown["history"].as_array().expect("history");
    let deleted = history.iter().find(|c| c["action"] == "mail.held.delete").expect("the deletion is audited");
    assert_eq!(
        deleted["actor"],
        history.iter().find(|c| c["action"] == "mail.held.delete_requested").unwrap()["actor"]
    );
    assert_eq!(deleted["after"]["messages"], 2, "{deleted}");

    // Resumed with the next hop up: the deleted mail is gone for good, nothing bounced.
    let later = SmtpSink::start_on(later_port, &[]);
    env.ok(&["mail", "resume", "minex", "--reason", "account cleaned"]);
    eventually("the system relays again", || {
        accepted(&swaks(&relay, SYSTEM_SERVER, "clerk@minex.gov.kz", "friend@later.example"))
    });
    eventually("mail after resumption is delivered", || !later.messages().is_empty());
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(later.messages().len(), 1, "only the message sent after resumption arrives");
    assert!(owner.messages().is_empty(), "no bounce for deleted held mail");
}
