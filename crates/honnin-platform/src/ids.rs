//! Identifiers, bearer secrets and their hashes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::PlatformError;

/// `len` random bytes from the OS generator (aws-lc).
pub fn random_bytes(len: usize) -> Result<Vec<u8>, PlatformError> {
    let mut b = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| PlatformError::Random)?;
    Ok(b)
}

/// An identifier: a prefix saying what it names, then 128 random bits (unguessable, so an id from
/// one tenant tells nothing about another's).
pub fn new_id(prefix: &str) -> Result<String, PlatformError> {
    Ok(format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(random_bytes(16)?)))
}

/// A bearer secret: 256 random bits.
pub fn new_secret() -> Result<String, PlatformError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes(32)?))
}

/// SHA-256, hex. Secrets are 256-bit random, so a fast hash is enough (no password KDF needed).
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data))
}

/// Compares two hex hashes without leaking where they differ.
pub fn same_hash(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_distinct() {
        let a = new_id("usr").unwrap();
        let b = new_id("usr").unwrap();
        assert!(a.starts_with("usr_") && a.len() == 4 + 22, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn hashes_compare_in_full() {
        let h = sha256_hex(b"secret");
        assert!(same_hash(&h, &sha256_hex(b"secret")));
        assert!(!same_hash(&h, &sha256_hex(b"secreT")));
        assert!(!same_hash(&h, &h[..10]));
    }
}
