//! A page as the comparison sees it: its visible text, its structure (element names by
//! depth), its scripts, iframes and external links, with what its masks cover left out.
//! Pure: HTML and masks in, a [`Rendering`] out.
//!
//! Must not: fetch anything, or keep the page's bytes (only what is compared).

use std::collections::BTreeSet;

use ego_tree::iter::Edge;
use scraper::{Html, Node, Selector};
use serde::{Deserialize, Serialize};

use crate::site::{Mask, same_site};

/// What is compared of one page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendering {
    pub url: String,
    pub status: u16,
    /// Visible text, one line per text node, whitespace collapsed, regex masks applied.
    pub text: Vec<String>,
    /// Element names indented by depth, masked elements left out.
    pub structure: Vec<String>,
    /// `src:URL` of each external script, `inline:SHA256` of each inline one.
    pub scripts: BTreeSet<String>,
    pub iframes: BTreeSet<String>,
    /// Links (`a`, `link`, `form`) to other sites.
    pub external_links: BTreeSet<String>,
    /// Same-site pages it links to (followed, not compared).
    #[serde(default)]
    pub links: BTreeSet<String>,
}

/// Elements whose text is not shown.
const HIDDEN: [&str; 5] = ["script", "style", "noscript", "template", "head"];
/// The deepest element walked; deeper content is still text, not structure.
const MAX_DEPTH: usize = 256;

/// Renders `html` fetched from `page` of site `domain` under `masks`.
pub fn render(page: &url::Url, status: u16, html: &str, masks: &[Mask], domain: &str) -> Rendering {
    let doc = Html::parse_document(html);
    let masked = masked_nodes(&doc, masks);
    let regexes: Vec<regex::Regex> = masks
        .iter()
        .filter_map(|m| match m {
            Mask::Regex(r) => regex::Regex::new(r).ok(),
            Mask::Selector(_) => None,
        })
        .collect();
    let mask_text =
        |t: &str| regexes.iter().fold(t.to_string(), |acc, re| re.replace_all(&acc, "[masked]").into_owned());
    let mut r = Rendering { url: page.to_string(), status, ..Rendering::default() };
    let mut depth = 0usize;
    // Depth at which a masked or hidden subtree began: nothing under it is shown.
    let mut skip: Option<usize> = None;
    let mut hidden: Option<usize> = None;
    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => {
                depth += 1;
                if skip.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Element(e) => {
                        if masked.contains(&node.id()) {
                            skip = Some(depth);
                            continue;
                        }
                        let name = e.name();
                        if depth <= MAX_DEPTH {
                            r.structure.push(format!("{}{name}", " ".repeat(depth.min(64))));
                        }
                        note_element(&mut r, page, domain, name, e, &node, &mask_text);
                        if hidden.is_none() && HIDDEN.contains(&name) {
                            hidden = Some(depth);
                        }
                    }
                    Node::Text(t) if hidden.is_none() => {
                        let line = t.split_whitespace().collect::<Vec<_>>().join(" ");
                        if !line.is_empty() {
                            r.text.push(mask_text(&line));
                        }
                    }
                    _ => {}
                }
            }
            Edge::Close(_) => {
                if skip == Some(depth) {
                    skip = None;
                }
                if hidden == Some(depth) {
                    hidden = None;
                }
                depth -= 1;
            }
        }
    }
    r
}

fn masked_nodes(doc: &Html, masks: &[Mask]) -> std::collections::HashSet<ego_tree::NodeId> {
    masks
        .iter()
        .filter_map(|m| match m {
            Mask::Selector(s) => Selector::parse(s).ok(),
            Mask::Regex(_) => None,
        })
        .flat_map(|sel| doc.select(&sel).map(|e| e.id()).collect::<Vec<_>>())
        .collect()
}

fn note_element(
    r: &mut Rendering,
    page: &url::Url,
    domain: &str,
    name: &str,
    e: &scraper::node::Element,
    node: &ego_tree::NodeRef<'_, Node>,
    mask_text: &dyn Fn(&str) -> String,
) {
    let absolute = |attr: &str| e.attr(attr).and_then(|v| page.join(v.trim()).ok());
    match name {
        "script" => match absolute("src") {
            Some(src) => {
                r.scripts.insert(format!("src:{src}"));
            }
            None => {
                let body: String = node.children().filter_map(|c| c.value().as_text().map(|t| t.to_string())).collect();
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, mask_text(body.trim()).as_bytes());
                r.scripts.insert(format!("inline:{}", crate::hex(digest.as_ref())));
            }
        },
        "iframe" | "frame" | "embed" | "object" => {
            let src = absolute("src").or_else(|| absolute("data"));
            r.iframes.insert(src.map_or_else(|| format!("{name}:(no source)"), |u| u.to_string()));
        }
        "a" | "link" | "area" | "form" => {
            let Some(target) = absolute(if name == "form" { "action" } else { "href" }) else { return };
            if !matches!(target.scheme(), "http" | "https") {
                return;
            }
            match target.host_str() {
                Some(h) if same_site(h, domain) => {
                    if name == "a" || name == "area" {
                        let mut t = target.clone();
                        t.set_fragment(None);
                        r.links.insert(t.to_string());
                    }
                }
                _ => {
                    r.external_links.insert(target.to_string());
                }
            }
        }
        _ => {}
    }
}

/// How a page differs from its reference, outside its masks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageChange {
    pub url: String,
    /// What changed, in words: `text`, `structure`, `new script …`, `status 500`.
    pub reasons: Vec<String>,
    /// A unified diff of the visible text (and of the structure when only it changed).
    pub diff: String,
}

/// The change from `reference` to `now`, if any counts.
pub fn compare(reference: &Rendering, now: &Rendering) -> Option<PageChange> {
    let mut reasons = Vec::new();
    if reference.status != now.status {
        reasons.push(format!("status {} (was {})", now.status, reference.status));
    }
    if reference.text != now.text {
        reasons.push("visible text".to_string());
    }
    if reference.structure != now.structure {
        reasons.push("structure".to_string());
    }
    for (what, before, after) in [
        ("script", &reference.scripts, &now.scripts),
        ("iframe", &reference.iframes, &now.iframes),
        ("external link", &reference.external_links, &now.external_links),
    ] {
        reasons.extend(after.difference(before).map(|x| format!("new {what} {x}")));
    }
    if reasons.is_empty() {
        return None;
    }
    let mut diff = crate::diff::lines(&reference.url, &reference.text.join("\n"), &now.text.join("\n"));
    if reference.text == now.text && reference.structure != now.structure {
        diff = crate::diff::lines(&reference.url, &reference.structure.join("\n"), &now.structure.join("\n"));
    }
    Some(PageChange { url: now.url.clone(), reasons, diff })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: &str = r#"<html><head><title>Akimat</title><script src="/js/site.js"></script></head>
        <body><h1>Welcome</h1><div id="news"><p>News of 1 June</p></div>
        <p>Visitors: 1234</p><a href="/about.html#team">About</a><a href="https://gov.kz/">Portal</a>
        <form action="/search"><input name="csrf" value="abc123"></form></body></html>"#;

    fn page() -> url::Url {
        url::Url::parse("https://site.example.kz/").unwrap()
    }

    fn masks() -> Vec<Mask> {
        vec![Mask::Selector("#news".into()), Mask::Regex(r"Visitors: \d+".into())]
    }

    #[test]
    fn masked_parts_do_not_count_and_the_rest_does() {
        let reference = render(&page(), 200, HOME, &masks(), "site.example.kz");
        assert!(reference.text.contains(&"Welcome".to_string()) && !reference.text.iter().any(|t| t.contains("News")));
        assert!(reference.links.contains("https://site.example.kz/about.html"), "{:?}", reference.links);
        assert_eq!(reference.external_links.iter().collect::<Vec<_>>(), ["https://gov.kz/"]);
        let news = HOME.replace("News of 1 June", "News of 2 June <b>and more</b>").replace("1234", "1299");
        assert_eq!(compare(&reference, &render(&page(), 200, &news, &masks(), "site.example.kz")), None);

        let defaced = HOME.replace("Welcome", "Hacked by X");
        let change = compare(&reference, &render(&page(), 200, &defaced, &masks(), "site.example.kz")).unwrap();
        assert_eq!(change.reasons, ["visible text"]);
        assert!(change.diff.contains("-Welcome") && change.diff.contains("+Hacked by X"), "{}", change.diff);
    }

    #[test]
    fn new_scripts_iframes_and_external_links_are_findings() {
        let reference = render(&page(), 200, HOME, &masks(), "site.example.kz");
        let injected = HOME.replace(
            "</body>",
            r#"<script>steal()</script><iframe src="https://evil.test/x"></iframe><a href="https://casino.test/">.</a></body>"#,
        );
        let change = compare(&reference, &render(&page(), 200, &injected, &masks(), "site.example.kz")).unwrap();
        let text = change.reasons.join("; ");
        assert!(text.contains("new script inline:"), "{text}");
        assert!(text.contains("new iframe https://evil.test/x"), "{text}");
        assert!(text.contains("new external link https://casino.test/"), "{text}");
        assert!(text.contains("structure"), "{text}");
    }

    #[test]
    fn deep_nesting_is_walked_without_recursion() {
        let deep = format!("<html><body>{}x{}</body></html>", "<div>".repeat(20_000), "</div>".repeat(20_000));
        let r = render(&page(), 200, &deep, &[], "site.example.kz");
        assert!(r.structure.len() <= MAX_DEPTH);
    }
}
