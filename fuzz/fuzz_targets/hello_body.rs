//! The ClientHello body parser (`iqbsh::hello::parse_body`), on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(hello) = iqbsh::hello::parse_body(data) {
        assert!(hello.raw.is_empty(), "parse_body keeps no raw bytes");
        perimeter_fuzz::check_hello(&hello, data.len());
    }
});
