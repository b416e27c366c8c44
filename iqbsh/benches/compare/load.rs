//! The load generator: workers that open connections through a proxy
//! (`CONNECT` + TLS, or plain absolute-form HTTP) and send keep-alive
//! HTTP/1.1 requests, recording per-request and per-connection latency.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Where to send load.
pub struct Target {
    pub proxy: SocketAddr,
    pub host: String,
    pub port: u16,
    /// The request path (`/bench`, or `/bulk/N` for N-byte bodies).
    pub path: String,
    /// Each connection names a new host `c<N>.<host>` (certificate cache misses).
    pub fresh_names: bool,
    /// `Some`: CONNECT and TLS (trusting the proxy's root); `None`: plain HTTP.
    pub tls: Option<TlsConnector>,
}

/// What a run measured.
#[derive(Default)]
pub struct Stats {
    pub requests: Vec<Duration>,
    pub setups: Vec<Duration>,
    pub errors: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Response body bytes received.
    pub bytes: u64,
    /// CPU seconds the load generator and the origin spent (the `load` threads).
    pub ends_cpu: f64,
}

impl Stats {
    pub fn per_second(&self) -> f64 {
        self.requests.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The `q` quantile (0..=1) of `samples` in milliseconds.
pub fn quantile_ms(samples: &mut [Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_unstable();
    let i = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[i].as_secs_f64() * 1000.0
}

/// Runs `workers` workers, each opening `conns` connections with `reqs` requests on each.
pub async fn run(target: Arc<Target>, workers: usize, conns: usize, reqs: usize) -> Stats {
    let started = Instant::now();
    let ends_before = super::cpu::threads(&["load"]);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let target = Arc::clone(&target);
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            for c in 0..conns {
                let host = match target.fresh_names {
                    true => format!("c{}.{}", w * conns + c, target.host),
                    false => target.host.clone(),
                };
                if let Err(e) = connection(&target, &host, reqs, &mut stats).await {
                    stats.errors += 1;
                    stats.first_error.get_or_insert(e);
                }
            }
            stats
        }));
    }
    let mut total = Stats::default();
    for task in tasks {
        let Ok(s) = task.await else { continue };
        total.requests.extend(s.requests);
        total.setups.extend(s.setups);
        total.errors += s.errors;
        total.bytes += s.bytes;
        total.first_error = total.first_error.or(s.first_error);
    }
    total.elapsed = started.elapsed();
    total.ends_cpu = super::cpu::threads(&["load"]) - ends_before;
    total
}

async fn connection(target: &Target, host: &str, reqs: usize, stats: &mut Stats) -> Result<(), String> {
    let begun = Instant::now();
    let tcp = TcpStream::connect(target.proxy).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let authority = format!("{host}:{}", target.port);
    let mut send = match &target.tls {
        Some(tls) => {
            let tcp = connect_tunnel(tcp, &authority).await?;
            let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
            let stream = tls.connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?;
            handshake(stream).await?
        }
        None => handshake(tcp).await?,
    };
    stats.setups.push(begun.elapsed());
    let path = &target.path;
    let uri = if target.tls.is_some() { path.clone() } else { format!("http://{authority}{path}") };
    for _ in 0..reqs {
        let t = Instant::now();
        let req = Request::get(uri.as_str()).header("host", authority.as_str()).body(Empty::<Bytes>::new());
        let req = req.map_err(|e| e.to_string())?;
        send.ready().await.map_err(|e| e.to_string())?;
        let response = send.send_request(req).await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let body = response.into_body().collect().await.map_err(|e| e.to_string())?;
        stats.bytes += body.to_bytes().len() as u64;
        stats.requests.push(t.elapsed());
    }
    Ok(())
}

async fn handshake<I>(io: I) -> Result<http1::SendRequest<Empty<Bytes>>, String>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = http1::handshake(TokioIo::new(io)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(send)
}

/// Sends `CONNECT authority` and reads the proxy's answer head.
async fn connect_tunnel(mut tcp: TcpStream, authority: &str) -> Result<TcpStream, String> {
    let head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(tcp);
    let mut status = String::new();
    reader.read_line(&mut status).await.map_err(|e| e.to_string())?;
    if !status.contains(" 200") {
        return Err(format!("CONNECT answered {status:?}"));
    }
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.map_err(|e| e.to_string())?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    if !reader.buffer().is_empty() {
        return Err("proxy sent bytes after the CONNECT answer".into());
    }
    Ok(reader.into_inner())
}

/// A TLS connector trusting only the PEM certificate `root`.
pub fn connector(root_pem: &str) -> TlsConnector {
    let mut config = super::tunnel::client_config(root_pem.as_bytes());
    config.resumption = rustls::client::Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}
