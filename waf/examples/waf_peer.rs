//! The engine's side of the CRS regression suite and of the benchmark
//! (`benches/waf_crs_suite.py`, `benches/waf.sh`), which run the same requests through
//! nginx + ModSecurity with the same rules:
//!
//! ```text
//! waf_peer rules DIR [PROFILE]   # DIR/site.conf and DIR/unicode.mapping: the rule text a
//!                                # site compiles, for nginx's modsecurity_rules_file
//! waf_peer replay [PROFILE]      # JSON lines in: {"id","method","uri","version","headers":[[k,v]]
//!                                #   or "headers_b64", "body_b64"}; out: {"id","rules":[…],"status","score"}
//! waf_peer bench DIR N           # each request DIR/*.req (raw HTTP/1.1) N times in-process:
//!                                # CPU per transaction, transactions per second, the verdict
//! ```
//!
//! PROFILE is `default` (a new site's settings: paranoia 1, block) or `crs-suite` (what
//! the CRS regression tests are written for: paranoia 4, detection only).
//!
//! Must not: send anything over the network.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use waf::engine::{Engine, EnginePaths, Mode, RuleSettings, SiteRules, Step, UNICODE_MAP, site_text};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["rules", dir] => rules(Path::new(dir), "default"),
        ["rules", dir, profile] => rules(Path::new(dir), profile),
        ["replay"] => replay("default"),
        ["replay", profile] => replay(profile),
        ["bench", dir, n] => bench(Path::new(dir), n.parse()?),
        _ => Err("usage: waf_peer rules DIR [PROFILE] | replay [PROFILE] | bench DIR N".into()),
    }
}

fn settings(profile: &str) -> Result<RuleSettings> {
    match profile {
        "default" => Ok(RuleSettings::default()),
        "crs-suite" => Ok(RuleSettings { paranoia: 4, mode: Mode::Detect, ..RuleSettings::default() }),
        other => Err(format!("no profile {other:?} (default, crs-suite)").into()),
    }
}

fn rules(dir: &Path, profile: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let map = dir.join("unicode.mapping");
    std::fs::write(&map, UNICODE_MAP)?;
    std::fs::write(dir.join("site.conf"), site_text(&EnginePaths::default(), &map, &settings(profile)?))?;
    Ok(())
}

fn site(profile: &str) -> Result<SiteRules> {
    let engine = Engine::load(&EnginePaths::default())?;
    Ok(SiteRules::compile(&engine, "localhost", &settings(profile)?)?)
}

/// One request as the replay and the benchmark hand it to the engine.
struct Request {
    method: String,
    uri: String,
    version: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Runs the request phases and the logging phase; the matched ids, the refusal's
/// status (200 when passed), the inbound score.
fn run(rules: &SiteRules, req: &Request, id: &str) -> (Vec<u32>, u16, u32) {
    let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let server: SocketAddr = "127.0.0.1:80".parse().unwrap();
    let mut tx = rules.begin(id, client, server);
    let mut step = tx.request_head(&req.method, &req.uri, &req.version, &req.headers);
    if step == Step::Continue {
        step = tx.request_body(&req.body);
    }
    let outcome = tx.finish();
    let status = match step {
        Step::Intervene { status } => status,
        Step::Continue => 200,
    };
    (outcome.matches.iter().map(|m| m.id).collect(), status, outcome.inbound_score)
}

fn header_map(pairs: &[(Vec<u8>, Vec<u8>)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }
    headers
}

fn replay(profile: &str) -> Result<()> {
    let rules = site(profile)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let v: Value = serde_json::from_str(&line?)?;
        let text = |key: &str| v[key].as_str().unwrap_or_default().to_string();
        let b64 = |v: &Value| base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default());
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for p in v["headers"].as_array().into_iter().flatten() {
            pairs.push((p[0].as_str().unwrap_or_default().into(), p[1].as_str().unwrap_or_default().into()));
        }
        for p in v["headers_b64"].as_array().into_iter().flatten() {
            pairs.push((b64(&p[0])?, b64(&p[1])?));
        }
        let req = Request {
            method: text("method"),
            uri: text("uri"),
            version: text("version"),
            headers: header_map(&pairs),
            body: base64::engine::general_purpose::STANDARD.decode(text("body_b64"))?,
        };
        let (ids, status, score) = run(&rules, &req, &text("id"));
        writeln!(out, "{}", json!({"id": v["id"], "rules": ids, "status": status, "score": score}))?;
        out.flush()?;
    }
    Ok(())
}

/// Reads a raw HTTP/1.1 request (as the benchmark sends it to nginx).
fn parse_raw(raw: &[u8]) -> Result<Request> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of head")?;
    let head = std::str::from_utf8(&raw[..split])?;
    let mut lines = head.split("\r\n");
    let mut line = lines.next().ok_or("no request line")?.split(' ');
    let (method, uri, version) =
        (line.next().unwrap_or("GET"), line.next().unwrap_or("/"), line.next().unwrap_or("HTTP/1.1"));
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase().into_bytes(), v.trim().as_bytes().to_vec()))
        .collect();
    Ok(Request {
        method: method.into(),
        uri: uri.into(),
        version: version.into(),
        headers: header_map(&pairs),
        body: raw[split + 4..].to_vec(),
    })
}

/// CPU time of this thread (user + system, in clock ticks of 10 ms, from /proc: the
/// workspace allows no `unsafe` outside the binding, so no getrusage here).
fn thread_cpu() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    std::time::Duration::from_millis(ticks * 10)
}

fn bench(dir: &Path, n: usize) -> Result<()> {
    let rules = site("default")?;
    let mut files: Vec<_> = std::fs::read_dir(dir)?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "req"));
    files.sort();
    for path in files {
        let req = parse_raw(&std::fs::read(&path)?)?;
        let (ids, status, score) = run(&rules, &req, "warm-up");
        let (cpu0, wall0) = (thread_cpu(), Instant::now());
        for i in 0..n {
            let _ = run(&rules, &req, &format!("bench-{i}"));
        }
        let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed());
        let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        println!(
            "{}",
            json!({
                "request": name, "transactions": n, "status": status, "score": score, "rules": ids,
                "cpu_us_per_tx": cpu.as_secs_f64() * 1e6 / n as f64,
                "tx_per_s": n as f64 / wall.as_secs_f64(),
            })
        );
    }
    Ok(())
}
