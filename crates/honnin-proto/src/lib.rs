//! # honnin-proto: the wire types of the authority's verifier API
//!
//! The authority (J-LIS, 機構) serves *registered verifiers* (署名検証者 / プラットフォーム事業者) under
//! [`API_PREFIX`]: OCSP and CRLs as on its public routes; serial linking — the previous or next
//! certificate of a holder after renewal or re-issue (新旧シリアル番号紐付け) and the signing ↔ auth pair
//! of one card (対応証明書の発行の番号); the age check (年齢判定); the holder's latest 4 attributes with
//! consent (本人同意に基づく基本4情報の提供) and consents signed by the holder; declarations of CRL-based
//! status checks; and the verifier's monthly statement of fees. This crate holds what both ends must
//! agree on: the paths, the JSON bodies, the RFC 9457 problem document and its `type` URIs, and the
//! text forms of hierarchies (`sign`, `auth`), serials (upper-case hex, as
//! [`honnin_profile::Serial::to_hex`] prints them), times (RFC 3339) and months (`YYYY-MM`).
//!
//! Like a kanidm `proto` crate it must not do I/O, hold state or pull in an HTTP stack: the server is
//! in `honnin-authority`, the client in `honnin-authority-client`.

use std::fmt;

use honnin_profile::{Hierarchy, Sex};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

/// Every verifier route lives under this path.
pub const API_PREFIX: &str = "/verifier/v1";
/// The realm of the `WWW-Authenticate: Basic` challenge.
pub const REALM: &str = "honnin-authority";
/// The exact challenge a 401 carries.
pub const CHALLENGE: &str = "Basic realm=\"honnin-authority\"";

pub const OCSP_REQUEST_CONTENT_TYPE: &str = "application/ocsp-request";
pub const OCSP_RESPONSE_CONTENT_TYPE: &str = "application/ocsp-response";
pub const CRL_CONTENT_TYPE: &str = "application/pkix-crl";
pub const CERTIFICATE_CONTENT_TYPE: &str = "application/pkix-cert";
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// The `type` URIs of the authority's problem documents: one per kind of error, so a client tells
/// them apart without reading `title` or `detail`.
pub mod fees;

pub mod problem_type {
    /// 401: no, unknown or wrong verifier credentials.
    pub const UNAUTHORIZED: &str = "https://honnin.dev/problems/unauthorized";
    /// 403: the verifier is registered but disabled.
    pub const FORBIDDEN: &str = "https://honnin.dev/problems/forbidden";
    /// 403: the holder has given this verifier no live consent for the service asked.
    pub const CONSENT_REQUIRED: &str = "https://honnin.dev/problems/consent-required";
    /// 404: no such resource (route, hierarchy or certificate).
    pub const NOT_FOUND: &str = "https://honnin.dev/problems/not-found";
    /// 400: a path parameter or body is malformed (e.g. a serial that is not hex).
    pub const BAD_REQUEST: &str = "https://honnin.dev/problems/bad-request";
    /// 410: the holder of the certificate has died; the register gives no attributes.
    pub const HOLDER_DECEASED: &str = "https://honnin.dev/problems/holder-deceased";
    /// 410: the holder has moved abroad (国外転出); the register gives no current attributes.
    pub const HOLDER_EMIGRATED: &str = "https://honnin.dev/problems/holder-emigrated";
    /// 422: a signed consent statement was refused (signature, certificate, verifier, scope or age).
    pub const CONSENT_STATEMENT_REFUSED: &str = "https://honnin.dev/problems/consent-statement-refused";
    /// 500: the authority failed; nothing was answered.
    pub const INTERNAL: &str = "https://honnin.dev/problems/internal";
}

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// One of the [`problem_type`] URIs.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The three serial-linking questions a verifier may ask about one certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Link {
    /// The certificate of the same hierarchy that this one replaced (one step back).
    Previous,
    /// The certificate of the same hierarchy that replaced this one (one step forward).
    Next,
    /// The signing and auth certificates of the same card (対応証明書).
    Counterpart,
}

impl Link {
    pub const ALL: [Link; 3] = [Link::Previous, Link::Next, Link::Counterpart];

    /// The last path segment of the link's route.
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Previous => "previous",
            Link::Next => "next",
            Link::Counterpart => "counterpart",
        }
    }

    pub fn from_path(s: &str) -> Option<Self> {
        Link::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// `/verifier/v1/ocsp`
pub const OCSP_PATH: &str = "/verifier/v1/ocsp";

/// `/verifier/v1/crl/{sign|auth}.crl`
pub fn crl_path(hierarchy: Hierarchy) -> String {
    format!("{API_PREFIX}/crl/{}.crl", hierarchy.short())
}

/// `/verifier/v1/certificates/{sign|auth}/{serial}/{previous|next|counterpart}`
pub fn link_path(hierarchy: Hierarchy, serial: u64, link: Link) -> String {
    format!(
        "{API_PREFIX}/certificates/{}/{}/{}",
        hierarchy.short(),
        serial_to_hex(serial),
        link.as_str()
    )
}

/// The public (unauthenticated) root certificate: `/ca/{sign|auth}.der`.
pub fn ca_path(hierarchy: Hierarchy) -> String {
    format!("/ca/{}.der", hierarchy.short())
}

/// A serial as the API writes it: upper-case hex of its big-endian bytes without leading zero
/// bytes, the form `Serial::to_hex` and `honnin verify --json` print (so it may start with one `0`
/// digit, as in `0123…`).
pub fn serial_to_hex(serial: u64) -> String {
    let hex = format!("{serial:X}");
    if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex
    }
}

/// Parses a serial from the API's hex form. Lower case and extra leading zeros are accepted; an
/// empty string, a non-hex character or a value over 64 bits is not.
pub fn serial_from_hex(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digits = s.trim_start_matches('0');
    if digits.is_empty() {
        return Some(0);
    }
    if digits.len() > 16 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// Serde helpers for the wire forms, for use with `#[serde(with = …)]`.
pub mod wire {
    /// A [`Hierarchy`](honnin_profile::Hierarchy) as `sign` or `auth`.
    pub mod hierarchy {
        use honnin_profile::Hierarchy;
        use serde::{de, Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(h: &Hierarchy, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(h.short())
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hierarchy, D::Error> {
            let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            Hierarchy::from_short(&s).ok_or_else(|| de::Error::custom(format!("hierarchy {s:?} is not sign or auth")))
        }
    }

    /// A `u64` serial as upper-case hex.
    pub mod serial {
        use serde::{de, Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&crate::serial_to_hex(*v))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
            let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            crate::serial_from_hex(&s).ok_or_else(|| de::Error::custom(format!("{s:?} is not a hex serial")))
        }
    }

    /// An optional `u64` serial as upper-case hex or `null`.
    pub mod optional_serial {
        use serde::{de, Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => s.serialize_some(&crate::serial_to_hex(*v)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
            match <Option<std::borrow::Cow<'de, str>>>::deserialize(d)? {
                None => Ok(None),
                Some(s) => crate::serial_from_hex(&s)
                    .map(Some)
                    .ok_or_else(|| de::Error::custom(format!("{s:?} is not a hex serial"))),
            }
        }
    }

    /// An optional [`Hierarchy`](honnin_profile::Hierarchy) as `sign`, `auth` or `null`.
    pub mod optional_hierarchy {
        use honnin_profile::Hierarchy;
        use serde::{de, Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(h: &Option<Hierarchy>, s: S) -> Result<S::Ok, S::Error> {
            match h {
                Some(h) => s.serialize_some(h.short()),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Hierarchy>, D::Error> {
            match <Option<std::borrow::Cow<'de, str>>>::deserialize(d)? {
                None => Ok(None),
                Some(s) => Hierarchy::from_short(&s)
                    .map(Some)
                    .ok_or_else(|| de::Error::custom(format!("hierarchy {s:?} is not sign or auth"))),
            }
        }
    }

    /// Bytes as standard base64 (with padding).
    pub mod base64 {
        use base64::Engine;
        use serde::{de, Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|e| de::Error::custom(format!("not standard base64: {e}")))
        }
    }

    /// Optional bytes as standard base64 or `null`.
    pub mod optional_base64 {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => super::base64::serialize(v, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
            #[derive(Deserialize)]
            struct Wrap(#[serde(with = "super::base64")] Vec<u8>);
            Ok(<Option<Wrap>>::deserialize(d)?.map(|Wrap(v)| v))
        }
    }

    /// A calendar date as ISO 8601 `YYYY-MM-DD`.
    pub mod date {
        use serde::{de, Deserialize, Deserializer, Serializer};
        use time::Date;

        pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&crate::iso_date(*d))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
            let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            Date::parse(&s, &time::format_description::well_known::Iso8601::DATE)
                .ok()
                .filter(|_| s.len() == 10)
                .ok_or_else(|| de::Error::custom(format!("{s:?} is not a date YYYY-MM-DD")))
        }
    }
}

/// A date as ISO 8601 `YYYY-MM-DD`.
fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

/// `GET …/certificates/{h}/{serial}/previous`: the certificate this one replaced, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousCertificate {
    #[serde(with = "wire::hierarchy")]
    pub hierarchy: Hierarchy,
    #[serde(with = "wire::serial")]
    pub serial: u64,
    #[serde(with = "wire::optional_serial")]
    pub previous: Option<u64>,
}

/// `GET …/certificates/{h}/{serial}/next`: the certificate that replaced this one, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextCertificate {
    #[serde(with = "wire::hierarchy")]
    pub hierarchy: Hierarchy,
    #[serde(with = "wire::serial")]
    pub serial: u64,
    #[serde(with = "wire::optional_serial")]
    pub next: Option<u64>,
}

/// `GET …/certificates/{h}/{serial}/counterpart`: the signing and auth certificates of one card.
/// `sign` is `null` for a card without a signing certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counterpart {
    #[serde(with = "wire::optional_serial")]
    pub sign: Option<u64>,
    #[serde(with = "wire::serial")]
    pub auth: u64,
}

/// A verifier service: what each recorded call used, and what each line of a statement bills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    /// One certificate's status by OCSP (one call per certificate of a request).
    Ocsp,
    /// A whole CRL downloaded (the checks made against it are declared as [`Service::CrlCheck`]).
    Crl,
    /// One CRL-based status check the platform declared (`POST …/crl-checks`).
    CrlCheck,
    /// The age check (年齢判定): is the certificate valid, and is its holder N or older.
    AgeCheck,
    /// The certificate a renewal or re-issue replaced (新旧紐付け, backwards).
    Previous,
    /// The certificate that replaced this one (新旧紐付け, forwards).
    Next,
    /// The other certificate of the same card (対応証明書の発行の番号).
    Counterpart,
    /// The holder's latest 4 attributes, with consent (最新の基本4情報).
    Basic4,
    /// A consent signed by the holder, sent by the verifier.
    Consent,
    /// The verifier's monthly statement of fees.
    Statement,
}

impl Service {
    pub const ALL: [Service; 10] = [
        Service::Ocsp,
        Service::Crl,
        Service::CrlCheck,
        Service::AgeCheck,
        Service::Previous,
        Service::Next,
        Service::Counterpart,
        Service::Basic4,
        Service::Consent,
        Service::Statement,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::Ocsp => "ocsp",
            Service::Crl => "crl",
            Service::CrlCheck => "crl-check",
            Service::AgeCheck => "age-check",
            Service::Previous => "previous",
            Service::Next => "next",
            Service::Counterpart => "counterpart",
            Service::Basic4 => "basic4",
            Service::Consent => "consent",
            Service::Statement => "statement",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Service::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl From<Link> for Service {
    fn from(l: Link) -> Self {
        match l {
            Link::Previous => Service::Previous,
            Link::Next => Service::Next,
            Link::Counterpart => Service::Counterpart,
        }
    }
}

/// What a holder's consent to one verifier covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ConsentScope {
    /// Serial linking: previous/next certificate (新旧紐付け) and the card's counterpart (対応証明書).
    Linking,
    /// The holder's latest 4 attributes (本人同意に基づく最新の基本4情報の提供).
    Basic4,
}

impl ConsentScope {
    pub const ALL: [ConsentScope; 2] = [ConsentScope::Linking, ConsentScope::Basic4];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsentScope::Linking => "linking",
            ConsentScope::Basic4 => "basic4",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        ConsentScope::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// `/verifier/v1/age-check`
pub const AGE_CHECK_PATH: &str = "/verifier/v1/age-check";
/// `/verifier/v1/crl-checks`
pub const CRL_CHECKS_PATH: &str = "/verifier/v1/crl-checks";
/// `/verifier/v1/consents`
pub const CONSENTS_PATH: &str = "/verifier/v1/consents";

/// `/verifier/v1/certificates/{sign|auth}/{serial}/basic4`
pub fn basic4_path(hierarchy: Hierarchy, serial: u64) -> String {
    format!(
        "{API_PREFIX}/certificates/{}/{}/basic4",
        hierarchy.short(),
        serial_to_hex(serial)
    )
}

/// `/verifier/v1/statements/{YYYY-MM}`
pub fn statement_path(month: BillingMonth) -> String {
    format!("{API_PREFIX}/statements/{month}")
}

/// The oldest age an age check may ask about.
pub const MAX_AGE_THRESHOLD: u8 = 150;

/// `POST …/age-check`: is the certificate valid, and is its holder `threshold` or older at `at`
/// (the authority's clock when absent)?
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeCheckRequest {
    /// The DER of a signing or auth certificate.
    #[serde(with = "wire::base64")]
    pub certificate: Vec<u8>,
    /// Whole years, 0 to [`MAX_AGE_THRESHOLD`].
    pub threshold: u8,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub at: Option<OffsetDateTime>,
}

/// The certificate's validity in an age check (有効 / 無効 / 不明).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validity {
    /// Issued by this authority, within its validity at the time asked, and not revoked then.
    Valid,
    /// Issued by this authority, but expired, not yet valid, or revoked at the time asked.
    Invalid,
    /// Not a certificate this authority issued: it cannot say.
    Unknown,
}

/// The answer to an age check: never the birth date. `over` is `null` unless the certificate is
/// valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgeCheck {
    pub validity: Validity,
    pub over: Option<bool>,
    pub threshold: u8,
    /// The instant judged (the request's `at`, or the authority's clock).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// `GET …/certificates/{h}/{serial}/basic4`: the holder's 4 attributes as the register holds them
/// now (after moves and marriages), and the holder's current signing certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestBasic4 {
    #[serde(with = "wire::hierarchy")]
    pub hierarchy: Hierarchy,
    #[serde(with = "wire::serial")]
    pub serial: u64,
    /// Surname and given name separated by a full-width space.
    pub name: String,
    pub address: String,
    #[serde(with = "wire::date")]
    pub birth_date: Date,
    pub sex: Sex,
    /// When the register was read.
    #[serde(with = "time::serde::rfc3339")]
    pub as_of: OffsetDateTime,
    /// The serial of the holder's current signing certificate (issued, unexpired, not revoked), if any.
    #[serde(with = "wire::optional_serial")]
    pub sign: Option<u64>,
}

/// One CRL-based status check, declared by the platform that made it against its CRL copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrlCheck {
    #[serde(with = "wire::hierarchy")]
    pub hierarchy: Hierarchy,
    #[serde(with = "wire::serial")]
    pub serial: u64,
}

/// The most checks one `POST …/crl-checks` may declare.
pub const MAX_CRL_CHECKS: usize = 10_000;

/// `POST …/crl-checks`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrlChecksRequest {
    pub checks: Vec<CrlCheck>,
}

/// What became of one declared check. Whether it is billed is the statement's business (a holder's
/// checks count once a year), and is not said here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrlCheckResult {
    /// Recorded against the certificate's holder.
    Recorded,
    /// The authority issued no certificate with this serial in this hierarchy (recorded, not billed).
    NotFound,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrlCheckOutcome {
    #[serde(with = "wire::hierarchy")]
    pub hierarchy: Hierarchy,
    #[serde(with = "wire::serial")]
    pub serial: u64,
    pub result: CrlCheckResult,
}

/// The answer to `POST …/crl-checks`: one outcome per check, in the request's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrlChecksAnswer {
    pub checks: Vec<CrlCheckOutcome>,
}

/// The `consent` member every consent statement carries.
pub const CONSENT_STATEMENT_VERSION: &str = "honnin-consent/1";

/// What a holder signs with the signing certificate to consent to a verifier: a UTF-8 JSON object,
/// e.g. `{"consent":"honnin-consent/1","verifier":"0123456789abcdef","scope":"basic4",
/// "given_at":"2026-05-10T10:00:00+09:00"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentStatement {
    /// Always [`CONSENT_STATEMENT_VERSION`].
    pub consent: String,
    /// The verifier id the holder consents to.
    pub verifier: String,
    pub scope: ConsentScope,
    /// When the holder signed; the authority accepts a statement only shortly after.
    #[serde(with = "time::serde::rfc3339")]
    pub given_at: OffsetDateTime,
}

impl ConsentStatement {
    pub fn new(verifier: &str, scope: ConsentScope, given_at: OffsetDateTime) -> Self {
        ConsentStatement {
            consent: CONSENT_STATEMENT_VERSION.to_owned(),
            verifier: verifier.to_owned(),
            scope,
            given_at,
        }
    }

    /// The bytes to sign.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// `POST …/consents`: a CMS `SignedData` (DER `ContentInfo`) over a [`ConsentStatement`], signed
/// with the holder's signing certificate; `content` is the statement when the SignedData is detached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    #[serde(with = "wire::base64")]
    pub signed_data: Vec<u8>,
    #[serde(default, with = "wire::optional_base64", skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<u8>>,
}

/// The answer to an accepted signed consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecorded {
    pub scope: ConsentScope,
    /// When the consent became live (an earlier time if it already was).
    #[serde(with = "time::serde::rfc3339")]
    pub given_at: OffsetDateTime,
    /// The signing certificate that signed the statement.
    #[serde(with = "wire::serial")]
    pub signer: u64,
}

/// A calendar month of the authority's business calendar (JST), written `YYYY-MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BillingMonth {
    year: i32,
    month: time::Month,
}

impl BillingMonth {
    /// `None` unless 1 ≤ month ≤ 12 and the year has four digits.
    pub fn new(year: i32, month: u8) -> Option<Self> {
        if !(1..=9999).contains(&year) {
            return None;
        }
        Some(BillingMonth {
            year,
            month: time::Month::try_from(month).ok()?,
        })
    }

    /// Parses `YYYY-MM` exactly.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 7 || b[4] != b'-' || !b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit) {
            return None;
        }
        BillingMonth::new(s[..4].parse().ok()?, s[5..].parse().ok()?)
    }

    /// The month that contains `instant` in JST.
    pub fn containing(instant: OffsetDateTime) -> Self {
        let d = honnin_profile::dates::jst_date(instant);
        BillingMonth {
            year: d.year(),
            month: d.month(),
        }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> time::Month {
        self.month
    }

    pub fn next(self) -> Self {
        match self.month {
            time::Month::December => BillingMonth {
                year: self.year + 1,
                month: time::Month::January,
            },
            m => BillingMonth {
                year: self.year,
                month: m.next(),
            },
        }
    }

    /// Its first instant, 00:00 JST on the 1st.
    pub fn start(self) -> OffsetDateTime {
        let day = Date::from_calendar_date(self.year, self.month, 1).unwrap_or(Date::MIN);
        day.midnight().assume_offset(honnin_profile::dates::JST)
    }

    /// `[start, start of the next month)`.
    pub fn bounds(self) -> (OffsetDateTime, OffsetDateTime) {
        (self.start(), self.next().start())
    }
}

impl fmt::Display for BillingMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month as u8)
    }
}

impl std::str::FromStr for BillingMonth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        BillingMonth::parse(s).ok_or_else(|| format!("{s:?} is not a month YYYY-MM"))
    }
}

impl Serialize for BillingMonth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BillingMonth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a statement line costs what it costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeeBasis {
    /// A validity check (有効性確認) of a certificate of the line's hierarchy: signing 20 yen, auth 2.
    ValidityCheck,
    /// The card's counterpart serial (対応証明書の発行の番号): 2 yen.
    Counterpart,
    /// A CRL-based status check of a holder already counted this fiscal year: 0 yen.
    CountedThisYear,
    /// A service that needs a validity check, covered by one of the same certificate the same day: 0 yen.
    CoveredByValidityCheck,
    /// No issued certificate was checked (refused, unknown serial, malformed, failed): 0 yen.
    NoCheck,
    /// Free by rule (CRL downloads, consents, statements): 0 yen.
    Free,
}

impl FeeBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            FeeBasis::ValidityCheck => "validity-check",
            FeeBasis::Counterpart => "counterpart",
            FeeBasis::CountedThisYear => "counted-this-year",
            FeeBasis::CoveredByValidityCheck => "covered-by-validity-check",
            FeeBasis::NoCheck => "no-check",
            FeeBasis::Free => "free",
        }
    }
}

/// One line of a statement: the calls of one service and hierarchy billed on one basis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    pub service: Service,
    #[serde(with = "wire::optional_hierarchy")]
    pub hierarchy: Option<Hierarchy>,
    pub basis: FeeBasis,
    pub count: u64,
    pub unit_price_yen: u64,
    pub amount_yen: u64,
}

/// A verifier's fees for one JST month: every recorded call of the month is in exactly one line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub verifier: String,
    pub month: BillingMonth,
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    pub lines: Vec<StatementLine>,
    pub total_yen: u64,
}

impl Statement {
    /// The statement as CSV (RFC 4180, CRLF): a header, one row per line, and a `total` row.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("verifier,month,service,hierarchy,basis,count,unit_price_yen,amount_yen\r\n");
        for l in &self.lines {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{}\r\n",
                csv_field(&self.verifier),
                self.month,
                l.service.as_str(),
                l.hierarchy.map(Hierarchy::short).unwrap_or(""),
                l.basis.as_str(),
                l.count,
                l.unit_price_yen,
                l.amount_yen
            ));
        }
        out.push_str(&format!(
            "{},{},total,,,,,{}\r\n",
            csv_field(&self.verifier),
            self.month,
            self.total_yen
        ));
        out
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use honnin_profile::Serial;

    #[test]
    fn serials_are_written_as_serial_to_hex_writes_them() {
        for v in [0, 1, 0x0F, 0x10, 0x0123_4567_89AB_CDEF, 0x7FFF_FFFF_FFFF_FFFF, u64::MAX] {
            assert_eq!(serial_to_hex(v), Serial::from_u64(v).to_hex(), "{v:#x}");
            assert_eq!(serial_from_hex(&serial_to_hex(v)), Some(v));
        }
    }

    #[test]
    fn serial_parsing_refuses_what_is_not_a_64_bit_hex_number() {
        assert_eq!(serial_from_hex("0123abcdef"), Some(0x01_23AB_CDEF));
        assert_eq!(serial_from_hex("000000000000000000FF"), Some(0xFF));
        for bad in ["", "12G4", "-1", "0x12", " 12", "1_0", "10000000000000000"] {
            assert_eq!(serial_from_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn link_bodies_use_sign_auth_and_hex() {
        let body = PreviousCertificate {
            hierarchy: Hierarchy::Authentication,
            serial: 0x0123_4567_89AB_CDEF,
            previous: None,
        };
        let json = serde_json::to_string(&body).expect("json");
        assert_eq!(
            json,
            r#"{"hierarchy":"auth","serial":"0123456789ABCDEF","previous":null}"#
        );
        assert_eq!(serde_json::from_str::<PreviousCertificate>(&json).expect("back"), body);
        let c: Counterpart = serde_json::from_str(r#"{"sign":"0A","auth":"FF"}"#).expect("counterpart");
        assert_eq!(
            c,
            Counterpart {
                sign: Some(10),
                auth: 255
            }
        );
        assert!(
            serde_json::from_str::<NextCertificate>(r#"{"hierarchy":"signing","serial":"01","next":null}"#).is_err()
        );
        assert!(serde_json::from_str::<NextCertificate>(r#"{"hierarchy":"sign","serial":"01"}"#).is_err());
        assert_eq!(
            link_path(Hierarchy::Signing, 0x0A, Link::Counterpart),
            "/verifier/v1/certificates/sign/0A/counterpart"
        );
    }

    #[test]
    fn problems_carry_their_type_as_type() {
        let p = Problem {
            kind: problem_type::CONSENT_REQUIRED.into(),
            title: "Forbidden".into(),
            status: 403,
            detail: None,
        };
        let v: serde_json::Value = serde_json::to_value(&p).expect("json");
        assert_eq!(v["type"], "https://honnin.dev/problems/consent-required");
        assert!(v.get("detail").is_none());
    }
    #[test]
    fn months_are_yyyy_mm_in_jst() {
        let m = BillingMonth::parse("2026-12").expect("month");
        assert_eq!(m.to_string(), "2026-12");
        assert_eq!(m.next().to_string(), "2027-01");
        let (from, to) = m.bounds();
        assert_eq!(from.to_string(), "2026-12-01 0:00:00.0 +09:00:00");
        assert_eq!(to.to_string(), "2027-01-01 0:00:00.0 +09:00:00");
        // 2026-11-30T15:00Z is already 1 December in Japan.
        let edge = OffsetDateTime::from_unix_timestamp(from.unix_timestamp()).expect("time");
        assert_eq!(BillingMonth::containing(edge), m);
        assert_eq!(
            BillingMonth::containing(edge - time::Duration::seconds(1)).to_string(),
            "2026-11"
        );
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-01",
            "2026/01",
            "2026-01-01",
            "０２０２-01",
            "",
        ] {
            assert_eq!(BillingMonth::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            serde_json::to_string(&m).expect("json"),
            "\"2026-12\"",
            "a month is a string on the wire"
        );
        assert!(serde_json::from_str::<BillingMonth>("\"2026-13\"").is_err());
    }

    #[test]
    fn services_and_scopes_have_one_name_each() {
        for s in Service::ALL {
            assert_eq!(Service::from_name(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).expect("json"), s.as_str());
        }
        for c in ConsentScope::ALL {
            assert_eq!(ConsentScope::from_name(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).expect("json"), c.as_str());
        }
        assert_eq!(Service::from(Link::Counterpart), Service::Counterpart);
    }

    #[test]
    fn age_check_bodies() {
        let r: AgeCheckRequest = serde_json::from_str(r#"{"certificate":"MAA=","threshold":20}"#).expect("request");
        assert_eq!((r.certificate, r.threshold, r.at), (vec![0x30, 0x00], 20, None));
        let r: AgeCheckRequest =
            serde_json::from_str(r#"{"certificate":"MAA=","threshold":20,"at":"2025-03-01T00:00:00+09:00"}"#)
                .expect("request");
        assert_eq!(r.at.map(|t| t.unix_timestamp()), Some(1_740_754_800));
        for bad in [
            r#"{"certificate":"MAA","threshold":20}"#,
            r#"{"certificate":"MAA=","threshold":256}"#,
            r#"{"certificate":"MAA=","threshold":20,"at":"2025-03-01"}"#,
            r#"{"certificate":"MAA=","threshold":20,"birth_date":"2000-01-01"}"#,
        ] {
            assert!(serde_json::from_str::<AgeCheckRequest>(bad).is_err(), "{bad}");
        }
        let a: AgeCheck = serde_json::from_str(
            r#"{"validity":"unknown","over":null,"threshold":18,"at":"2026-05-12T10:00:00+09:00"}"#,
        )
        .expect("answer");
        assert_eq!((a.validity, a.over), (Validity::Unknown, None));
    }

    #[test]
    fn statements_as_csv() {
        let month = BillingMonth::parse("2026-05").expect("month");
        let (from, to) = month.bounds();
        let statement = Statement {
            verifier: "0123456789abcdef".into(),
            month,
            from,
            to,
            lines: vec![
                StatementLine {
                    service: Service::Ocsp,
                    hierarchy: Some(Hierarchy::Signing),
                    basis: FeeBasis::ValidityCheck,
                    count: 3,
                    unit_price_yen: 20,
                    amount_yen: 60,
                },
                StatementLine {
                    service: Service::Statement,
                    hierarchy: None,
                    basis: FeeBasis::Free,
                    count: 1,
                    unit_price_yen: 0,
                    amount_yen: 0,
                },
            ],
            total_yen: 60,
        };
        assert_eq!(
            statement.to_csv(),
            "verifier,month,service,hierarchy,basis,count,unit_price_yen,amount_yen\r\n\
             0123456789abcdef,2026-05,ocsp,sign,validity-check,3,20,60\r\n\
             0123456789abcdef,2026-05,statement,,free,1,0,0\r\n\
             0123456789abcdef,2026-05,total,,,,,60\r\n"
        );
        let json = serde_json::to_value(&statement).expect("json");
        assert_eq!(json["from"], "2026-05-01T00:00:00+09:00");
        assert_eq!(json["lines"][1]["hierarchy"], serde_json::Value::Null);
        assert_eq!(json["lines"][0]["basis"], "validity-check");
        assert_eq!(serde_json::from_value::<Statement>(json).expect("back"), statement);
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }

    #[test]
    fn consent_statements_are_strict_json() {
        let at = OffsetDateTime::from_unix_timestamp(1_778_547_600).expect("time");
        let s = ConsentStatement::new("0123456789abcdef", ConsentScope::Basic4, at);
        let bytes = s.to_bytes();
        assert_eq!(
            String::from_utf8(bytes.clone()).expect("utf-8"),
            r#"{"consent":"honnin-consent/1","verifier":"0123456789abcdef","scope":"basic4","given_at":"2026-05-12T01:00:00Z"}"#
        );
        assert_eq!(serde_json::from_slice::<ConsentStatement>(&bytes).expect("back"), s);
        assert!(serde_json::from_str::<ConsentStatement>(
            r#"{"consent":"honnin-consent/1","verifier":"v","scope":"all","given_at":"2026-05-12T01:00:00Z"}"#
        )
        .is_err());
        let r: ConsentRequest = serde_json::from_str(r#"{"signed_data":"MAA="}"#).expect("request");
        assert_eq!(r.content, None);
        let basic4_path = basic4_path(Hierarchy::Authentication, 0x0A);
        assert_eq!(basic4_path, "/verifier/v1/certificates/auth/0A/basic4");
        assert_eq!(
            statement_path(BillingMonth::parse("2026-05").expect("m")),
            "/verifier/v1/statements/2026-05"
        );
    }
}
