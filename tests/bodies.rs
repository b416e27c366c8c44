//! Request bodies on the API and the console, through the real listener: a body is
//! read only after its caller, their rights and (on the console) the form's CSRF token
//! pass; a stalled or trickling body is cut (408) and its connection closed; bodies in
//! flight are bounded per caller and in all, and their places given back; a console
//! upload leaves no file behind when it is refused or cut; the server's memory stays
//! bounded under many attachment uploads at once and comes back after them. The
//! clients are curl (`--limit-rate` for slow bodies) and raw sockets where curl
//! cannot stall on purpose.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::console::Browser;
use common::{Env, Server, curl};

const ALPHA_PW: &str = "alpha password one";

/// Short limits so that a cut comes within seconds.
const BODIES: &str = "[api.bodies]\nidle = \"2s\"\ngrace = \"2s\"\nmin_rate = 4096\nper_caller = 2\n\
                      in_flight = 8\nanonymous_in_flight = 4\nmemory_mib = 32\n";

fn installation() -> (Env, Server) {
    let mut env = Env::new();
    env.configure(BODIES);
    env.cast();
    env.user("alpha1", ALPHA_PW, &["--operator", "alpha"]);
    let server = env.up();
    (env, server)
}

/// The listener's address (`host:port`).
fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// A request whose head and first `sent` body bytes are written, the rest never.
fn stalled(server: &Server, head: &str, sent: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address(server)).expect("the listener accepts");
    stream.write_all(head.as_bytes()).expect("head written");
    stream.write_all(sent).expect("first bytes written");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("a read timeout");
    stream
}

/// What the server sends on `stream` until it closes it (bounded by the read timeout).
fn answer(mut stream: TcpStream) -> String {
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn json_head(path: &str, token: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// The files of the console's upload directory.
fn upload_files(env: &Env) -> Vec<String> {
    match std::fs::read_dir(env.path("data").join("console-uploads")) {
        Ok(dir) => dir.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The session cookie curl keeps in `jar` (Netscape format: the value is the last column).
fn session_cookie(jar: &Path) -> String {
    let text = std::fs::read_to_string(jar).expect("a cookie jar");
    let line = text.lines().find(|l| l.contains("perimeter_session")).expect("a session cookie");
    format!("perimeter_session={}", line.split('\t').next_back().unwrap_or_default())
}

#[test]
fn a_stalled_or_trickling_api_body_is_cut_and_its_connection_closed() {
    let (env, server) = installation();
    let duty = env.token("duty", &["--duty"]);
    let started = Instant::now();
    let stream = stalled(&server, &json_head("/api/v1/blocks", &duty, 1000), b"{\"target\": ");
    let cut = answer(stream);
    assert!(cut.starts_with("HTTP/1.1 408"), "a stalled body is cut: {cut:?}");
    assert!(cut.contains("no bytes of the body came"), "{cut}");
    assert!(started.elapsed() < Duration::from_secs(25), "cut by the idle limit, not the client's timeout");

    // A body that arrives, but slower than 4096 bytes a second after the grace.
    let slow = env.write("slow.json", &format!("[{}]", vec!["{\"ip\": \"192.0.2.1\"}"; 2000].join(",")));
    let out = std::process::Command::new(curl())
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--limit-rate", "1000", "-H"])
        .arg(format!("Authorization: Bearer {duty}"))
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(format!("@{}", slow.display()))
        .arg(format!("{}/api/v1/observations", server.base))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("408"), "a trickling body is cut: {text}");
    assert!(text.contains("slower than 4096 bytes per second"), "{text}");

    // Nothing was lost: the same caller sends a body at a normal pace.
    let ok = server.post_json("/api/v1/blocks", &duty, r#"{"target": "198.51.100.7", "reason": "abuse"}"#);
    assert_eq!(ok.status, 201, "{}", ok.body);
}

#[test]
fn no_body_is_read_before_its_token_and_a_refused_one_is_not_read_at_all() {
    let (env, server) = installation();
    let alpha = env.token("alpha", &["--operator", "alpha"]);
    // A declared body over the route's limit is refused before a byte of it is sent.
    let stream = stalled(&server, &json_head("/api/v1/blocks", "no such token", 10 << 20), b"");
    assert!(answer(stream).starts_with("HTTP/1.1 401"), "no token, no reading");
    let stream = stalled(&server, &json_head("/api/v1/blocks", &alpha, 1000), b"");
    assert!(answer(stream).starts_with("HTTP/1.1 403"), "an operator does not block: the body is never awaited");
    let stream = stalled(&server, &json_head("/api/v1/operators", &env.token("d", &["--duty"]), 10 << 20), b"");
    let large = answer(stream);
    assert!(large.starts_with("HTTP/1.1 413"), "the change routes take 64 KiB: {large}");
}

#[test]
fn bodies_in_flight_are_bounded_per_caller_and_their_places_given_back() {
    let (env, server) = installation();
    let duty = env.token("duty", &["--duty"]);
    let other = env.token("other", &["--duty"]);
    let held: Vec<TcpStream> =
        (0..2).map(|_| stalled(&server, &json_head("/api/v1/blocks", &duty, 1000), b"{")).collect();
    std::thread::sleep(Duration::from_millis(300));
    let third = server.post_json("/api/v1/blocks", &duty, r#"{"target": "198.51.100.8", "reason": "r"}"#);
    assert_eq!(third.status, 429, "two bodies at once per caller: {}", third.body);
    let another = server.post_json("/api/v1/blocks", &other, r#"{"target": "198.51.100.8", "reason": "r"}"#);
    assert_eq!(another.status, 201, "another caller is not held up: {}", another.body);
    for stream in held {
        assert!(answer(stream).starts_with("HTTP/1.1 408"));
    }
    let again = server.post_json("/api/v1/blocks", &duty, r#"{"target": "198.51.100.9", "reason": "r"}"#);
    assert_eq!(again.status, 201, "the cut bodies gave their places back: {}", again.body);
}

#[test]
fn a_console_upload_is_read_after_its_rights_and_token_and_leaves_no_file_when_cut() {
    let (env, server) = installation();
    let mut b = Browser::new(&env, &server, "alpha");
    assert_eq!(b.login("alpha1", ALPHA_PW).status, 303);
    assert_eq!(b.get("/operators/alpha").status, 200);
    let list = env.write("list.csv", &"192.0.2.0/24,980140000011,a comment\n".repeat(20_000));

    let other = b.upload("/operators/beta/upload", &list);
    assert_eq!(other.status, 403, "another operator's list: {}", other.body);
    let token = b.csrf.clone().expect("a token");
    b.csrf = Some("00ff".into());
    let forged = b.upload("/operators/alpha/upload", &list);
    assert_eq!(forged.status, 403, "{}", forged.body);
    b.csrf = Some(token.clone());
    let late = b.multipart("/operators/alpha/upload", &[format!("list=@{}", list.display()), format!("csrf={token}")]);
    assert_eq!(late.status, 400, "the token comes first: {}", late.body);
    assert!(late.body.contains("'csrf' field first"), "{}", late.body);
    assert!(upload_files(&env).is_empty(), "nothing refused was written: {:?}", upload_files(&env));

    // A stalled upload with the right token: its file is written, then cut and removed.
    let boundary = "XbodyX";
    let start = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n--{boundary}\r\n\
         Content-Disposition: form-data; name=\"list\"; filename=\"l.csv\"\r\nContent-Type: text/csv\r\n\r\n\
         192.0.2.0/24,980140000011,stalled\n"
    );
    let head = format!(
        "POST /operators/alpha/upload HTTP/1.1\r\nHost: {}\r\nOrigin: {}\r\nCookie: {}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 5000000\r\n\r\n",
        address(&server),
        server.base,
        session_cookie(&env.path("alpha.cookies")),
    );
    let stream = stalled(&server, &head, start.as_bytes());
    common::eventually("the upload's file is being written", || upload_files(&env).len() == 1);
    let cut = answer(stream);
    assert!(cut.starts_with("HTTP/1.1 408"), "{cut}");
    assert!(upload_files(&env).is_empty(), "the cut upload's file is gone: {:?}", upload_files(&env));

    let good = env.write("good.csv", &format!("192.0.2.0/24,{},the portal's form\n", common::bin("98014000001")));
    let fine = b.upload("/operators/alpha/upload", &good);
    assert_eq!(fine.status, 200, "the portal's own form still works");
    assert!(fine.body.contains("id=\"confirm\""), "a diff to confirm");
}

#[test]
fn many_attachment_uploads_at_once_keep_the_memory_bounded_and_give_it_back() {
    let (env, server) = installation();
    let id = env.file_yearly_lists(&common::bin("98014000001"), "it@a.example");
    let tokens: Vec<String> = (0..20).map(|i| env.token(&format!("duty{i}"), &["--duty"])).collect();
    let before = rss_kib(server.pid());
    let path = format!("/api/v1/requests/{id}/attachments?name=big.txt");
    let done = std::sync::atomic::AtomicUsize::new(0);
    // 20 callers × 3 connections at once, each declaring 10 MiB and sending 4 MiB of it.
    let (statuses, peak) = std::thread::scope(|scope| {
        let uploads: Vec<_> = tokens
            .iter()
            .flat_map(|token| std::iter::repeat_n(token, 3))
            .map(|token| {
                let (path, done, server) = (&path, &done, &server);
                scope.spawn(move || {
                    let head = format!(
                        "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
                         Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                        10 << 20
                    );
                    let mut stream = stalled(server, &head, b"");
                    // A refused body is answered at once, before a byte of it is sent.
                    stream.set_read_timeout(Some(Duration::from_millis(500))).expect("a read timeout");
                    let mut first = [0u8; 512];
                    let status = match stream.read(&mut first) {
                        Ok(n) => String::from_utf8_lossy(&first[..n]).lines().next().unwrap_or("").to_string(),
                        Err(_) => {
                            stream.set_write_timeout(Some(Duration::from_secs(10))).expect("a write timeout");
                            let _ = stream.write_all(&vec![b'a'; 4 << 20]);
                            stream.set_read_timeout(Some(Duration::from_secs(30))).expect("a read timeout");
                            answer(stream).lines().next().unwrap_or("").to_string()
                        }
                    };
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    status
                })
            })
            .collect();
        let mut peak = before;
        // Bounded: each upload ends within its write and read timeouts.
        while done.load(std::sync::atomic::Ordering::Relaxed) < uploads.len() {
            peak = peak.max(rss_kib(server.pid()));
            std::thread::sleep(Duration::from_millis(50));
        }
        let statuses: Vec<String> = uploads.into_iter().map(|u| u.join().expect("an upload thread")).collect();
        (statuses, peak)
    });
    // Which of a caller's three meet its own limit (429) rather than the spent budget (503)
    // depends on the order they arrive in; the per-caller limit alone is tested above.
    let known = [" 408 ", " 429 ", " 503 "];
    assert!(statuses.iter().all(|s| known.iter().any(|k| s.contains(k))), "cut or refused: {statuses:?}");
    assert!(statuses.iter().any(|s| s.contains(" 503 ")), "past the budget or the places: {statuses:?}");
    assert!(statuses.iter().all(|s| !s.contains(" 201 ")), "no half-sent attachment was filed: {statuses:?}");
    assert!(peak < before + 96 * 1024, "60 uploads of 4 MiB stayed near the 32 MiB budget: {before} → {peak} KiB");
    let small = env.write("note.txt", "a short note");
    let ok = server.call("POST", &path.replace("big", "note"), Some(&tokens[0]), Some((&small, "text/plain")));
    assert_eq!(ok.status, 201, "every place and byte was given back: {}", ok.body);
    let after = rss_kib(server.pid());
    eprintln!("server RSS: before {before} KiB, peak {peak} KiB, after {after} KiB");
    assert!(after <= peak, "nothing grew after the uploads ended: {before} → {peak} → {after} KiB");
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server's status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number of KiB")
}
