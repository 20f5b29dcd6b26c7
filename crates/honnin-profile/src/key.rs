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

/// Verifies an RSASSA-PKCS1-v1_5 signature made with `algorithm` (SHA-256/384/512 with RSA).
pub fn verify_rsa_pkcs1(
    algorithm: &der::asn1::ObjectIdentifier,
    public_key_pkcs1: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), ProfileError> {
    use aws_lc_rs::signature as sig;
    let alg: &dyn sig::VerificationAlgorithm = match *algorithm {
        oid::SHA256_WITH_RSA => &sig::RSA_PKCS1_2048_8192_SHA256,
        oid::SHA384_WITH_RSA => &sig::RSA_PKCS1_2048_8192_SHA384,
        oid::SHA512_WITH_RSA => &sig::RSA_PKCS1_2048_8192_SHA512,
        other => return Err(ProfileError::UnsupportedSignatureAlgorithm(other.to_string())),
    };
    sig::UnparsedPublicKey::new(alg, public_key_pkcs1)
        .verify(message, signature)
        .map_err(|_| ProfileError::BadSignature)
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Encodes `value` as DER, mapping the (only theoretical) encoder error.
pub(crate) fn to_der<T: Encode>(value: &T) -> Result<Vec<u8>, ProfileError> {
    Ok(value.to_der()?)
}
