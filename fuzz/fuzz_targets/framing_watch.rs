//! The HTTP/1.1 framing watch (`clientio::framing::Tracker`): the notes are the same
//! whatever the sizes of the reads that hand the bytes over (whole, a fuzzed size, byte
//! by byte), and there are never more notes than blank lines that could end a head.
#![no_main]

use clientio::framing::{Framing, FramingWatch, Tracker};
use libfuzzer_sys::fuzz_target;

fn notes(data: &[u8], size: usize) -> Vec<Framing> {
    let watch = FramingWatch::default();
    let mut tracker = Tracker::new(1024, watch.clone());
    for piece in data.chunks(size.max(1)) {
        tracker.feed(piece);
    }
    std::iter::from_fn(|| watch.next()).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, data)) = data.split_first() else { return };
    let whole = notes(data, data.len());
    assert_eq!(notes(data, usize::from(size)), whole, "read {size} at a time");
    assert_eq!(notes(data, 1), whole, "read byte by byte");
    let blank = data.windows(2).filter(|w| *w == b"\n\n").count() + data.windows(3).filter(|w| *w == b"\n\r\n").count();
    assert!(whole.len() <= blank, "{} notes, {blank} blank lines", whole.len());
});
