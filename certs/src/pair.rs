//! A site's certificate and private key as an applicant gives them to the desk (IQBSH
//! appendix 3 item 3.7): PEM text, the key the certificate's own (the public key in the
//! certificate is the key's), and the certificate naming the site (a DNS name of its
//! subject alternative names, or its CN when it has none; a left-most `*` covers one
//! label). Every refusal says which of these failed.
//!
//! Must not: keep, log or return the key.

use rcgen::PublicKeyData;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// Why `certificate` and `key` (PEM) are not a pair whose certificate names `site`.
pub fn check(certificate: &str, key: &str, site: &str) -> Result<(), String> {
    let first = CertificateDer::pem_slice_iter(certificate.as_bytes())
        .next()
        .ok_or("no certificate in the PEM text")?
        .map_err(|e| format!("the certificate's PEM cannot be read: {e}"))?;
    let (_, cert) = X509Certificate::from_der(&first).map_err(|e| format!("the certificate cannot be read: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|e| format!("the private key's PEM cannot be read: {e}"))?;
    let pair = rcgen::KeyPair::try_from(&key)
        .map_err(|_| "the private key is not an RSA, ECDSA or Ed25519 key this service reads".to_string())?;
    if pair.subject_public_key_info() != cert.public_key().raw {
        return Err("the private key is not the certificate's (their public keys differ)".into());
    }
    let names = names(&cert);
    let site = site.trim_end_matches('.').to_ascii_lowercase();
    if !names.iter().any(|n| covers(n, &site)) {
        return Err(format!("the certificate names {}, not {site}", names.join(", ")));
    }
    Ok(())
}

/// The DNS names a certificate is for: its SANs, or its CN when it has none.
fn names(cert: &X509Certificate<'_>) -> Vec<String> {
    let san: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if !san.is_empty() {
        return san;
    }
    cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_ascii_lowercase).collect()
}

/// Whether certificate name `name` covers `host`: equal, or `*.rest` with `host` one
/// label more than `rest`.
fn covers(name: &str, host: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(rest) => host.split_once('.').is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
        None => name.trim_end_matches('.') == host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    #[test]
    fn a_pair_must_match_and_name_the_site() {
        let (cert, key) = issued(&["a.example.kz", "www.a.example.kz"]);
        assert_eq!(check(&cert, &key, "a.example.kz"), Ok(()));
        assert_eq!(check(&cert, &key, "WWW.a.example.kz."), Ok(()));
        let named = check(&cert, &key, "b.example.kz").unwrap_err();
        assert!(named.contains("names a.example.kz, www.a.example.kz, not b.example.kz"), "{named}");
        let (_, other_key) = issued(&["a.example.kz"]);
        assert!(check(&cert, &other_key, "a.example.kz").unwrap_err().contains("not the certificate's"));
        assert!(check("junk", &key, "a.example.kz").unwrap_err().contains("no certificate"));
        let (wild, wild_key) = issued(&["*.example.kz"]);
        assert_eq!(check(&wild, &wild_key, "a.example.kz"), Ok(()));
        assert!(check(&wild, &wild_key, "x.a.example.kz").is_err(), "a wildcard covers one label");
    }
}
