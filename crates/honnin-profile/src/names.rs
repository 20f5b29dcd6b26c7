//! Distinguished names of the JPKI hierarchies, with the string types J-LIS uses.

use der::asn1::SetOfVec;
use der::{Any, Tag, Tagged};
use serde::{Deserialize, Serialize};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use crate::oid::{self, Oid};
use crate::ProfileError;

/// Which of J-LIS's two hierarchies a certificate belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hierarchy {
    /// 署名用: the digital-signature hierarchy.
    Signing,
    /// 利用者証明用: the user-authentication hierarchy.
    Authentication,
}

impl Hierarchy {
    pub const ALL: [Hierarchy; 2] = [Hierarchy::Signing, Hierarchy::Authentication];

    /// The OU that names the hierarchy in its DNs.
    pub fn unit(self) -> &'static str {
        match self {
            Hierarchy::Signing => "JPKI for digital signature",
            Hierarchy::Authentication => "JPKI for user authentication",
        }
    }

    /// The Japanese OU of the root's subjectAltName.
    fn unit_ja(self) -> &'static str {
        match self {
            Hierarchy::Signing => "公的個人認証サービス署名用",
            Hierarchy::Authentication => "公的個人認証サービス利用者証明用",
        }
    }

    /// Short name used on the command line and in URLs: `sign` or `auth`.
    pub fn short(self) -> &'static str {
        match self {
            Hierarchy::Signing => "sign",
            Hierarchy::Authentication => "auth",
        }
    }

    pub fn from_short(s: &str) -> Option<Self> {
        match s {
            "sign" => Some(Hierarchy::Signing),
            "auth" => Some(Hierarchy::Authentication),
            _ => None,
        }
    }

    /// The certificate policy of end-entity certificates in this hierarchy.
    pub fn policy(self, env: Environment) -> Oid {
        match (self, env) {
            (Hierarchy::Signing, Environment::Production) => oid::POLICY_SIGNING,
            (Hierarchy::Signing, Environment::Sandbox) => oid::POLICY_SIGNING_TEST,
            (Hierarchy::Authentication, Environment::Production) => oid::POLICY_AUTH,
            (Hierarchy::Authentication, Environment::Sandbox) => oid::POLICY_AUTH_TEST,
        }
    }
}

/// Production (the real J-LIS, `O=JPKI`) or the sandbox (J-LIS's test hierarchy, `O=JPKI-TEST`).
///
/// Nothing from one is ever accepted under the other: DNs and policy OIDs differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Production,
    Sandbox,
}

impl Environment {
    /// The `O` of every DN in the hierarchy.
    pub fn organization(self) -> &'static str {
        match self {
            Environment::Production => "JPKI",
            Environment::Sandbox => "JPKI-TEST",
        }
    }
}

/// `OU=Japan Agency for Local Authority Information Systems`.
pub const JLIS_UNIT: &str = "Japan Agency for Local Authority Information Systems";
/// The OU that marks CRL distribution point names.
pub const CRL_DP_UNIT: &str = "CRL Distribution Points";

/// One RDN holding one attribute. `printable` selects PrintableString, else UTF8String.
fn rdn(kind: Oid, value: &str, printable: bool) -> Result<RelativeDistinguishedName, ProfileError> {
    let tag = if printable {
        Tag::PrintableString
    } else {
        Tag::Utf8String
    };
    let atv = AttributeTypeAndValue {
        oid: kind,
        value: Any::new(tag, value.as_bytes())?,
    };
    Ok(RelativeDistinguishedName(SetOfVec::try_from(vec![atv])?))
}

fn name(rdns: Vec<RelativeDistinguishedName>) -> Name {
    RdnSequence(rdns)
}

/// The root's DN: `C=JP, O=JPKI[-TEST], OU=<hierarchy>, OU=Japan Agency for Local Authority Information Systems`.
pub fn ca_name(env: Environment, hierarchy: Hierarchy) -> Result<Name, ProfileError> {
    Ok(name(vec![
        rdn(oid::COUNTRY, "JP", true)?,
        rdn(oid::ORGANIZATION, env.organization(), false)?,
        rdn(oid::ORGANIZATIONAL_UNIT, hierarchy.unit(), false)?,
        rdn(oid::ORGANIZATIONAL_UNIT, JLIS_UNIT, false)?,
    ]))
}

/// The root's subjectAltName directoryName, in Japanese (the same in production and test).
pub fn ca_alt_name(hierarchy: Hierarchy) -> Result<Name, ProfileError> {
    Ok(name(vec![
        rdn(oid::COUNTRY, "JP", true)?,
        rdn(oid::ORGANIZATION, "公的個人認証サービス", false)?,
        rdn(oid::ORGANIZATIONAL_UNIT, hierarchy.unit_ja(), false)?,
        rdn(oid::ORGANIZATIONAL_UNIT, "地方公共団体情報システム機構", false)?,
    ]))
}

/// The end-entity issuerAltName directoryName: `C=JP, O=公的個人認証サービス`.
pub fn service_name() -> Result<Name, ProfileError> {
    Ok(name(vec![
        rdn(oid::COUNTRY, "JP", true)?,
        rdn(oid::ORGANIZATION, "公的個人認証サービス", false)?,
    ]))
}

/// The CRL distribution point of an end-entity certificate, naming its issuing municipality.
pub fn crl_distribution_point(
    env: Environment,
    hierarchy: Hierarchy,
    prefecture: &str,
    municipality: &str,
) -> Result<Name, ProfileError> {
    Ok(name(vec![
        rdn(oid::COUNTRY, "JP", true)?,
        rdn(oid::ORGANIZATION, env.organization(), false)?,
        rdn(oid::ORGANIZATIONAL_UNIT, hierarchy.unit(), false)?,
        rdn(oid::ORGANIZATIONAL_UNIT, CRL_DP_UNIT, false)?,
        rdn(oid::ORGANIZATIONAL_UNIT, prefecture, false)?,
        rdn(oid::COMMON_NAME, municipality, false)?,
    ]))
}

/// Signing certificate subject: `C=JP, L=<prefecture>, L=<municipality>, CN=<issuance id>`.
pub fn signing_subject(prefecture: &str, municipality: &str, issuance_id: &str) -> Result<Name, ProfileError> {
    Ok(name(vec![
        rdn(oid::COUNTRY, "JP", true)?,
        rdn(oid::LOCALITY, prefecture, false)?,
        rdn(oid::LOCALITY, municipality, false)?,
        rdn(oid::COMMON_NAME, issuance_id, false)?,
    ]))
}

/// The subject CN of a signing certificate (発行番号の元): the request time in JST as
/// `YYYYMMDDhhmmss`, a 5-digit sequence number and a 9-character counter (受付窓口) identifier.
pub fn signing_issuance_id(requested_at: time::OffsetDateTime, sequence: u64, counter: &str) -> String {
    let j = requested_at.to_offset(crate::dates::JST);
    let counter: String = counter.chars().chain(std::iter::repeat('0')).take(9).collect();
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{:05}{counter}",
        j.year(),
        j.month() as u8,
        j.day(),
        j.hour(),
        j.minute(),
        j.second(),
        sequence % 100_000
    )
}

/// User-authentication certificate subject: `C=JP, CN=<id>`.
pub fn auth_subject(id: &str) -> Result<Name, ProfileError> {
    Ok(name(vec![
        rdn(oid::COUNTRY, "JP", true)?,
        rdn(oid::COMMON_NAME, id, false)?,
    ]))
}

/// The OCSP responder's subject: the CA's DN with `CN=OCSP Responder` appended.
pub fn ocsp_responder_name(env: Environment, hierarchy: Hierarchy) -> Result<Name, ProfileError> {
    let mut n = ca_name(env, hierarchy)?;
    n.0.push(rdn(oid::COMMON_NAME, "OCSP Responder", false)?);
    Ok(n)
}

/// The attributes of a name as (type, string value) pairs, in order; multi-valued RDNs are flattened.
pub fn attributes(name: &Name) -> Result<Vec<(Oid, String)>, ProfileError> {
    let mut out = Vec::new();
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            let value = match atv.value.tag() {
                Tag::PrintableString | Tag::Utf8String | Tag::Ia5String => std::str::from_utf8(atv.value.value())
                    .map_err(|_| ProfileError::Malformed("a name attribute is not valid text".into()))?
                    .to_owned(),
                other => {
                    return Err(ProfileError::Malformed(format!(
                        "a name attribute has string type {other}"
                    )))
                }
            };
            out.push((atv.oid, value));
        }
    }
    Ok(out)
}

/// Identifies the environment and hierarchy of a CA DN.
pub fn classify_ca_name(n: &Name) -> Option<(Environment, Hierarchy)> {
    for env in [Environment::Production, Environment::Sandbox] {
        for h in Hierarchy::ALL {
            if ca_name(env, h).ok().as_ref() == Some(n) {
                return Some((env, h));
            }
        }
    }
    None
}
