//! The DATA reader, fed by a peer whose bytes arrive in reads of fuzzed sizes, checked
//! against a plain line-by-line model of RFC 5321 §4.1.1.4 and the relay's refusals:
//! where the message ends (only at CRLF . CRLF), the unstuffed content, and that every
//! refusal has its cause in the input and every input without one is accepted.
//!
//! Input: byte 0 picks the line limit, byte 1 the size limit, byte 2 whether a trace
//! prefix is present, bytes 3..7 the read sizes; the rest is what the client sent.
#![no_main]

use epbsh::fuzzing::{DataEnd, data};
use libfuzzer_sys::fuzz_target;

const PREFIX: &[u8] = b"Received: from fuzz\r\n";

/// What the model finds in the input.
#[derive(Debug, Default)]
struct Model {
    /// Bytes up to and including the final dot, if there is one.
    end: Option<usize>,
    content: Vec<u8>,
    long_line: bool,
    bare: bool,
}

fn model(input: &[u8], max_line: usize) -> Model {
    let mut m = Model::default();
    let (mut pos, mut after_crlf) = (0, true);
    while let Some(lf) = input[pos..].iter().position(|b| *b == b'\n').map(|i| pos + i) {
        let line = &input[pos..=lf];
        pos = lf + 1;
        if line.len() > max_line {
            m.long_line = true;
            after_crlf = true;
            continue;
        }
        if after_crlf && line == b".\r\n" {
            m.end = Some(pos);
            return m;
        }
        let crlf = line.ends_with(b"\r\n");
        after_crlf = crlf;
        let text = &line[..line.len() - if crlf { 2 } else { 1 }];
        m.bare |= !crlf || text.contains(&b'\r');
        m.content.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    m
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 7 {
        return;
    }
    let max_line = 3 + usize::from(input[0] % 64);
    let max_size = usize::from(input[1]) * 4;
    let prefix = if input[2] & 1 == 1 { PREFIX } else { b"" };
    let reads: Vec<usize> = input[3..7].iter().map(|b| usize::from(*b)).collect();
    let sent = &input[7..];
    let (end, consumed) = data(sent, &reads, (max_size, max_line), prefix);
    let m = model(sent, max_line);
    let Some(stop) = m.end else {
        assert_eq!(end, DataEnd::Eof, "ended without CRLF . CRLF");
        return;
    };
    assert_eq!(consumed, stop, "read past (or short of) the final dot");
    let too_big = m.content.len() > max_size;
    match end {
        DataEnd::Body(body) => {
            assert!(!too_big && !m.long_line && !m.bare, "accepted a message it must refuse");
            assert_eq!(&body[..prefix.len()], prefix);
            assert_eq!(&body[prefix.len()..], &m.content[..], "content differs from the unstuffed lines");
        }
        DataEnd::TooBig => assert!(too_big, "refused as too big"),
        DataEnd::LineTooLong => assert!(m.long_line, "refused for a long line"),
        DataEnd::BareLineEnding => assert!(m.bare, "refused for a bare line ending"),
        DataEnd::Eof => panic!("missed the final dot at {stop}"),
    }
});
