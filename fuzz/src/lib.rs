//! Shared pieces of the fuzz targets (`fuzz_targets/`): reading parameters off the front
//! of a fuzzer's input, counting lines, and the checks several targets make.
//!
//! Must not: hold any parser logic of the crates under test; the targets call the
//! crates' own entry points and only judge what comes back.

pub mod list;

/// Takes the first byte of `data` (0 when empty) and returns it with the rest.
pub fn byte(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((b, rest)) => (*b, rest),
        None => (0, data),
    }
}

/// The line a 1-based line number may at most be: newlines plus one.
pub fn max_line(data: &[u8]) -> usize {
    data.iter().filter(|b| **b == b'\n').count() + 1
}

/// A server name as the web proxy keeps it: non-empty, lower case, without a trailing
/// dot, at most 253 bytes of letters, digits, `-`, `_` and dots.
pub fn check_server_name(name: &str) {
    assert!(!name.is_empty() && name.len() <= 253, "server name length: {name:?}");
    assert!(!name.ends_with('.'), "trailing dot kept: {name:?}");
    assert!(
        name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)),
        "server name not normalised: {name:?}"
    );
}

/// What a parsed ClientHello must satisfy whatever the input: a normalised name, an ECH
/// flag only with an extension that hides the name, no extension twice, and no more
/// than the bytes allow.
pub fn check_hello(hello: &iqbsh::hello::ClientHello, body_len: usize) {
    if let Some(sni) = &hello.sni {
        check_server_name(sni);
        assert!(hello.extensions.contains(&0), "a name without a server_name extension");
    }
    let hides = |t: &u16| (0xfe08..=0xfe0d).contains(t);
    assert_eq!(hello.ech, hello.extensions.iter().any(hides), "ECH flag and extensions disagree");
    assert_eq!(hello.esni, hello.extensions.contains(&0xffce), "ESNI flag and extensions disagree");
    assert!(hello.extensions.len() * 4 <= body_len, "more extensions than bytes");
    let mut kinds = hello.extensions.clone();
    kinds.sort_unstable();
    assert!(kinds.windows(2).all(|w| w[0] != w[1]), "a repeated extension was accepted");
    let alpn: usize = hello.alpn.iter().map(|p| p.len() + 1).sum();
    assert!(alpn <= body_len, "more ALPN bytes than input");
}

/// The entries of a category list as its format defines them, independently of the
/// parser: per line, the text before `#`, trimmed, a byte-order mark and CR endings
/// tolerated; blank entries skipped; `pick` turns an entry into what it lists.
pub fn listed(text: &str, pick: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .map(|l| l.trim_end_matches('\r').split('#').next().unwrap_or("").trim())
        .filter(|e| !e.is_empty())
        .filter_map(pick)
        .collect()
}
