//! RSA-2048 keys for the CAs, the OCSP responders and the card, on aws-lc-rs.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use der::asn1::BitString;
use der::{Any, Encode};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::{oid, ProfileError};

/// An RSA private key. Its `Debug` shows only the key identifier: private keys are never logged.
pub struct RsaKey {
    pair: KeyPair,
}

impl RsaKey {
    /// A fresh RSA-2048 key, e = 65537.
    pub fn generate() -> Result<Self, ProfileError> {
        let pair =
            KeyPair::generate(KeySize::Rsa2048).map_err(|_| ProfileError::Crypto("RSA key generation failed"))?;
        Ok(RsaKey { pair })
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, ProfileError> {
        let pair = KeyPair::from_pkcs8(der).map_err(|_| ProfileError::Crypto("not an RSA PKCS#8 private key"))?;
        Ok(RsaKey { pair })
    }

    /// The private key as unencrypted PKCS#8 DER, for storage the caller protects.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, ProfileError> {
        let der: Pkcs8V1Der<'static> = self
            .pair
            .as_der()
            .map_err(|_| ProfileError::Crypto("PKCS#8 export failed"))?;
        Ok(der.as_ref().to_vec())
    }

    /// The private key as a PEM `PRIVATE KEY` block (PKCS#8), for tools such as `openssl`.
    pub fn to_pkcs8_pem(&self) -> Result<String, ProfileError> {
        pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, &self.to_pkcs8()?)
            .map_err(|_| ProfileError::Crypto("PEM encoding failed"))
    }

    /// The public key as PKCS#1 `RSAPublicKey` DER.
    pub fn public_key_pkcs1(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The public key as `SubjectPublicKeyInfo`.
    pub fn subject_public_key_info(&self) -> Result<SubjectPublicKeyInfoOwned, ProfileError> {
        rsa_spki(self.public_key_pkcs1())
    }

    /// SHA-1 over the public key bits (RFC 5280 §4.2.1.2 method 1), as J-LIS's roots use.
    pub fn key_identifier(&self) -> Vec<u8> {
        key_identifier(self.public_key_pkcs1())
    }

    /// The card's signature operation: PKCS#1 v1.5 type-1 padding of an already-encoded
    /// `DigestInfo`, then the RSA private-key operation (what `80 2A 00 80` does on the chip).
    pub fn sign_digest_info(&self, digest_info: &[u8]) -> Result<Vec<u8>, ProfileError> {
        raw::sign_padded(&self.to_pkcs8()?, digest_info)
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`.
    pub fn sign_sha256(&self, message: &[u8]) -> Result<Vec<u8>, ProfileError> {
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| ProfileError::Crypto("RSA signing failed"))?;
        Ok(signature)
    }
}

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKey")
            .field("key_identifier", &hex_upper(&self.key_identifier()))
            .finish_non_exhaustive()
    }
}

/// SHA-1 of a PKCS#1 public key: the subject key identifier.
pub fn key_identifier(public_key_pkcs1: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, public_key_pkcs1)
        .as_ref()
        .to_vec()
}

/// `SubjectPublicKeyInfo` for a PKCS#1 RSA public key.
pub fn rsa_spki(public_key_pkcs1: &[u8]) -> Result<SubjectPublicKeyInfoOwned, ProfileError> {
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: oid::RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        subject_public_key: BitString::from_bytes(public_key_pkcs1)?,
    })
}

/// The `sha256WithRSAEncryption` algorithm identifier, with the NULL parameter J-LIS writes.
pub fn sha256_with_rsa() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oid::SHA256_WITH_RSA,
        parameters: Some(Any::null()),
    }
}

/// The aws-lc-rs verification algorithm for a `shaNNNWithRSAEncryption` OID.
fn rsa_algorithm(
    algorithm: &der::asn1::ObjectIdentifier,
) -> Result<&'static aws_lc_rs::signature::RsaParameters, ProfileError> {
    use aws_lc_rs::signature as sig;
    Ok(match *algorithm {
        oid::SHA256_WITH_RSA => &sig::RSA_PKCS1_2048_8192_SHA256,
        oid::SHA384_WITH_RSA => &sig::RSA_PKCS1_2048_8192_SHA384,
        oid::SHA512_WITH_RSA => &sig::RSA_PKCS1_2048_8192_SHA512,
        other => return Err(ProfileError::UnsupportedSignatureAlgorithm(other.to_string())),
    })
}

/// The aws-lc-rs algorithms for a digest computed elsewhere, by its length (SHA-256, SHA-384,
/// SHA-512).
fn digest_algorithms(
    digest: &[u8],
) -> Result<
    (
        &'static aws_lc_rs::digest::Algorithm,
        &'static aws_lc_rs::signature::RsaParameters,
    ),
    ProfileError,
> {
    use aws_lc_rs::{digest as d, signature as sig};
    Ok(match digest.len() {
        32 => (&d::SHA256, &sig::RSA_PKCS1_2048_8192_SHA256),
        48 => (&d::SHA384, &sig::RSA_PKCS1_2048_8192_SHA384),
        64 => (&d::SHA512, &sig::RSA_PKCS1_2048_8192_SHA512),
        n => {
            return Err(ProfileError::Malformed(format!(
                "a {n}-byte digest is not SHA-256/384/512"
            )))
        }
    })
}

/// Verifies an RSASSA-PKCS1-v1_5 signature made with `algorithm` (SHA-256/384/512 with RSA). The
/// key is parsed for this one call; a key used again and again (a root's) is better kept as an
/// [`RsaVerifyingKey`].
pub fn verify_rsa_pkcs1(
    algorithm: &der::asn1::ObjectIdentifier,
    public_key_pkcs1: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), ProfileError> {
    aws_lc_rs::signature::UnparsedPublicKey::new(rsa_algorithm(algorithm)?, public_key_pkcs1)
        .verify(message, signature)
        .map_err(|_| ProfileError::BadSignature)
}

/// Verifies an RSASSA-PKCS1-v1_5 signature over a digest someone else computed (32, 48 or 64 bytes:
/// SHA-256, SHA-384, SHA-512). The key is parsed for this one call.
pub fn verify_rsa_pkcs1_digest(public_key_pkcs1: &[u8], digest: &[u8], signature: &[u8]) -> Result<(), ProfileError> {
    let (hash, algorithm) = digest_algorithms(digest)?;
    let digest =
        aws_lc_rs::digest::Digest::import_less_safe(digest, hash).map_err(|_| ProfileError::Crypto("digest length"))?;
    aws_lc_rs::signature::UnparsedPublicKey::new(algorithm, public_key_pkcs1)
        .verify_digest(&digest, signature)
        .map_err(|_| ProfileError::BadSignature)
}

/// An RSA public key parsed once, for keys that verify again and again (the roots'): a check then
/// skips parsing the key, and AWS-LC keeps the key's Montgomery context from one check to the next
/// (together about 3 µs of an 18 µs RSA-2048 verification here). One parsed key per hash, as
/// aws-lc-rs binds a parsed key to its algorithm.
#[derive(Clone)]
pub struct RsaVerifyingKey {
    pkcs1: Vec<u8>,
    sha256: aws_lc_rs::signature::ParsedPublicKey,
    sha384: aws_lc_rs::signature::ParsedPublicKey,
    sha512: aws_lc_rs::signature::ParsedPublicKey,
}

impl RsaVerifyingKey {
    /// Parses a PKCS#1 `RSAPublicKey` (2048 to 8192 bits).
    pub fn from_pkcs1(public_key_pkcs1: &[u8]) -> Result<Self, ProfileError> {
        use aws_lc_rs::signature::{self as sig, ParsedPublicKey};
        let parse = |alg: &'static sig::RsaParameters| {
            ParsedPublicKey::new(alg, public_key_pkcs1).map_err(|_| ProfileError::Crypto("not an RSA public key"))
        };
        Ok(RsaVerifyingKey {
            pkcs1: public_key_pkcs1.to_vec(),
            sha256: parse(&sig::RSA_PKCS1_2048_8192_SHA256)?,
            sha384: parse(&sig::RSA_PKCS1_2048_8192_SHA384)?,
            sha512: parse(&sig::RSA_PKCS1_2048_8192_SHA512)?,
        })
    }

    /// The key, PKCS#1 `RSAPublicKey` DER.
    pub fn pkcs1(&self) -> &[u8] {
        &self.pkcs1
    }

    fn parsed(
        &self,
        algorithm: &'static aws_lc_rs::signature::RsaParameters,
    ) -> &aws_lc_rs::signature::ParsedPublicKey {
        use aws_lc_rs::signature as sig;
        if std::ptr::eq(algorithm, &sig::RSA_PKCS1_2048_8192_SHA384) {
            &self.sha384
        } else if std::ptr::eq(algorithm, &sig::RSA_PKCS1_2048_8192_SHA512) {
            &self.sha512
        } else {
            &self.sha256
        }
    }

    /// [`verify_rsa_pkcs1`] with this key.
    pub fn verify(
        &self,
        algorithm: &der::asn1::ObjectIdentifier,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), ProfileError> {
        self.parsed(rsa_algorithm(algorithm)?)
            .verify_sig(message, signature)
            .map_err(|_| ProfileError::BadSignature)
    }

    /// [`verify_rsa_pkcs1_digest`] with this key.
    pub fn verify_digest(&self, digest: &[u8], signature: &[u8]) -> Result<(), ProfileError> {
        let (hash, algorithm) = digest_algorithms(digest)?;
        let digest = aws_lc_rs::digest::Digest::import_less_safe(digest, hash)
            .map_err(|_| ProfileError::Crypto("digest length"))?;
        self.parsed(algorithm)
            .verify_digest_sig(&digest, signature)
            .map_err(|_| ProfileError::BadSignature)
    }
}

impl fmt::Debug for RsaVerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaVerifyingKey")
            .field("key_identifier", &hex_upper(&key_identifier(&self.pkcs1)))
            .finish()
    }
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Encodes `value` as DER, mapping the (only theoretical) encoder error.
pub(crate) fn to_der<T: Encode>(value: &T) -> Result<Vec<u8>, ProfileError> {
    Ok(value.to_der()?)
}

/// Raw PKCS#1 v1.5 signing over caller-supplied bytes.
///
/// aws-lc-rs only signs messages it hashes itself, but a card signs a `DigestInfo` the host built.
/// AWS-LC's `RSA_sign_raw` with `RSA_PKCS1_PADDING` is exactly that operation (constant-time, blinded),
/// so this calls it through aws-lc-sys rather than a second RSA implementation (RustCrypto `rsa`
/// carries an unfixed timing advisory for private-key operations).
mod raw {
    use der::asn1::OctetStringRef;
    use der::{Decode, Sequence};
    use spki::AlgorithmIdentifierRef;

    use crate::ProfileError;

    #[derive(Sequence)]
    struct PrivateKeyInfo<'a> {
        #[allow(dead_code)]
        version: u8,
        #[allow(dead_code)]
        algorithm: AlgorithmIdentifierRef<'a>,
        private_key: OctetStringRef<'a>,
    }

    pub(super) fn sign_padded(pkcs8: &[u8], input: &[u8]) -> Result<Vec<u8>, ProfileError> {
        let info = PrivateKeyInfo::from_der(pkcs8)?;
        let pkcs1 = info.private_key.as_bytes();
        // SAFETY: `pkcs1` is a live slice for the call; a null return is checked before use.
        let rsa = unsafe { aws_lc_sys::RSA_private_key_from_bytes(pkcs1.as_ptr(), pkcs1.len()) };
        if rsa.is_null() {
            return Err(ProfileError::Crypto("not an RSA private key"));
        }
        // SAFETY: `rsa` is a valid key until RSA_free below.
        let size = unsafe { aws_lc_sys::RSA_size(rsa) } as usize;
        let mut out = vec![0u8; size];
        let mut out_len = 0usize;
        // SAFETY: `out` has RSA_size bytes as RSA_sign_raw requires; `input` is a live slice; the key
        // is freed exactly once whatever the result.
        let ok = unsafe {
            let ok = aws_lc_sys::RSA_sign_raw(
                rsa,
                &mut out_len,
                out.as_mut_ptr(),
                out.len(),
                input.as_ptr(),
                input.len(),
                aws_lc_sys::RSA_PKCS1_PADDING as _,
            );
            aws_lc_sys::RSA_free(rsa);
            ok
        };
        if ok != 1 || out_len != size {
            return Err(ProfileError::Crypto("the input is too long for the key"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_info_signature_is_a_standard_pkcs1_signature() {
        let key = RsaKey::generate().expect("key");
        let message = b"honnin";
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
        let mut digest_info = vec![
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
            0x20,
        ];
        digest_info.extend_from_slice(digest.as_ref());
        let sig = key.sign_digest_info(&digest_info).expect("sign");
        assert_eq!(sig.len(), 256);
        verify_rsa_pkcs1(&crate::oid::SHA256_WITH_RSA, key.public_key_pkcs1(), message, &sig).expect("verifies");
        assert_eq!(
            sig,
            key.sign_sha256(message).expect("sign"),
            "PKCS#1 v1.5 is deterministic"
        );
        assert!(
            key.sign_digest_info(&[0u8; 250]).is_err(),
            "too long for type-1 padding"
        );
    }
}
