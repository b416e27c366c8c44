//! Operator IP lists in CSV (`catalog::format::read`).
#![no_main]

use catalog::format::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| perimeter_fuzz::list::check(Format::Csv, data));
