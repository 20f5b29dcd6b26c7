//! # honnin-profile: the JPKI certificate profiles
//!
//! Builds and parses certificates shaped exactly like those of J-LIS (地方公共団体情報システム機構):
//! the two self-signed roots (signing and user authentication), the signing certificate
//! (署名用電子証明書) with the 4 basic attributes, the user-authentication certificate
//! (利用者証明用電子証明書), and the delegated OCSP responder certificates. It also holds the
//! validity-date rules of the card and its certificates, and the real J-LIS roots as the
//! *production* trust profile.
//!
//! This crate is pure: it does no I/O, keeps no state, and never decides whether a certificate is
//! *trusted* or *revoked* — that is the verification core's job. It checks shape (the profile) and,
//! where asked, one signature.

pub mod basic4;
pub mod build;
pub mod dates;
mod fast;
pub mod key;
pub mod names;
pub mod oid;
pub mod parse;
pub mod revocation;
mod time_der;
pub mod trust;

use std::fmt;

use der::Decode;
use time::OffsetDateTime;
use x509_cert::certificate::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsages};
use x509_cert::name::Name;

pub use basic4::{Basic4, BirthDate, Era, Sex, SubstitutedText};
pub use key::RsaKey;
pub use names::{Environment, Hierarchy};
pub use parse::{parse_end_entity, AuthCertificate, EndEntity, EndEntityInfo, SigningCertificate};
pub use revocation::RevocationReason;
pub use time_der::{from_x509_time, to_x509_time};

/// Everything that can be wrong with a certificate or with building one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    #[error("malformed DER: {0}")]
    Der(#[from] der::Error),
    #[error("malformed certificate: {0}")]
    Malformed(String),
    #[error("not an X.509 v3 certificate")]
    NotVersion3,
    #[error("signature algorithm {0} is not SHA-256/384/512 with RSA")]
    UnsupportedSignatureAlgorithm(String),
    #[error("the public key is not RSA (algorithm {0})")]
    NotRsa(String),
    #[error("the RSA key has {0} bits; JPKI requires at least 2048")]
    WeakKey(usize),
    #[error("no JPKI certificate policy (found: {0:?})")]
    UnknownPolicy(String),
    #[error("the {0} extension is missing")]
    MissingExtension(&'static str),
    #[error("unknown critical extension {0}")]
    UnknownCriticalExtension(String),
    #[error("key usage {0} does not match the JPKI profile")]
    WrongKeyUsage(String),
    #[error("subject does not match the JPKI profile: {0}")]
    BadSubject(String),
    #[error("issuer does not match the JPKI profile: {0}")]
    WrongIssuer(String),
    #[error("the {0} attribute is missing from subjectAltName")]
    MissingAttribute(&'static str),
    #[error("bad {attribute}: {why}")]
    BadAttribute { attribute: &'static str, why: String },
    #[error("expected a {expected:?} CA, found a {found:?} CA")]
    WrongHierarchy { expected: Hierarchy, found: Hierarchy },
    #[error("not a JPKI root certificate: {0}")]
    NotJpkiRoot(String),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("{0}")]
    Crypto(&'static str),
    #[error("not a PEM certificate: {0}")]
    Pem(String),
}

/// A certificate serial number (for end entities, the 発行番号): an unsigned big-endian integer.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// From big-endian magnitude bytes; leading zero bytes are dropped.
    pub fn from_be_bytes(bytes: &[u8]) -> Self {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        Serial(bytes[start..].to_vec())
    }

    pub fn from_u64(v: u64) -> Self {
        Self::from_be_bytes(&v.to_be_bytes())
    }

    /// The value, when it fits in 64 bits.
    pub fn to_u64(&self) -> Option<u64> {
        if self.0.len() > 8 {
            return None;
        }
        Some(self.0.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    /// Magnitude bytes, no leading zeros (empty for zero).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Upper-case hex, as `openssl` prints serials.
    pub fn to_hex(&self) -> String {
        if self.0.is_empty() {
            return "00".into();
        }
        key::hex_upper(&self.0)
    }

    /// Parses upper- or lower-case hex.
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.is_empty() {
            return None;
        }
        let s = if s.len() % 2 == 1 {
            format!("0{s}")
        } else {
            s.to_owned()
        };
        let bytes: Option<Vec<u8>> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
            .collect();
        bytes.map(|b| Serial::from_be_bytes(&b))
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

/// A JPKI root (one generation of one hierarchy), parsed and self-signature checked.
#[derive(Clone, Debug)]
pub struct CaCertificate {
    pub der: Vec<u8>,
    pub subject: Name,
    pub serial: Serial,
    pub environment: Environment,
    pub hierarchy: Hierarchy,
    /// The subjectKeyIdentifier; end-entity AKIs point at it.
    pub key_identifier: Vec<u8>,
    /// PKCS#1 `RSAPublicKey` DER.
    pub public_key: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// `public_key`, parsed once: every certificate, CRL and OCSP response the root signed is checked
    /// with it.
    key: key::RsaVerifyingKey,
}

impl CaCertificate {
    /// Parses a JPKI root: its DN must be one of the four JPKI CA names (production or test, signing
    /// or authentication), it must be a CA, and its self-signature must verify.
    pub fn from_der(der: &[u8]) -> Result<Self, ProfileError> {
        let cert = Certificate::from_der(der)?;
        parse::check_common(&cert)?;
        let tbs = &cert.tbs_certificate;
        let (environment, hierarchy) = names::classify_ca_name(&tbs.subject)
            .ok_or_else(|| ProfileError::NotJpkiRoot(format!("subject {} is not a JPKI CA name", tbs.subject)))?;
        if tbs.issuer != tbs.subject {
            return Err(ProfileError::NotJpkiRoot("not self-issued".into()));
        }
        let exts = tbs.extensions.as_deref().unwrap_or(&[]);
        let bc = exts
            .iter()
            .find(|e| e.extn_id == oid::EXT_BASIC_CONSTRAINTS)
            .ok_or(ProfileError::MissingExtension("basicConstraints"))?;
        if !BasicConstraints::from_der(bc.extn_value.as_bytes())?.ca {
            return Err(ProfileError::NotJpkiRoot("basicConstraints says it is not a CA".into()));
        }
        let usage = parse::key_usage(exts)?.ok_or(ProfileError::MissingExtension("keyUsage"))?;
        if !usage.0.contains(KeyUsages::KeyCertSign) {
            return Err(ProfileError::WrongKeyUsage("a root must allow keyCertSign".into()));
        }
        let public_key = tbs.subject_public_key_info.subject_public_key.raw_bytes().to_vec();
        let key_identifier = parse::subject_key_id(exts)?.unwrap_or_else(|| key::key_identifier(&public_key));
        let key = key::RsaVerifyingKey::from_pkcs1(&public_key)?;
        let ca = CaCertificate {
            der: der.to_vec(),
            subject: tbs.subject.clone(),
            serial: Serial::from_be_bytes(tbs.serial_number.as_bytes()),
            environment,
            hierarchy,
            key_identifier,
            public_key,
            not_before: from_x509_time(&tbs.validity.not_before)?,
            not_after: from_x509_time(&tbs.validity.not_after)?,
            key,
        };
        ca.verify_issued(der)
            .map_err(|_| ProfileError::NotJpkiRoot("the self-signature does not verify".into()))?;
        Ok(ca)
    }

    /// Checks that this CA's key signed `der`: a certificate, a CRL, or any `SEQUENCE { tbs,
    /// algorithm, signature }`. The signature is checked over the TBS bytes exactly as received.
    pub fn verify_issued(&self, der: &[u8]) -> Result<(), ProfileError> {
        let (tbs, algorithm, signature) = signed_parts(der)?;
        self.verify_signature(&algorithm, tbs, signature)
    }

    /// Checks this CA's signature (`algorithm`: SHA-256/384/512 with RSA) over `signed`, with the key
    /// parsed once when the root was loaded.
    pub fn verify_signature(&self, algorithm: &oid::Oid, signed: &[u8], signature: &[u8]) -> Result<(), ProfileError> {
        // The fields are public: should `public_key` have been changed since, it is what counts.
        if self.key.pkcs1() != self.public_key.as_slice() {
            return key::verify_rsa_pkcs1(algorithm, &self.public_key, signed, signature);
        }
        self.key.verify(algorithm, signed, signature)
    }

    /// The root's public key, parsed.
    pub fn verifying_key(&self) -> &key::RsaVerifyingKey {
        &self.key
    }

    /// PEM text of the certificate.
    pub fn to_pem(&self) -> String {
        to_pem(&self.der)
    }
}

/// One DER TLV header at `pos`: (tag, content start, content end). Lengths of up to four bytes, so
/// that structures over the `der` crate's 256 MiB cap (a 10-million-entry CRL is 410 MB) are read.
fn tlv_at(buf: &[u8], pos: usize) -> Result<(u8, usize, usize), ProfileError> {
    let truncated = || ProfileError::Malformed("truncated DER".into());
    let tag = *buf.get(pos).ok_or_else(truncated)?;
    let first = *buf.get(pos + 1).ok_or_else(truncated)?;
    let (len, start) = if first < 0x80 {
        (first as usize, pos + 2)
    } else {
        let n = (first & 0x7F) as usize;
        if n == 0 || n > 4 {
            return Err(ProfileError::Malformed("unsupported DER length".into()));
        }
        let bytes = buf.get(pos + 2..pos + 2 + n).ok_or_else(truncated)?;
        (bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize), pos + 2 + n)
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= buf.len())
        .ok_or_else(truncated)?;
    Ok((tag, start, end))
}

/// Splits a signed DER structure — a certificate, a CRL, anything `SEQUENCE { tbs, algorithm,
/// signature }` — into (TBS bytes as received, signature algorithm, signature). The outer layers are
/// framed by hand so that a CRL of any size splits; only the small `AlgorithmIdentifier` goes through
/// `der`.
pub fn signed_parts(der: &[u8]) -> Result<(&[u8], der::asn1::ObjectIdentifier, &[u8]), ProfileError> {
    let (tag, start, end) = tlv_at(der, 0)?;
    if tag != 0x30 || end != der.len() {
        return Err(ProfileError::Malformed(
            "a signed structure is a single DER SEQUENCE".into(),
        ));
    }
    let (tag, _, tbs_end) = tlv_at(der, start)?;
    if tag != 0x30 {
        return Err(ProfileError::Malformed("the signed part is not a SEQUENCE".into()));
    }
    let (_, _, alg_end) = tlv_at(der, tbs_end)?;
    let algorithm = spki::AlgorithmIdentifierOwned::from_der(&der[tbs_end..alg_end])?.oid;
    let (tag, s, e) = tlv_at(der, alg_end)?;
    if tag != 0x03 || e != end || s == e || der[s] != 0 {
        return Err(ProfileError::Malformed(
            "the signature is not a whole-byte BIT STRING at the end".into(),
        ));
    }
    Ok((&der[start..tbs_end], algorithm, &der[s + 1..e]))
}

/// Finds the root generation that issued `der`: candidates whose key identifier matches the
/// certificate's AKI (all of them if it has none), then the one whose key verifies the signature.
/// Never by name alone: every generation of a hierarchy has the same DN.
pub fn find_issuer<'a>(der: &[u8], candidates: &'a [CaCertificate]) -> Option<&'a CaCertificate> {
    let cert = Certificate::from_der(der).ok()?;
    let aki = parse::authority_key_id(cert.tbs_certificate.extensions.as_deref().unwrap_or(&[])).ok()?;
    candidates
        .iter()
        .filter(|ca| ca.subject == cert.tbs_certificate.issuer)
        .filter(|ca| aki.as_ref().is_none_or(|k| *k == ca.key_identifier))
        .find(|ca| ca.verify_issued(der).is_ok())
}

/// Wraps DER as a PEM `CERTIFICATE`.
pub fn to_pem(der: &[u8]) -> String {
    pem_rfc7468::encode_string("CERTIFICATE", pem_rfc7468::LineEnding::LF, der).unwrap_or_default()
}

/// Reads every `CERTIFICATE` block of a PEM text, or a single DER certificate.
pub fn certificates_from_pem_or_der(input: &[u8]) -> Result<Vec<Vec<u8>>, ProfileError> {
    if input.first() == Some(&0x30) {
        return Ok(vec![input.to_vec()]);
    }
    let text = std::str::from_utf8(input).map_err(|_| ProfileError::Pem("neither DER nor PEM text".into()))?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let end_marker = block
            .find("-----END ")
            .ok_or_else(|| ProfileError::Pem("unterminated PEM block".into()))?;
        let end = block[end_marker..]
            .find("\n")
            .map(|i| end_marker + i + 1)
            .unwrap_or(block.len());
        let (label, der) =
            pem_rfc7468::decode_vec(&block.as_bytes()[..end]).map_err(|e| ProfileError::Pem(e.to_string()))?;
        if label == "CERTIFICATE" {
            out.push(der);
        }
        rest = &block[end..];
    }
    if out.is_empty() {
        return Err(ProfileError::Pem("no CERTIFICATE block".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_structures_longer_than_256_mib_split() {
        // SEQUENCE { SEQUENCE (300 MiB) , AlgorithmIdentifier, BIT STRING }: only the framing is
        // read; the `der` crate refuses any length above 256 MiB.
        let tbs_len = 300usize << 20;
        let alg = [
            0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B, 0x05, 0x00,
        ];
        let sig = [0x03, 0x03, 0x00, 0xAB, 0xCD];
        let inner = 6 + tbs_len + alg.len() + sig.len();
        let mut der = vec![0x30, 0x84];
        der.extend_from_slice(&(inner as u32).to_be_bytes());
        der.extend_from_slice(&[0x30, 0x84]);
        der.extend_from_slice(&(tbs_len as u32).to_be_bytes());
        der.resize(der.len() + tbs_len, 0);
        der.extend_from_slice(&alg);
        der.extend_from_slice(&sig);
        let (tbs, algorithm, signature) = signed_parts(&der).expect("splits");
        assert_eq!(tbs.len(), 6 + tbs_len);
        assert_eq!(algorithm, oid::SHA256_WITH_RSA);
        assert_eq!(signature, [0xAB, 0xCD]);
        der.push(0);
        assert!(signed_parts(&der).is_err(), "trailing bytes");
        assert!(signed_parts(&[0x30, 0x03, 0x30, 0x01]).is_err(), "truncated");
    }
}
