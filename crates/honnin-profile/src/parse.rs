//! Typed parsing of JPKI certificates: anything that is not the profile is refused with an error
//! that says what is wrong.

use der::asn1::{OctetString, UintRef};
use der::{Decode, Sequence, Tag, Tagged};
use time::OffsetDateTime;
use x509_cert::certificate::{Certificate, Version};
use x509_cert::ext::pkix::certpolicy::CertificatePolicies;
use x509_cert::ext::pkix::crl::CrlDistributionPoints;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, KeyUsage, KeyUsages, SubjectAltName};
use x509_cert::ext::Extension;
use x509_cert::name::Name;

use crate::basic4::{Basic4, BirthDate, Sex, SubstitutedText};
use crate::names::{self, Environment, Hierarchy};
use crate::oid::{self, Oid};
use crate::time_der::from_x509_time;
use crate::{ProfileError, Serial};

/// What every JPKI end-entity certificate carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndEntityInfo {
    /// The certificate's serial number (発行番号), the verifier's key for the holder.
    pub serial: Serial,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub environment: Environment,
    /// The issuer's key identifier (AKI), by which the issuing root generation is found.
    pub authority_key_id: Option<Vec<u8>>,
    pub issuer: Name,
    /// The issuing municipality named by the CRL distribution point, when present.
    pub crl_partition: Option<CrlPartition>,
    /// The holder's public key, PKCS#1 `RSAPublicKey` DER.
    pub public_key: Vec<u8>,
}

/// The per-municipality CRL partition an end-entity certificate names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlPartition {
    pub prefecture: String,
    pub municipality: String,
}

/// A parsed signing certificate (署名用電子証明書).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningCertificate {
    pub info: EndEntityInfo,
    pub prefecture: String,
    pub municipality: String,
    pub issuance_id: String,
    pub basic4: Basic4,
}

/// A parsed user-authentication certificate (利用者証明用電子証明書).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthCertificate {
    pub info: EndEntityInfo,
    /// The subject CN.
    pub id: String,
}

/// Either JPKI end-entity certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndEntity {
    Signing(SigningCertificate),
    Authentication(AuthCertificate),
}

impl EndEntity {
    pub fn info(&self) -> &EndEntityInfo {
        match self {
            EndEntity::Signing(c) => &c.info,
            EndEntity::Authentication(c) => &c.info,
        }
    }

    pub fn hierarchy(&self) -> Hierarchy {
        match self {
            EndEntity::Signing(_) => Hierarchy::Signing,
            EndEntity::Authentication(_) => Hierarchy::Authentication,
        }
    }
}

/// Parses and checks a JPKI end-entity certificate. Chain and signature are the verifier's
/// business; this checks the *profile*.
///
/// A certificate of the JPKI shape in canonical DER is read by a fast borrowing walk (see
/// `fast.rs`); anything else, and every refusal, goes through [`parse_end_entity_reference`], so
/// errors say what is wrong exactly as they always did.
pub fn parse_end_entity(der: &[u8]) -> Result<EndEntity, ProfileError> {
    match crate::fast::parse_end_entity(der) {
        Some(certificate) => Ok(certificate),
        None => parse_end_entity_reference(der),
    }
}

/// The fast path of [`parse_end_entity`] alone: `None` when it leaves the answer to the reference
/// parser. For the differential fuzz target, which checks that it never disagrees.
#[doc(hidden)]
pub fn parse_end_entity_fast(der: &[u8]) -> Option<EndEntity> {
    crate::fast::parse_end_entity(der)
}

/// [`parse_end_entity`] by x509-cert's owned `Certificate` decode, then the profile checks on it:
/// the reference the fast path is fuzzed against, and what decides for anything the fast path
/// does not accept.
pub fn parse_end_entity_reference(der: &[u8]) -> Result<EndEntity, ProfileError> {
    let cert = Certificate::from_der(der)?;
    let tbs = &cert.tbs_certificate;
    check_common(&cert)?;
    let exts = tbs.extensions.as_deref().unwrap_or(&[]);
    let policy = policy(exts)?;
    let (hierarchy, environment) = match policy {
        oid::POLICY_SIGNING => (Hierarchy::Signing, Environment::Production),
        oid::POLICY_SIGNING_TEST => (Hierarchy::Signing, Environment::Sandbox),
        oid::POLICY_AUTH => (Hierarchy::Authentication, Environment::Production),
        oid::POLICY_AUTH_TEST => (Hierarchy::Authentication, Environment::Sandbox),
        other => return Err(ProfileError::UnknownPolicy(other.to_string())),
    };
    if names::ca_name(environment, hierarchy)? != tbs.issuer {
        return Err(ProfileError::WrongIssuer(format!(
            "the policy says {environment:?} {hierarchy:?}, but the issuer is {}",
            tbs.issuer
        )));
    }
    let usage = key_usage(exts)?.ok_or(ProfileError::MissingExtension("keyUsage"))?;
    let expected = match hierarchy {
        Hierarchy::Signing => KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
        Hierarchy::Authentication => KeyUsages::DigitalSignature.into(),
    };
    if usage.0 != expected {
        return Err(ProfileError::WrongKeyUsage(format!("{:?}", usage.0)));
    }
    if exts
        .iter()
        .any(|e| e.extn_id == oid::EXT_BASIC_CONSTRAINTS && e.extn_value.as_bytes() != [0x30, 0x00])
    {
        return Err(ProfileError::BadSubject(
            "an end-entity certificate must not be a CA".into(),
        ));
    }
    let info = EndEntityInfo {
        serial: Serial::from_be_bytes(tbs.serial_number.as_bytes()),
        not_before: from_x509_time(&tbs.validity.not_before)?,
        not_after: from_x509_time(&tbs.validity.not_after)?,
        environment,
        authority_key_id: authority_key_id(exts)?,
        issuer: tbs.issuer.clone(),
        crl_partition: crl_partition(exts, environment, hierarchy)?,
        public_key: tbs.subject_public_key_info.subject_public_key.raw_bytes().to_vec(),
    };
    let subject = names::attributes(&tbs.subject)?;
    match hierarchy {
        Hierarchy::Signing => {
            let [(c, country), (l1, prefecture), (l2, municipality), (cn, issuance_id)] = subject.as_slice() else {
                return Err(ProfileError::BadSubject(
                    "a signing certificate's subject is C, L, L, CN".into(),
                ));
            };
            if (*c, *l1, *l2, *cn) != (oid::COUNTRY, oid::LOCALITY, oid::LOCALITY, oid::COMMON_NAME) || country != "JP"
            {
                return Err(ProfileError::BadSubject(
                    "a signing certificate's subject is C=JP, L, L, CN".into(),
                ));
            }
            let basic4 = basic4_from_san(exts)?;
            Ok(EndEntity::Signing(SigningCertificate {
                info,
                prefecture: prefecture.clone(),
                municipality: municipality.clone(),
                issuance_id: issuance_id.clone(),
                basic4,
            }))
        }
        Hierarchy::Authentication => {
            let [(c, country), (cn, id)] = subject.as_slice() else {
                return Err(ProfileError::BadSubject(
                    "an authentication certificate's subject is C, CN".into(),
                ));
            };
            if (*c, *cn) != (oid::COUNTRY, oid::COMMON_NAME) || country != "JP" {
                return Err(ProfileError::BadSubject(
                    "an authentication certificate's subject is C=JP, CN".into(),
                ));
            }
            if exts.iter().any(|e| e.extn_id == oid::EXT_SUBJECT_ALT_NAME) {
                return Err(ProfileError::BadSubject(
                    "an authentication certificate carries no personal data (SAN)".into(),
                ));
            }
            Ok(EndEntity::Authentication(AuthCertificate { info, id: id.clone() }))
        }
    }
}

/// Checks what both end-entity and CA certificates share: v3, an allowed algorithm, RSA ≥ 2048.
pub(crate) fn check_common(cert: &Certificate) -> Result<(), ProfileError> {
    let tbs = &cert.tbs_certificate;
    if tbs.version != Version::V3 {
        return Err(ProfileError::NotVersion3);
    }
    let alg = cert.signature_algorithm.oid;
    if ![oid::SHA256_WITH_RSA, oid::SHA384_WITH_RSA, oid::SHA512_WITH_RSA].contains(&alg) || tbs.signature.oid != alg {
        return Err(ProfileError::UnsupportedSignatureAlgorithm(alg.to_string()));
    }
    let spki = &tbs.subject_public_key_info;
    if spki.algorithm.oid != oid::RSA_ENCRYPTION {
        return Err(ProfileError::NotRsa(spki.algorithm.oid.to_string()));
    }
    let bits = rsa_modulus_bits(spki.subject_public_key.raw_bytes())?;
    if bits < 2048 {
        return Err(ProfileError::WeakKey(bits));
    }
    for (i, e) in tbs.extensions.as_deref().unwrap_or(&[]).iter().enumerate() {
        let known = [
            oid::EXT_KEY_USAGE,
            oid::EXT_SUBJECT_ALT_NAME,
            oid::EXT_ISSUER_ALT_NAME,
            oid::EXT_BASIC_CONSTRAINTS,
            oid::EXT_CRL_DISTRIBUTION_POINTS,
            oid::EXT_CERTIFICATE_POLICIES,
            oid::EXT_AUTHORITY_KEY_ID,
            oid::EXT_SUBJECT_KEY_ID,
            oid::EXT_EXTENDED_KEY_USAGE,
        ];
        if e.critical && !known.contains(&e.extn_id) {
            return Err(ProfileError::UnknownCriticalExtension(e.extn_id.to_string()));
        }
        let dup = tbs.extensions.as_deref().unwrap_or(&[])[..i]
            .iter()
            .any(|p| p.extn_id == e.extn_id);
        if dup {
            return Err(ProfileError::Malformed(format!(
                "extension {} appears twice",
                e.extn_id
            )));
        }
    }
    Ok(())
}

#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    #[allow(dead_code)]
    public_exponent: UintRef<'a>,
}

/// The size in bits of a PKCS#1 public key's modulus.
pub fn rsa_modulus_bits(pkcs1: &[u8]) -> Result<usize, ProfileError> {
    let key = RsaPublicKey::from_der(pkcs1)?;
    let m = key.modulus.as_bytes();
    Ok(match m.first() {
        Some(&b) => (m.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
        None => 0,
    })
}

fn find(exts: &[Extension], id: Oid) -> Option<&Extension> {
    exts.iter().find(|e| e.extn_id == id)
}

pub(crate) fn key_usage(exts: &[Extension]) -> Result<Option<KeyUsage>, ProfileError> {
    find(exts, oid::EXT_KEY_USAGE)
        .map(|e| Ok(KeyUsage::from_der(e.extn_value.as_bytes())?))
        .transpose()
}

fn policy(exts: &[Extension]) -> Result<Oid, ProfileError> {
    let ext = find(exts, oid::EXT_CERTIFICATE_POLICIES).ok_or(ProfileError::MissingExtension("certificatePolicies"))?;
    let policies = CertificatePolicies::from_der(ext.extn_value.as_bytes())?;
    let jpki: Vec<Oid> = policies
        .0
        .iter()
        .map(|p| p.policy_identifier)
        .filter(|p| p.as_bytes().starts_with(oid::JPKI_CP.as_bytes()))
        .collect();
    match jpki.as_slice() {
        [one] => Ok(*one),
        [] => Err(ProfileError::UnknownPolicy(
            policies
                .0
                .iter()
                .map(|p| p.policy_identifier.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )),
        _ => Err(ProfileError::Malformed("more than one JPKI policy".into())),
    }
}

pub(crate) fn authority_key_id(exts: &[Extension]) -> Result<Option<Vec<u8>>, ProfileError> {
    let Some(ext) = find(exts, oid::EXT_AUTHORITY_KEY_ID) else {
        return Ok(None);
    };
    let aki = AuthorityKeyIdentifier::from_der(ext.extn_value.as_bytes())?;
    Ok(aki.key_identifier.map(|k| k.as_bytes().to_vec()))
}

pub(crate) fn subject_key_id(exts: &[Extension]) -> Result<Option<Vec<u8>>, ProfileError> {
    let Some(ext) = find(exts, oid::EXT_SUBJECT_KEY_ID) else {
        return Ok(None);
    };
    Ok(Some(
        OctetString::from_der(ext.extn_value.as_bytes())?.as_bytes().to_vec(),
    ))
}

fn crl_partition(exts: &[Extension], env: Environment, h: Hierarchy) -> Result<Option<CrlPartition>, ProfileError> {
    let Some(ext) = find(exts, oid::EXT_CRL_DISTRIBUTION_POINTS) else {
        return Ok(None);
    };
    let dps = CrlDistributionPoints::from_der(ext.extn_value.as_bytes())?;
    for dp in &dps.0 {
        if let Some(DistributionPointName::FullName(names)) = &dp.distribution_point {
            for gn in names {
                if let GeneralName::DirectoryName(n) = gn {
                    let attrs = names::attributes(n)?;
                    if let [_, _, _, (_, dp_unit), (_, prefecture), (cn, municipality)] = attrs.as_slice() {
                        if dp_unit == names::CRL_DP_UNIT && *cn == oid::COMMON_NAME {
                            let expected = names::crl_distribution_point(env, h, prefecture, municipality)?;
                            if &expected == n {
                                return Ok(Some(CrlPartition {
                                    prefecture: prefecture.clone(),
                                    municipality: municipality.clone(),
                                }));
                            }
                        }
                    }
                }
            }
        }
    }
    Err(ProfileError::Malformed(
        "the CRL distribution point is not a JPKI municipality partition".into(),
    ))
}

fn basic4_from_san(exts: &[Extension]) -> Result<Basic4, ProfileError> {
    let ext = find(exts, oid::EXT_SUBJECT_ALT_NAME).ok_or(ProfileError::MissingExtension("subjectAltName"))?;
    let san = SubjectAltName::from_der(ext.extn_value.as_bytes())?;
    let mut values: [Option<String>; 6] = Default::default();
    for gn in &san.0 {
        let GeneralName::OtherName(on) = gn else {
            continue;
        };
        let Some(slot) = oid::SAN_ORDER.iter().position(|o| *o == on.type_id) else {
            continue;
        };
        if on.value.tag() != Tag::Utf8String {
            return Err(ProfileError::Malformed(format!(
                "SAN {} is not a UTF8String",
                on.type_id
            )));
        }
        let text = std::str::from_utf8(on.value.value())
            .map_err(|_| ProfileError::Malformed(format!("SAN {} is not UTF-8", on.type_id)))?;
        if values[slot].replace(text.to_owned()).is_some() {
            return Err(ProfileError::Malformed(format!("SAN {} appears twice", on.type_id)));
        }
    }
    let take = |i: usize, label: &'static str| values[i].clone().ok_or(ProfileError::MissingAttribute(label));
    let name = take(0, "name (1.2.392.200149.8.5.5.1)")?;
    let birth = take(1, "birth date (1.2.392.200149.8.5.5.4)")?;
    let sex = take(2, "sex (1.2.392.200149.8.5.5.3)")?;
    let address = take(3, "address (1.2.392.200149.8.5.5.5)")?;
    let name_pos = take(4, "name substitute positions (1.2.392.200149.8.5.5.2)")?;
    let address_pos = take(5, "address substitute positions (1.2.392.200149.8.5.5.6)")?;
    Ok(Basic4 {
        name: SubstitutedText::from_certificate("name", &name, &name_pos)?,
        address: SubstitutedText::from_certificate("address", &address, &address_pos)?,
        birth_date: BirthDate::parse(&birth)?,
        sex: Sex::from_code(&sex)?,
    })
}
