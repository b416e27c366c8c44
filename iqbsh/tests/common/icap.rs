//! A real antivirus over ICAP for the tests: ClamAV's `clamd` with a
//! signature database this helper writes (an `.ndb` body signature of the
//! EICAR test string; no signature download is possible here), and c-icap
//! with its virus-scan module in front of it, both in the foreground on
//! private files. Start order matters (c-icap started while clamd is down
//! answers 204 to everything): clamd, wait for its PONG, c-icap, then a
//! health check with an EICAR body. Without `virus_scan.ScanFileTypes` naming
//! TEXT, c-icap does not pass a text body such as EICAR to clamd at all (it
//! answers 204). Both are killed (by their own process
//! ids) when the [`Scanner`] is dropped.
//!
//! In CI (`CI=true`) missing programs fail the test; elsewhere the test is
//! skipped with a message (Debian: `c-icap libc-icap-mod-virus-scan clamav-daemon`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CLAMD: &str = "/usr/sbin/clamd";
pub const C_ICAP: &str = "/usr/bin/c-icap";
/// The virus-scan module of c-icap (package `libc-icap-mod-virus-scan`).
pub const VIRUS_SCAN: &str = "/usr/lib/x86_64-linux-gnu/c_icap/virus_scan.so";

/// The EICAR anti-virus test file (68 bytes).
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// The name clamd gives it with the database written here.
pub const EICAR_NAME: &str = "Eicar-Test-Signature.UNOFFICIAL";

/// Whether `CI=true`: then a missing component fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `None` (after saying why) when a program is missing outside CI; panics in CI.
fn require(paths: &[&str]) -> Option<()> {
    let missing: Vec<&str> = paths.iter().copied().filter(|p| !Path::new(p).exists()).collect();
    if missing.is_empty() {
        return Some(());
    }
    let why = format!(
        "missing {missing:?}: install Debian's c-icap libc-icap-mod-virus-scan clamav clamav-daemon (scripts/test does)"
    );
    assert!(!in_ci(), "{why}");
    eprintln!("skipped: {why}");
    None
}

/// A running clamd + c-icap pair.
pub struct Scanner {
    dir: tempfile::TempDir,
    clamd: Child,
    c_icap: Option<Child>,
    pub addr: SocketAddr,
}

impl Drop for Scanner {
    fn drop(&mut self) {
        for child in [Some(&mut self.clamd), self.c_icap.as_mut()].into_iter().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Polls `ready` until it holds or `limit` passes.
fn wait_for(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn clamd_pong(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut answer = [0u8; 5];
    s.write_all(b"zPING\0").is_ok() && s.read_exact(&mut answer).is_ok() && &answer[..4] == b"PONG"
}

/// One RESPMOD of `body` (no preview) straight to c-icap: the answer head.
pub fn respmod(addr: SocketAddr, body: &[u8]) -> std::io::Result<String> {
    let req = b"GET http://health.test/check HTTP/1.1\r\nHost: health.test\r\n\r\n";
    let res = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let head = format!(
        "RESPMOD icap://{addr}/avscan ICAP/1.0\r\nHost: {addr}\r\nAllow: 204\r\nEncapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n",
        req.len(),
        req.len() + res.len()
    );
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(head.as_bytes())?;
    s.write_all(req)?;
    s.write_all(res.as_bytes())?;
    s.write_all(format!("{:x}\r\n", body.len()).as_bytes())?;
    s.write_all(body)?;
    s.write_all(b"\r\n0\r\n\r\n")?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

impl Scanner {
    /// Starts clamd and c-icap, or `None` when they are not installed (outside CI).
    pub fn start() -> Option<Scanner> {
        require(&[CLAMD, C_ICAP, VIRUS_SCAN])?;
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir(d.join("db")).expect("db dir");
        std::fs::write(d.join("db/eicar.ndb"), format!("Eicar-Test-Signature:0:*:{}\n", hex(EICAR))).expect("ndb");
        let socket = d.join("clamd.sock");
        let clamd_conf = format!(
            "LocalSocket {}\nLocalSocketMode 666\nDatabaseDirectory {}\nForeground yes\nLogFile {}\n\
             TemporaryDirectory {}\nStreamMaxLength 256M\nMaxScanSize 256M\nMaxFileSize 256M\n",
            socket.display(),
            d.join("db").display(),
            d.join("clamd.log").display(),
            d.display()
        );
        std::fs::write(d.join("clamd.conf"), clamd_conf).expect("clamd.conf");
        let clamd = Command::new(CLAMD)
            .arg("-c")
            .arg(d.join("clamd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clamd starts");
        let mut scanner = Scanner { dir, clamd, c_icap: None, addr: SocketAddr::from(([127, 0, 0, 1], 0)) };
        let log = || std::fs::read_to_string(scanner_path(&socket, "clamd.log")).unwrap_or_default();
        assert!(wait_for(Duration::from_secs(30), || clamd_pong(&socket)), "clamd never answered PING:\n{}", log());
        scanner.start_c_icap();
        Some(scanner)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts c-icap on a free port and checks that it finds EICAR.
    fn start_c_icap(&mut self) {
        let port = free_port();
        let d = self.dir.path();
        let conf = format!(
            "PidFile {d}/c-icap.pid\nCommandsSocket {d}/c-icap.ctl\nTimeout 300\nMaxKeepAliveRequests 1000\n\
             KeepAliveTimeout 600\nStartServers 1\nMaxServers 4\nMinSpareThreads 4\nMaxSpareThreads 16\n\
             ThreadsPerChild 16\nMaxRequestsPerChild 0\nPort 127.0.0.1:{port}\nTmpDir {d}\nMaxMemObject 1048576\n\
             DebugLevel 1\nServerLog {d}/c-icap-server.log\nAccessLog {d}/c-icap-access.log\n\
             Module common clamd_mod.so\nclamd_mod.ClamdSocket {d}/clamd.sock\n\
             Service antivirus_module virus_scan.so\n\
             ServiceAlias avscan virus_scan?allow204=on&sizelimit=off&mode=simple\n\
             virus_scan.DefaultEngine clamd\nvirus_scan.MaxObjectSize 256M\n\
             virus_scan.ScanFileTypes TEXT DATA EXECUTABLE ARCHIVE GIF JPEG MSOFFICE\n",
            d = d.display()
        );
        std::fs::write(d.join("c-icap.conf"), conf).expect("c-icap.conf");
        let child = Command::new(C_ICAP)
            .args(["-N", "-f"])
            .arg(d.join("c-icap.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("c-icap starts");
        self.c_icap = Some(child);
        self.addr = SocketAddr::from(([127, 0, 0, 1], port));
        let addr = self.addr;
        let found = wait_for(Duration::from_secs(30), || respmod(addr, EICAR).is_ok_and(|a| a.contains(EICAR_NAME)));
        let log = std::fs::read_to_string(self.path("c-icap-server.log")).unwrap_or_default();
        assert!(found, "c-icap on {addr} does not find EICAR; its log:\n{log}");
    }

    /// The process ids of clamd and c-icap (whose children do the work).
    pub fn pids(&self) -> (u32, Option<u32>) {
        (self.clamd.id(), self.c_icap.as_ref().map(Child::id))
    }

    /// The service URL for `[proxy.icap.services.NAME]`.
    pub fn url(&self) -> String {
        format!("icap://{}/avscan", self.addr)
    }

    /// Stops clamd (c-icap stays up and answers with errors).
    pub fn stop_clamd(&mut self) {
        let _ = self.clamd.kill();
        let _ = self.clamd.wait();
    }

    /// Stops c-icap (the service goes down; clamd stays).
    pub fn stop_c_icap(&mut self) {
        if let Some(mut child) = self.c_icap.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn scanner_path(socket: &Path, name: &str) -> PathBuf {
    socket.with_file_name(name)
}
