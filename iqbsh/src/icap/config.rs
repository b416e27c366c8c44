//! `[proxy.icap]`: the ICAP services bodies are scanned by, and how large a
//! body is held back for its verdict per content type. Read from TOML (unknown
//! keys rejected, defaults in named functions) and checked with every problem
//! named by field.
//!
//! Must not: open connections; `Icap::start` resolves and connects.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use policies::duration;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::options::Method;

/// `[proxy.icap]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IcapConfig {
    /// The services by name (`[proxy.icap.services.NAME]`); none means nothing is scanned.
    pub services: BTreeMap<String, ServiceConfig>,
    /// Bodies up to this size are held whole in memory until every service's verdict. Default `"32MiB"`.
    pub scan_limit: Size,
    /// What a body above the limit gets (see [`OverLimit`]). Default `hold`.
    pub over_limit: OverLimit,
    /// Other limits for some content types; the first rule listing a type wins.
    pub content: Vec<ContentRule>,
    /// Where and how much of the bodies above the limit are held on disk (`[proxy.icap.hold]`).
    pub hold: HoldConfig,
    /// Content types that stream without end, scanned piece by piece (`[proxy.icap.streaming]`).
    pub streaming: StreamingConfig,
}

impl Default for IcapConfig {
    fn default() -> Self {
        Self {
            services: BTreeMap::new(),
            scan_limit: default_scan_limit(),
            over_limit: OverLimit::Hold,
            content: Vec::new(),
            hold: HoldConfig::default(),
            streaming: StreamingConfig::default(),
        }
    }
}

/// `[proxy.icap.hold]`: the disk that bodies above their scan limit wait on for their verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HoldConfig {
    /// The directory (created 0700; the binary puts a relative one under its data
    /// directory). Each held body is a 0600 file unlinked as soon as it is opened, so
    /// nothing is left behind, even by a crash. Default `"scan-hold"`.
    pub dir: PathBuf,
    /// The most one client connection holds at once (all its transfers). Default `"2GiB"`.
    pub per_connection: Size,
    /// The most every connection together holds. Default `"16GiB"`.
    pub total: Size,
}

impl Default for HoldConfig {
    fn default() -> Self {
        Self { dir: PathBuf::from("scan-hold"), per_connection: Size(2 << 30), total: Size(16 << 30) }
    }
}

/// `[proxy.icap.streaming]`: content types whose bodies may never end (server-sent
/// events, multipart replace streams, newline-delimited JSON, gRPC): instead of being
/// held until their end, each piece is scanned on its own and passed on after its
/// verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamingConfig {
    /// `type/subtype` or `type/*`, matched without parameters. Default: see [`default_streaming_types`].
    pub types: Vec<String>,
    /// A piece ends when it reaches this size. Default `"64KiB"`.
    pub piece: Size,
    /// ... or this long after its first byte, whichever comes first. Default `"200ms"`.
    #[serde(with = "duration::one")]
    pub wait: Duration,
}

/// Server-sent events, multipart replace streams (webcams), newline-delimited JSON
/// streams and gRPC.
pub fn default_streaming_types() -> Vec<String> {
    ["text/event-stream", "multipart/x-mixed-replace", "application/x-ndjson", "application/grpc"]
        .map(str::to_owned)
        .to_vec()
}

impl Default for StreamingConfig {
    fn default() -> Self {
        Self { types: default_streaming_types(), piece: Size(64 << 10), wait: Duration::from_millis(200) }
    }
}

fn default_scan_limit() -> Size {
    Size(32 << 20)
}

/// `[proxy.icap.services.NAME]`: one ICAP service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// `icap://host[:port]/service` (port 1344 when omitted).
    pub url: String,
    /// `respmod` (downloads) and/or `reqmod` (uploads). Default both.
    #[serde(default = "default_methods")]
    pub methods: Vec<Method>,
    /// The longest wait for the service at any step: connecting, sending, the
    /// verdict after the last byte. Default `"30s"`.
    #[serde(default = "default_timeout", with = "duration::one")]
    pub timeout: Duration,
    /// What a failure (service down, error answer, timeout) does: `block` or
    /// `pass`. Default `block` (fail closed), for uploads as for downloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// Connections open at once, unless the service advertises fewer
    /// (`Max-Connections`). Default 64.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Send a body that fits in the service's preview as a preview ending in
    /// `ieof` (RFC 3507 section 4.5) instead of whole with `Allow: 204`. Default
    /// false: c-icap 0.5.10 answers the whole small body 2-3 times sooner and for
    /// about a quarter less CPU (measured).
    #[serde(default)]
    pub ieof_previews: bool,
}

fn default_methods() -> Vec<Method> {
    vec![Method::Respmod, Method::Reqmod]
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_max_connections() -> usize {
    64
}

impl ServiceConfig {
    /// `(host, port, path)` of the URL, or what is wrong with it.
    pub fn parts(&self) -> Result<(String, u16, String), String> {
        let rest = self.url.strip_prefix("icap://").ok_or("must start with icap://")?;
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        if path.is_empty() {
            return Err("must name the service after the host (icap://host:port/service)".into());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                let port = p.parse::<u16>().ok().filter(|p| *p != 0).ok_or("the port is not a number 1-65535")?;
                (h, port)
            }
            _ => (authority, 1344),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', '@', ' ']) {
            return Err("has no valid host".into());
        }
        Ok((host.to_owned(), port, format!("/{path}")))
    }

    /// `host:port` for the `Host` header.
    pub(crate) fn authority(&self) -> String {
        match self.parts() {
            Ok((host, port, _)) if host.contains(':') => format!("[{host}]:{port}"),
            Ok((host, port, _)) => format!("{host}:{port}"),
            Err(_) => String::new(),
        }
    }
}

/// What a failed scan does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// The user gets a page saying the content could not be scanned.
    Block,
    /// The content passes unscanned; the access log says why.
    Pass,
}

/// What a body larger than its scan limit gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverLimit {
    /// Held whole (the part past the limit on disk, `[proxy.icap.hold]`) and
    /// scanned whole; not a byte, nor the response head, goes on before the
    /// verdict. Past the hold space of the connection or of the gateway it is
    /// refused with a page (fail closed), never passed.
    Hold,
    /// Scanned whole while it streams to the user: the part up to the limit is
    /// held until the limit is passed, then bytes flow on as they arrive except
    /// the last 64 KiB, which wait for the verdict. Unscanned bytes reach the
    /// receiver: a threat found then cuts the transfer short (the client sees an
    /// incomplete download or upload, never its end; an origin may keep the part
    /// of an upload it got); the access log names the threat and marks the
    /// transfer partly scanned with the bytes passed before the verdict.
    Stream,
    /// Passed as it arrives without a scan; the access log says so.
    Pass,
    /// Refused with a page saying it is too large to scan.
    Block,
}

/// `[[proxy.icap.content]]`: other limits for some content types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentRule {
    /// `type/subtype`, `type/*` or `*`, matched without parameters, case-insensitively.
    pub types: Vec<String>,
    /// This rule's scan limit; `"0"` sends every body of these types the over-limit way.
    pub scan_limit: Option<Size>,
    /// This rule's over-limit handling.
    pub over_limit: Option<OverLimit>,
}

/// A number of bytes, written `65536`, `"512KiB"`, `"32MiB"` or `"1GiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl Size {
    /// Parses `<integer>[KiB|MiB|GiB]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a size like 65536, 512KiB or 32MiB"))?;
        let shift = match unit.trim() {
            "" | "B" => 0,
            "KiB" => 10,
            "MiB" => 20,
            "GiB" => 30,
            _ => return Err(format!("{text:?}: the unit must be KiB, MiB or GiB")),
        };
        n.checked_mul(1 << shift).map(Self).ok_or_else(|| format!("{text:?} is too large"))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        match n {
            0 => write!(f, "0"),
            _ if n.is_multiple_of(1 << 30) => write!(f, "{}GiB", n >> 30),
            _ if n.is_multiple_of(1 << 20) => write!(f, "{}MiB", n >> 20),
            _ if n.is_multiple_of(1 << 10) => write!(f, "{}KiB", n >> 10),
            _ => write!(f, "{n}"),
        }
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bytes(n) => Ok(Self(n)),
            Raw::Text(t) => Self::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// Whether `pattern` (`type/subtype`, `type/*`, `*`) matches `content_type` (parameters ignored).
pub(crate) fn type_matches(pattern: &str, content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix("/*") {
        Some(major) => essence.split('/').next().is_some_and(|m| m.eq_ignore_ascii_case(major)),
        None => essence.eq_ignore_ascii_case(pattern),
    }
}

/// Whether a content-type pattern is well formed.
fn pattern_ok(pattern: &str) -> bool {
    let token = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
    pattern == "*" || pattern.split_once('/').is_some_and(|(a, b)| token(a) && (b == "*" || token(b)))
}

impl IcapConfig {
    /// Whether bodies of `content_type` are scanned piece by piece (they may never end).
    pub(crate) fn streams(&self, content_type: &str) -> bool {
        self.streaming.types.iter().any(|p| type_matches(p, content_type))
    }

    /// The limit and over-limit handling for a body of `content_type`.
    pub(crate) fn limit_for(&self, content_type: &str) -> (u64, OverLimit) {
        let rule = self.content.iter().find(|r| r.types.iter().any(|p| type_matches(p, content_type)));
        let limit = rule.and_then(|r| r.scan_limit).unwrap_or(self.scan_limit);
        (limit.0, rule.and_then(|r| r.over_limit).unwrap_or(self.over_limit))
    }

    /// Problems as (field, message); empty when valid.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, s) in &self.services {
            let at = |field: &str| format!("icap.services.{name}.{field}");
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                out.push((format!("icap.services.{name:?}"), "a service name uses letters, digits, - and _".into()));
            }
            if let Err(e) = s.parts() {
                out.push((at("url"), format!("{:?} {e}", s.url)));
            }
            if s.methods.is_empty() {
                out.push((at("methods"), "must list respmod and/or reqmod".into()));
            }
            if s.timeout.is_zero() {
                out.push((at("timeout"), "must be more than 0".into()));
            }
            if s.max_connections == 0 {
                out.push((at("max_connections"), "must be at least 1".into()));
            }
        }
        if self.hold.dir.as_os_str().is_empty() {
            out.push(("icap.hold.dir".into(), "must name a directory".into()));
        }
        if self.hold.per_connection.0 == 0 || self.hold.per_connection > self.hold.total {
            out.push(("icap.hold.per_connection".into(), "must be more than 0 and at most icap.hold.total".into()));
        }
        for t in self.streaming.types.iter().filter(|t| *t == "*" || !pattern_ok(t)) {
            out.push(("icap.streaming.types".into(), format!("{t:?} is not type/subtype or type/*")));
        }
        if self.streaming.piece.0 == 0 {
            out.push(("icap.streaming.piece".into(), "must be more than 0".into()));
        }
        if self.streaming.wait.is_zero() {
            out.push(("icap.streaming.wait".into(), "must be more than 0".into()));
        }
        for (i, rule) in self.content.iter().enumerate() {
            if rule.types.is_empty() {
                out.push((format!("icap.content[{i}].types"), "must list at least one content type".into()));
            }
            for t in rule.types.iter().filter(|t| !pattern_ok(t)) {
                out.push((format!("icap.content[{i}].types"), format!("{t:?} is not type/subtype, type/* or *")));
            }
        }
        out
    }
}
