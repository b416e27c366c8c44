//! Reading a ClientHello off a connection (`iqbsh::hello::read`), from a byte slice:
//! the first two bytes are the size limit, the rest is what the client sent.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use iqbsh::hello::{ClientHello, HelloError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let max = usize::from(u16::from_be_bytes([data[0], data[1]]));
    let sent = &data[2..];
    let mut stream = sent;
    let read = pin!(iqbsh::hello::read(&mut stream, max));
    let Poll::Ready(result) = read.poll(&mut Context::from_waker(Waker::noop())) else {
        panic!("reading from memory never waits");
    };
    match result {
        Ok(hello) => check(&hello, sent, max),
        Err(HelloError::TooLarge(limit)) => assert_eq!(limit, max),
        Err(_) => {}
    }
});

/// The bytes kept are exactly the records read, in order, and what was parsed is the
/// handshake message they carry.
fn check(hello: &ClientHello, sent: &[u8], max: usize) {
    assert!(sent.starts_with(&hello.raw), "kept bytes are not what was sent");
    let mut handshake = Vec::new();
    let mut rest = hello.raw.as_slice();
    while !rest.is_empty() {
        assert!(rest.len() >= 5 && rest[0] == 22 && rest[1] == 3, "kept bytes are not handshake records");
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        assert!(len > 0 && rest.len() >= 5 + len, "a kept record is cut");
        handshake.extend_from_slice(&rest[5..5 + len]);
        rest = &rest[5 + len..];
    }
    assert_eq!(handshake[0], 1, "not a ClientHello");
    let body_len = usize::from(handshake[1]) << 16 | usize::from(handshake[2]) << 8 | usize::from(handshake[3]);
    assert!(body_len + 4 <= max, "a hello over the limit was accepted");
    assert!(handshake.len() >= body_len + 4, "the hello is not complete");
    let mut again = iqbsh::hello::parse_body(&handshake[4..4 + body_len]).expect("the same body parses again");
    again.raw = hello.raw.clone();
    assert_eq!(&again, hello, "parsing the kept records gives another hello");
    perimeter_fuzz::check_hello(hello, body_len);
}
