//! # honnin-proto: the wire types of the authority's verifier API
//!
//! The authority (J-LIS, 機構) serves *registered verifiers* (署名検証者 / プラットフォーム事業者) under
//! [`API_PREFIX`]: OCSP and CRLs as on its public routes, and serial linking — the previous or next
//! certificate of a holder after renewal or re-issue (新旧シリアル番号紐付け) and the signing ↔ auth pair
//! of one card (対応証明書の発行の番号). This crate holds what both ends must agree on: the paths, the
//! JSON bodies, the RFC 9457 problem document and its `type` URIs, and the text forms of hierarchies
//! (`sign`, `auth`) and serials (upper-case hex, as [`honnin_profile::Serial::to_hex`] prints them).
//!
//! Like a kanidm `proto` crate it must not do I/O, hold state or pull in an HTTP stack: the server is
//! in `honnin-authority`, the client in `honnin-authority-client`.

use honnin_profile::Hierarchy;
use serde::{Deserialize, Serialize};

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
pub mod problem_type {
    /// 401: no, unknown or wrong verifier credentials.
    pub const UNAUTHORIZED: &str = "https://honnin.dev/problems/unauthorized";
    /// 403: the verifier is registered but disabled.
    pub const FORBIDDEN: &str = "https://honnin.dev/problems/forbidden";
    /// 403: the holder has given this verifier no live consent for the service asked.
    pub const CONSENT_REQUIRED: &str = "https://honnin.dev/problems/consent-required";
    /// 404: no such resource (route, hierarchy or certificate).
    pub const NOT_FOUND: &str = "https://honnin.dev/problems/not-found";
    /// 400: a path parameter is malformed (e.g. a serial that is not hex).
    pub const BAD_REQUEST: &str = "https://honnin.dev/problems/bad-request";
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
}
