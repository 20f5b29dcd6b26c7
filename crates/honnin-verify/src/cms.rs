//! CMS `SignedData` verification (RFC 5652): detached or attached content, with or without signed
//! attributes. The signer's certificate comes from the message and is validated under the profile.
//!
//! The message is framed by hand ([`crate::frame`]) and read in place: the signer's certificate is
//! validated from the bytes the message carries, and the signature over the signed attributes is
//! checked over the attributes as received, their `[0]` tag read as `SET OF` (RFC 5652 §5.4), with
//! no decode and re-encode.

use der::asn1::ObjectIdentifier;
use der::Decode;
use honnin_profile::oid;
use time::OffsetDateTime;

use crate::frame::{malformed, Reader, Tlv};
use crate::signature::{verify_data, verify_digest};
use crate::{TrustProfile, Validated, VerifyError};

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;
const INTEGER: u8 = 0x02;
/// `[0]` constructed: ContentInfo's content, eContent, the certificates, the signed attributes.
const CTX0: u8 = 0xA0;
/// `[0]` primitive: a SubjectKeyIdentifier signer identifier.
const CTX0_PRIMITIVE: u8 = 0x80;
const CTX1: u8 = 0xA1;

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

fn bad(why: &str) -> VerifyError {
    malformed("CMS", why)
}

fn oid_of(t: Tlv<'_>) -> Result<ObjectIdentifier, VerifyError> {
    ObjectIdentifier::from_bytes(t.value).map_err(|e| bad(&format!("an object identifier: {e}")))
}

/// The algorithm OID of an `AlgorithmIdentifier` (its parameters are not read).
fn algorithm(r: &mut Reader<'_>, why: &str) -> Result<ObjectIdentifier, VerifyError> {
    let mut alg = r.enter(SEQUENCE, why)?;
    oid_of(alg.expect(OID, why)?)
}

fn digest_of(alg: &ObjectIdentifier) -> Result<&'static aws_lc_rs::digest::Algorithm, VerifyError> {
    Ok(match *alg {
        oid::SHA256 => &aws_lc_rs::digest::SHA256,
        SHA384 => &aws_lc_rs::digest::SHA384,
        SHA512 => &aws_lc_rs::digest::SHA512,
        other => return Err(VerifyError::UnsupportedAlgorithm(format!("digest {other}"))),
    })
}

/// The parts of a `SignedData` with one signer that verification reads, as slices of the message.
struct Parts<'a> {
    econtent_type: Tlv<'a>,
    /// The attached content, when the message carries it.
    econtent: Option<&'a [u8]>,
    /// The `CertificateChoices` of the certificates field, not yet read.
    certificates: Reader<'a>,
    /// The signer identifier: `IssuerAndSerialNumber` or `[0] SubjectKeyIdentifier`.
    sid: Tlv<'a>,
    digest_algorithm: ObjectIdentifier,
    /// The signed attributes with their `[0]` header, as received.
    signed_attrs: Option<Tlv<'a>>,
    signature_algorithm: ObjectIdentifier,
    signature: &'a [u8],
}

/// Frames `ContentInfo { SignedData }` and its one `SignerInfo`.
fn split(message: &[u8]) -> Result<Parts<'_>, VerifyError> {
    let mut top = Reader::new(message, "CMS");
    let mut info = top.enter(SEQUENCE, "a ContentInfo is a SEQUENCE")?;
    top.finish("trailing bytes after the ContentInfo")?;
    let content_type = oid_of(info.expect(OID, "no content type")?)?;
    if content_type != ID_SIGNED_DATA {
        return Err(VerifyError::Malformed(format!(
            "content type {content_type} is not SignedData"
        )));
    }
    let mut explicit = info.enter(CTX0, "no [0] content")?;
    info.finish("trailing fields in the ContentInfo")?;
    let mut sd = explicit.enter(SEQUENCE, "SignedData is not a SEQUENCE")?;
    explicit.finish("trailing bytes after the SignedData")?;
    sd.expect(INTEGER, "no SignedData version")?;
    sd.expect(SET, "no digestAlgorithms")?;
    let mut encap = sd.enter(SEQUENCE, "no encapContentInfo")?;
    let econtent_type = encap.expect(OID, "no eContentType")?;
    let econtent = match encap.optional(CTX0)? {
        Some(t) => {
            let mut inner = t.reader("CMS");
            let c = inner.any()?;
            inner.finish("trailing bytes in eContent")?;
            // An OCTET STRING as RFC 5652 says; any other type counts by its value.
            Some(c.value)
        }
        None => None,
    };
    encap.finish("trailing fields in encapContentInfo")?;
    let certificates = match sd.optional(CTX0)? {
        Some(t) => t.reader("CMS"),
        None => Reader::new(&[], "CMS"),
    };
    sd.optional(CTX1)?; // crls
    let mut signer_infos = sd.enter(SET, "no signerInfos")?;
    sd.finish("trailing fields in the SignedData")?;
    let mut count = 0usize;
    let mut first = None;
    while !signer_infos.is_empty() {
        let t = signer_infos.expect(SEQUENCE, "a SignerInfo is not a SEQUENCE")?;
        first.get_or_insert(t);
        count += 1;
    }
    let (1, Some(signer)) = (count, first) else {
        return Err(VerifyError::SignerCount(count));
    };
    let mut si = signer.reader("CMS");
    si.expect(INTEGER, "no SignerInfo version")?;
    let sid = si.any()?;
    if sid.tag != SEQUENCE && sid.tag != CTX0_PRIMITIVE {
        return Err(bad(
            "the signer identifier is neither IssuerAndSerialNumber nor [0] key identifier",
        ));
    }
    let digest_algorithm = algorithm(&mut si, "no SignerInfo digestAlgorithm")?;
    let signed_attrs = si.optional(CTX0)?;
    let signature_algorithm = algorithm(&mut si, "no SignerInfo signatureAlgorithm")?;
    let signature = si.expect(OCTET_STRING, "no SignerInfo signature")?.value;
    si.optional(CTX1)?; // unsignedAttrs
    si.finish("trailing fields in the SignerInfo")?;
    Ok(Parts {
        econtent_type,
        econtent,
        certificates,
        sid,
        digest_algorithm,
        signed_attrs,
        signature_algorithm,
        signature,
    })
}

/// Whether `certificate` (a DER Certificate) is the one `sid` names: issuer and serial number equal
/// as encoded (DER encodings are unique), or a subjectKeyIdentifier extension equal to the key
/// identifier.
fn is_signer(certificate: Tlv<'_>, sid: Tlv<'_>) -> Result<bool, VerifyError> {
    let mut cert = certificate.reader("CMS certificate");
    let mut tbs = cert.enter(SEQUENCE, "no TBSCertificate")?;
    tbs.optional(CTX0)?; // version
    let serial = tbs.expect(INTEGER, "no serial number")?;
    tbs.expect(SEQUENCE, "no signature algorithm")?;
    let issuer = tbs.expect(SEQUENCE, "no issuer")?;
    if sid.tag == SEQUENCE {
        let mut ias = sid.reader("CMS");
        let want_issuer = ias.expect(SEQUENCE, "no issuer in the signer identifier")?;
        let want_serial = ias.expect(INTEGER, "no serial number in the signer identifier")?;
        ias.finish("trailing fields in IssuerAndSerialNumber")?;
        return Ok(want_issuer.raw == issuer.raw && want_serial.raw == serial.raw);
    }
    // [0] SubjectKeyIdentifier: look for the extension.
    for _ in 0..3 {
        tbs.expect(SEQUENCE, "no validity, subject or public key")?;
    }
    tbs.optional(0x81)?; // issuerUniqueID
    tbs.optional(0x82)?; // subjectUniqueID
    let Some(explicit) = tbs.optional(0xA3)? else {
        return Ok(false);
    };
    let mut extensions = explicit.reader("CMS certificate").enter(SEQUENCE, "extensions")?;
    while !extensions.is_empty() {
        let mut ext = extensions.enter(SEQUENCE, "an extension is not a SEQUENCE")?;
        let id = ext.expect(OID, "an extension without an OID")?;
        ext.optional(0x01)?; // critical
        let value = ext.expect(OCTET_STRING, "an extension value is not an OCTET STRING")?;
        if id.value == oid::EXT_SUBJECT_KEY_ID.as_bytes() {
            let mut v = value.reader("CMS certificate");
            let key_id = v.expect(OCTET_STRING, "a subjectKeyIdentifier is not an OCTET STRING")?;
            return Ok(key_id.value == sid.value);
        }
    }
    Ok(false)
}

/// The first value of an attribute, which must be the only one (RFC 5652 §11: contentType,
/// messageDigest and signingTime have exactly one value).
fn single_value<'a>(values: Tlv<'a>) -> Result<Tlv<'a>, VerifyError> {
    let mut r = values.reader("CMS");
    let v = r.any()?;
    r.finish("a signed attribute has more than one value")?;
    Ok(v)
}

/// What the signed attributes say: (messageDigest, contentType, signingTime).
type Attributes<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, Option<OffsetDateTime>);

fn read_attributes<'a>(attrs: Tlv<'a>) -> Result<Attributes<'a>, VerifyError> {
    let (mut message_digest, mut content_type, mut signing_time) = (None, None, None);
    let mut seen = [false; 3];
    let mut r = attrs.reader("CMS");
    while !r.is_empty() {
        let mut a = r.enter(SEQUENCE, "an attribute is not a SEQUENCE")?;
        let id = a.expect(OID, "an attribute without a type")?;
        let values = a.expect(SET, "an attribute without values")?;
        a.finish("trailing fields in an attribute")?;
        let which = [ID_MESSAGE_DIGEST, ID_CONTENT_TYPE, ID_SIGNING_TIME]
            .iter()
            .position(|o| o.as_bytes() == id.value);
        let Some(which) = which else { continue };
        if std::mem::replace(&mut seen[which], true) {
            return Err(bad("a signed attribute appears twice"));
        }
        let value = single_value(values)?;
        match which {
            0 => {
                if value.tag != OCTET_STRING {
                    return Err(bad("messageDigest is not an OCTET STRING"));
                }
                message_digest = Some(value.value);
            }
            1 => {
                if value.tag != OID {
                    return Err(bad("contentType is not an object identifier"));
                }
                content_type = Some(value.value);
            }
            _ => {
                let t = x509_cert::time::Time::from_der(value.raw)?;
                signing_time = honnin_profile::from_x509_time(&t).ok();
            }
        }
    }
    Ok((message_digest, content_type, signing_time))
}

/// Verifies a DER `ContentInfo { SignedData }`. `detached` is the content when the message does not
/// carry it. The signer certificate is validated under `profile` at `at`.
pub fn verify(
    profile: &TrustProfile,
    message: &[u8],
    detached: Option<&[u8]>,
    at: OffsetDateTime,
) -> Result<CmsSignature, VerifyError> {
    let parts = split(message)?;
    let content_type = oid_of(parts.econtent_type)?;
    let content = match (parts.econtent, detached) {
        (Some(c), _) => c,
        (None, Some(d)) => d,
        (None, None) => return Err(VerifyError::MissingContent),
    };
    // Find the signer's certificate among those the message carries (other CertificateChoices,
    // attribute certificates and the like, are skipped).
    let mut certificates = parts.certificates;
    let mut cert = None;
    while !certificates.is_empty() {
        let c = certificates.any()?;
        if c.tag == SEQUENCE && is_signer(c, parts.sid)? {
            cert = Some(c);
            break;
        }
    }
    let cert = cert.ok_or(VerifyError::SignerCertificateMissing)?;
    let validated = profile.validate(cert.raw, at)?;
    let hash = digest_of(&parts.digest_algorithm)?;
    let content_digest = aws_lc_rs::digest::digest(hash, content);
    let signature = parts.signature;
    let mut signing_time = None;
    match parts.signed_attrs {
        Some(attrs) => {
            let (message_digest, attr_content_type, time) = read_attributes(attrs)?;
            signing_time = time;
            if attr_content_type != Some(parts.econtent_type.value) {
                return Err(VerifyError::ContentTypeMismatch);
            }
            if message_digest != Some(content_digest.as_ref()) {
                return Err(VerifyError::ContentMismatch);
            }
            // RFC 5652 §5.4: the signature covers the attributes' DER with the SET OF tag. The
            // attributes are hashed as received with their [0] tag read as SET (0x31): no
            // re-encoding, and nothing is copied.
            let attrs_hash = match parts.signature_algorithm {
                oid::RSA_ENCRYPTION => hash,
                ref a => signature_digest(a)?,
            };
            let mut ctx = aws_lc_rs::digest::Context::new(attrs_hash);
            ctx.update(&[SET]);
            ctx.update(attrs.raw.get(1..).unwrap_or_default());
            verify_digest(&validated, ctx.finish().as_ref(), signature)?;
        }
        None if parts.signature_algorithm == oid::RSA_ENCRYPTION => {
            verify_digest(&validated, content_digest.as_ref(), signature)?
        }
        None => verify_data(&validated, &parts.signature_algorithm, content, signature)?,
    }
    Ok(CmsSignature {
        signer: validated,
        signing_time,
        content_type,
        content: content.to_vec(),
    })
}

/// The hash of a `shaNNNWithRSAEncryption` signature algorithm. `rsaEncryption` says only "RSA", and
/// then the digest algorithm decides.
fn signature_digest(algorithm: &ObjectIdentifier) -> Result<&'static aws_lc_rs::digest::Algorithm, VerifyError> {
    Ok(match *algorithm {
        oid::SHA256_WITH_RSA => &aws_lc_rs::digest::SHA256,
        oid::SHA384_WITH_RSA => &aws_lc_rs::digest::SHA384,
        oid::SHA512_WITH_RSA => &aws_lc_rs::digest::SHA512,
        ref other => return Err(VerifyError::UnsupportedAlgorithm(other.to_string())),
    })
}
