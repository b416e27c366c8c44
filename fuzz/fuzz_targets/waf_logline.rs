//! The WAF engine's log line reader (`waf::engine::logline::parse`): any input is read or
//! refused without a panic, and a line it reads has its message and data shortened; a
//! line written as libmodsecurity 3.0.9 writes it, with the parts a client chooses (the
//! matched value, the request path, the matched data) taken from the input, reads back
//! with the rule's own id, severity, message and action whatever those parts hold (a
//! forged `[id "…"]` in them is never read).
#![no_main]

use libfuzzer_sys::fuzz_target;
use perimeter_fuzz::byte;
use waf::engine::MAX_DATA;
use waf::engine::logline::{Expect, Written, parse, write};

const TAGS: &[&str] = &["application-multi", "attack-sqli", "paranoia-level/1"];

fuzz_target!(|data: &[u8]| {
    let expect = Expect { tx_id: "tx-1", client: "198.51.100.7", server: "192.0.2.1", uri: b"/search?q=1" };
    if let Ok(line) = parse(data, &expect) {
        assert!(line.data.chars().count() <= MAX_DATA + 1, "data not shortened: {:?}", line.data);
        assert!(line.message.chars().count() <= 513, "message not shortened");
    }

    let (selector, rest) = byte(data);
    let mut parts = rest.splitn(3, |&b| b == 0);
    let (matched, uri, payload) =
        (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let expect = Expect { uri, ..expect };
    let id = 900_000 + u32::from(selector) * 37;
    let fields = Written {
        matched,
        file: "/usr/share/modsecurity-crs/rules/REQUEST-942-APPLICATION-ATTACK-SQLI.conf",
        line: 46,
        id,
        message: "SQL Injection Attack Detected via libinjection",
        data: payload,
        severity: selector % 8,
        tags: &TAGS[..usize::from(selector % 4).min(TAGS.len())],
        disruptive_status: (selector & 1 == 1).then_some(403),
    };
    let line = write(&fields, &expect);
    let read = parse(&line, &expect)
        .unwrap_or_else(|e| panic!("a written line does not read back ({e}): {}", String::from_utf8_lossy(&line)));
    assert_eq!((read.id, read.severity, read.disruptive), (id, selector % 8, selector & 1 == 1));
    assert_eq!(read.message, fields.message);
});
