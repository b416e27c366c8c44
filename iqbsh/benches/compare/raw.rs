//! The spliced path measured with ends that cost little: after a real TLS
//! ClientHello naming the exempt host (what both proxies peek at before they
//! decide to splice), the origin sends each body with sendfile(2) from one
//! file in the page cache and the client reads it into one reused buffer and
//! throws it away. No TLS, no allocation per body: the ends' CPU per MiB does
//! not depend on the pieces the proxy hands them, so the machine's cores go to
//! whichever proxy needs less of them. One blocking thread per connection on
//! each end, their CPU counted apart from the proxy's.
//!
//! Must not: be read as a browser's traffic (the bumped and TLS-spliced
//! scenarios are that); it measures the relay alone.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use super::load::Stats;

/// The body file's size; a body larger than it is sent from it again and again.
const FILE_BYTES: u64 = 8 << 20;
/// The client's read buffer.
const READ_BUF: usize = 256 << 10;

/// An origin that reads one TLS record (the ClientHello), then for each
/// 8-byte big-endian count it reads, sends that many bytes of its file.
pub struct RawOrigin {
    pub addr: SocketAddr,
}

impl RawOrigin {
    /// Listens on loopback; the file is written under `dir`.
    pub fn start(dir: &std::path::Path) -> Self {
        let path = dir.join("raw-body");
        let body: Vec<u8> = (0..FILE_BYTES).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        std::fs::write(&path, body).expect("body file");
        let file = Arc::new(std::fs::File::open(&path).expect("open body file"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind raw origin");
        let addr = listener.local_addr().expect("raw origin addr");
        let spawn = std::thread::Builder::new().name("raw-origin".into());
        spawn
            .spawn(move || {
                for tcp in listener.incoming().flatten() {
                    let file = Arc::clone(&file);
                    let spawn = std::thread::Builder::new().name("raw-origin".into());
                    let _ = spawn.spawn(move || serve(tcp, &file));
                }
            })
            .expect("raw origin thread");
        Self { addr }
    }
}

fn serve(mut tcp: TcpStream, file: &std::fs::File) -> std::io::Result<()> {
    let mut header = [0u8; 5];
    tcp.read_exact(&mut header)?;
    let mut hello = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
    tcp.read_exact(&mut hello)?;
    // As a TLS client waits for the server's hello before it sends more.
    tcp.write_all(READY)?;
    let mut count = [0u8; 8];
    while tcp.read_exact(&mut count).is_ok() {
        let mut left = u64::from_be_bytes(count);
        while left > 0 {
            let mut offset = (FILE_BYTES - left % FILE_BYTES) % FILE_BYTES;
            let chunk = usize::try_from(left.min(FILE_BYTES - offset)).unwrap_or(usize::MAX);
            let sent = rustix::fs::sendfile(tcp.as_fd(), file.as_fd(), Some(&mut offset), chunk)?;
            if sent == 0 {
                return Err(std::io::Error::other("sendfile sent nothing"));
            }
            left -= sent as u64;
        }
    }
    LOAD_CPU.fetch_add(thread_cpu_micros(), Relaxed);
    Ok(())
}

/// What the origin answers a ClientHello with before bodies are asked for.
const READY: &[u8] = b"\x16\x03\x03\x00\x00";

/// CPU microseconds spent by the ends' threads that have finished.
static LOAD_CPU: AtomicU64 = AtomicU64::new(0);

/// This thread's CPU time so far, in microseconds (the scheduler's count, in ns).
fn thread_cpu_micros() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    stat.split_whitespace().next().and_then(|ns| ns.parse::<u64>().ok()).unwrap_or(0) / 1000
}

/// The ClientHello a TLS client sends to `host`: what the proxy peeks at.
pub fn client_hello(host: &str, test_ca_pem: &str) -> Vec<u8> {
    let config = Arc::new(super::tunnel::client_config(test_ca_pem.as_bytes()));
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).expect("server name");
    let mut conn = rustls::ClientConnection::new(config, name).expect("client connection");
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).expect("write ClientHello");
    }
    hello
}

/// `conns` connections at once through `proxy` to `authority`, each asking for
/// `bodies` bodies of `body` bytes.
pub fn run(proxy: SocketAddr, authority: &str, hello: &[u8], conns: usize, bodies: usize, body: u64) -> Stats {
    let started = Instant::now();
    let cpu_before = LOAD_CPU.load(Relaxed);
    let workers: Vec<_> = (0..conns)
        .map(|_| {
            let (authority, hello) = (authority.to_owned(), hello.to_vec());
            let spawn = std::thread::Builder::new().name("raw-client".into());
            spawn.spawn(move || connection(proxy, &authority, &hello, bodies, body)).expect("client thread")
        })
        .collect();
    let mut moved = Stats::default();
    for worker in workers {
        match worker.join().expect("client thread") {
            Ok(n) => moved.bytes += n,
            Err(e) => {
                moved.errors += 1;
                moved.first_error.get_or_insert(e.to_string());
            }
        }
    }
    moved.elapsed = started.elapsed();
    moved.ends_cpu = (LOAD_CPU.load(Relaxed) - cpu_before) as f64 / 1e6;
    moved
}

fn connection(proxy: SocketAddr, authority: &str, hello: &[u8], bodies: usize, body: u64) -> std::io::Result<u64> {
    let mut tcp = TcpStream::connect(proxy)?;
    tcp.set_nodelay(true)?;
    tcp.write_all(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 200") && !head.starts_with(b"HTTP/1.0 200") {
        return Err(std::io::Error::other(format!("CONNECT answered {:?}", String::from_utf8_lossy(&head))));
    }
    tcp.write_all(hello)?;
    let mut ready = [0u8; READY.len()];
    tcp.read_exact(&mut ready)?;
    let mut buf = vec![0u8; READ_BUF];
    let mut total = 0;
    for _ in 0..bodies {
        tcp.write_all(&body.to_be_bytes())?;
        let mut left = body;
        while left > 0 {
            let want = usize::try_from(left.min(READ_BUF as u64)).unwrap_or(READ_BUF);
            let n = tcp.read(&mut buf[..want])?;
            if n == 0 {
                return Err(std::io::Error::other(format!("closed with {left} bytes of a body missing")));
            }
            left -= n as u64;
        }
        total += body;
    }
    // The origin counts its CPU when it reads the end, then closes: wait for that.
    tcp.shutdown(std::net::Shutdown::Write)?;
    while tcp.read(&mut buf)? > 0 {}
    LOAD_CPU.fetch_add(thread_cpu_micros(), Relaxed);
    Ok(total)
}
