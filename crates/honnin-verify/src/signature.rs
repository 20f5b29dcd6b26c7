//! Raw PKCS#1 v1.5 signatures and the login proof of the user-authentication certificate.

use der::asn1::ObjectIdentifier;
use honnin_profile::key::{verify_rsa_pkcs1, verify_rsa_pkcs1_digest};
use honnin_profile::{oid, Hierarchy};

use crate::{Validated, VerifyError};

fn check(r: Result<(), honnin_profile::ProfileError>) -> Result<(), VerifyError> {
    r.map_err(|e| match e {
        honnin_profile::ProfileError::UnsupportedSignatureAlgorithm(a) => VerifyError::UnsupportedAlgorithm(a),
        _ => VerifyError::BadSignature,
    })
}

/// A PKCS#1 v1.5 signature over `data` with `algorithm` (sha256/384/512WithRSAEncryption).
pub fn verify_data(
    signer: &Validated,
    algorithm: &ObjectIdentifier,
    data: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    check(verify_rsa_pkcs1(algorithm, &signer.public_key, data, signature))
}

/// A PKCS#1 v1.5 signature over a SHA-256/384/512 digest computed elsewhere.
pub fn verify_digest(signer: &Validated, digest: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
    check(verify_rsa_pkcs1_digest(&signer.public_key, digest, signature))
}

/// The hash algorithm of a signature algorithm.
fn digest_algorithm(algorithm: &ObjectIdentifier) -> Result<&'static aws_lc_rs::digest::Algorithm, VerifyError> {
    Ok(match *algorithm {
        oid::SHA256_WITH_RSA => &aws_lc_rs::digest::SHA256,
        oid::SHA384_WITH_RSA => &aws_lc_rs::digest::SHA384,
        oid::SHA512_WITH_RSA => &aws_lc_rs::digest::SHA512,
        other => return Err(VerifyError::UnsupportedAlgorithm(other.to_string())),
    })
}

/// The Web eID–style login proof: the auth key's signature over `hash(origin) ‖ hash(nonce)`, with
/// the hash of the signature algorithm. Binds the proof to one site and one challenge.
pub fn verify_login_proof(
    signer: &Validated,
    origin: &str,
    nonce: &[u8],
    algorithm: &ObjectIdentifier,
    signature: &[u8],
) -> Result<(), VerifyError> {
    if signer.hierarchy() != Hierarchy::Authentication {
        return Err(VerifyError::WrongKind {
            expected: Hierarchy::Authentication,
            found: signer.hierarchy(),
        });
    }
    let h = digest_algorithm(algorithm)?;
    let mut signed = aws_lc_rs::digest::digest(h, origin.as_bytes()).as_ref().to_vec();
    signed.extend_from_slice(aws_lc_rs::digest::digest(h, nonce).as_ref());
    verify_data(signer, algorithm, &signed, signature)
}

/// What a client signs for a login proof (the message, before the signature's own hashing).
pub fn login_proof_message(origin: &str, nonce: &[u8]) -> Vec<u8> {
    let mut m = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, origin.as_bytes())
        .as_ref()
        .to_vec();
    m.extend_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, nonce).as_ref());
    m
}
