//! The SMTP command-line parser: a parsed command written back as a line parses to the
//! same command, and a refused line gets one of the parser's documented reply codes.
#![no_main]

use epbsh::fuzzing::command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    match command(line) {
        Ok(canonical) => {
            assert!(line.iter().all(|b| (0x20..0x7f).contains(b) || *b == b'\t'), "accepted a control or 8-bit byte");
            assert_eq!(command(canonical.as_bytes()), Ok(canonical.clone()), "the written-back command changed");
        }
        Err(code) => assert!(matches!(code, 500 | 501 | 553 | 555), "undocumented reply code {code}"),
    }
});
