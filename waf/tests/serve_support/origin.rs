//! A small origin server of the tests: HTTP/1.1 (hyper) over connections that record
//! every byte received, each request kept as it was parsed, a page with a form at `/`,
//! an echo of what it saw elsewhere (after a second at `/slow`), and a WebSocket echo at `/ws` (frames unmasked and
//! sent back as the server's own).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The page at `/`.
pub const PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Портал</title></head><body>\
<h1 id=\"welcome\">Добро пожаловать</h1>\
<form id=\"search\" method=\"post\" action=\"/search\"><input name=\"q\"><button type=\"submit\">Найти</button></form>\
</body></html>";

/// The page at `/leak`: a database error, what the data-leakage rules look for.
pub const LEAK: &str = "<html><body>You have an error in your SQL syntax; check the manual that corresponds \
to your MySQL server version for the right syntax to use near '1'' at line 1</body></html>";

/// One request as the origin parsed it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub version: http::Version,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

/// The bytes one connection received.
type Tape = Arc<Mutex<Vec<u8>>>;

/// A running origin.
#[derive(Clone)]
pub struct Origin {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Seen>>>,
    raw: Arc<Mutex<Vec<Tape>>>,
}

impl Origin {
    /// Listens on `addr` (port 0 for any) on the current runtime.
    pub async fn start(addr: &str) -> Origin {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("origin binds");
        let origin =
            Origin { addr: listener.local_addr().expect("addr"), requests: Arc::default(), raw: Arc::default() };
        let this = origin.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let tape = Arc::new(Mutex::new(Vec::new()));
                this.raw.lock().unwrap().push(Arc::clone(&tape));
                let requests = Arc::clone(&this.requests);
                let service = hyper::service::service_fn(move |req| answer(Arc::clone(&requests), req));
                tokio::spawn(async move {
                    let io = TokioIo::new(Tap { inner: tcp, tape });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(io, service).with_upgrades().await;
                });
            }
        });
        origin
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.requests.lock().unwrap().clone()
    }

    /// Every byte received so far, one entry per connection.
    pub fn raw(&self) -> Vec<Vec<u8>> {
        self.raw.lock().unwrap().iter().map(|t| t.lock().unwrap().clone()).collect()
    }

    /// Everything received, all connections in one text (lossy).
    pub fn raw_text(&self) -> String {
        self.raw().iter().map(|r| String::from_utf8_lossy(r).into_owned()).collect::<Vec<_>>().join("\n---\n")
    }
}

async fn answer(
    requests: Arc<Mutex<Vec<Seen>>>,
    mut req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/ws" {
        return Ok(websocket(&mut req));
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
    if parts.uri.path() == "/slow" {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let text = if parts.uri.path() == "/" {
        PAGE.to_owned()
    } else if parts.uri.path() == "/leak" {
        LEAK.to_owned()
    } else {
        format!("origin saw {} {} with {} body bytes", parts.method, parts.uri, body.len())
    };
    requests.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        version: parts.version,
        headers: parts.headers,
        body,
    });
    let mut response = Response::new(Full::new(Bytes::from(text)));
    response.headers_mut().insert("content-type", "text/html; charset=utf-8".parse().unwrap());
    response.headers_mut().insert("connection", "keep-alive".parse().unwrap());
    Ok(response)
}

/// The 101 of a WebSocket handshake, and an echo of its frames once upgraded.
fn websocket(req: &mut Request<Incoming>) -> Response<Full<Bytes>> {
    let key = req.headers().get("sec-websocket-key").map(|k| k.as_bytes().to_vec()).unwrap_or_default();
    let mut input = key;
    input.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
    let accept = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            echo(TokioIo::new(upgraded)).await;
        }
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert("upgrade", "websocket".parse().unwrap());
    headers.insert("connection", "Upgrade".parse().unwrap());
    headers.insert("sec-websocket-accept", accept.parse().unwrap());
    response
}

/// Echoes WebSocket frames (small ones, masked as clients send them) until a close frame.
async fn echo(mut io: impl AsyncRead + AsyncWrite + Unpin) {
    loop {
        let mut head = [0u8; 2];
        if io.read_exact(&mut head).await.is_err() {
            return;
        }
        let opcode = head[0] & 0x0f;
        let mut len = u64::from(head[1] & 0x7f);
        if len == 126 {
            let mut ext = [0u8; 2];
            if io.read_exact(&mut ext).await.is_err() {
                return;
            }
            len = u64::from(u16::from_be_bytes(ext));
        } else if len == 127 {
            return;
        }
        let mut mask = [0u8; 4];
        if head[1] & 0x80 != 0 && io.read_exact(&mut mask).await.is_err() {
            return;
        }
        let mut payload = vec![0u8; len as usize];
        if io.read_exact(&mut payload).await.is_err() {
            return;
        }
        payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= mask[i % 4]);
        let mut frame = vec![0x80 | opcode];
        if payload.len() < 126 {
            frame.push(payload.len() as u8);
        } else {
            frame.push(126);
            frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        frame.extend_from_slice(&payload);
        if io.write_all(&frame).await.is_err() || opcode == 8 {
            return;
        }
    }
}

/// A connection that records what it reads.
struct Tap {
    inner: tokio::net::TcpStream,
    tape: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Tap {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let fresh = buf.filled()[before..].to_vec();
            self.tape.lock().unwrap().extend_from_slice(&fresh);
        }
        polled
    }
}

impl AsyncWrite for Tap {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
