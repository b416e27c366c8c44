//! The DATA reader, fed by a peer whose bytes arrive in reads of fuzzed sizes, checked
//! against a plain line-by-line model of RFC 5321 §4.1.1.4 and the relay's refusals:
//! where the message ends (only at CRLF . CRLF), the unstuffed content, and that every
//! refusal has its cause in the input and every input without one is accepted; and that
//! the memory a message reserves from the sessions' budget is all given back.
//!
//! Input: byte 0 picks the line limit, byte 1 the size limit, byte 2 whether a trace
//! prefix is present and whether the memory budget is small, bytes 3..7 the read sizes,
//! byte 7 the small budget; the rest is what the client sent.
#![no_main]

use epbsh::fuzzing::{DataEnd, data};
use epbsh::smtp::{DataMemory, MAX_HOPS};
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
    nul: bool,
    /// `Received:` fields in the header section (the prefix's included).
    hops: usize,
}

fn is_received(text: &[u8]) -> bool {
    text.len() >= 9 && text[..9].eq_ignore_ascii_case(b"received:")
}

fn model(input: &[u8], max_line: usize, prefix: &[u8]) -> Model {
    let mut m = Model { hops: usize::from(!prefix.is_empty()), ..Model::default() };
    let (mut pos, mut after_crlf, mut in_header) = (0, true, true);
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
        m.nul |= text.contains(&0);
        if in_header {
            in_header = !text.is_empty();
            m.hops += usize::from(is_received(text));
        }
        m.content.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    m
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 8 {
        return;
    }
    let max_line = 3 + usize::from(input[0] % 64);
    let max_size = usize::from(input[1]) * usize::from(input[1]) / 4;
    let prefix = if input[2] & 1 == 1 { PREFIX } else { b"" };
    let small = input[2] & 2 == 2;
    let reads: Vec<usize> = input[3..7].iter().map(|b| usize::from(*b)).collect();
    let memory = DataMemory::new(if small { 3000 + 64 * usize::from(input[7]) } else { 1 << 30 });
    let sent = &input[8..];
    let result = data(sent, &reads, (max_size, max_line), prefix, &memory);
    assert_eq!(memory.available(), memory.total(), "memory of a finished message was not given back");
    let Some((end, consumed)) = result else {
        assert!(small, "no room to start with the whole budget free");
        return;
    };
    let m = model(sent, max_line, prefix);
    let Some(stop) = m.end else {
        assert_eq!(end, DataEnd::Eof, "ended without CRLF . CRLF");
        return;
    };
    assert_eq!(consumed, stop, "read past (or short of) the final dot");
    let too_big = m.content.len() > max_size;
    let too_many_hops = m.hops > MAX_HOPS;
    match end {
        DataEnd::Body(body) => {
            assert!(
                !too_big && !m.long_line && !m.bare && !m.nul && !too_many_hops,
                "accepted a message it must refuse"
            );
            assert_eq!(&body[..prefix.len()], prefix);
            assert_eq!(&body[prefix.len()..], &m.content[..], "content differs from the unstuffed lines");
        }
        DataEnd::TooBig => assert!(too_big, "refused as too big"),
        DataEnd::LineTooLong => assert!(m.long_line, "refused for a long line"),
        DataEnd::BareLineEnding => assert!(m.bare, "refused for a bare line ending"),
        DataEnd::Nul => assert!(m.nul, "refused for a NUL"),
        DataEnd::TooManyHops => assert!(too_many_hops, "refused as a mail loop with {} hops", m.hops),
        DataEnd::NoMemory => assert!(small, "out of memory with the whole budget free"),
        DataEnd::Eof => panic!("missed the final dot at {stop}"),
    }
});
