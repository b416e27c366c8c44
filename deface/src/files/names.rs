//! Which names the service handles: a path relative to the document root made of plain
//! components (no `.`, `..`, slash, control byte or newline, at most 255 bytes each),
//! and the one way a remote or local path is built from it.
//!
//! Must not: build a path from a name that failed these checks.

use std::path::{Path, PathBuf};

/// A checked path relative to a site's root, `/`-separated, never empty.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rel(String);

/// Why a name is refused.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name == "." || name == ".." {
        Some("a '.' or '..' name")
    } else if name.contains('/') {
        Some("a slash in a name")
    } else if name.contains(['\n', '\r']) {
        Some("a newline in the name")
    } else if name.chars().any(char::is_control) {
        Some("a control character in the name")
    } else if name.len() > 255 {
        Some("a name over 255 bytes")
    } else {
        None
    }
}

impl Rel {
    /// `name` under `parent` (the root when `None`), if the name is a plain one.
    pub fn child(parent: Option<&Rel>, name: &str) -> Result<Rel, &'static str> {
        if let Some(p) = name_problem(name) {
            return Err(p);
        }
        Ok(Rel(match parent {
            Some(p) => format!("{}/{name}", p.0),
            None => name.to_string(),
        }))
    }

    /// A stored relative path, checked again component by component.
    pub fn parse(text: &str) -> Result<Rel, String> {
        let mut rel: Option<Rel> = None;
        for part in text.split('/') {
            rel = Some(Rel::child(rel.as_ref(), part).map_err(|p| format!("'{}': {p}", text.escape_debug()))?);
        }
        rel.ok_or_else(|| "an empty path".to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The folder it is in, if not the root.
    pub fn parent(&self) -> Option<Rel> {
        self.0.rsplit_once('/').map(|(p, _)| Rel(p.to_string()))
    }

    pub fn file_name(&self) -> &str {
        self.0.rsplit_once('/').map_or(self.0.as_str(), |(_, n)| n)
    }

    /// Its path on the server under `root`.
    pub fn remote(&self, root: &str) -> String {
        format!("{}/{}", root.trim_end_matches('/'), self.0)
    }

    /// Its path on this machine under `base`.
    pub fn local(&self, base: &Path) -> PathBuf {
        self.0.split('/').fold(base.to_path_buf(), |p, part| p.join(part))
    }

    /// The temporary name a restore writes before renaming over this one: in the same
    /// folder, hidden, unique by `tag`.
    pub fn temporary(&self, tag: &str) -> String {
        let name = format!(".{}.deface-{tag}", self.file_name());
        let name: String = name.chars().take(200).collect();
        match self.parent() {
            Some(p) => format!("{}/{name}", p.0),
            None => name,
        }
    }
}

impl std::fmt::Display for Rel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.escape_debug())
    }
}

/// Whether the link target `target` of a link at `at` stays inside the root.
pub fn link_inside(at: &Rel, target: &str) -> bool {
    if target.starts_with('/') || target.is_empty() {
        return false;
    }
    let mut depth: Vec<&str> = at.parent().map(|p| p.0.split('/').map(|_| "").collect()).unwrap_or_default();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            _ => depth.push(""),
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_and_the_rest_say_why() {
        let css = Rel::parse("css/site.css").unwrap();
        assert_eq!(css.remote("/srv/www/"), "/srv/www/css/site.css");
        assert_eq!(css.parent().unwrap().as_str(), "css");
        assert_eq!(css.temporary("1"), "css/.site.css.deface-1");
        assert_eq!(Rel::child(None, "bad\nname").unwrap_err(), "a newline in the name");
        assert_eq!(Rel::child(None, "..").unwrap_err(), "a '.' or '..' name");
        assert!(Rel::child(None, "a\u{1b}[31m").is_err());
        assert!(Rel::parse("a/../b").is_err() && Rel::parse("/etc").is_err());
    }

    #[test]
    fn links_out_of_the_root_are_told_apart() {
        let at = Rel::parse("img/logo.png").unwrap();
        assert!(link_inside(&at, "../css/x.css") && link_inside(&at, "other.png"));
        assert!(!link_inside(&at, "../../etc/passwd") && !link_inside(&at, "/etc/passwd"));
        assert!(!link_inside(&Rel::parse("x").unwrap(), ".."));
    }
}
