//! What one protected site is: its domain and addresses, the SFTP access to its document
//! root (`sftp://USER@HOST[:PORT]/PATH`), the pages watched with their masks, and the
//! include and exclude patterns of the files watched. Read and checked from people's
//! input with every problem named.
//!
//! Must not: hold a secret in the clear longer than a connection needs it (the store
//! keeps it sealed), or connect anywhere.

use std::net::IpAddr;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

/// Where and as whom the service reaches a site's document root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    pub user: String,
    pub host: String,
    pub port: u16,
    /// The document root on the server, absolute.
    pub root: String,
}

impl Access {
    /// Reads `sftp://USER@HOST[:PORT]/PATH` (a login given apart replaces USER; an IPv6
    /// host is written in brackets).
    pub fn parse(url: &str, login: Option<&str>) -> Result<Access, String> {
        let rest = url
            .strip_prefix("sftp://")
            .ok_or_else(|| format!("'{url}': the access is sftp://USER@HOST[:PORT]/PATH"))?;
        let (authority, path) = rest.split_at(rest.find('/').ok_or_else(|| format!("'{url}': no document root path"))?);
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let user = login.or(user).filter(|u| !u.is_empty()).ok_or_else(|| format!("'{url}': no user"))?;
        let (host, port) = split_host_port(hostport).ok_or_else(|| format!("'{url}': bad host or port"))?;
        let root =
            normalise_root(path).ok_or_else(|| format!("'{url}': the root path must be absolute, without '..'"))?;
        if user.chars().any(|c| c.is_control() || c == '@' || c == ':') {
            return Err(format!("'{url}': bad user name"));
        }
        Ok(Access { user: user.to_string(), host, port, root })
    }

    /// `sftp://USER@HOST:PORT/PATH`.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("sftp://{}@{host}:{}{}", self.user, self.port, self.root)
    }
}

fn split_host_port(text: &str) -> Option<(String, u16)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 22,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    let (host, port) = match text.split_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (text, 22),
    };
    let good = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    (good && port != 0).then(|| (host.to_string(), port))
}

/// `/srv/www/` → `/srv/www`; `None` for a relative path or one with `.`/`..` parts.
fn normalise_root(path: &str) -> Option<String> {
    if !path.starts_with('/') || path.chars().any(char::is_control) {
        return None;
    }
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return None;
    }
    Some(format!("/{}", parts.join("/")))
}

/// The secret of the access, as the duty team gave it.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Password(String),
    /// An OpenSSH private key (Ed25519 or ECDSA), PEM text.
    Key(String),
}

impl Secret {
    /// A key when the text is a private key, else a password.
    pub fn from_text(text: &str) -> Secret {
        if text.trim_start().starts_with("-----BEGIN") {
            Secret::Key(text.to_string())
        } else {
            Secret::Password(text.to_string())
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Secret::Password(t) | Secret::Key(t) => t,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Secret::Password(_) => "password",
            Secret::Key(_) => "key",
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret::{}(********)", self.kind())
    }
}

/// What is dynamic by design on a page: an element (CSS selector) or a text (regular
/// expression) left out of the comparison.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mask {
    Selector(String),
    Regex(String),
}

impl Mask {
    /// `re:PATTERN` is a regular expression, anything else a CSS selector.
    pub fn parse(text: &str) -> Result<Mask, String> {
        let mask = match text.strip_prefix("re:") {
            Some(re) => Mask::Regex(re.to_string()),
            None => Mask::Selector(text.trim().to_string()),
        };
        mask.check().map(|()| mask)
    }

    fn check(&self) -> Result<(), String> {
        match self {
            Mask::Selector(s) => scraper::Selector::parse(s).map(|_| ()).map_err(|e| format!("mask '{s}': {e}")),
            Mask::Regex(r) => regex::Regex::new(r).map(|_| ()).map_err(|e| format!("mask 're:{r}': {e}")),
        }
    }
}

/// A page watched, with its masks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageSpec {
    pub url: String,
    #[serde(default)]
    pub masks: Vec<Mask>,
}

/// Everything about a site but its secret and its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSpec {
    /// The site's domain, lower case: its name everywhere.
    pub domain: String,
    /// Where its pages are fetched (by DNS when empty).
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    pub access: Access,
    /// Pages watched; the home page when empty.
    #[serde(default)]
    pub pages: Vec<PageSpec>,
    /// Only these files are watched (glob patterns relative to the root; all when empty).
    #[serde(default)]
    pub include: Vec<String>,
    /// These are not watched: the folders a CMS writes to (uploads, caches).
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl SiteSpec {
    /// Every problem of the spec, each naming its field.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut p = Vec::new();
        let d = &self.domain;
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if d.len() > 253 || !d.contains('.') || !d.split('.').all(label_ok) {
            p.push(format!("domain: '{d}' is not a lower-case domain name"));
        }
        for page in &self.pages {
            match url::Url::parse(&page.url) {
                Ok(u) if u.scheme() == "https" && u.host_str().is_some_and(|h| same_site(h, d)) => {}
                Ok(u) if u.scheme() != "https" => p.push(format!("pages: '{}' is not an https:// page", page.url)),
                Ok(u) => p.push(format!("pages: '{}' is on {}, not on {d}", page.url, u.host_str().unwrap_or("?"))),
                Err(e) => p.push(format!("pages: '{}': {e}", page.url)),
            }
            for m in &page.masks {
                if let Err(e) = m.check() {
                    p.push(format!("masks: {e}"));
                }
            }
        }
        for (field, patterns) in [("include", &self.include), ("exclude", &self.exclude)] {
            if let Err(e) = globs(patterns) {
                p.push(format!("{field}: {e}"));
            }
        }
        if p.is_empty() { Ok(()) } else { Err(p) }
    }

    /// The pages watched: those listed, or the home page.
    pub fn pages(&self) -> Vec<PageSpec> {
        if self.pages.is_empty() {
            vec![PageSpec { url: format!("https://{}/", self.domain), masks: Vec::new() }]
        } else {
            self.pages.clone()
        }
    }

    /// Which relative paths are watched.
    pub fn filter(&self) -> Result<PathFilter, String> {
        Ok(PathFilter {
            include: globs(&self.include)?,
            include_all: self.include.is_empty(),
            exclude: globs(&self.exclude)?,
        })
    }
}

/// Whether `host` is the site `domain` or one of its subdomains.
pub fn same_site(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == domain || host.strip_suffix(domain).is_some_and(|h| h.ends_with('.'))
}

fn globs(patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| format!("'{p}': {e}"))?);
        // A folder pattern covers what is inside it.
        if let Ok(g) = Glob::new(&format!("{}/**", p.trim_end_matches('/'))) {
            b.add(g);
        }
    }
    b.build().map_err(|e| e.to_string())
}

/// The include and exclude patterns of a site, compiled.
#[derive(Clone, Debug)]
pub struct PathFilter {
    include: GlobSet,
    include_all: bool,
    exclude: GlobSet,
}

impl PathFilter {
    /// Whether the file at `rel` (relative to the root, `/`-separated) is watched.
    pub fn watched(&self, rel: &str) -> bool {
        (self.include_all || self.include.is_match(rel)) && !self.exclude.is_match(rel)
    }

    /// Whether the folder at `rel` is walked at all.
    pub fn walked(&self, rel: &str) -> bool {
        !self.exclude.is_match(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_urls_read_with_their_parts_and_bad_ones_say_why() {
        let a = Access::parse("sftp://web@files.example.kz:2222/srv/www/", None).unwrap();
        assert_eq!(
            (a.user.as_str(), a.host.as_str(), a.port, a.root.as_str()),
            ("web", "files.example.kz", 2222, "/srv/www")
        );
        assert_eq!(a.url(), "sftp://web@files.example.kz:2222/srv/www");
        let b = Access::parse("sftp://[2001:db8::1]/var/www", Some("deploy")).unwrap();
        assert_eq!((b.user.as_str(), b.host.as_str(), b.port), ("deploy", "2001:db8::1", 22));
        for bad in
            ["ftp://a@h/x", "sftp://h/x", "sftp://a@h", "sftp://a@h/x/../etc", "sftp://a@h:0/x", "sftp://a@h/x\n"]
        {
            assert!(Access::parse(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn masks_and_patterns_are_checked() {
        assert_eq!(Mask::parse("re:\\d+ visitors").unwrap(), Mask::Regex("\\d+ visitors".into()));
        assert_eq!(Mask::parse("#news").unwrap(), Mask::Selector("#news".into()));
        assert!(Mask::parse("re:(").is_err());
        assert!(Mask::parse("div[").is_err());
        let spec = SiteSpec {
            domain: "site.example.kz".into(),
            addresses: vec![],
            access: Access::parse("sftp://u@h/www", None).unwrap(),
            pages: vec![PageSpec { url: "https://other.kz/".into(), masks: vec![] }],
            include: vec![],
            exclude: vec!["uploads".into(), "cache/*.tmp".into()],
        };
        let problems = spec.check().unwrap_err();
        assert!(problems[0].contains("not on site.example.kz"), "{problems:?}");
        let f = spec.filter().unwrap();
        assert!(f.watched("index.html") && f.watched("css/site.css"));
        assert!(!f.watched("uploads/a/b.jpg") && !f.walked("uploads") && !f.watched("cache/x.tmp"));
    }

    #[test]
    fn a_secret_is_a_key_or_a_password_and_never_printed() {
        let k = Secret::from_text("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n");
        assert_eq!(k.kind(), "key");
        assert_eq!(Secret::from_text("hunter2").kind(), "password");
        assert!(!format!("{:?}", Secret::from_text("hunter2")).contains("hunter2"));
    }
}
