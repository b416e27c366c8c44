//! What an ICAP server sends back (`iqbsh` ICAP wire format): the answer head, its
//! `Encapsulated` header and a chunked body. An accepted head has an `ICAP/1.x` status
//! line with a status of 100-599 and ends where `head_end` says; an accepted `Encapsulated`
//! value has offsets that start at 0 and grow and, written back, parses to the same;
//! a chunked body decodes to the same bytes, end and error whatever the sizes of the
//! reads that hand it over, and the decoded bytes framed again decode to themselves.
#![no_main]

use iqbsh::fuzzing::{answer_head, dechunk, encapsulated, enchunk, head_end};
use libfuzzer_sys::fuzz_target;
use perimeter_fuzz::byte;

fuzz_target!(|data: &[u8]| {
    let (which, rest) = byte(data);
    match which % 3 {
        0 => head(rest),
        1 => encapsulated_value(rest),
        _ => chunked(rest),
    }
});

fn head(data: &[u8]) {
    let Ok(Some(end)) = head_end(data) else { return };
    assert!(end <= data.len() && data[..end].ends_with(b"\r\n\r\n"));
    assert!(!data[..end - 4].windows(4).any(|w| w == b"\r\n\r\n"), "the head ends at its first blank line");
    if let Ok(head) = answer_head(&data[..end]) {
        assert!((100..=599).contains(&head.status), "status {}", head.status);
        assert!(data.starts_with(b"ICAP/1."), "accepted without an ICAP/1.x status line");
        if let Some(value) = head.encapsulated {
            encapsulated_value(value.as_bytes());
        }
    }
}

fn encapsulated_value(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok((offsets, has_body, written)) = encapsulated(text) else { return };
    assert!(!offsets.is_empty() && offsets.len() <= 3 && offsets[0] == 0, "{offsets:?}");
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "offsets do not grow: {offsets:?}");
    assert_eq!(encapsulated(&written), Ok((offsets, has_body, written.clone())), "written back: {written:?}");
}

fn chunked(data: &[u8]) {
    let (split, input) = byte(data);
    let whole = dechunk(input, &[input.len().max(1)]);
    let reads = [usize::from(split % 7) + 1, usize::from(split / 7) + 1];
    assert_eq!(dechunk(input, &reads), whole, "the result depends on how the reads split the body");
    assert_eq!(dechunk(input, &[1]), whole, "the result differs when read byte by byte");
    if let (Some(ieof), None) = (whole.end, &whole.error) {
        let (a, b) = whole.data.split_at(whole.data.len() / 2);
        let again = dechunk(&enchunk(&[a, b], ieof), &reads);
        assert_eq!((again.data, again.end, again.error), (whole.data.clone(), Some(ieof), None));
    }
}
