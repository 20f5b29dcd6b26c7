//! Object identifiers of the JPKI profile.

pub use der::asn1::ObjectIdentifier as Oid;

/// The JPKI certificate policy arc (公的個人認証サービス CP).
pub const JPKI_CP: Oid = Oid::new_unwrap("1.2.392.200149.8.5.1");
/// Signing certificate policy, production.
pub const POLICY_SIGNING: Oid = Oid::new_unwrap("1.2.392.200149.8.5.1.1.20");
/// Signing certificate policy, J-LIS's test environment (the sandbox).
pub const POLICY_SIGNING_TEST: Oid = Oid::new_unwrap("1.2.392.200149.8.5.1.0.20");
/// User-authentication certificate policy, production.
pub const POLICY_AUTH: Oid = Oid::new_unwrap("1.2.392.200149.8.5.1.3.30");
/// User-authentication certificate policy in the test environment. Not seen on a real test card:
/// by analogy with the signing policy, whose test form swaps the `1` arc for `0`.
pub const POLICY_AUTH_TEST: Oid = Oid::new_unwrap("1.2.392.200149.8.5.1.0.30");

/// SAN otherName: name (氏名).
pub const SAN_NAME: Oid = Oid::new_unwrap("1.2.392.200149.8.5.5.1");
/// SAN otherName: positions of substitute characters in the name.
pub const SAN_NAME_SUBSTITUTES: Oid = Oid::new_unwrap("1.2.392.200149.8.5.5.2");
/// SAN otherName: sex (性別).
pub const SAN_SEX: Oid = Oid::new_unwrap("1.2.392.200149.8.5.5.3");
/// SAN otherName: birth date (生年月日), `EYYYYMMDD`.
pub const SAN_BIRTH_DATE: Oid = Oid::new_unwrap("1.2.392.200149.8.5.5.4");
/// SAN otherName: address (住所).
pub const SAN_ADDRESS: Oid = Oid::new_unwrap("1.2.392.200149.8.5.5.5");
/// SAN otherName: positions of substitute characters in the address.
pub const SAN_ADDRESS_SUBSTITUTES: Oid = Oid::new_unwrap("1.2.392.200149.8.5.5.6");

/// The order in which a real signing certificate lists its SAN otherNames.
pub const SAN_ORDER: [Oid; 6] = [
    SAN_NAME,
    SAN_BIRTH_DATE,
    SAN_SEX,
    SAN_ADDRESS,
    SAN_NAME_SUBSTITUTES,
    SAN_ADDRESS_SUBSTITUTES,
];

pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");

pub const COUNTRY: Oid = Oid::new_unwrap("2.5.4.6");
pub const ORGANIZATION: Oid = Oid::new_unwrap("2.5.4.10");
pub const ORGANIZATIONAL_UNIT: Oid = Oid::new_unwrap("2.5.4.11");
pub const LOCALITY: Oid = Oid::new_unwrap("2.5.4.7");
pub const COMMON_NAME: Oid = Oid::new_unwrap("2.5.4.3");

pub const EXT_SUBJECT_KEY_ID: Oid = Oid::new_unwrap("2.5.29.14");
pub const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
pub const EXT_SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
pub const EXT_ISSUER_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.18");
pub const EXT_BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
pub const EXT_CRL_NUMBER: Oid = Oid::new_unwrap("2.5.29.20");
pub const EXT_CRL_REASON: Oid = Oid::new_unwrap("2.5.29.21");
pub const EXT_CRL_DISTRIBUTION_POINTS: Oid = Oid::new_unwrap("2.5.29.31");
pub const EXT_CERTIFICATE_POLICIES: Oid = Oid::new_unwrap("2.5.29.32");
pub const EXT_AUTHORITY_KEY_ID: Oid = Oid::new_unwrap("2.5.29.35");
pub const EXT_EXTENDED_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");

/// id-kp-OCSPSigning.
pub const KP_OCSP_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.9");
/// id-pkix-ocsp-nocheck.
pub const OCSP_NOCHECK: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.5");
/// id-pkix-ocsp-basic.
pub const OCSP_BASIC: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-pkix-ocsp-nonce.
pub const OCSP_NONCE: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.2");
pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
