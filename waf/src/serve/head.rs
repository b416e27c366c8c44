//! What the WAF reads of a request head itself, before the engine: the transaction id
//! it gives the request, the host the request is for (one `Host`, agreeing with the
//! target's authority), and the framing HTTP/1.1 smuggling relies on that hyper lets
//! through.
//!
//! Must not: decide what is an attack; these are checks of form only.

use http::{Request, header};

/// A new transaction id: 16 lower-case hex digits.
pub(crate) fn transaction_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The host a request is for, lower case without port or final dot: the request
/// target's authority (HTTP/2, absolute form) or `Host`; `None` when there is none, when
/// there are two, when both are given and differ, or when it is not a host name or a
/// bracketed IPv6 address.
pub(crate) fn host_of<B>(req: &Request<B>) -> Option<String> {
    let authority = req.uri().authority().map(|a| clean(a.as_str()));
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let field = hosts.next().map(|v| v.to_str().ok().and_then(clean));
    if hosts.next().is_some() {
        return None;
    }
    match (authority, field) {
        (_, Some(None)) | (Some(None), _) | (None, None) => None,
        (Some(Some(a)), Some(Some(h))) if a != h => None,
        (Some(Some(a)), _) => Some(a),
        (None, Some(Some(h))) => Some(h),
    }
}

/// `host[:port]` as a name: lower case, no port, no final dot; `None` when empty or
/// when it holds anything a host name or a bracketed IPv6 address cannot.
fn clean(text: &str) -> Option<String> {
    let text = text.trim();
    let name = match text.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some((name, port)) if name.ends_with(']') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => text,
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let bracketed = name.strip_prefix('[').and_then(|n| n.strip_suffix(']'));
    let valid = match bracketed {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
    };
    valid.then_some(name)
}

/// Signs of a request framed to be read two ways (HTTP/1.1): hyper refuses most
/// (invalid or conflicting lengths, a final coding other than chunked, obs-fold); these
/// are the ones it lets through.
pub(crate) fn framing<B>(req: &Request<B>) -> Result<(), &'static str> {
    let headers = req.headers();
    let mut te = headers.get_all(header::TRANSFER_ENCODING).iter();
    if let Some(first) = te.next()
        && (te.next().is_some() || !first.as_bytes().eq_ignore_ascii_case(b"chunked"))
    {
        return Err("a Transfer-Encoding other than exactly chunked");
    }
    if headers.get_all(header::CONTENT_LENGTH).iter().count() > 1 {
        return Err("more than one Content-Length");
    }
    if req.version() == http::Version::HTTP_2 && headers.contains_key(header::TRANSFER_ENCODING) {
        return Err("Transfer-Encoding in HTTP/2");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, hosts: &[&str]) -> Request<()> {
        let mut builder = Request::builder().uri(uri);
        for host in hosts {
            builder = builder.header("host", *host);
        }
        builder.body(()).expect("request")
    }

    #[test]
    fn the_host_is_one_and_agrees_with_the_target() {
        assert_eq!(host_of(&request("/", &["Gov.Example.KZ:443"])).as_deref(), Some("gov.example.kz"));
        assert_eq!(host_of(&request("https://a.kz/x", &[])).as_deref(), Some("a.kz"));
        assert_eq!(host_of(&request("https://a.kz/x", &["a.kz."])).as_deref(), Some("a.kz"));
        assert_eq!(host_of(&request("https://a.kz/x", &["b.kz"])), None);
        assert_eq!(host_of(&request("/", &["a.kz", "b.kz"])), None);
        assert_eq!(host_of(&request("/", &[])), None);
        assert_eq!(host_of(&request("/", &["a b.kz"])), None);
        assert_eq!(host_of(&request("/", &["[2001:DB8::1]:443"])).as_deref(), Some("[2001:db8::1]"));
    }

    #[test]
    fn transfer_encoding_must_be_exactly_chunked() {
        let with = |te: &[&str], cl: &[&str]| {
            let mut builder = Request::builder().uri("/");
            for v in te {
                builder = builder.header("transfer-encoding", *v);
            }
            for v in cl {
                builder = builder.header("content-length", *v);
            }
            framing(&builder.body(()).expect("request"))
        };
        assert!(with(&["chunked"], &[]).is_ok());
        assert!(with(&["gzip, chunked"], &[]).is_err());
        assert!(with(&["chunked", "chunked"], &[]).is_err());
        assert!(with(&[], &["5", "5"]).is_err());
        assert!(with(&[], &["5"]).is_ok());
    }
}
