//! Signatures at the desk: where the regulation asks for an application signed with the
//! organisation's digital signature (IQBSH rules 15 and 15-2: yearly lists and risky
//! services) and `[desk] trust_anchors` is set, the filing carries the signed
//! application, verified before anything is recorded; a signer's BIN must be the
//! applicant's, at filing and for every signed attachment of an organisation's
//! application. Without anchors nothing is verified, and the desk says so.
//!
//! Must not: parse CMS itself (`certs::signed` does) or record anything.

use desk::{Applicant, Kind};
use store::NewAttachment;

use super::{Desk, DeskError};

/// Whether the regulation asks for the application signed by the organisation.
pub fn signature_required(kind: Kind) -> bool {
    matches!(kind, Kind::YearlyLists | Kind::RiskyService)
}

/// Refuses a document signed for another BIN than the organisation applicant's.
pub fn same_bin(applicant: &Applicant, signer_bin: Option<&str>) -> Result<(), DeskError> {
    let Applicant::Organisation(own) = applicant else { return Ok(()) };
    match signer_bin {
        Some(bin) if bin == own.as_str() => Ok(()),
        Some(bin) => Err(DeskError::Signer(format!(
            "it is signed for BIN {bin}, and the applicant is {applicant}: sign it with the organisation's own \
             certificate"
        ))),
        None => Err(DeskError::Signer(format!(
            "the signer's certificate names no BIN (OU=BIN + 12 digits); the applicant is {applicant}"
        ))),
    }
}

impl Desk {
    /// The signed application a filing came with, verified when anchors are set and
    /// required where rules 15 and 15-2 ask for it; kept as an attachment.
    pub(super) fn signed_application(
        &self,
        applicant: &Applicant,
        kind: Kind,
        signed: Option<(String, String, Vec<u8>)>,
    ) -> Result<Option<NewAttachment>, DeskError> {
        let verifies = self.verifies_signatures();
        let Some((name, content_type, content)) = signed else {
            if verifies && signature_required(kind) {
                return Err(DeskError::Signer(format!(
                    "a {kind} application is filed signed with the organisation's digital signature (IQBSH rules \
                     15 and 15-2): give the signed application (a CMS document, e.g. .p7s) with the filing"
                )));
            }
            return Ok(None);
        };
        let signer = match verifies {
            true => {
                let (_, s) = certs::signed::verify(&content, &self.anchors, store::now_ms() / 1000)?;
                same_bin(applicant, s.bin.as_deref())?;
                Some(store::Verified { subject: s.subject, bin: s.bin, signs: None })
            }
            false => None,
        };
        Ok(Some(NewAttachment { name, content_type, content, signer }))
    }

    /// The signer of a signed document attached to application `id`.
    pub(super) async fn verify(&self, id: i64, document: &[u8]) -> Result<store::Verified, DeskError> {
        use certs::signed::{SignedError, verify, verify_detached};
        let at = store::now_ms() / 1000;
        let signer = match verify(document, &self.anchors, at) {
            Ok((_, signer)) => return Ok(store::Verified { subject: signer.subject, bin: signer.bin, signs: None }),
            Err(SignedError::Detached) => SignedError::Detached,
            Err(e) => return Err(e.into()),
        };
        let mut last = signer;
        // With the digest it signs in hand, only the attachment of that digest is read.
        let digest: Option<String> =
            certs::signed::signed_sha256(document).map(|d| d.iter().map(|b| format!("{b:02x}")).collect());
        let attachments = self.store.attachments(id).await?;
        let candidates =
            attachments.iter().rev().filter(|a| a.signer.is_none() && digest.as_ref().is_none_or(|d| *d == a.sha256));
        for info in candidates {
            let Some(content) = self.store.attachment(id, info.id).await?.1 else { continue };
            match verify_detached(document, &content, &self.anchors, at) {
                Ok(s) => return Ok(store::Verified { subject: s.subject, bin: s.bin, signs: Some(info.id) }),
                // Another attachment's digest: try the next; anything else is final.
                Err(SignedError::OtherContent) => {}
                Err(e) => last = e,
            }
        }
        Err(match last {
            SignedError::Detached => SignedError::Invalid("it signs none of the application's attachments".into()),
            other => other,
        }
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_signed_for_another_bin_is_refused_saying_so() {
        let bin = policies::Bin::with_check_digit("98014000001").unwrap();
        let org = Applicant::Organisation(bin.clone());
        assert!(same_bin(&org, Some(bin.as_str())).is_ok());
        let other = same_bin(&org, Some("990101000005")).unwrap_err().to_string();
        assert!(other.contains("signed for BIN 990101000005") && other.contains(&format!("org:{bin}")), "{other}");
        assert!(same_bin(&org, None).unwrap_err().to_string().contains("names no BIN"));
        assert!(same_bin(&Applicant::Operator("alpha".into()), None).is_ok());
    }
}
