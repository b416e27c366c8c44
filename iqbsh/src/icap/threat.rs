//! The threat an antivirus names in its ICAP answer: `X-Infection-Found`
//! (`Type=0; Resolution=2; Threat=NAME;`, the draft-stecher ICAP extension
//! c-icap and most scanners send), `X-Virus-ID: NAME`, or the first threat
//! of `X-Violations-Found` (a count, then filename, threat, id and
//! disposition lines per violation).
//!
//! Must not: do I/O; a pure function of the answer head.

use super::wire::Head;

/// Longest threat name kept (longer ones are cut).
const MAX_NAME: usize = 200;

/// The threat named in `head`, if any header names one.
pub(crate) fn threat(head: &Head) -> Option<String> {
    let named = head
        .get("x-infection-found")
        .and_then(infection_found)
        .or_else(|| head.get("x-virus-id").map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned))
        .or_else(|| head.get("x-violations-found").and_then(violations_found))?;
    Some(clean(&named))
}

/// The `Threat=` field of an `X-Infection-Found` value.
fn infection_found(value: &str) -> Option<String> {
    value
        .split(';')
        .filter_map(|field| field.split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("threat"))
        .map(|(_, name)| name.trim().to_owned())
        .filter(|name| !name.is_empty())
}

/// The first threat of an `X-Violations-Found` value (folded lines).
fn violations_found(value: &str) -> Option<String> {
    let mut lines = value.lines().map(str::trim);
    let count: usize = lines.next()?.parse().ok()?;
    if count == 0 {
        return None;
    }
    let _filename = lines.next()?;
    lines.next().filter(|t| !t.is_empty()).map(str::to_owned)
}

/// Printable, single-line and bounded.
fn clean(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(MAX_NAME).collect()
}
