//! PEM encoding of DER blobs (certificates) for export and files, with Unix line ends.
//!
//! Must not: encode private keys (the key file is written from the key type's own
//! serialiser) or parse PEM (readers use rustls' `PemObject`).

use pem::{EncodeConfig, LineEnding, Pem};

/// PEM text with the given label, e.g. `CERTIFICATE`.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    pem::encode_config(&Pem::new(label, der), EncodeConfig::new().set_line_ending(LineEnding::LF))
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn pem_round_trips_through_the_parser() {
        let der: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        let text = super::encode("CERTIFICATE", &der);
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n") && !text.contains('\r'), "{text}");
        assert!(text.lines().all(|l| l.len() <= 64), "{text}");
        let certs: Vec<_> = CertificateDer::pem_slice_iter(text.as_bytes()).collect::<Result<_, _>>().expect("parse");
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].as_ref(), der.as_slice());
    }
}
