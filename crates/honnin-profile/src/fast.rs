//! The fast path of [`crate::parse_end_entity`]: a borrowing walk over the certificate's DER that
//! accepts only the JPKI end-entity shape, in canonical DER, and builds the same [`EndEntity`].
//!
//! Hand-written for speed. The reference parser (x509-cert's owned `Certificate` decode, then the
//! profile checks on it) took about 14 µs per certificate, as much as the rest of a CMS
//! verification besides its two RSA operations; this walk allocates only the strings the result
//! owns. It is conservative: anything it is not sure of (an unusual but valid encoding, and every
//! error) makes it answer `None`, and the reference parser then decides, so that every error keeps
//! its reason and a success is only ever a certificate the reference accepts too. The
//! `end_entity` fuzz target checks exactly that: whenever this path answers, the reference gives
//! the same `EndEntity`.
//!
//! Every read is bounds-checked through [`Reader`]; malformed input ends in `None`, never a panic.

use std::sync::OnceLock;

use der::asn1::ObjectIdentifier;
use der::Encode;
use time::OffsetDateTime;
use x509_cert::name::Name;

use crate::basic4::{Basic4, BirthDate, Sex, SubstitutedText};
use crate::dates::days_from_civil;
use crate::names::{self, Environment, Hierarchy};
use crate::oid::{self, Oid};
use crate::parse::{AuthCertificate, CrlPartition, EndEntity, EndEntityInfo, SigningCertificate};
use crate::Serial;

const BOOLEAN: u8 = 0x01;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0C;
const PRINTABLE_STRING: u8 = 0x13;
const IA5_STRING: u8 = 0x16;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;

/// Consecutive DER TLVs in a slice: strict framing (single-byte tags, minimal definite lengths of
/// at most four bytes).
#[derive(Clone, Copy)]
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.0.is_empty()
    }

    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// (tag, value, whole encoding).
    fn next(&mut self) -> Option<(u8, &'a [u8], &'a [u8])> {
        let buf = self.0;
        let (&tag, rest) = buf.split_first()?;
        if tag & 0x1F == 0x1F {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7F) as usize;
            if !(1..=4).contains(&n) {
                return None;
            }
            let bytes = rest.get(..n)?;
            let len = bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize);
            if bytes.first() == Some(&0) || len < 0x80 {
                return None;
            }
            (len, rest.get(n..)?)
        };
        let value = rest.get(..len)?;
        let total = buf.len() - rest.len() + len;
        self.0 = buf.get(total..)?;
        Some((tag, value, buf.get(..total)?))
    }

    /// The value of the next TLV, which must have tag `tag`.
    fn take(&mut self, tag: u8) -> Option<&'a [u8]> {
        self.take_raw(tag).map(|(v, _)| v)
    }

    fn take_raw(&mut self, tag: u8) -> Option<(&'a [u8], &'a [u8])> {
        if self.peek()? != tag {
            return None;
        }
        self.next().map(|(_, v, raw)| (v, raw))
    }

    /// The value of the next TLV if it has tag `tag`.
    fn optional(&mut self, tag: u8) -> Option<Option<&'a [u8]>> {
        if self.peek() == Some(tag) {
            self.take(tag).map(Some)
        } else {
            Some(None)
        }
    }
}

/// Whether an OID's encoding is valid, as the reference parser's decode requires. The OIDs of the
/// profile are valid by construction and skip the check.
fn valid_oid(bytes: &[u8]) -> bool {
    const PROFILE: [Oid; 5] = [
        oid::COUNTRY,
        oid::LOCALITY,
        oid::COMMON_NAME,
        oid::ORGANIZATION,
        oid::ORGANIZATIONAL_UNIT,
    ];
    PROFILE.iter().any(|o| o.as_bytes() == bytes) || ObjectIdentifier::from_bytes(bytes).is_ok()
}

/// An `AlgorithmIdentifier` with absent or NULL parameters: its OID.
fn algorithm(value: &[u8]) -> Option<&[u8]> {
    let mut r = Reader(value);
    let id = r.take(OID)?;
    if let Some(params) = r.optional(NULL)? {
        if !params.is_empty() {
            return None;
        }
    }
    let known = [oid::SHA256_WITH_RSA, oid::RSA_ENCRYPTION]
        .iter()
        .any(|o| o.as_bytes() == id);
    (r.done() && (known || valid_oid(id))).then_some(id)
}

/// UTCTime (`YYMMDDhhmmssZ`) or GeneralizedTime (`YYYYMMDDhhmmssZ`) with the ranges the `der` crate
/// accepts (1970 to 9999, a real day of the month, no leap second).
fn time(tag: u8, v: &[u8]) -> Option<OffsetDateTime> {
    let digits = v.get(..v.len().checked_sub(1)?)?;
    if v.last() != Some(&b'Z') || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |i: usize| -> Option<i64> { Some(((digits.get(i)? - b'0') * 10 + (digits.get(i + 1)? - b'0')) as i64) };
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = n(0)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (n(0)? * 100 + n(2)?, 4),
        _ => return None,
    };
    let (month, day, hour, minute, second) = (n(rest)?, n(rest + 2)?, n(rest + 4)?, n(rest + 6)?, n(rest + 8)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1970..=9999).contains(&year) || !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    OffsetDateTime::from_unix_timestamp(secs).ok()
}

/// A positive serial number in minimal form, at most 20 bytes of content.
fn serial(v: &[u8]) -> Option<Serial> {
    match v {
        [] => None,
        [0, next, ..] if *next < 0x80 => None,
        [first, ..] if *first >= 0x80 => None,
        _ if v.len() > 20 => None,
        _ => Some(Serial::from_be_bytes(v)),
    }
}

/// A name's RDNs, each of one attribute: (type, string tag, value).
fn attributes(name: &[u8]) -> Option<Vec<(&[u8], u8, &str)>> {
    let mut out = Vec::with_capacity(6);
    let mut rdns = Reader(name);
    while !rdns.done() {
        let mut rdn = Reader(rdns.take(SET)?);
        let mut atv = Reader(rdn.take(SEQUENCE)?);
        if !rdn.done() {
            return None;
        }
        let kind = atv.take(OID)?;
        let (tag, value, _) = atv.next()?;
        if !atv.done() || ![PRINTABLE_STRING, UTF8_STRING, IA5_STRING].contains(&tag) || !valid_oid(kind) {
            return None;
        }
        out.push((kind, tag, std::str::from_utf8(value).ok()?));
    }
    Some(out)
}

/// A JPKI CA name: whose, its DER, and the `Name` that DER decodes to.
type CaName = (Environment, Hierarchy, Vec<u8>, Name);

/// The four JPKI CA names.
fn ca_names() -> &'static [CaName] {
    static NAMES: OnceLock<Vec<CaName>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut out = Vec::new();
        for env in [Environment::Production, Environment::Sandbox] {
            for h in Hierarchy::ALL {
                if let Ok(name) = names::ca_name(env, h) {
                    if let Ok(der) = name.to_der() {
                        out.push((env, h, der, name));
                    }
                }
            }
        }
        out
    })
}

/// The extensions a JPKI end-entity certificate's profile reads.
#[derive(Default)]
struct Extensions<'a> {
    key_usage: Option<&'a [u8]>,
    policies: Option<&'a [u8]>,
    basic_constraints: Option<&'a [u8]>,
    authority_key_id: Option<&'a [u8]>,
    crl_distribution_points: Option<&'a [u8]>,
    subject_alt_name: Option<&'a [u8]>,
}

/// Reads the extensions: no unknown critical one, none twice (`check_common`).
fn extensions(value: &[u8]) -> Option<Extensions<'_>> {
    const KNOWN: [Oid; 9] = [
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
    let mut out = Extensions::default();
    let mut seen: Vec<&[u8]> = Vec::with_capacity(8);
    let mut list = Reader(value);
    while !list.done() {
        let mut ext = Reader(list.take(SEQUENCE)?);
        let id = ext.take(OID)?;
        // DEFAULT FALSE is omitted in DER: only an explicit TRUE is expected here.
        let critical = match ext.optional(BOOLEAN)? {
            None => false,
            Some([0xFF]) => true,
            Some(_) => return None,
        };
        let v = ext.take(OCTET_STRING)?;
        let known = KNOWN.iter().find(|k| k.as_bytes() == id);
        if !ext.done() || (known.is_none() && !valid_oid(id)) || seen.contains(&id) {
            return None;
        }
        seen.push(id);
        if critical && known.is_none() {
            return None;
        }
        let slot = match known.copied() {
            Some(oid::EXT_KEY_USAGE) => &mut out.key_usage,
            Some(oid::EXT_CERTIFICATE_POLICIES) => &mut out.policies,
            Some(oid::EXT_BASIC_CONSTRAINTS) => &mut out.basic_constraints,
            Some(oid::EXT_AUTHORITY_KEY_ID) => &mut out.authority_key_id,
            Some(oid::EXT_CRL_DISTRIBUTION_POINTS) => &mut out.crl_distribution_points,
            Some(oid::EXT_SUBJECT_ALT_NAME) => &mut out.subject_alt_name,
            _ => continue,
        };
        *slot = Some(v);
    }
    Some(out)
}

/// The one JPKI policy among the certificate's policies.
fn policy(value: &[u8]) -> Option<Oid> {
    let mut jpki = None;
    let mut outer = Reader(value);
    let mut list = Reader(outer.take(SEQUENCE)?);
    if !outer.done() {
        return None;
    }
    while !list.done() {
        let mut info = Reader(list.take(SEQUENCE)?);
        let id = info.take(OID)?;
        if let Some(qualifiers) = info.optional(SEQUENCE)? {
            let mut q = Reader(qualifiers);
            if q.done() {
                return None;
            }
            while !q.done() {
                let mut pq = Reader(q.take(SEQUENCE)?);
                if !valid_oid(pq.take(OID)?) {
                    return None;
                }
                if !pq.done() {
                    let (tag, _, _) = pq.next()?;
                    if ![IA5_STRING, SEQUENCE].contains(&tag) || !pq.done() {
                        return None;
                    }
                }
            }
        }
        if !info.done() || !valid_oid(id) {
            return None;
        }
        if id.starts_with(oid::JPKI_CP.as_bytes()) && jpki.replace(id).is_some() {
            return None;
        }
    }
    let id = jpki?;
    [
        oid::POLICY_SIGNING,
        oid::POLICY_SIGNING_TEST,
        oid::POLICY_AUTH,
        oid::POLICY_AUTH_TEST,
    ]
    .into_iter()
    .find(|p| p.as_bytes() == id)
}

/// `AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier OPTIONAL }` (the issuer and serial
/// forms are left to the reference parser).
fn authority_key_id(value: &[u8]) -> Option<Option<Vec<u8>>> {
    let mut outer = Reader(value);
    let mut aki = Reader(outer.take(SEQUENCE)?);
    let id = aki.optional(0x80)?;
    (aki.done() && outer.done()).then(|| id.map(<[u8]>::to_vec))
}

/// The CRL distribution point: exactly one, a full name that is one directory name, the JPKI
/// municipality partition of this environment and hierarchy.
fn crl_partition(value: &[u8], env: Environment, h: Hierarchy) -> Option<CrlPartition> {
    let mut outer = Reader(value);
    let mut points = Reader(outer.take(SEQUENCE)?);
    let mut point = Reader(points.take(SEQUENCE)?);
    let mut dp_name = Reader(point.take(0xA0)?);
    let mut full_name = Reader(dp_name.take(0xA0)?);
    let mut directory = Reader(full_name.take(0xA4)?);
    let name = directory.take(SEQUENCE)?;
    if !(outer.done() && points.done() && point.done() && dp_name.done() && full_name.done() && directory.done()) {
        return None;
    }
    let attrs = attributes(name)?;
    let [c, o, unit, dp_unit, (pk, pt, prefecture), (mk, mt, municipality)] = attrs.as_slice() else {
        return None;
    };
    let utf8 =
        |a: &(&[u8], u8, &str), kind: Oid, want: &str| a.0 == kind.as_bytes() && a.1 == UTF8_STRING && a.2 == want;
    let ok = *c == (oid::COUNTRY.as_bytes(), PRINTABLE_STRING, "JP")
        && utf8(o, oid::ORGANIZATION, env.organization())
        && utf8(unit, oid::ORGANIZATIONAL_UNIT, h.unit())
        && utf8(dp_unit, oid::ORGANIZATIONAL_UNIT, names::CRL_DP_UNIT)
        && (*pk, *pt) == (oid::ORGANIZATIONAL_UNIT.as_bytes(), UTF8_STRING)
        && (*mk, *mt) == (oid::COMMON_NAME.as_bytes(), UTF8_STRING);
    ok.then(|| CrlPartition {
        prefecture: (*prefecture).to_owned(),
        municipality: (*municipality).to_owned(),
    })
}

/// The basic four attributes from the subjectAltName otherNames (every entry an otherName).
fn basic4(value: &[u8]) -> Option<Basic4> {
    let mut outer = Reader(value);
    let mut names = Reader(outer.take(SEQUENCE)?);
    if !outer.done() {
        return None;
    }
    let mut values: [Option<&str>; 6] = Default::default();
    while !names.done() {
        let mut other = Reader(names.take(0xA0)?);
        let id = other.take(OID)?;
        let mut explicit = Reader(other.take(0xA0)?);
        let (tag, text, _) = explicit.next()?;
        if !other.done() || !explicit.done() {
            return None;
        }
        let Some(slot) = oid::SAN_ORDER.iter().position(|o| o.as_bytes() == id) else {
            if !valid_oid(id) {
                return None;
            }
            continue;
        };
        if tag != UTF8_STRING || values[slot].replace(std::str::from_utf8(text).ok()?).is_some() {
            return None;
        }
    }
    let [Some(name), Some(birth), Some(sex), Some(address), Some(name_pos), Some(address_pos)] = values else {
        return None;
    };
    Some(Basic4 {
        name: SubstitutedText::from_certificate("name", name, name_pos).ok()?,
        address: SubstitutedText::from_certificate("address", address, address_pos).ok()?,
        birth_date: BirthDate::parse(birth).ok()?,
        sex: Sex::from_code(sex).ok()?,
    })
}

/// The whole walk. `None`: not the JPKI end-entity shape in canonical DER, or not sure.
pub(crate) fn parse_end_entity(der: &[u8]) -> Option<EndEntity> {
    let mut top = Reader(der);
    let mut cert = Reader(top.take(SEQUENCE)?);
    let mut tbs = Reader(cert.take(SEQUENCE)?);
    let outer_algorithm = algorithm(cert.take(SEQUENCE)?)?;
    if cert.take(BIT_STRING)?.first() != Some(&0) || !cert.done() || !top.done() {
        return None;
    }
    // check_common: v3, an allowed algorithm (the same inside and out), RSA of 2048 bits or more.
    if tbs.take(0xA0)? != [INTEGER, 1, 2] {
        return None;
    }
    let serial = serial(tbs.take(INTEGER)?)?;
    let allowed = [oid::SHA256_WITH_RSA, oid::SHA384_WITH_RSA, oid::SHA512_WITH_RSA];
    if algorithm(tbs.take(SEQUENCE)?)? != outer_algorithm || !allowed.iter().any(|a| a.as_bytes() == outer_algorithm) {
        return None;
    }
    let (_, issuer) = tbs.take_raw(SEQUENCE)?;
    let mut validity = Reader(tbs.take(SEQUENCE)?);
    let (tag, v, _) = validity.next()?;
    let not_before = time(tag, v)?;
    let (tag, v, _) = validity.next()?;
    let not_after = time(tag, v)?;
    let subject = tbs.take(SEQUENCE)?;
    let mut spki = Reader(tbs.take(SEQUENCE)?);
    if !validity.done() || algorithm(spki.take(SEQUENCE)?)? != oid::RSA_ENCRYPTION.as_bytes() {
        return None;
    }
    let public_key = match spki.take(BIT_STRING)? {
        [0, key @ ..] if spki.done() => key,
        _ => return None,
    };
    if crate::parse::rsa_modulus_bits(public_key).ok()? < 2048 {
        return None;
    }
    let mut explicit = Reader(tbs.take(0xA3)?);
    let exts = extensions(explicit.take(SEQUENCE)?)?;
    if !explicit.done() || !tbs.done() {
        return None;
    }

    let (hierarchy, environment) = match policy(exts.policies?)? {
        oid::POLICY_SIGNING => (Hierarchy::Signing, Environment::Production),
        oid::POLICY_SIGNING_TEST => (Hierarchy::Signing, Environment::Sandbox),
        oid::POLICY_AUTH => (Hierarchy::Authentication, Environment::Production),
        _ => (Hierarchy::Authentication, Environment::Sandbox),
    };
    let (_, _, _, issuer_name) = ca_names()
        .iter()
        .find(|(e, h, name_der, _)| (*e, *h) == (environment, hierarchy) && name_der == issuer)?;
    let expected_usage: &[u8] = match hierarchy {
        Hierarchy::Signing => &[BIT_STRING, 2, 6, 0xC0],
        Hierarchy::Authentication => &[BIT_STRING, 2, 7, 0x80],
    };
    if exts.key_usage? != expected_usage || exts.basic_constraints.is_some_and(|b| b != [SEQUENCE, 0]) {
        return None;
    }
    let info = EndEntityInfo {
        serial,
        not_before,
        not_after,
        environment,
        authority_key_id: match exts.authority_key_id {
            Some(v) => authority_key_id(v)?,
            None => None,
        },
        issuer: issuer_name.clone(),
        crl_partition: match exts.crl_distribution_points {
            Some(v) => Some(crl_partition(v, environment, hierarchy)?),
            None => None,
        },
        public_key: public_key.to_vec(),
    };
    let subject = attributes(subject)?;
    let is = |a: &(&[u8], u8, &str), kind: Oid| a.0 == kind.as_bytes();
    match hierarchy {
        Hierarchy::Signing => {
            let [c, l1, l2, cn] = subject.as_slice() else {
                return None;
            };
            let shape =
                is(c, oid::COUNTRY) && is(l1, oid::LOCALITY) && is(l2, oid::LOCALITY) && is(cn, oid::COMMON_NAME);
            if !shape || c.2 != "JP" {
                return None;
            }
            let basic4 = basic4(exts.subject_alt_name?)?;
            Some(EndEntity::Signing(SigningCertificate {
                info,
                prefecture: l1.2.to_owned(),
                municipality: l2.2.to_owned(),
                issuance_id: cn.2.to_owned(),
                basic4,
            }))
        }
        Hierarchy::Authentication => {
            let [c, cn] = subject.as_slice() else {
                return None;
            };
            if !(is(c, oid::COUNTRY) && c.2 == "JP" && is(cn, oid::COMMON_NAME)) || exts.subject_alt_name.is_some() {
                return None;
            }
            Some(EndEntity::Authentication(AuthCertificate {
                info,
                id: cn.2.to_owned(),
            }))
        }
    }
}
