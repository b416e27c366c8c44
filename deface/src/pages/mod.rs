//! The pages of a protected site: fetched over HTTPS (`fetch`), rendered under their
//! masks (`render`), gathered for the reference from the listed pages and their
//! same-site links to a bounded depth (`gather`), and compared page by page (`check`).
//!
//! Must not: follow links off the site, or fetch more pages than `[deface] max_pages`.

pub mod fetch;
pub mod render;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

pub use fetch::{FetchError, Fetcher};
pub use render::{PageChange, Rendering, compare, render};

use crate::site::{Mask, SiteSpec};

/// One page of the reference: what it looked like and the masks it is read with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferencePage {
    pub masks: Vec<Mask>,
    pub rendering: Rendering,
}

/// The listed pages of `spec` and the same-site pages they link to, up to `depth` hops
/// and `max_pages` in all, rendered for the reference.
pub async fn gather(
    fetcher: &Fetcher,
    spec: &SiteSpec,
    depth: u32,
    max_pages: u32,
) -> (BTreeMap<String, ReferencePage>, Vec<String>) {
    let mut queue: VecDeque<(url::Url, Vec<Mask>, u32)> = VecDeque::new();
    let mut seen = BTreeSet::new();
    for p in spec.pages() {
        if let Ok(u) = url::Url::parse(&p.url)
            && seen.insert(u.to_string())
        {
            queue.push_back((u, p.masks.clone(), 0));
        }
    }
    let mut pages = BTreeMap::new();
    let mut failures = Vec::new();
    while let Some((u, masks, hops)) = queue.pop_front() {
        if pages.len() >= max_pages as usize {
            break;
        }
        match fetcher.get(&u, &spec.addresses).await {
            Ok(f) => {
                let r = render(&u, f.status, &f.body, &masks, &spec.domain);
                if hops < depth {
                    for link in &r.links {
                        if seen.len() < max_pages as usize * 4
                            && seen.insert(link.clone())
                            && let Ok(l) = url::Url::parse(link)
                        {
                            queue.push_back((l, masks.clone(), hops + 1));
                        }
                    }
                }
                pages.insert(u.to_string(), ReferencePage { masks, rendering: r });
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    (pages, failures)
}

/// Each reference page fetched again and compared: the changes, and the pages that could
/// not be fetched.
pub async fn check(
    fetcher: &Fetcher,
    spec: &SiteSpec,
    reference: &BTreeMap<String, ReferencePage>,
) -> (Vec<PageChange>, Vec<String>) {
    let mut changes = Vec::new();
    let mut failures = Vec::new();
    for (url, page) in reference {
        let Ok(u) = url::Url::parse(url) else { continue };
        match fetcher.get(&u, &spec.addresses).await {
            Ok(f) => {
                let now = render(&u, f.status, &f.body, &page.masks, &spec.domain);
                changes.extend(compare(&page.rendering, &now));
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    (changes, failures)
}
