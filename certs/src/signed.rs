//! Signed documents (CMS / PKCS#7 SignedData, RFC 5652) as applicants attach them to
//! the request desk: the content, the signer's certificate and its chain to one of the
//! configured trust anchors, the signed attributes' message digest and the signature
//! (RSA PKCS#1 v1.5 and ECDSA P-256/P-384, SHA-256/384/512, through aws-lc-rs). The
//! signer's subject and BIN are returned: the BIN only from the subject's
//! organizational unit (`OU=BIN` + 12 digits, as Kazakhstan's national authority issues
//! an organisation's certificates), never from a name anyone may choose, such as the CN. A detached signature is verified against the content it
//! is given. DER only: a BER document with indefinite lengths is refused, as is GOST
//! (no well-kept Rust implementation to verify it with).
//!
//! Must not: trust a certificate that does not chain to a given anchor, or accept a
//! signature over anything but the document's own content.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::{ASN1Time, FromDer};

/// Who signed a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// The signer certificate's subject, as `CN=…, OU=…, O=…`.
    pub subject: String,
    /// The organisation's BIN named in the subject, if any.
    pub bin: Option<String>,
}

/// Why a signed document was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedError {
    #[error("not a CMS signed document: {0}")]
    Format(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("the signature does not verify: {0}")]
    Invalid(String),
    #[error("the signer's certificate is not trusted: {0}")]
    Untrusted(String),
    #[error("a detached signature (the document it signs is not inside it)")]
    Detached,
    #[error("the signature does not verify: the content does not match its signed digest")]
    OtherContent,
}

type Result<T> = std::result::Result<T, SignedError>;

const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const OID_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];

/// One DER element: its tag, its content and the whole encoding.
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    raw: &'a [u8],
}

fn format(what: &str) -> SignedError {
    SignedError::Format(what.to_string())
}

/// Reads one element (single-byte tag, definite length) off the front of `input`.
fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first().ok_or_else(|| format("truncated"))?;
    let (&first, rest) = rest.split_first().ok_or_else(|| format("truncated length"))?;
    let (len, rest) = match first {
        0x80 => return Err(SignedError::Unsupported("indefinite lengths (BER); send the document in DER".into())),
        n if n < 0x80 => (usize::from(n), rest),
        n => {
            let count = usize::from(n & 0x7f);
            if count > 4 || rest.len() < count {
                return Err(format("bad length"));
            }
            (rest[..count].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), &rest[count..])
        }
    };
    if rest.len() < len {
        return Err(format("truncated content"));
    }
    let header = input.len() - rest.len();
    Ok((Tlv { tag, content: &rest[..len], raw: &input[..header + len] }, &rest[len..]))
}

fn children(content: &[u8]) -> Result<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let (tlv, next) = read(rest)?;
        out.push(tlv);
        rest = next;
    }
    Ok(out)
}

fn expect<'a>(tlv: Option<&Tlv<'a>>, tag: u8, what: &str) -> Result<Tlv<'a>> {
    tlv.filter(|t| t.tag == tag).copied().ok_or_else(|| format(&format!("{what} missing")))
}

/// Verifies a DER CMS SignedData with attached content against `anchors` (DER
/// certificates) at the Unix time `at`; returns the content and its signer. A detached
/// signature is [`SignedError::Detached`]: verify it with [`verify_detached`].
pub fn verify(document: &[u8], anchors: &[Vec<u8>], at: i64) -> Result<(Vec<u8>, Signer)> {
    verify_over(document, None, anchors, at)
}

/// Verifies a detached DER CMS signature over `content`; returns its signer.
pub fn verify_detached(document: &[u8], content: &[u8], anchors: &[Vec<u8>], at: i64) -> Result<Signer> {
    verify_over(document, Some(content), anchors, at).map(|(_, signer)| signer)
}

/// The SHA-256 digest of the content a signature's signed attributes carry, when it has
/// them and signs with SHA-256: the content a detached signature signs is then found by
/// its digest, without reading every candidate.
pub fn signed_sha256(document: &[u8]) -> Option<Vec<u8>> {
    let parts = signed_data(document).ok()?;
    let first = *children(expect(parts.last(), 0x31, "signer infos").ok()?.content).ok()?.first()?;
    let fields = children(first.content).ok()?;
    let sha256 = std::ptr::eq(digest_of(*fields.get(2)?).ok()?, &digest::SHA256);
    let attrs = fields.get(3).filter(|a| a.tag == 0xa0 && sha256)?;
    message_digest(*attrs).ok().map(<[u8]>::to_vec)
}

/// The parts of the SignedData a DER ContentInfo holds.
fn signed_data(document: &[u8]) -> Result<Vec<Tlv<'_>>> {
    let (info, _) = read(document)?;
    let info = children(expect(Some(&info), 0x30, "ContentInfo")?.content)?;
    if expect(info.first(), 0x06, "content type")?.content != OID_SIGNED_DATA {
        return Err(format("the content is not SignedData"));
    }
    let wrapped = expect(info.get(1), 0xa0, "SignedData")?;
    let (signed, _) = read(wrapped.content)?;
    children(expect(Some(&signed), 0x30, "SignedData")?.content)
}

/// Verifies `document` over its own content, or over `detached` when it carries none.
fn verify_over(document: &[u8], detached: Option<&[u8]>, anchors: &[Vec<u8>], at: i64) -> Result<(Vec<u8>, Signer)> {
    let parts = signed_data(document)?;
    let encap = children(expect(parts.get(2), 0x30, "encapsulated content")?.content)?;
    let content = match (encap.get(1), detached) {
        // A document that carries its content signs that content only: given other
        // content to check, it does not sign it, whatever its own signature says.
        (Some(e), Some(given)) if e.tag == 0xa0 => {
            let own = expect(children(e.content)?.first(), 0x04, "content octets")?.content;
            if own != given {
                return Err(SignedError::OtherContent);
            }
            own
        }
        (Some(e), None) if e.tag == 0xa0 => expect(children(e.content)?.first(), 0x04, "content octets")?.content,
        (Some(_), _) => return Err(format("encapsulated content that is not [0]")),
        (None, Some(given)) => given,
        (None, None) => return Err(SignedError::Detached),
    };
    let certs: Vec<&[u8]> = match parts.get(3) {
        Some(c) if c.tag == 0xa0 => children(c.content)?.iter().map(|t| t.raw).collect(),
        _ => Vec::new(),
    };
    let signer_infos = expect(parts.last(), 0x31, "signer infos")?;
    let signer_info = children(signer_infos.content)?;
    let first = expect(signer_info.first(), 0x30, "a signer")?;
    let signer = check_signer(first, content, &certs, anchors, at)?;
    Ok((content.to_vec(), signer))
}

/// How a signer names its certificate (RFC 5652 §5.3): by issuer and serial number, or
/// by the subject key identifier (`[0]`, as `openssl cms -keyid` writes).
enum SignerId<'a> {
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    KeyId(&'a [u8]),
}

impl<'a> SignerId<'a> {
    fn read(field: Option<&Tlv<'a>>) -> Result<SignerId<'a>> {
        match field {
            Some(t) if t.tag == 0x80 => Ok(SignerId::KeyId(t.content)),
            Some(t) if t.tag == 0x30 => {
                let sid = children(t.content)?;
                let (issuer, serial) = (expect(sid.first(), 0x30, "issuer")?, expect(sid.get(1), 0x02, "serial")?);
                Ok(SignerId::IssuerSerial { issuer: issuer.raw, serial: serial.content })
            }
            _ => Err(format("the signer's identifier (issuer and serial, or subject key identifier) missing")),
        }
    }

    fn names(&self, cert: &X509Certificate<'_>) -> bool {
        match self {
            SignerId::IssuerSerial { issuer, serial } => {
                cert.issuer().as_raw() == *issuer && cert.raw_serial() == *serial
            }
            SignerId::KeyId(id) => cert.extensions().iter().any(|e| match e.parsed_extension() {
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => k.0 == *id,
                _ => false,
            }),
        }
    }
}

fn check_signer(info: Tlv<'_>, content: &[u8], certs: &[&[u8]], anchors: &[Vec<u8>], at: i64) -> Result<Signer> {
    let fields = children(info.content)?;
    let sid = SignerId::read(fields.get(1))?;
    let digest_alg = digest_of(expect(fields.get(2), 0x30, "digest algorithm")?)?;
    let (attrs, rest) = match fields.get(3) {
        Some(a) if a.tag == 0xa0 => (Some(*a), &fields[4..]),
        _ => (None, &fields[3..]),
    };
    let signature = expect(rest.get(1), 0x04, "signature")?.content;
    let cert = certs
        .iter()
        .filter_map(|raw| parse(raw))
        .find(|c| sid.names(c))
        .ok_or_else(|| format("the signer's certificate is not in the document"))?;
    let computed = digest::digest(digest_alg, content);
    let signed_bytes = match attrs {
        Some(a) => {
            check_message_digest(a, computed.as_ref())?;
            let mut set = a.raw.to_vec();
            set[0] = 0x31;
            set
        }
        None => content.to_vec(),
    };
    let algorithm = verification_algorithm(&cert, digest_alg)?;
    UnparsedPublicKey::new(algorithm, &cert.public_key().subject_public_key.data)
        .verify(&signed_bytes, signature)
        .map_err(|_| SignedError::Invalid("the signature does not match the signer's key".into()))?;
    chain(&cert, certs, anchors, at)?;
    let subject = cert.subject().to_string();
    Ok(Signer { bin: bin_of(&cert), subject })
}

fn digest_of(alg: Tlv<'_>) -> Result<&'static digest::Algorithm> {
    let oid = expect(children(alg.content)?.first(), 0x06, "digest algorithm OID")?.content;
    match oid {
        o if o == OID_SHA256 => Ok(&digest::SHA256),
        o if o == OID_SHA384 => Ok(&digest::SHA384),
        o if o == OID_SHA512 => Ok(&digest::SHA512),
        _ => Err(SignedError::Unsupported("a digest other than SHA-256, SHA-384 or SHA-512".into())),
    }
}

fn check_message_digest(attrs: Tlv<'_>, computed: &[u8]) -> Result<()> {
    match message_digest(attrs)? == computed {
        true => Ok(()),
        false => Err(SignedError::OtherContent),
    }
}

/// The message digest among signed attributes.
fn message_digest(attrs: Tlv<'_>) -> Result<&[u8]> {
    for attr in children(attrs.content)? {
        let parts = children(attr.content)?;
        if expect(parts.first(), 0x06, "attribute type")?.content == OID_MESSAGE_DIGEST {
            let values = children(expect(parts.get(1), 0x31, "attribute values")?.content)?;
            return Ok(expect(values.first(), 0x04, "message digest")?.content);
        }
    }
    Err(format("signed attributes without a message digest"))
}

/// The verification algorithm for the signer's key and the digest it signed with.
fn verification_algorithm(
    cert: &X509Certificate<'_>,
    digest_alg: &'static digest::Algorithm,
) -> Result<&'static dyn VerificationAlgorithm> {
    let spki = cert.public_key();
    let key = spki.algorithm.algorithm.to_id_string();
    let bits = digest_alg.output_len() * 8;
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string());
    let alg: &'static dyn VerificationAlgorithm = match (key.as_str(), curve.as_deref(), bits) {
        ("1.2.840.113549.1.1.1", _, 256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.1", _, 384) => &signature::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.1", _, 512) => &signature::RSA_PKCS1_2048_8192_SHA512,
        ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7"), 256) => &signature::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7"), 384) => &signature::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.10045.2.1", Some("1.3.132.0.34"), 256) => &signature::ECDSA_P384_SHA256_ASN1,
        ("1.2.840.10045.2.1", Some("1.3.132.0.34"), 384) => &signature::ECDSA_P384_SHA384_ASN1,
        _ => return Err(SignedError::Unsupported(format!("a signer key of type {key} with SHA-{bits}"))),
    };
    Ok(alg)
}

/// Walks from the signer's certificate to an anchor through the document's
/// certificates, each valid at `at` and signed by the next.
fn chain(cert: &X509Certificate<'_>, certs: &[&[u8]], anchors: &[Vec<u8>], at: i64) -> Result<()> {
    let when = ASN1Time::from_timestamp(at).map_err(|_| format("bad time"))?;
    let anchors: Vec<X509Certificate<'_>> = anchors.iter().filter_map(|a| parse(a)).collect();
    let pool: Vec<X509Certificate<'_>> = certs.iter().filter_map(|c| parse(c)).collect();
    let mut current = cert.clone();
    for _ in 0..5 {
        if !current.validity().is_valid_at(when) {
            return Err(SignedError::Untrusted(format!(
                "'{}' is not valid at the time of checking",
                current.subject()
            )));
        }
        if anchors.iter().any(|a| a.as_ref() == current.as_ref()) {
            return Ok(());
        }
        let signed_by = |issuer: &X509Certificate<'_>| {
            issuer.subject().as_raw() == current.issuer().as_raw()
                && current.verify_signature(Some(issuer.public_key())).is_ok()
        };
        if anchors.iter().any(signed_by) {
            return Ok(());
        }
        match pool.iter().find(|c| c.as_ref() != current.as_ref() && signed_by(c)) {
            Some(next) => current = next.clone(),
            None => break,
        }
    }
    Err(SignedError::Untrusted(format!("'{}' does not chain to a configured trust anchor", cert.subject())))
}

fn parse(raw: &[u8]) -> Option<X509Certificate<'_>> {
    X509Certificate::from_der(raw).ok().map(|(_, c)| c)
}

/// The BIN a certificate's subject names: an organizational unit that is exactly `BIN`
/// and 12 digits.
fn bin_of(cert: &X509Certificate<'_>) -> Option<String> {
    cert.subject().iter_organizational_unit().filter_map(|ou| ou.as_str().ok()).find_map(bin_in)
}

/// The 12 digits of `BIN` + 12 digits, and nothing else.
fn bin_in(unit: &str) -> Option<String> {
    let digits = unit.trim().strip_prefix("BIN")?;
    (digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bin_is_read_from_the_subject_and_ber_is_refused() {
        assert_eq!(bin_in("BIN980140000023").as_deref(), Some("980140000023"));
        assert_eq!(bin_in("BIN12"), None);
        assert_eq!(bin_in("BIN9801400000231"), None, "not 12 digits");
        assert_eq!(bin_in("Signer BIN980140000023"), None, "only the unit itself");
        assert!(matches!(verify(&[0x30, 0x80, 0, 0], &[], 0), Err(SignedError::Unsupported(_))));
        assert!(matches!(verify(b"%PDF-1.7", &[], 0), Err(SignedError::Format(_))));
        assert_eq!(signed_sha256(b"%PDF-1.7"), None, "no digest read from what is not CMS");
    }

    /// Found by the `cms_signed` fuzz target: a document with its own content, checked as
    /// a detached signature of other content, was accepted (its own content verified).
    #[test]
    fn a_document_with_its_own_content_signs_no_other() {
        // Two length bytes, the signer's self-signed certificate (the anchor), the document.
        let data = include_bytes!("../tests/data/cms-ec-attached.bin");
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let (anchor, document) = data[2..].split_at(len);
        let (anchors, at) = (vec![anchor.to_vec()], 1_800_000_000);
        let (content, signer) = verify(document, &anchors, at).expect("a valid document");
        assert_eq!(content, b"a letter of application\n");
        assert_eq!(signer.bin.as_deref(), Some("980140000028"));
        assert_eq!(verify_detached(document, &content, &anchors, at).map(|s| s.bin), Ok(signer.bin));
        let other = verify_detached(document, b"another letter\n", &anchors, at);
        assert_eq!(other, Err(SignedError::OtherContent));
        assert!(verify(document, &[], at).is_err(), "no anchor, no trust");
    }
}
