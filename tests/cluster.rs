//! Several nodes on one PostgreSQL, as real processes: a change made on one node reaches
//! the other's snapshot and mail registry through the database's change notifications
//! (long before the polling period), exactly one node leads the reconciler and another
//! takes over when it is killed in the middle of sending a notice, which the operator
//! then receives once; and while PostgreSQL is down the relay keeps accepting from
//! registered systems, a write fails with a clear answer, and everything resumes when
//! the database returns, without a restart.
//!
//! The test starts a PostgreSQL cluster of its own (it stops and starts it), so it runs
//! in the SQLite pass of the test script only.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::postgres::Postgres;
use common::swaks;
use common::{Env, Server, eventually, eventually_within};

/// An SMTP server that answers normally but never answers the end of DATA on its first
/// connection (a notice in flight when its sender dies); it records the Message-ID of
/// every message it accepted with 250.
struct StallingSmtp {
    port: u16,
    connections: Arc<Mutex<usize>>,
    accepted: Arc<Mutex<Vec<String>>>,
}

impl StallingSmtp {
    fn start() -> StallingSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (connections, accepted) = (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(Vec::new())));
        let (count, record) = (Arc::clone(&connections), Arc::clone(&accepted));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let first = {
                    let mut n = count.lock().expect("count");
                    *n += 1;
                    *n == 1
                };
                let record = Arc::clone(&record);
                std::thread::spawn(move || serve(stream, first, &record));
            }
        });
        StallingSmtp { port, connections, accepted }
    }
}

fn serve(stream: TcpStream, stall: bool, accepted: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut out = stream.try_clone().expect("clone");
    let mut lines = BufReader::new(stream);
    let _ = out.write_all(b"220 stalling.test ESMTP\r\n");
    let mut line = String::new();
    while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
        let command = line.trim_end().to_ascii_uppercase();
        line.clear();
        let answer = if command.starts_with("DATA") {
            let _ = out.write_all(b"354 go on\r\n");
            let mut message_id = String::new();
            while lines.read_line(&mut line).is_ok_and(|n| n > 0) && line != ".\r\n" {
                if let Some(id) = line.strip_prefix("Message-ID:").or_else(|| line.strip_prefix("Message-Id:")) {
                    message_id = id.trim().to_string();
                }
                line.clear();
            }
            line.clear();
            if stall {
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
            accepted.lock().expect("accepted").push(message_id);
            "250 2.0.0 accepted"
        } else if command.starts_with("QUIT") {
            let _ = out.write_all(b"221 bye\r\n");
            return;
        } else {
            "250 stalling.test"
        };
        let _ = out.write_all(format!("{answer}\r\n").as_bytes());
    }
}

/// A node: its installation and its running process, logging into a file.
struct Node {
    env: Env,
    server: Option<Server>,
    log: std::path::PathBuf,
}

impl Node {
    fn start(store_url: &str, smtp_port: u16, setup: impl FnOnce(&Env)) -> Node {
        let mut env = Env::on_store(store_url);
        env.configure(&format!(
            "[catalog]\nrefresh = \"1m\"\n[services]\nweb = false\n\
             [notices]\nsmtp_url = \"smtp://127.0.0.1:{smtp_port}\"\nsend_timeout = \"2s\"\ninterval = \"500ms\"\n\
             [relay]\nhostname = \"relay.test\"\n[relay.delivery]\nsmarthost = \"[127.0.0.1]:9\"\n\
             [relay.watch.volume]\nmin_messages = 6\nmin_recipients = 1000\n"
        ));
        setup(&env);
        let log = env.path("node.log");
        let file = std::fs::File::create(&log).expect("log file");
        let server = env.up_logging("info", Stdio::from(file));
        Node { env, server: Some(server), log }
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    fn leads(&self) -> bool {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines().filter(|l| l.contains("this node leads")).count()
            > log.lines().filter(|l| l.contains("no longer leads")).count()
    }
}

#[test]
fn nodes_share_changes_leadership_and_survive_the_database() {
    if std::env::var("PERIMETER_TEST_DATABASE").is_ok_and(|v| !v.is_empty()) {
        eprintln!("covered by the SQLite pass (this test runs a PostgreSQL of its own)");
        return;
    }
    let pg = match Postgres::start() {
        Ok(pg) => pg,
        Err(why) => panic!("this test needs PostgreSQL's server programs (the test script installs them): {why}"),
    };
    let smtp = StallingSmtp::start();
    let mut tokens = (String::new(), String::new());
    let a = Node::start(&pg.url(), smtp.port, |env| {
        let cast = env.cast();
        let list = env.write("alpha.csv", &format!("203.0.113.0/24,{}\n", cast.a));
        env.ok(&["catalog", "import", "--operator", "alpha", list.to_str().unwrap()]);
        let contact = ["--contact", "postmaster@minex.gov.kz"];
        let system =
            ["mail", "connect", "minex", "--owner", &cast.a, "--domain", "minex.gov.kz", "--server", "127.0.0.2"];
        env.ok(&[&system[..], &contact[..]].concat());
        tokens = (env.token("duty", &["--duty"]), String::new());
    });
    let b = Node::start(&pg.url(), smtp.port, |_| {});
    let duty = tokens.0.clone();
    eventually("exactly one node leads the reconciler", || a.leads() != b.leads());

    // A block made through node A reaches node B's snapshot through the notification,
    // long before B's one-minute polling period (the time it took is printed: on a
    // quiet machine a few hundred milliseconds).
    let body = a.env.write("block.json", r#"{"target": "203.0.113.9", "reason": "incident 5"}"#);
    let started = Instant::now();
    let made = a.server().call("POST", "/api/v1/blocks", Some(&duty), Some((&body, "application/json")));
    assert_eq!(made.status, 201, "{made:?}");
    let lookup = || b.server().get("/api/v1/lookup/203.0.113.9", &duty).json()["status"] == "blocked";
    while !lookup() {
        assert!(started.elapsed() < Duration::from_secs(15), "node B did not see the block before its poll");
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("a block on node A reached node B in {} ms", started.elapsed().as_millis());

    // A suspension recorded on node A reaches node B's relay the same way.
    a.env.ok(&["mail", "suspend", "minex", "--reason", "test"]);
    let relay_b = b.server().relay.clone().expect("relay");
    eventually("node B's relay refuses the suspended system", || {
        swaks::send(&relay_b, "127.0.0.2", "a@minex.gov.kz", "x@outside.example", &[], "hi").contains("451")
    });
    a.env.ok(&["mail", "resume", "minex", "--reason", "test over"]);
    eventually("node B's relay takes mail from the system again", || {
        swaks::accepted(&swaks::send(&relay_b, "127.0.0.2", "a@minex.gov.kz", "x@outside.example", &[], "hi"))
    });

    // A burst spread over the nodes is judged whole: eight messages on each node stay
    // under the suspend limit (twice six) on either alone, sixteen are over it.
    let relay_a = a.server().relay.clone().expect("relay");
    for i in 0..8 {
        let sent =
            swaks::send(&relay_a, "127.0.0.2", "a@minex.gov.kz", "x@outside.example", &[], &format!("burst {i}"));
        assert!(swaks::accepted(&sent), "node A alone does not suspend:\n{sent}");
    }
    eventually("node B knows what node A counted", || {
        let traffic = b.server().get("/api/v1/mail/systems/minex", &duty).json();
        traffic["traffic"]["counters"]["window"]["peers"]["messages"] == 8
    });
    let refused = (0..8)
        .filter(|i| {
            let body = format!("burst on B {i}");
            !swaks::accepted(&swaks::send(&relay_b, "127.0.0.2", "a@minex.gov.kz", "x@outside.example", &[], &body))
        })
        .count();
    assert!(refused > 0, "node B counted node A's messages and suspended the system");
    eventually("the suspension is recorded for every node", || {
        a.server().get("/api/v1/mail/systems/minex", &duty).json()["system"]["status"] == "suspended"
    });
    a.env.ok(&["mail", "resume", "minex", "--reason", "burst reviewed"]);

    // An unknown address leads to a notice; the leader is killed while the SMTP server
    // holds the message; the other node takes over and the operator gets it once.
    let report = a.env.write(
        "seen.json",
        &serde_json::json!([{"ip": "198.51.100.5", "link": "alpha-1", "first_seen": now_ms(), "last_seen": now_ms()}])
            .to_string(),
    );
    assert_eq!(
        b.server().call("POST", "/api/v1/observations", Some(&duty), Some((&report, "application/json"))).status,
        200
    );
    eventually("the leader is sending the notice", || *smtp.connections.lock().unwrap() >= 1);
    let (mut leader, follower) = if a.leads() { (a, b) } else { (b, a) };
    drop(leader.server.take());
    let killed = Instant::now();
    eventually("the other node takes the lead", || follower.leads());
    eprintln!("the lead moved {} ms after the leader was killed", killed.elapsed().as_millis());
    eventually_within("the notice arrives once its claim lapses", 40, || !smtp.accepted.lock().unwrap().is_empty());
    let notices = follower.server().get("/api/v1/notices", &duty).json();
    assert_eq!(notices.as_array().map(Vec::len), Some(1), "{notices}");
    assert_eq!(notices[0]["status"], "sent", "{notices}");
    eventually("nothing is sent after the notice is marked sent", || {
        follower.server().get("/api/v1/notices", &duty).json()[0]["status"] == "sent"
    });
    assert_eq!(smtp.accepted.lock().unwrap().len(), 1, "the notice reached the operator once");

    // PostgreSQL stops: the relay still accepts from the registered system; a write
    // fails with a clear answer; all resumes when the database is back.
    let relay = follower.server().relay.clone().expect("relay");
    pg.stop();
    let sent =
        swaks::send(&relay, "127.0.0.2", "a@minex.gov.kz", "x@outside.example", &[], "while the database is down");
    assert!(swaks::accepted(&sent), "the relay accepts while the database is down:\n{sent}");
    let refused = follower.server().get("/api/v1/blocks", &duty);
    assert_eq!(refused.status, 503, "{refused:?}");
    pg.resume().expect("PostgreSQL starts again");
    eventually("the API works again without a restart", || {
        follower.server().get("/api/v1/blocks", &duty).status == 200
    });
    let body = follower.env.write("block2.json", r#"{"target": "203.0.113.10", "reason": "after the outage"}"#);
    eventually("a write succeeds again", || {
        follower.server().call("POST", "/api/v1/blocks", Some(&duty), Some((&body, "application/json"))).status == 201
    });
    eventually("and reaches the snapshot", || {
        follower.server().get("/api/v1/lookup/203.0.113.10", &duty).json()["status"] == "blocked"
    });
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}
