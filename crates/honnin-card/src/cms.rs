//! Detached CMS `SignedData` (RFC 5652) made with a card key: the signed attributes' DER is hashed
//! on the host and the card signs its `DigestInfo`, so the content never goes to the card.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{OctetString, SetOfVec, UtcTime};
use der::{Any, Decode, Encode};
use honnin_apdu::Transport;
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::Certificate;

use crate::driver::digest_info;
use crate::{CardError, MynaCard, SignKey};

const ID_DATA: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");

fn malformed(_: der::Error) -> CardError {
    CardError::Malformed("certificate or CMS structure")
}

fn attribute(oid: der::asn1::ObjectIdentifier, value: Any) -> Result<Attribute, CardError> {
    let mut values = SetOfVec::new();
    values.insert(value).map_err(malformed)?;
    Ok(Attribute { oid, values })
}

/// Signs `content` with a card key and returns DER `ContentInfo { SignedData }`, detached (the
/// content is not included), with the signer's certificate, and contentType, messageDigest and
/// signingTime as signed attributes. `signing_time` is Unix seconds.
pub fn sign_detached<T: Transport>(
    card: &mut MynaCard<T>,
    key: SignKey,
    pin: &str,
    certificate: &[u8],
    content: &[u8],
    signing_time: u64,
) -> Result<Vec<u8>, CardError> {
    let cert = Certificate::from_der(certificate).map_err(malformed)?;
    let sha256 = AlgorithmIdentifierOwned {
        oid: honnin_profile::oid::SHA256,
        parameters: None,
    };
    let content_digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, content);
    let time = der::DateTime::from_unix_duration(std::time::Duration::from_secs(signing_time)).map_err(malformed)?;
    let mut signed_attrs = SetOfVec::new();
    for a in [
        attribute(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA).map_err(malformed)?)?,
        attribute(
            ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(content_digest.as_ref()).map_err(malformed)?).map_err(malformed)?,
        )?,
        attribute(
            ID_SIGNING_TIME,
            Any::encode_from(&UtcTime::from_date_time(time).map_err(malformed)?).map_err(malformed)?,
        )?,
    ] {
        signed_attrs.insert(a).map_err(malformed)?;
    }
    // RFC 5652 §5.4: the signature covers the DER of the attributes as a SET OF (tag 31).
    let attrs_der = signed_attrs.to_der().map_err(malformed)?;
    let attrs_digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &attrs_der);
    let di = digest_info(attrs_digest.as_ref()).ok_or(CardError::Malformed("digest"))?;
    let signature = card.sign_digest_info(key, pin, &di)?;

    let signer = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: honnin_profile::oid::RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        signature: OctetString::new(signature).map_err(malformed)?,
        unsigned_attrs: None,
    };
    let mut digest_algorithms = SetOfVec::new();
    digest_algorithms.insert(sha256).map_err(malformed)?;
    let mut certificates = SetOfVec::new();
    certificates
        .insert(CertificateChoices::Certificate(cert))
        .map_err(malformed)?;
    let mut signer_infos = SetOfVec::new();
    signer_infos.insert(signer).map_err(malformed)?;
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(certificates)),
        crls: None,
        signer_infos: SignerInfos(signer_infos),
    };
    let info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data).map_err(malformed)?,
    };
    info.to_der().map_err(malformed)
}
