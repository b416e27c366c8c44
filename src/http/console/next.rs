//! Where the console may send a person after a form (the login's `next`, the language
//! form's `back`): a path of this console and its query, made of characters that need
//! no escaping in a `Location` header and that no browser reads as another site.
//!
//! Must not: accept a scheme, a host (`//`, `/\`, or either encoded), a control or
//! non-ASCII character (raw or percent-encoded), a fragment, or a path longer than
//! [`MAX_LEN`]; anything refused becomes `/`.

/// The longest path kept.
pub const MAX_LEN: usize = 1024;

/// `next` if it is a same-site path (`/path` or `/path?query` of safe characters), else `/`.
pub fn same_site(next: Option<&str>) -> &str {
    match next {
        Some(n) if is_same_site(n) => n,
        _ => "/",
    }
}

fn is_same_site(next: &str) -> bool {
    let bytes = next.as_bytes();
    if bytes.len() > MAX_LEN || bytes.first() != Some(&b'/') {
        return false;
    }
    // `//host` and `/\host` name another host to browsers.
    if matches!(bytes.get(1), Some(b'/' | b'\\')) {
        return false;
    }
    let (mut i, mut in_query) = (0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let Some(decoded) = bytes.get(i + 1..i + 3).and_then(hex_pair) else { return false };
                // An encoded control or non-ASCII byte is refused (a space is fine), and in the path an
                // encoded slash, backslash or percent: decoded once more, it could
                // name a host. In the query a slash is only data (`q=192.0.2.0%2F24`).
                let path_only = matches!(decoded, b'/' | b'\\' | b'%');
                let shown = decoded.is_ascii_graphic() || decoded == b' ';
                if !shown || (path_only && !(in_query && decoded == b'/')) {
                    return false;
                }
                i += 3;
            }
            b'?' => {
                in_query = true;
                i += 1;
            }
            b if plain(b) => i += 1,
            _ => return false,
        }
    }
    true
}

/// The characters a path or query may hold unescaped (RFC 3986 `pchar`, `/` and `?`).
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&b)
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(pair).ok()?;
    u8::from_str_radix(text, 16).ok().filter(|_| pair.iter().all(u8::is_ascii_hexdigit))
}

#[cfg(test)]
mod tests {
    use super::{MAX_LEN, same_site};

    #[test]
    fn console_paths_and_queries_are_kept() {
        for good in [
            "/",
            "/requests",
            "/requests/3",
            "/unknown?operator=a",
            "/audit?actor=user:anna&action=block.&page=2",
            "/operators/alpha%20beta",
            "/a/b/c?x=1?y=2",
            "/lookup?q=198.51.100.0%2F24",
        ] {
            assert_eq!(same_site(Some(good)), good, "{good}");
        }
        assert_eq!(same_site(None), "/");
    }

    #[test]
    fn other_sites_schemes_controls_and_oddities_become_the_home_page() {
        let long = format!("/{}", "a".repeat(MAX_LEN));
        let refused = [
            "",
            "evil",
            "evil.example/",
            "//evil.example/",
            "///evil.example/",
            "/\\evil.example",
            "\\\\evil.example",
            "\\/evil.example",
            "/\t/evil.example/",
            "/%09/evil.example/",
            "/\n/evil.example/",
            "/%0a/evil.example/",
            "/%0D%0ASet-Cookie:x=1",
            "/\r\nLocation: https://evil.example/",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "/%252F%252Fevil.example",
            "/x?q=%5C",
            "/x?q=%0A",
            "/%00",
            "/%7F",
            "/%C3%A9",
            "/%",
            "/%4",
            "/%zz",
            "/%+1",
            "https://evil.example/",
            "http:/evil.example",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " /requests",
            "/requests ",
            "/requests#fragment",
            "/requests\"onload=",
            "/<script>",
            "/é",
            "/\u{202E}gpj.exe",
            "/\u{0}",
            &long,
        ];
        for bad in refused {
            assert_eq!(same_site(Some(bad)), "/", "{bad:?}");
        }
        let longest = format!("/{}", "a".repeat(MAX_LEN - 1));
        assert_eq!(same_site(Some(&longest)), longest, "exactly the limit is kept");
    }
}
