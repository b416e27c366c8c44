//! The framing watch fed whole streams of requests, cut at every size: the notes come
//! one per head, in order, whatever the bodies hold.

use super::*;

const CLEAR_GET: &str = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
/// A body that looks like an ambiguous head: only framing may decide what is a head.
const DECOY: &str = "POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";

fn length_post(body: &str) -> String {
    format!("POST /l HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}", body.len())
}

fn chunked_post(body: &str) -> String {
    format!(
        "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n{:x};ext=1\r\n{body}\r\n0\r\nX-Trailer: t\r\n\r\n",
        body.len()
    )
}

/// Feeds `stream` in pieces of `size` bytes and returns the notes.
fn notes(stream: &str, size: usize) -> Vec<Framing> {
    let watch = FramingWatch::default();
    let mut tracker = Tracker::new(8192, watch.clone());
    for piece in stream.as_bytes().chunks(size) {
        tracker.feed(piece);
    }
    std::iter::from_fn(|| watch.next()).collect()
}

fn every_cut(stream: &str, want: &[Framing]) {
    for size in (1..=9).chain([64, stream.len()]) {
        assert_eq!(notes(stream, size), want, "pieces of {size}: {stream:?}");
    }
}

#[test]
fn each_head_gets_one_note_in_order_and_bodies_are_never_heads() {
    let both_cl_first =
        "POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let both_te_first =
        "POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\ncontent-length: 4\r\n\r\n0\r\n\r\n";
    let two_lengths = "POST /d HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok";
    let stream = [
        CLEAR_GET.to_string(),
        length_post(DECOY),
        chunked_post(DECOY),
        // Leading empty lines before a request line are allowed.
        format!("\r\n{CLEAR_GET}"),
        both_cl_first.to_string(),
        both_te_first.to_string(),
        two_lengths.to_string(),
        CLEAR_GET.to_string(),
    ]
    .concat();
    let both = Framing::Ambiguous("both Content-Length and Transfer-Encoding");
    let two = Framing::Ambiguous("more than one Content-Length");
    let clear = Framing::Clear;
    every_cut(&stream, &[clear, clear, clear, clear, both, both, two, clear]);
}

#[test]
fn the_watch_ends_where_it_cannot_follow_and_notes_nothing_after() {
    let upgrade = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n";
    every_cut(&format!("{upgrade}{CLEAR_GET}"), &[Framing::Clear]);
    let connect = "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n";
    every_cut(&format!("{connect}{DECOY}"), &[Framing::Clear]);
    let not_chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n";
    every_cut(&format!("{not_chunked}{CLEAR_GET}"), &[Framing::Clear]);
    let bad_chunk = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    every_cut(&format!("{bad_chunk}{CLEAR_GET}"), &[Framing::Clear]);
    every_cut(&format!("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n{CLEAR_GET}"), &[]);
    let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n{CLEAR_GET}", "a".repeat(9000));
    every_cut(&huge, &[]);
    let long_line = format!("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;{}\r\n", "e".repeat(5000));
    every_cut(&format!("{long_line}x\r\n0\r\n\r\n{CLEAR_GET}"), &[Framing::Clear]);
}

#[test]
fn a_large_length_body_is_skipped_however_it_arrives() {
    let body = "x".repeat(100_000);
    let stream = format!("{}{CLEAR_GET}", length_post(&body));
    assert_eq!(notes(&stream, 4096), [Framing::Clear, Framing::Clear]);
    let stream = format!("{}{CLEAR_GET}", chunked_post(&body));
    assert_eq!(notes(&stream, 1000), [Framing::Clear, Framing::Clear]);
}
