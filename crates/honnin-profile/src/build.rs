//! Building JPKI-shaped certificates: the two roots, the end-entity certificates on the card, and
//! the delegated OCSP responders.

use der::asn1::{BitString, Null, OctetString};
use der::{Any, Encode, Tag};
use time::OffsetDateTime;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::certpolicy::{CertificatePolicies, PolicyInformation};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName, OtherName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, IssuerAltName, KeyUsage,
    KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use crate::basic4::Basic4;
use crate::key::{sha256_with_rsa, to_der, RsaKey};
use crate::names::{self, Environment, Hierarchy};
use crate::oid::{self, Oid};
use crate::time_der::to_x509_time;
use crate::{CaCertificate, ProfileError, Serial};

fn extension<T: Encode>(id: Oid, critical: bool, value: &T) -> Result<Extension, ProfileError> {
    Ok(Extension {
        extn_id: id,
        critical,
        extn_value: OctetString::new(to_der(value)?)?,
    })
}

fn validity(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Result<Validity, ProfileError> {
    if not_after <= not_before {
        return Err(ProfileError::Malformed("notAfter is not after notBefore".into()));
    }
    Ok(Validity {
        not_before: to_x509_time(not_before)?,
        not_after: to_x509_time(not_after)?,
    })
}

fn sign_tbs(tbs: TbsCertificate, key: &RsaKey) -> Result<Vec<u8>, ProfileError> {
    let signature = key.sign_sha256(&to_der(&tbs)?)?;
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: sha256_with_rsa(),
        signature: BitString::from_bytes(&signature)?,
    };
    to_der(&cert)
}

fn serial_number(serial: &Serial) -> Result<SerialNumber, ProfileError> {
    Ok(SerialNumber::new(serial.as_bytes())?)
}

/// What a root (self-signed CA) certificate needs beyond its key.
#[derive(Clone, Debug)]
pub struct RootSpec {
    pub environment: Environment,
    pub hierarchy: Hierarchy,
    pub serial: Serial,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Builds a self-signed root with the extensions of J-LIS's roots, in their order: keyUsage
/// (critical), subjectAltName, basicConstraints (critical), cRLDistributionPoints, subjectKeyIdentifier.
pub fn build_root(spec: &RootSpec, key: &RsaKey) -> Result<Vec<u8>, ProfileError> {
    let dn = names::ca_name(spec.environment, spec.hierarchy)?;
    let extensions = vec![
        extension(
            oid::EXT_KEY_USAGE,
            true,
            &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
        )?,
        extension(
            oid::EXT_SUBJECT_ALT_NAME,
            false,
            &SubjectAltName(vec![GeneralName::DirectoryName(names::ca_alt_name(spec.hierarchy)?)]),
        )?,
        extension(
            oid::EXT_BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca: true,
                path_len_constraint: None,
            },
        )?,
        extension(oid::EXT_CRL_DISTRIBUTION_POINTS, false, &directory_dp(dn.clone()))?,
        extension(
            oid::EXT_SUBJECT_KEY_ID,
            false,
            &SubjectKeyIdentifier(OctetString::new(key.key_identifier())?),
        )?,
    ];
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: serial_number(&spec.serial)?,
        signature: sha256_with_rsa(),
        issuer: dn.clone(),
        validity: validity(spec.not_before, spec.not_after)?,
        subject: dn,
        subject_public_key_info: key.subject_public_key_info()?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    sign_tbs(tbs, key)
}

fn directory_dp(name: Name) -> CrlDistributionPoints {
    CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![GeneralName::DirectoryName(name)])),
        reasons: None,
        crl_issuer: None,
    }])
}

/// The issuing CA of an end-entity certificate: its certificate and private key.
pub struct Issuer<'a> {
    pub certificate: &'a CaCertificate,
    pub key: &'a RsaKey,
}

/// The parts every end-entity certificate on the card has.
#[derive(Clone, Debug)]
pub struct EndEntitySpec {
    pub serial: Serial,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The holder's public key, PKCS#1 `RSAPublicKey` DER (the card's key; the CA never holds the private half).
    pub public_key_pkcs1: Vec<u8>,
    /// The issuing municipality, romanised, as in the subject and the CRL distribution point.
    pub prefecture: String,
    pub municipality: String,
}

/// A signing certificate's own parts (署名用電子証明書).
#[derive(Clone, Debug)]
pub struct SigningSpec {
    pub common: EndEntitySpec,
    /// The subject CN: request timestamp, sequence number and counter identifier.
    pub issuance_id: String,
    pub basic4: Basic4,
}

fn utf8_other_name(id: Oid, value: &str) -> Result<GeneralName, ProfileError> {
    Ok(GeneralName::OtherName(OtherName {
        type_id: id,
        value: Any::new(Tag::Utf8String, value.as_bytes())?,
    }))
}

fn end_entity_extensions(
    issuer: &Issuer<'_>,
    spec: &EndEntitySpec,
    hierarchy: Hierarchy,
    usage: KeyUsage,
    subject_alt_name: Option<SubjectAltName>,
) -> Result<Vec<Extension>, ProfileError> {
    let env = issuer.certificate.environment;
    let mut exts = vec![
        extension(oid::EXT_KEY_USAGE, true, &usage)?,
        extension(
            oid::EXT_CERTIFICATE_POLICIES,
            false,
            &CertificatePolicies(vec![PolicyInformation {
                policy_identifier: hierarchy.policy(env),
                policy_qualifiers: None,
            }]),
        )?,
    ];
    if let Some(san) = subject_alt_name {
        exts.push(extension(oid::EXT_SUBJECT_ALT_NAME, false, &san)?);
    }
    exts.push(extension(
        oid::EXT_ISSUER_ALT_NAME,
        false,
        &IssuerAltName(vec![GeneralName::DirectoryName(names::service_name()?)]),
    )?);
    exts.push(extension(
        oid::EXT_CRL_DISTRIBUTION_POINTS,
        false,
        &directory_dp(names::crl_distribution_point(
            env,
            hierarchy,
            &spec.prefecture,
            &spec.municipality,
        )?),
    )?);
    exts.push(extension(
        oid::EXT_AUTHORITY_KEY_ID,
        false,
        &authority_key_id(issuer.certificate)?,
    )?);
    Ok(exts)
}

fn authority_key_id(ca: &CaCertificate) -> Result<AuthorityKeyIdentifier, ProfileError> {
    Ok(AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(ca.key_identifier.clone())?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    })
}

fn check_issuer(issuer: &Issuer<'_>, hierarchy: Hierarchy) -> Result<(), ProfileError> {
    if issuer.certificate.hierarchy != hierarchy {
        return Err(ProfileError::WrongHierarchy {
            expected: hierarchy,
            found: issuer.certificate.hierarchy,
        });
    }
    if issuer.key.key_identifier() != issuer.certificate.key_identifier {
        return Err(ProfileError::Crypto("the issuer's key does not match its certificate"));
    }
    Ok(())
}

fn end_entity_tbs(
    issuer: &Issuer<'_>,
    spec: &EndEntitySpec,
    subject: Name,
    extensions: Vec<Extension>,
) -> Result<TbsCertificate, ProfileError> {
    if spec.not_after > issuer.certificate.not_after {
        return Err(ProfileError::Malformed(
            "the certificate would outlive its issuer".into(),
        ));
    }
    Ok(TbsCertificate {
        version: Version::V3,
        serial_number: serial_number(&spec.serial)?,
        signature: sha256_with_rsa(),
        issuer: issuer.certificate.subject.clone(),
        validity: validity(spec.not_before, spec.not_after)?,
        subject,
        subject_public_key_info: crate::key::rsa_spki(&spec.public_key_pkcs1)?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    })
}

/// Builds a signing certificate: subject `C=JP, L=<prefecture>, L=<municipality>, CN=<issuance id>`,
/// the 4 attributes as SAN otherNames in the real order, keyUsage digitalSignature + nonRepudiation.
pub fn build_signing(issuer: &Issuer<'_>, spec: &SigningSpec) -> Result<Vec<u8>, ProfileError> {
    check_issuer(issuer, Hierarchy::Signing)?;
    let b = &spec.basic4;
    let mut san = Vec::with_capacity(6);
    for id in oid::SAN_ORDER {
        let value = match id {
            oid::SAN_NAME => b.name.text.clone(),
            oid::SAN_BIRTH_DATE => b.birth_date.encoded.clone(),
            oid::SAN_SEX => b.sex.code().to_owned(),
            oid::SAN_ADDRESS => b.address.text.clone(),
            oid::SAN_NAME_SUBSTITUTES => b.name.positions(),
            _ => b.address.positions(),
        };
        san.push(utf8_other_name(id, &value)?);
    }
    let usage = KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation);
    let exts = end_entity_extensions(
        issuer,
        &spec.common,
        Hierarchy::Signing,
        usage,
        Some(SubjectAltName(san)),
    )?;
    let subject = names::signing_subject(&spec.common.prefecture, &spec.common.municipality, &spec.issuance_id)?;
    sign_tbs(end_entity_tbs(issuer, &spec.common, subject, exts)?, issuer.key)
}

/// Builds a user-authentication certificate: subject `C=JP, CN=<id>`, no personal data,
/// keyUsage digitalSignature.
pub fn build_auth(issuer: &Issuer<'_>, spec: &EndEntitySpec, id: &str) -> Result<Vec<u8>, ProfileError> {
    check_issuer(issuer, Hierarchy::Authentication)?;
    let usage = KeyUsage(KeyUsages::DigitalSignature.into());
    let exts = end_entity_extensions(issuer, spec, Hierarchy::Authentication, usage, None)?;
    sign_tbs(
        end_entity_tbs(issuer, spec, names::auth_subject(id)?, exts)?,
        issuer.key,
    )
}

/// Builds the CA's delegated OCSP responder certificate: id-kp-OCSPSigning, id-pkix-ocsp-nocheck.
pub fn build_ocsp_responder(
    issuer: &Issuer<'_>,
    serial: &Serial,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    responder_key: &RsaKey,
) -> Result<Vec<u8>, ProfileError> {
    let ca = issuer.certificate;
    let exts = vec![
        extension(oid::EXT_KEY_USAGE, true, &KeyUsage(KeyUsages::DigitalSignature.into()))?,
        extension(
            oid::EXT_EXTENDED_KEY_USAGE,
            false,
            &ExtendedKeyUsage(vec![oid::KP_OCSP_SIGNING]),
        )?,
        extension(oid::OCSP_NOCHECK, false, &Null)?,
        extension(oid::EXT_AUTHORITY_KEY_ID, false, &authority_key_id(ca)?)?,
        extension(
            oid::EXT_SUBJECT_KEY_ID,
            false,
            &SubjectKeyIdentifier(OctetString::new(responder_key.key_identifier())?),
        )?,
    ];
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: serial_number(serial)?,
        signature: sha256_with_rsa(),
        issuer: ca.subject.clone(),
        validity: validity(not_before, not_after.min(ca.not_after))?,
        subject: names::ocsp_responder_name(ca.environment, ca.hierarchy)?,
        subject_public_key_info: responder_key.subject_public_key_info()?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(exts),
    };
    sign_tbs(tbs, issuer.key)
}
