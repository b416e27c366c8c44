//! Unit tests of the DATA reader: unstuffing, line endings, NUL, limits, hops, memory.

use super::*;

fn memory() -> DataMemory {
    DataMemory::new(1 << 30)
}

fn reader(prefix: &[u8], max_size: usize, max_line: usize) -> Reader {
    Reader::new(prefix, 0, DataLimits { max_size, max_line }, &memory()).expect("memory")
}

/// Feeds `chunks` as successive reads; returns whether the final dot was
/// seen, the outcome and what was left unconsumed.
fn run_with(chunks: &[&[u8]], max_size: usize, max_line: usize) -> (bool, DataOutcome, Vec<u8>) {
    let mut r = reader(b"", max_size, max_line);
    let mut buf = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        let (used, done) = r.take(&buf);
        buf.drain(..used);
        if done {
            return (true, r.outcome().0, buf);
        }
    }
    (false, r.outcome().0, buf)
}

fn run(chunks: &[&[u8]], max: usize) -> (bool, DataOutcome) {
    let (done, out, _) = run_with(chunks, max, 1000);
    (done, out)
}

fn body(out: DataOutcome) -> Vec<u8> {
    match out {
        DataOutcome::Body(b) => b.to_vec(),
        other => panic!("expected a body, got {other:?}"),
    }
}

#[test]
fn unstuffs_and_ends_on_dot() {
    let (done, out) = run(&[b"a\r\n", b"..b\r\n", b".\r\n"], 100);
    assert!(done);
    assert_eq!(body(out), b"a\r\n.b\r\n");
}

#[test]
fn lines_split_across_reads_and_input_after_the_dot_is_left() {
    let (done, out, rest) =
        run_with(&[b"Subj", b"ect: x\r", b"\n\r\n..one\r\n.", b".two\r\nthree\r\n.\r", b"\nQUIT\r\n"], 100, 1000);
    assert!(done);
    assert_eq!(body(out), b"Subject: x\r\n\r\n.one\r\n.two\r\nthree\r\n");
    assert_eq!(rest, b"QUIT\r\n");
}

#[test]
fn prefix_comes_first_and_is_not_counted() {
    let mut r = reader(b"Received: x\r\n", 5, 1000);
    assert_eq!(r.take(b"12345\r\n.\r\n"), (10, true));
    assert!(matches!(r.outcome().0, DataOutcome::TooBig));
    let mut r = reader(b"Received: x\r\n", 5, 1000);
    assert_eq!(r.take(b"123\r\n.\r\n"), (8, true));
    assert_eq!(body(r.outcome().0), b"Received: x\r\n123\r\n");
}

#[test]
fn dot_after_bare_lf_is_not_the_end() {
    let (done, out) = run(&[b"a\n", b".\r\n"], 100);
    assert!(!done);
    assert!(matches!(out, DataOutcome::BareLineEnding));
    let (_, out) = run(&[b"a\rb\r\n", b".\r\n"], 100);
    assert!(matches!(out, DataOutcome::BareLineEnding));
}

#[test]
fn size_limit_counts_unstuffed_bytes() {
    let (_, out) = run(&[b"..12\r\n", b".\r\n"], 5);
    assert!(matches!(out, DataOutcome::Body(_)));
    let (_, out) = run(&[b"123456\r\n", b".\r\n"], 5);
    assert!(matches!(out, DataOutcome::TooBig));
}

#[test]
fn an_overlong_line_is_dropped_through_its_end_and_reading_goes_on() {
    // Complete but too long, then one cut across reads with no LF in sight.
    let (done, out, _) = run_with(&[b"0123456789\r\n", b"ok\r\n.\r\n"], 100, 8);
    assert!(done);
    assert!(matches!(out, DataOutcome::LineTooLong));
    let (done, out, rest) = run_with(&[b"012345678", b"9abc", b"def\r\n.\r\nNOOP\r\n"], 100, 8);
    assert!(done);
    assert!(matches!(out, DataOutcome::LineTooLong));
    assert_eq!(rest, b"NOOP\r\n");
}

#[test]
fn a_nul_anywhere_refuses_the_message() {
    for chunks in [
        &[&b"\0Subject: x\r\n"[..], b"\r\nbody\r\n.\r\n"][..],
        &[b"Subject: x\r\n\r\nbo\0dy\r\n", b".\r\n"],
        &[b"Subject: x\r\n\r\nbody\0\r\n", b".\r\n"],
        &[b"a\r\n", b".\0\r\n", b".\r\n"],
        &[b"a\r\n\0", b"\r\n.\r\n"],
    ] {
        let (done, out) = run(chunks, 1000);
        assert!(done, "{chunks:?}");
        assert!(matches!(out, DataOutcome::Nul), "{chunks:?}: {out:?}");
    }
    let (_, out) = run(&[b"a\0\n", b".\r\n", b"\r\n.\r\n"], 1000);
    assert!(matches!(out, DataOutcome::BareLineEnding), "a bare LF is named first");
}

#[test]
fn hops_count_the_header_section_and_the_prefix() {
    let received = "Received: from x\r\n".repeat(MAX_HOPS - 1);
    let mut r = reader(b"Received: ours\r\n", 1 << 20, 1000);
    let (_, done) = r.take(format!("{received}Subject: s\r\n\r\nReceived: in the body\r\n.\r\n").as_bytes());
    assert!(done);
    assert!(matches!(r.outcome().0, DataOutcome::Body(_)), "exactly the limit passes");
    let mut r = reader(b"Received: ours\r\n", 1 << 20, 1000);
    let (_, done) = r.take(format!("{received}RECEIVED: one more\r\n\r\nbody\r\n.\r\n").as_bytes());
    assert!(done);
    assert!(matches!(r.outcome().0, DataOutcome::TooManyHops));
    assert_eq!(hops(b"Received: a\r\nreceived: b\r\n\tcont\r\nSubject: x\r\n\r\nReceived: body\r\n"), 2);
}

#[test]
fn memory_is_reserved_as_the_message_grows_and_given_back() {
    let memory = DataMemory::new(64 << 10);
    let limits = DataLimits { max_size: 1 << 20, max_line: 1000 };
    let mut r = Reader::new(b"", 0, limits, &memory).expect("room for the first buffer");
    assert!(memory.available() < 64 << 10);
    let line = format!("{}\r\n", "m".repeat(998));
    for _ in 0..100 {
        r.take(line.as_bytes());
    }
    assert_eq!(memory.available(), 64 << 10, "refused content gives its memory back at once");
    let (_, done) = r.take(b".\r\n");
    assert!(done);
    assert!(matches!(r.outcome().0, DataOutcome::NoMemory));

    let mut r = Reader::new(b"", 0, limits, &memory).expect("memory");
    r.take(line.repeat(20).as_bytes());
    r.take(b".\r\n");
    let (out, held) = r.outcome();
    assert!(matches!(out, DataOutcome::Body(_)));
    assert!(memory.available() <= (64 << 10) - 20 * 1000, "held while the message is stored");
    drop(held);
    assert_eq!(memory.available(), 64 << 10);
    let tiny = DataMemory::new(100);
    assert!(Reader::new(b"", 0, limits, &tiny).is_none(), "no room for the first buffer");
}
