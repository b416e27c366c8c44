//! Sealing the secrets applications carry (the access a WAF or defacement service is
//! given): AES-256-GCM from aws-lc-rs under a key kept in a file of its own (0600,
//! created on first use), a fresh random nonce per secret. Sealed text is hex of the
//! nonce, the ciphertext and the tag.
//!
//! Must not: log, return or store a secret in the clear.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::{Result, StoreError};

/// What ties a sealed text to its use: a secret sealed for the desk opens only here.
const AAD: &[u8] = b"perimeter desk credentials v1";
const KEY_LEN: usize = 32;

/// Seals and opens application secrets with one key.
pub struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    /// The key in `path`, created (32 random bytes, mode 0600) when the file is missing.
    pub fn open_or_create(path: &Path) -> Result<Sealer> {
        let io =
            |what: &str, e: std::io::Error| StoreError::Invalid(format!("desk key {}: {what}: {e}", path.display()));
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_LEN];
                aws_lc_rs::rand::fill(&mut key).map_err(|_| StoreError::Invalid("no random bytes for a key".into()))?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| io("cannot create", e))?;
                file.write_all(&key).and_then(|()| file.sync_all()).map_err(|e| io("cannot write", e))?;
                key.to_vec()
            }
            Err(e) => return Err(io("cannot read", e)),
        };
        Sealer::from_key(&bytes).map_err(|m| StoreError::Invalid(format!("desk key {}: {m}", path.display())))
    }

    fn from_key(bytes: &[u8]) -> std::result::Result<Sealer, String> {
        if bytes.len() != KEY_LEN {
            return Err(format!("{} bytes; a key is {KEY_LEN}", bytes.len()));
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| "not an AES-256 key".to_string())?;
        Ok(Sealer { key: LessSafeKey::new(key) })
    }

    /// `secret` sealed, as hex.
    pub fn seal(&self, secret: &str) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| StoreError::Invalid("no random bytes for a nonce".into()))?;
        let mut sealed = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(AAD), &mut sealed)
            .map_err(|_| StoreError::Invalid("the secret could not be sealed".into()))?;
        Ok(nonce.iter().chain(&sealed).map(|b| format!("{b:02x}")).collect())
    }

    /// The secret in a sealed text (for the service that uses it; never for display).
    pub fn open(&self, sealed: &str) -> Result<String> {
        let refused = || StoreError::Invalid("the sealed secret does not open with this key".into());
        let bytes = unhex(sealed).ok_or_else(refused)?;
        if bytes.len() < NONCE_LEN {
            return Err(refused());
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused())?;
        let mut body = body.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(AAD), &mut body).map_err(|_| refused())?;
        String::from_utf8(plain.to_vec()).map_err(|_| refused())
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_key_is_made_private_on_first_use_and_opens_what_it_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("desk.key");
        let sealer = Sealer::open_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let sealed = sealer.seal("s3cret").unwrap();
        assert!(!sealed.contains("s3cret") && sealed != sealer.seal("s3cret").unwrap(), "a fresh nonce each time");
        let again = Sealer::open_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "s3cret");
        let mut tampered = sealed.clone().into_bytes();
        tampered[30] = if tampered[30] == b'0' { b'1' } else { b'0' };
        assert!(again.open(&String::from_utf8(tampered).unwrap()).is_err());
        let other = Sealer::open_or_create(&dir.path().join("other.key")).unwrap();
        assert!(other.open(&sealed).is_err());
    }
}
