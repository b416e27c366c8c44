//! A client's TLS connection (after `CONNECT`, or redirected to the
//! transparent listener): peek the ClientHello, then splice or bump.
//!
//! Splice (bytes pass untouched; the client sees the origin's own
//! certificate) only when all hold: the ClientHello names a server (SNI),
//! the name is in an exempt category, it equals the `CONNECT` host (explicit
//! proxy), it is not an ECH provider's public name when the hello carries
//! ECH, and the organisation's policy allows the host. Everything else is
//! bumped; on the transparent listener a ClientHello without SNI is refused
//! (there is no name to verify the origin against). With `CONNECT`, a
//! ClientHello without SNI is bumped for the `CONNECT` host, and one whose SNI
//! differs from it is bumped for the SNI (the name the origin's certificate
//! is then verified against and requests are checked against).
//!
//! Encrypted Client Hello. Browsers send an ECH extension in every hello: a
//! real one when the site's DNS publishes an ECH configuration, a GREASE one
//! (indistinguishable by design) otherwise. Either way the visible SNI is the
//! outer name, the name of the server that receives the connection and holds
//! the key to the inner hello: with GREASE it is the site itself; with real
//! ECH it is the provider's client-facing server. So the decision is made on
//! the outer name, and a spliced connection goes only to the address the
//! gateway resolves for that name itself (never the one the client chose):
//! the encrypted inner hello can then only reach the server that owns the
//! exempt name, which serves its own sites. A provider that fronts many
//! sites behind one public name (`ech_fronts`) is never spliced, whatever its
//! category, because the inner name could be any of them. Refusing to splice
//! every hello with ECH, as before, decrypted the exempt categories for every
//! real browser. A bumped connection with real ECH is answered under the
//! outer name; the browser then retries without ECH (the "securely disabled"
//! path of RFC 9849 §6.1.6) and is decided again on the real name.
//!
//! A name in a threat feed is refused before either (spliced traffic is
//! never exempt from the feeds), and a spliced tunnel is cut when its name or
//! origin address is listed while it is open, when its source is blocked or
//! leaves the catalog, and at the maximum lifetime (`standing`). Spliced bytes move through
//! kernel pipes (`zerocopy`) when the client's TCP socket is at hand.
//!
//! Legacy ESNI (extension 0xffce, the withdrawn drafts) is not ECH: no
//! browser sends it any more, and its visible name, if there is one, is not
//! an outer name whose server holds the key, so nothing ties the encrypted
//! name to it. A hello that carries it is never spliced; it is bumped, and
//! each request is then decided on the name whose certificate was verified.
//!
//! A name the organisation's policy denies (the SNI, or the `CONNECT` host
//! when it differs) is refused before any origin is contacted (`denied`):
//! the client gets the block page over TLS completed under a leaf naming the
//! host alone (`http::denied`), and the origin sees no connection.
//!
//! Must not: splice anything it cannot name and categorise; contact an
//! origin for a name the policy denies.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::accept::conn::Conn;
use crate::config::Settings;
use crate::decide::denial::{Denial, DenyKind};
use crate::decide::rules::Categorized;
use crate::decide::threats::threat;
use crate::report::accesslog::{Action, Record};
use crate::tls::alert::{ALERT_ACCESS_DENIED, alert, refuse};
use crate::tls::hello::{self, ClientHello};
use crate::tls::idle::Relayed;
use crate::tls::rewind::Rewind;
use crate::tls::zerocopy::{self, Ends, Pipes};
use clientio::{Lingering, Watched};

/// Largest ClientHello accepted (post-quantum key shares included).
const MAX_HELLO: usize = 64 * 1024;

/// Where the client wanted to go.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// `CONNECT host:port` on the explicit listener.
    Connect { host: String, port: u16 },
    /// The transparent listener: the SNI names the host, the port is configured.
    Transparent { port: u16 },
}

/// The URL a tunnel's decision is about.
pub(crate) fn tunnel_url(host: &str, port: u16) -> String {
    if port == 443 { format!("https://{host}/") } else { format!("https://{host}:{port}/") }
}

/// A client connection the TLS path can take: a stream, and the TCP socket under it when there is one.
pub(crate) trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The TCP socket and the bytes read from it that the stream has not yet
    /// returned; the stream itself back when there is no socket under it.
    fn into_tcp(self) -> Result<(TcpStream, Bytes), Self>
    where
        Self: Sized;
}

impl ClientStream for TcpStream {
    fn into_tcp(self) -> Result<(TcpStream, Bytes), Self> {
        Ok((self, Bytes::new()))
    }
}

impl ClientStream for TokioIo<Upgraded> {
    fn into_tcp(self) -> Result<(TcpStream, Bytes), Self> {
        match self.into_inner().downcast::<TokioIo<Lingering<Watched<TcpStream>>>>() {
            Ok(parts) => Ok((parts.io.into_inner().into_inner().into_inner(), parts.read_buf)),
            Err(upgraded) => Err(TokioIo::new(upgraded)),
        }
    }
}

/// Handles a client TLS connection to its end.
pub(crate) async fn run<S: ClientStream>(conn: Arc<Conn>, mut stream: S, target: Target) {
    let started = SystemTime::now();
    let timeout = conn.shared.settings.handshake_timeout;
    let hello = match tokio::time::timeout(timeout, hello::read(&mut stream, MAX_HELLO)).await {
        Ok(Ok(hello)) => hello,
        Ok(Err(e)) => return refuse_unnamed(&conn, started, &target, Denial::new(DenyKind::BadRequest, e.to_string())),
        Err(_) => {
            let denial = Denial::new(DenyKind::BadRequest, format!("no ClientHello within {}s", timeout.as_secs()));
            return refuse_unnamed(&conn, started, &target, denial);
        }
    };
    let (name, port) = match (&target, &hello.sni) {
        (_, Some(sni)) => (sni.clone(), target_port(&target)),
        (Target::Connect { host, port }, None) => (host.clone(), *port),
        (Target::Transparent { .. }, None) => {
            let denial = Denial::new(DenyKind::BadRequest, "the ClientHello names no server (SNI)");
            refuse_unnamed(&conn, started, &target, denial);
            return alert(stream, ALERT_ACCESS_DENIED).await;
        }
    };
    let mut record = conn.record(started, "CONNECT", &name, format!("{name}:{port}"));
    if let Target::Connect { host, port } = &target {
        // What the client asked for stays in the line, and the name decided on beside it.
        record.url = format!("{}:{port}", bracketed(host));
        if !host.trim_end_matches('.').eq_ignore_ascii_case(&name) {
            record.sni = Some(name.clone());
        }
    }
    if let Some(denial) = threat(&conn.shared.threats.current(), &mut record, &name, None) {
        return refuse(&conn, record, stream, &denial).await;
    }
    let categorized = conn.categorize(&*conn.rules(), &name);
    record.categories.clone_from(&categorized.categories);
    if may_splice(&target, &hello, &categorized, &conn.shared.settings) {
        return splice(conn, record, stream, hello, port).await;
    }
    // Decided on the names the client gave before any origin is contacted.
    let mut names = vec![name.as_str()];
    if let Target::Connect { host, .. } = &target
        && !host.trim_end_matches('.').eq_ignore_ascii_case(&name)
    {
        names.push(host);
    }
    if let Some((categories, denial)) = denied_names(&conn, &names, port) {
        record.categories = categories;
        return crate::http::denied::serve(conn, record, stream, hello, denial).await;
    }
    crate::tls::bump::run(conn, record, stream, hello, port).await;
}

/// The policy's refusal of a tunnel to `names` (the first that is denied), if any.
fn denied_names(conn: &Conn, names: &[&str], port: u16) -> Option<(Vec<String>, Denial)> {
    let rules = conn.rules();
    names.iter().find_map(|name| {
        let categorized = conn.categorize(&*rules, name);
        let decision = rules.decide(conn.bin(), name, &tunnel_url(name, port), &categorized.categories);
        (!decision.allow).then(|| (categorized.categories, Denial::new(DenyKind::Policy, decision.reason)))
    })
}

/// A host as it goes before `:port` (IPv6 literals in brackets).
fn bracketed(host: &str) -> String {
    if host.contains(':') { format!("[{host}]") } else { host.to_owned() }
}

fn target_port(target: &Target) -> u16 {
    match target {
        Target::Connect { port, .. } | Target::Transparent { port } => *port,
    }
}

/// Whether the connection qualifies for splicing (see the module doc).
fn may_splice(target: &Target, hello: &ClientHello, categorized: &Categorized, settings: &Settings) -> bool {
    let Some(sni) = &hello.sni else { return false };
    let connect_matches = match target {
        Target::Connect { host, .. } => host.trim_end_matches('.').eq_ignore_ascii_case(sni),
        Target::Transparent { .. } => true,
    };
    let fronted = hello.ech && settings.is_ech_front(sni);
    categorized.exempt && connect_matches && !fronted && !hello.esni
}

/// Logs a refusal that happened before the server name was known.
fn refuse_unnamed(conn: &Conn, started: SystemTime, target: &Target, denial: Denial) {
    let host = match target {
        Target::Connect { host, .. } => host.as_str(),
        Target::Transparent { .. } => "",
    };
    let mut record = conn.record(started, "CONNECT", host, format!("{host}:{}", target_port(target)));
    conn.deny(&mut record, &denial, 0);
    conn.shared.metrics.connection(Action::Deny);
    conn.finish(record);
}

/// Passes the connection through untouched, replaying the peeked ClientHello.
async fn splice<S: ClientStream>(conn: Arc<Conn>, mut record: Record, client: S, hello: ClientHello, port: u16) {
    let host = record.host.clone();
    let decision = conn.rules().decide(conn.bin(), &host, &tunnel_url(&host, port), &record.categories);
    record.reason = decision.reason;
    if !decision.allow {
        let denial = Denial::new(DenyKind::Policy, record.reason.clone());
        return refuse(&conn, record, client, &denial).await;
    }
    let settings = &conn.shared.settings;
    let mut origin = match conn.shared.resolver.connect(&host, port, settings.connect_timeout).await {
        Ok(origin) => origin,
        Err(denial) => return refuse(&conn, record, client, &denial).await,
    };
    record.upstream = origin.peer_addr().ok();
    if let Err(e) = origin.write_all(&hello.raw).await {
        let denial = Denial::new(DenyKind::Upstream, format!("origin {host}:{port} closed: {e}"));
        return refuse(&conn, record, client, &denial).await;
    }
    record.action = Action::Splice;
    record.status = 200;
    record
        .scans
        .extend(crate::http::inspect::unscanned(&conn, "spliced: exempt from inspection, not decrypted or scanned"));
    conn.shared.metrics.connection(Action::Splice);
    let (listed, cut) = (conn.shared.threats.listed(host, record.upstream.map(|a| a.ip())), OnceLock::new());
    let until = async {
        let denial = tokio::select! {
            denial = listed => denial,
            denial = crate::accept::standing::ended(&conn) => denial,
        };
        let _ = cut.set(denial);
    };
    conn.splicing.store(true, std::sync::atomic::Ordering::Relaxed);
    let relayed = relay(client, origin, settings.tunnel_idle, until).await;
    record.bytes_from_client = relayed.from_client + hello.raw.len() as u64;
    record.bytes_to_client = relayed.to_client;
    if relayed.idle {
        record.reason.push_str(" (closed after the idle limit)");
    }
    if let Some(denial) = cut.get() {
        record.reason.push_str(&format!(" (cut: {})", denial.reason));
        record.deny_kind = Some(denial.kind);
    }
    conn.finish(record);
}

/// Relays a spliced tunnel: through kernel pipes when the client's socket is at
/// hand and pipes can be had, else by copying.
async fn relay<S: ClientStream>(
    client: S,
    origin: TcpStream,
    idle: Duration,
    until: impl Future<Output = ()>,
) -> Relayed {
    match client.into_tcp() {
        Ok((client, prefix)) => match Pipes::new() {
            Ok(pipes) => zerocopy::relay(Ends { client, prefix, origin }, pipes, idle, until).await,
            Err(e) => {
                tracing::debug!(error = %e, "no pipes for a zero-copy relay; copying");
                crate::tls::idle::relay(Rewind::new(prefix.to_vec(), client), origin, idle, until).await
            }
        },
        Err(client) => crate::tls::idle::relay(client, origin, idle, until).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(sni: Option<&str>, ech: bool) -> ClientHello {
        ClientHello { sni: sni.map(str::to_owned), ech, ..ClientHello::default() }
    }

    #[test]
    fn a_named_exempt_hello_matching_the_connect_host_is_spliced_ech_or_not() {
        let settings = crate::ProxyConfig::default().settings();
        let splice = |target: &Target, hello: &ClientHello, c: &Categorized| may_splice(target, hello, c, &settings);
        let exempt = Categorized { categories: vec!["finance".into()], exempt: true };
        let plain = Categorized { categories: vec!["news".into()], exempt: false };
        let connect = Target::Connect { host: "bank.test".into(), port: 443 };
        let transparent = Target::Transparent { port: 443 };
        assert!(splice(&connect, &hello(Some("bank.test"), false), &exempt));
        assert!(splice(&transparent, &hello(Some("bank.test"), false), &exempt));
        assert!(!splice(&transparent, &hello(Some("bank.test"), false), &plain), "not exempt");
        assert!(splice(&transparent, &hello(Some("bank.test"), true), &exempt), "ECH: decided on the outer name");
        assert!(splice(&connect, &hello(Some("bank.test"), true), &exempt), "a browser's GREASE ECH");
        assert!(!splice(&connect, &hello(None, false), &exempt), "no SNI");
        assert!(!splice(&connect, &hello(None, true), &exempt), "ECH without a visible name");
        let esni = ClientHello { esni: true, ..hello(Some("bank.test"), false) };
        assert!(!splice(&connect, &esni, &exempt), "legacy ESNI: never spliced on the visible name");
        assert!(!splice(&transparent, &esni, &exempt), "legacy ESNI on the transparent listener");
        assert!(!splice(&connect, &hello(Some("news.test"), false), &exempt), "SNI differs from CONNECT");
    }

    #[test]
    fn an_ech_providers_public_name_is_never_spliced() {
        let settings = crate::ProxyConfig::default().settings();
        let exempt = Categorized { categories: vec!["finance".into()], exempt: true };
        for front in ["cloudflare-ech.com", "edge.cloudflare-ech.com"] {
            let target = Target::Transparent { port: 443 };
            assert!(!may_splice(&target, &hello(Some(front), true), &exempt, &settings), "{front}");
        }
        let lookalike = hello(Some("notcloudflare-ech.com"), true);
        assert!(
            may_splice(&Target::Transparent { port: 443 }, &lookalike, &exempt, &settings),
            "suffix, not substring"
        );
    }
}
