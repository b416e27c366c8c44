//! How `perimeter up` stops and reloads, as a service manager drives it: SIGTERM lets a
//! mail transfer under way finish and be answered, then 421 at the next command, closes
//! the listeners and exits 0, telling the manager READY and STOPPING on its notify
//! socket; a second signal exits at once; SIGHUP reads the configuration again and a
//! bad one changes nothing.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::Duration;

use common::{Env, eventually};

/// A raw SMTP client from the registered system's address.
struct Smtp {
    out: TcpStream,
    replies: BufReader<TcpStream>,
}

impl Smtp {
    fn open(relay: &str) -> Smtp {
        let socket = connect_from_system(relay);
        let replies = BufReader::new(socket.try_clone().expect("clone"));
        let mut smtp = Smtp { out: socket, replies };
        assert!(smtp.reply().starts_with("220"));
        assert!(smtp.command("EHLO system.test").starts_with("250"));
        smtp
    }

    /// The last line of the next reply ("" when the connection closed).
    fn reply(&mut self) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            if self.replies.read_line(&mut line).unwrap_or(0) == 0 {
                return String::new();
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.trim_end().to_string();
            }
        }
    }

    fn command(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n"));
        self.reply()
    }

    fn send(&mut self, text: &str) {
        self.out.write_all(text.as_bytes()).expect("write");
    }
}

/// Connects from 127.0.0.2, the registered system's server.
fn connect_from_system(relay: &str) -> TcpStream {
    let addr: std::net::SocketAddr = relay.parse().expect("relay addr");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind("127.0.0.2:0".parse().expect("local")).expect("bind");
        socket.connect(addr).await.expect("connect")
    });
    let stream = stream.into_std().expect("std stream");
    stream.set_nonblocking(false).expect("blocking");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    stream
}

fn env_with_system(grace: &str) -> Env {
    let mut env = Env::new();
    env.configure(&format!(
        "[services]\nweb = false\n[relay]\nhostname = \"relay.test\"\n[relay.limits]\nshutdown_grace = \"{grace}\"\n\
         [relay.delivery]\nsmarthost = \"[127.0.0.1]:9\"\n"
    ));
    let cast = env.cast();
    let system = ["mail", "connect", "minex", "--owner", &cast.a, "--domain", "minex.gov.kz", "--server", "127.0.0.2"];
    env.ok(&[&system[..], &["--contact", "postmaster@minex.gov.kz"][..]].concat());
    env
}

#[test]
fn sigterm_finishes_the_transfer_under_way_then_refuses_and_exits_cleanly() {
    let env = env_with_system("30s");
    let notify_path = env.path("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
    notify.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let socket = notify_path.display().to_string();
    let mut server = env.up_with("info", Stdio::inherit(), &[("NOTIFY_SOCKET", &socket)]);
    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).expect("READY from the service");
    assert!(buf[..n].starts_with(b"READY=1"), "{}", String::from_utf8_lossy(&buf[..n]));
    let relay = server.relay.clone().expect("relay");

    let mut smtp = Smtp::open(&relay);
    assert!(smtp.command("MAIL FROM:<a@minex.gov.kz>").starts_with("250"));
    assert!(smtp.command("RCPT TO:<b@outside.example>").starts_with("250"));
    assert!(smtp.command("DATA").starts_with("354"));
    smtp.send("Subject: in flight\r\n\r\nfirst half\r\n");

    server.signal("TERM");
    let n = notify.recv(&mut buf).expect("STOPPING from the service");
    assert!(buf[..n].starts_with(b"STOPPING=1"), "{}", String::from_utf8_lossy(&buf[..n]));
    eventually("the listener closes to new sessions", || TcpStream::connect(&relay).is_err());

    smtp.send("second half\r\n.\r\n");
    let accepted = smtp.reply();
    assert!(accepted.starts_with("250"), "the transfer under way is finished and answered: {accepted}");
    let next = smtp.command("MAIL FROM:<a@minex.gov.kz>");
    assert!(next.starts_with("421 4.3.2"), "then 421 at the next command: {next}");
    let status = server.wait_exit(20).expect("the service exits within its grace");
    assert!(status.success(), "a clean stop exits 0: {status:?}");

    // The accepted message survived the stop: the next start has it queued.
    let mut again = env.up();
    let queue = again.get("/api/v1/mail/queue", &env.token("duty", &["--duty"])).json();
    assert!(queue.to_string().contains("minex"), "the accepted message is still queued: {queue}");
    again.signal("TERM");
    assert!(again.wait_exit(20).is_some_and(|s| s.success()));
}

#[test]
fn a_second_signal_exits_at_once() {
    let env = env_with_system("10m");
    let mut server = env.up();
    let relay = server.relay.clone().expect("relay");
    let mut smtp = Smtp::open(&relay);
    assert!(smtp.command("MAIL FROM:<a@minex.gov.kz>").starts_with("250"));
    assert!(smtp.command("RCPT TO:<b@outside.example>").starts_with("250"));
    assert!(smtp.command("DATA").starts_with("354"));
    server.signal("TERM");
    eventually("the listener closes", || TcpStream::connect(&relay).is_err());
    assert!(server.wait_exit(1).is_none(), "the first signal waits for the transfer (grace 10m)");
    server.signal("TERM");
    let status = server.wait_exit(10).expect("the second signal exits at once");
    assert_eq!(status.code(), Some(130), "{status:?}");
}

#[test]
fn sighup_reloads_and_a_bad_file_changes_nothing() {
    let mut env = Env::new();
    env.configure("[services]\nweb = false\nmail = false\n");
    let duty = env.token("duty", &["--duty"]);
    let log_path = env.path("up.log");
    let mut server = env.up_logging("info", Stdio::from(std::fs::File::create(&log_path).expect("log")));
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    env.write("perimeter.toml", "[services]\nweb = false\nmail = false\n[notices]\ninterval = \"5m\"\n");
    server.signal("HUP");
    eventually("the reload is done", || log().contains("configuration reloaded"));
    assert!(log().contains("section=\"notices\"") || log().contains("section=notices"), "{}", log());

    env.write("perimeter.toml", "[services]\nweb = false\nmail = false\nnot a key = \n");
    server.signal("HUP");
    eventually("the bad file is refused", || log().contains("reload refused"));
    assert_eq!(server.get("/api/v1/whoami", &duty).status, 200, "the service keeps running");
    server.signal("TERM");
    assert!(server.wait_exit(20).is_some_and(|s| s.success()));
}
