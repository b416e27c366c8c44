//! The spool's record payloads as recovery decodes them: a decoded message encodes
//! again to the same message, and a decoded state change encodes to the very bytes it
//! came from (a last-error text over the kept length aside, which is cut).
#![no_main]

use epbsh::fuzzing::{encode_message_record, message_record, state_record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    if let Some(m) = message_record(payload) {
        assert!(!m.envelope.recipients.is_empty());
        let encoded = encode_message_record(m.id, &m.envelope, m.body).expect("a decoded envelope encodes");
        assert_eq!(encoded.len(), payload.len(), "the encoding changed size");
        assert_eq!(message_record(&encoded).as_ref(), Some(&m), "the message changed");
        if !payload.iter().any(u8::is_ascii_uppercase) {
            assert_eq!(encoded, payload, "the encoding changed");
        }
    }
    if let Some(s) = state_record(payload) {
        if s.encoded != payload {
            assert!(payload.len() > s.encoded.len() && s.change.starts_with("Defer"), "{s:?}");
        }
        let again = state_record(&s.encoded).expect("an encoded change decodes");
        assert_eq!((again.id, &again.encoded), (s.id, &s.encoded), "the change changed");
    }
});
