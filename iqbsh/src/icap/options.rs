//! What an ICAP service says about itself in its OPTIONS answer (RFC 3507
//! section 4.10): methods, ISTag, Preview size, Transfer-Preview /
//! Transfer-Ignore / Transfer-Complete, Max-Connections, Options-TTL and
//! `Allow: 204`; and which transfer a URL's file extension gets.
//!
//! Must not: do I/O; `service` asks and caches the answer.

use std::time::Duration;

use super::wire::{Head, WireError};

/// An ICAP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Response modification: downloads.
    Respmod,
    /// Request modification: uploads.
    Reqmod,
}

impl Method {
    /// As written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Respmod => "RESPMOD",
            Self::Reqmod => "REQMOD",
        }
    }

    /// Lower-case label for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Respmod => "respmod",
            Self::Reqmod => "reqmod",
        }
    }
}

/// How a body is sent to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transfer {
    /// Preview first, the rest if the service asks for it.
    Preview,
    /// Not sent at all: the service does not want this kind of file.
    Ignore,
    /// Sent whole, without a preview.
    Complete,
}

/// A list of file extensions from a `Transfer-*` header; `*` matches every one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Extensions {
    all: bool,
    listed: Vec<String>,
}

impl Extensions {
    fn parse(value: Option<&str>) -> Self {
        let mut list = Self::default();
        for ext in value.unwrap_or_default().split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if ext == "*" {
                list.all = true;
            } else {
                list.listed.push(ext.trim_start_matches('.').to_ascii_lowercase());
            }
        }
        list
    }

    fn lists(&self, ext: &str) -> bool {
        self.listed.iter().any(|e| e.eq_ignore_ascii_case(ext))
    }
}

/// A service's OPTIONS answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceOptions {
    pub methods: Vec<Method>,
    pub istag: Option<String>,
    /// Bytes the service wants as a preview (`None`: no previews).
    pub preview: Option<usize>,
    pub transfer_preview: Extensions,
    pub transfer_ignore: Extensions,
    pub transfer_complete: Extensions,
    /// Connections the service accepts at once.
    pub max_connections: Option<usize>,
    /// How long the answer holds (`None`: forever).
    pub ttl: Option<Duration>,
    /// The service may answer 204 outside a preview.
    pub allow_204: bool,
}

impl ServiceOptions {
    /// Reads a `200` OPTIONS answer.
    pub(crate) fn from_head(head: &Head) -> Result<Self, WireError> {
        let number = |name: &'static str| -> Result<Option<usize>, WireError> {
            head.get(name).map(|v| v.trim().parse().map_err(|_| WireError::Value(name, v.to_owned()))).transpose()
        };
        let mut methods = Vec::new();
        for m in head.get("methods").unwrap_or_default().split(',').map(str::trim) {
            match m.to_ascii_uppercase().as_str() {
                "RESPMOD" => methods.push(Method::Respmod),
                "REQMOD" => methods.push(Method::Reqmod),
                _ => {}
            }
        }
        let allow_204 = head.get("allow").is_some_and(|v| v.split(',').any(|t| t.trim() == "204"));
        Ok(Self {
            methods,
            istag: head.get("istag").map(|v| v.trim_matches('"').to_owned()),
            preview: number("Preview")?,
            transfer_preview: Extensions::parse(head.get("transfer-preview")),
            transfer_ignore: Extensions::parse(head.get("transfer-ignore")),
            transfer_complete: Extensions::parse(head.get("transfer-complete")),
            max_connections: number("Max-Connections")?.filter(|n| *n > 0),
            ttl: number("Options-TTL")?.map(|s| Duration::from_secs(s as u64)),
            allow_204,
        })
    }

    /// How a file with extension `ext` (lower case, may be empty) is sent: a
    /// listed extension wins over `*`; Ignore over Complete over Preview.
    pub(crate) fn transfer(&self, ext: &str) -> Transfer {
        let lists = [
            (&self.transfer_ignore, Transfer::Ignore),
            (&self.transfer_complete, Transfer::Complete),
            (&self.transfer_preview, Transfer::Preview),
        ];
        if !ext.is_empty()
            && let Some((_, t)) = lists.iter().find(|(l, _)| l.lists(ext))
        {
            return *t;
        }
        if let Some((_, t)) = lists.iter().find(|(l, _)| l.all) {
            return *t;
        }
        if self.preview.is_some() { Transfer::Preview } else { Transfer::Complete }
    }
}

/// The file extension of a URL's last path segment (lower case; empty when none).
pub(crate) fn extension(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let path = path.split_once("://").map_or(path, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
    let last = path.rsplit('/').next().unwrap_or_default();
    match last.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 16 => ext.to_ascii_lowercase(),
        _ => String::new(),
    }
}
