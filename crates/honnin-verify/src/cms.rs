//! CMS `SignedData` verification (RFC 5652): detached or attached content, with or without signed
//! attributes. The signer's certificate comes from the message and is validated under the profile.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::{ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode};
use honnin_profile::oid;
use time::OffsetDateTime;

use crate::signature::{verify_data, verify_digest};
use crate::{TrustProfile, Validated, VerifyError};

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");

/// A verified CMS signature.
#[derive(Clone, Debug)]
pub struct CmsSignature {
    pub signer: Validated,
    /// The signingTime attribute, when present (claimed by the signer, not proven).
    pub signing_time: Option<OffsetDateTime>,
    pub content_type: ObjectIdentifier,
    /// The content that was signed (the attached one, or the detached one given).
    pub content: Vec<u8>,
}

fn digest_of(alg: &ObjectIdentifier) -> Result<&'static aws_lc_rs::digest::Algorithm, VerifyError> {
    Ok(match *alg {
        oid::SHA256 => &aws_lc_rs::digest::SHA256,
        a if a == ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2") => &aws_lc_rs::digest::SHA384,
        a if a == ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3") => &aws_lc_rs::digest::SHA512,
        other => return Err(VerifyError::UnsupportedAlgorithm(format!("digest {other}"))),
    })
}

/// Verifies a DER `ContentInfo { SignedData }`. `detached` is the content when the message does not
/// carry it. The signer certificate is validated under `profile` at `at`.
pub fn verify(
    profile: &TrustProfile,
    message: &[u8],
    detached: Option<&[u8]>,
    at: OffsetDateTime,
) -> Result<CmsSignature, VerifyError> {
    let info = ContentInfo::from_der(message)?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(VerifyError::Malformed(format!(
            "content type {} is not SignedData",
            info.content_type
        )));
    }
    let sd: SignedData = info.content.decode_as()?;
    let signers = sd.signer_infos.0.as_slice();
    let [signer] = signers else {
        return Err(VerifyError::SignerCount(signers.len()));
    };
    let content = match (&sd.encap_content_info.econtent, detached) {
        (Some(any), _) => OctetStringRef::from_der(&any.to_der()?)
            .map(|o| o.as_bytes().to_vec())
            .or_else(|_| Ok::<_, VerifyError>(any.value().to_vec()))?,
        (None, Some(d)) => d.to_vec(),
        (None, None) => return Err(VerifyError::MissingContent),
    };
    // Find the signer's certificate among those the message carries.
    let certificates = sd.certificates.as_ref().map(|c| c.0.as_slice()).unwrap_or(&[]);
    let cert = certificates
        .iter()
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            _ => None,
        })
        .find(|c| match &signer.sid {
            SignerIdentifier::IssuerAndSerialNumber(ias) => {
                ias.issuer == c.tbs_certificate.issuer && ias.serial_number == c.tbs_certificate.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => {
                c.tbs_certificate.extensions.as_deref().unwrap_or(&[]).iter().any(|e| {
                    e.extn_id == oid::EXT_SUBJECT_KEY_ID && e.extn_value.as_bytes().ends_with(ski.0.as_bytes())
                })
            }
        })
        .ok_or(VerifyError::SignerCertificateMissing)?;
    let validated = profile.validate(&cert.to_der()?, at)?;
    let hash = digest_of(&signer.digest_alg.oid)?;
    let content_digest = aws_lc_rs::digest::digest(hash, &content);
    let signature = signer.signature.as_bytes();
    let mut signing_time = None;
    match &signer.signed_attrs {
        Some(attrs) => {
            let mut message_digest = None;
            let mut content_type = None;
            for a in attrs.iter() {
                let value = a.values.as_slice().first();
                match a.oid {
                    ID_MESSAGE_DIGEST => {
                        message_digest = value.map(|v| v.decode_as::<der::asn1::OctetString>()).transpose()?
                    }
                    ID_CONTENT_TYPE => content_type = value.map(|v| v.decode_as::<ObjectIdentifier>()).transpose()?,
                    ID_SIGNING_TIME => {
                        if let Some(v) = value {
                            let t = x509_cert::time::Time::from_der(&v.to_der()?)?;
                            signing_time = honnin_profile::from_x509_time(&t).ok();
                        }
                    }
                    _ => {}
                }
            }
            if content_type != Some(sd.encap_content_info.econtent_type) {
                return Err(VerifyError::ContentTypeMismatch);
            }
            match message_digest {
                Some(d) if d.as_bytes() == content_digest.as_ref() => {}
                _ => return Err(VerifyError::ContentMismatch),
            }
            // RFC 5652 §5.4: the signature covers the attributes' DER with the SET OF tag.
            let attrs_der = attrs.to_der()?;
            verify_signer(&validated, &signer.signature_algorithm.oid, hash, &attrs_der, signature)?;
        }
        None => verify_signer(&validated, &signer.signature_algorithm.oid, hash, &content, signature)?,
    }
    Ok(CmsSignature {
        signer: validated,
        signing_time,
        content_type: sd.encap_content_info.econtent_type,
        content,
    })
}

/// `rsaEncryption` says only "RSA": the digest algorithm decides; `shaNNNWithRSAEncryption` must agree.
fn verify_signer(
    signer: &Validated,
    algorithm: &ObjectIdentifier,
    hash: &'static aws_lc_rs::digest::Algorithm,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    if *algorithm == oid::RSA_ENCRYPTION {
        let d = aws_lc_rs::digest::digest(hash, signed);
        return verify_digest(signer, d.as_ref(), signature);
    }
    verify_data(signer, algorithm, signed, signature)
}
