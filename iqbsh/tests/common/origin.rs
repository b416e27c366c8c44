//! Test origins: a throw-away CA (standing in for a public CA; the proxy
//! trusts it through `extra_anchors`, curl does not), a TLS origin that picks
//! its certificate by SNI (good, expired, wrong-name and self-signed ones),
//! and a plain HTTP origin. Both answer with the name, protocol and path they
//! saw, and record the protocols. The TLS origin also takes WebSocket handshakes
//! (HTTP/1.1 `Upgrade: websocket`) and echoes every byte sent after its 101.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use time::{Duration, OffsetDateTime};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::shaped::{TestBody, full};

pub const TEST_CA_NAME: &str = "IQBSH Test Origin CA";

/// Names the good certificate covers (the wildcard serves benchmarks that need many
/// distinct host names).
pub const GOOD_NAMES: [&str; 6] =
    ["bank.test", "news.test", "casino.test", "doctor.test", "*.news.test", "cloudflare-ech.com"];

/// The stand-in public CA.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("test CA key");
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, TEST_CA_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let pem = params.self_signed(&key).expect("self-sign test CA").pem();
        Self { issuer: Issuer::new(params, key), pem }
    }

    pub fn write_pem(&self, dir: &Path) -> PathBuf {
        let path = dir.join("test-origin-ca.pem");
        std::fs::write(&path, &self.pem).expect("write test CA");
        path
    }

    /// A leaf for `names` valid in [now+from_days, now+to_days], signed by this CA (or self-signed).
    pub fn leaf(&self, names: &[&str], from_days: i64, to_days: i64, self_signed: bool) -> Arc<CertifiedKey> {
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("p");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        let now = OffsetDateTime::now_utc();
        params.not_before = now + Duration::days(from_days);
        params.not_after = now + Duration::days(to_days);
        let cert = if self_signed { params.self_signed(&key) } else { params.signed_by(&key, &self.issuer) };
        let der: CertificateDer<'static> = cert.expect("sign leaf").der().clone();
        let pkcs8 = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&pkcs8).expect("signer");
        Arc::new(CertifiedKey::new(vec![der], signer))
    }
}

/// Certificates by SNI.
struct BySni(HashMap<String, Arc<CertifiedKey>>);

impl fmt::Debug for BySni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BySni")
    }
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?;
        let wildcard = name.split_once('.').map(|(_, parent)| format!("*.{parent}"));
        self.0.get(name).or_else(|| self.0.get(wildcard.as_deref()?)).cloned()
    }
}

/// What the origins saw: (host, protocol) per request.
pub type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Body lengths of the uploads (`POST`) the origins received.
pub type Uploads = Arc<Mutex<Vec<usize>>>;

/// A running TLS origin.
pub struct TlsOrigin {
    pub addr: SocketAddr,
    pub seen: Seen,
    /// TCP connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    pub uploads: Uploads,
}

impl TlsOrigin {
    pub fn saw(&self, host: &str, proto: &str) -> bool {
        self.seen.lock().expect("seen").iter().any(|(h, p)| h == host && p == proto)
    }
}

/// Largest body `/bulk/N` serves.
const BULK_MAX: usize = 64 << 20;

/// The EICAR anti-virus test file, served at `/eicar`.
pub use super::icap::EICAR;

/// The first `n` bytes (at most 64 MiB) of a fixed pseudo-random pattern, from one shared buffer.
pub fn pattern(n: usize) -> Bytes {
    static BUFFER: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    let all = BUFFER.get_or_init(|| {
        Bytes::from((0..BULK_MAX as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>())
    });
    all.slice(..n.min(BULK_MAX))
}

/// `/bulk/N`: the first N bytes of the pattern, for throughput runs; `/eicar`: the
/// test virus; `/bulk-eicar/N`: N bytes of the pattern and then the test virus.
fn bulk(path: &str) -> Option<Bytes> {
    if path == "/eicar" {
        return Some(Bytes::from_static(EICAR));
    }
    if let Some(n) = path.strip_prefix("/bulk-eicar/") {
        let mut body = pattern(n.parse().ok()?).to_vec();
        body.extend_from_slice(EICAR);
        return Some(Bytes::from(body));
    }
    Some(pattern(path.strip_prefix("/bulk/")?.parse().ok()?))
}

/// Answers a `POST` with the length of its body, recorded in `uploads`.
async fn upload(req: Request<Incoming>, uploads: Uploads) -> Response<TestBody> {
    let n = req.into_body().collect().await.map(|b| b.to_bytes().len()).unwrap_or(0);
    uploads.lock().expect("uploads").push(n);
    Response::new(full(Bytes::from(format!("received {n}\n"))))
}

fn answer(host: String, req: &Request<Incoming>, seen: &Seen) -> Response<TestBody> {
    let proto = format!("{:?}", req.version());
    if let Some(response) = super::shaped::respond(req.uri().path(), req.uri().query()) {
        return response;
    }
    if let Some(body) = bulk(req.uri().path()) {
        let mut response = Response::new(full(body));
        let kind = hyper::header::HeaderValue::from_static("application/octet-stream");
        response.headers_mut().insert("content-type", kind);
        return response;
    }
    seen.lock().expect("seen").push((host.clone(), proto.clone()));
    let body = Bytes::from(format!("origin={host} proto={proto} path={}\n", req.uri().path()));
    let mut response = Response::new(full(body));
    if req.uri().path() == "/close" && req.version() == hyper::Version::HTTP_11 {
        response.headers_mut().insert("connection", hyper::header::HeaderValue::from_static("close"));
    }
    response
}

/// Answers a WebSocket handshake with 101 and echoes the upgraded stream.
fn echo(req: &mut Request<Incoming>) -> Response<TestBody> {
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let (mut read, mut write) = tokio::io::split(TokioIo::new(upgraded));
        let _ = tokio::io::copy(&mut read, &mut write).await;
    });
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
    for (name, value) in [("connection", "upgrade"), ("upgrade", "websocket"), ("sec-websocket-accept", "test")] {
        response.headers_mut().insert(name, hyper::header::HeaderValue::from_static(value));
    }
    response
}

/// Starts the TLS origin on loopback with good and bad certificates.
pub async fn tls_origin(ca: &TestCa) -> TlsOrigin {
    let good = ca.leaf(&GOOD_NAMES, -1, 90, false);
    let mut certs: HashMap<String, Arc<CertifiedKey>> =
        GOOD_NAMES.iter().map(|n| (n.to_string(), Arc::clone(&good))).collect();
    certs.insert("expired.test".into(), ca.leaf(&["expired.test"], -90, -1, false));
    certs.insert("wrongname.test".into(), ca.leaf(&["other.test"], -1, 90, false));
    certs.insert("selfsigned.test".into(), ca.leaf(&["selfsigned.test"], -1, 90, true));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(BySni(certs)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
    let (addr, seen, uploads) = (listener.local_addr().expect("addr"), Seen::default(), Uploads::default());
    let (seen2, uploads2) = (Arc::clone(&seen), Arc::clone(&uploads));
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            counter.fetch_add(1, Ordering::Relaxed);
            let (acceptor, seen, uploads) = (acceptor.clone(), Arc::clone(&seen2), Arc::clone(&uploads2));
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let host = tls.get_ref().1.server_name().unwrap_or("-").to_owned();
                let svc = service_fn(move |mut req: Request<Incoming>| {
                    let (host, seen, uploads) = (host.clone(), Arc::clone(&seen), Arc::clone(&uploads));
                    async move {
                        let resp = match req.headers().get("upgrade") {
                            Some(_) => echo(&mut req),
                            None if req.method() == hyper::Method::POST => upload(req, uploads).await,
                            None => answer(host, &req, &seen),
                        };
                        Ok::<_, Infallible>(resp)
                    }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc).await;
            });
        }
    });
    TlsOrigin { addr, seen, connections, uploads }
}

/// Starts a plain HTTP/1.1 origin on loopback.
pub async fn plain_origin() -> TlsOrigin {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
    let (addr, seen, uploads) = (listener.local_addr().expect("addr"), Seen::default(), Uploads::default());
    let (seen2, uploads2) = (Arc::clone(&seen), Arc::clone(&uploads));
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            counter.fetch_add(1, Ordering::Relaxed);
            let (seen, uploads) = (Arc::clone(&seen2), Arc::clone(&uploads2));
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let host = req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or("-").to_owned();
                    let (seen, uploads) = (Arc::clone(&seen), Arc::clone(&uploads));
                    async move {
                        let resp = match req.method() == hyper::Method::POST {
                            true => upload(req, uploads).await,
                            false => answer(host, &req, &seen),
                        };
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
            });
        }
    });
    TlsOrigin { addr, seen, connections, uploads }
}
