//! The authority's fees (seed 001) as rules both sides apply: the authority to bill a verifier, the
//! platform to bill its tenants the same way and to predict the authority's statement. Pure: no
//! clock, no storage.

use std::collections::HashSet;

use honnin_profile::dates::jst_date;
use honnin_profile::Hierarchy;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::{BillingMonth, FeeBasis, Service};

/// 署名用電子証明書の有効性確認 1件 (seed 001).
pub const SIGN_VALIDITY_CHECK_YEN: u64 = 20;
/// 利用者証明用電子証明書の有効性確認 1件 (seed 001).
pub const AUTH_VALIDITY_CHECK_YEN: u64 = 2;
/// 対応証明書の発行の番号の提供 1件 (seed 001 ※1).
pub const COUNTERPART_YEN: u64 = 2;

/// The price of one call billed on `basis` for a certificate of `hierarchy`.
pub fn unit_price(basis: FeeBasis, hierarchy: Option<Hierarchy>) -> u64 {
    match (basis, hierarchy) {
        (FeeBasis::ValidityCheck, Some(Hierarchy::Signing)) => SIGN_VALIDITY_CHECK_YEN,
        (FeeBasis::ValidityCheck, Some(Hierarchy::Authentication)) => AUTH_VALIDITY_CHECK_YEN,
        (FeeBasis::Counterpart, _) => COUNTERPART_YEN,
        _ => 0,
    }
}

/// The first month of the fiscal year (年度, April to March) that `month` belongs to.
pub fn fiscal_year_start(month: BillingMonth) -> BillingMonth {
    let year = if (month.month() as u8) >= 4 {
        month.year()
    } else {
        month.year() - 1
    };
    BillingMonth::new(year, 4).unwrap_or(month)
}

/// What the authority answered to one verifier call, as it records it and as the platform meters it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallResult {
    /// OCSP: the certificate is good.
    Good,
    /// OCSP: the certificate is revoked.
    Revoked,
    /// OCSP: the authority never issued this serial.
    Unknown,
    /// OCSP: the request named a CA this authority does not run.
    Unauthorized,
    /// OCSP: the request could not be parsed.
    Malformed,
    /// OCSP: the responder failed and answered internalError.
    Error,
    /// CRL: the CRL was sent.
    Sent,
    /// CRL: the verifier's copy was current (304).
    NotModified,
    /// Link: a linked certificate was answered.
    Found,
    /// Link: the certificate has no such link (answered `null`).
    None,
    /// Link: no certificate with this serial in this hierarchy (404).
    NotFound,
    /// Link or basic 4: the holder has no live consent for this verifier (403).
    ConsentRequired,
    /// Age check: the certificate is this authority's and valid at the time asked.
    Valid,
    /// Age check: the certificate is this authority's but expired, not yet valid or revoked then.
    Invalid,
    /// CRL check: the declared check was recorded against the certificate's holder.
    Recorded,
    /// Basic 4: the holder has died (410, no attributes).
    Deceased,
    /// Basic 4: the holder has moved abroad (410, no attributes).
    Emigrated,
    /// Signed consent: the statement verified and the consent is live.
    Accepted,
    /// Signed consent: the statement was refused (422).
    Refused,
}

impl CallResult {
    pub fn as_str(self) -> &'static str {
        match self {
            CallResult::Good => "good",
            CallResult::Revoked => "revoked",
            CallResult::Unknown => "unknown",
            CallResult::Unauthorized => "unauthorized",
            CallResult::Malformed => "malformed",
            CallResult::Error => "error",
            CallResult::Sent => "sent",
            CallResult::NotModified => "not-modified",
            CallResult::Found => "found",
            CallResult::None => "none",
            CallResult::NotFound => "not-found",
            CallResult::ConsentRequired => "consent-required",
            CallResult::Valid => "valid",
            CallResult::Invalid => "invalid",
            CallResult::Recorded => "recorded",
            CallResult::Deceased => "deceased",
            CallResult::Emigrated => "emigrated",
            CallResult::Accepted => "accepted",
            CallResult::Refused => "refused",
        }
    }

    /// The name [`CallResult::as_str`] gives, back (serde holds the same names).
    pub fn from_name(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// A recorded call as billing sees it, with the holder of the certificate it named, and who made
/// it (`caller`: nothing at the authority, which bills one verifier at a time; the tenant on the
/// platform, which bills each tenant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillableCall<C = ()> {
    /// When the authority saw the call.
    pub at: OffsetDateTime,
    pub service: Service,
    pub hierarchy: Option<Hierarchy>,
    pub serial: Option<u64>,
    pub result: CallResult,
    /// Whose CRL checks count once a fiscal year (the holder the certificate belongs to).
    pub holder: Option<String>,
    pub caller: C,
}

impl<C> BillableCall<C> {
    /// A check that answered the validity of one certificate this authority issued.
    pub fn checked_validity(&self) -> bool {
        use CallResult as R;
        use Service as S;
        matches!(
            (self.service, self.result),
            (S::Ocsp, R::Good | R::Revoked) | (S::AgeCheck, R::Valid | R::Invalid) | (S::CrlCheck, R::Recorded)
        )
    }

    /// The certificate and JST day of a call, for "a check of the same certificate the same day".
    pub fn day_key(&self) -> Option<(Date, Hierarchy, u64)> {
        Some((jst_date(self.at), self.hierarchy?, self.serial?))
    }
}

/// The basis of each call of a month, given the holders whose CRL checks were already counted this
/// fiscal year (per hierarchy) before the month.
pub fn bases<C>(calls: &[BillableCall<C>], mut counted: HashSet<(String, Hierarchy)>) -> Vec<FeeBasis> {
    use CallResult as R;
    use Service as S;
    let checked: HashSet<_> = calls
        .iter()
        .filter(|c| c.checked_validity())
        .filter_map(BillableCall::day_key)
        .collect();
    calls
        .iter()
        .map(|c| match (c.service, c.result) {
            (S::Crl | S::Consent | S::Statement, _) => FeeBasis::Free,
            // Whatever names no certificate of a hierarchy (a malformed OCSP request, a stranger's
            // certificate in an age check) checked nothing.
            _ if c.hierarchy.is_none() => FeeBasis::NoCheck,
            (S::Ocsp, R::Good | R::Revoked) | (S::AgeCheck, R::Valid | R::Invalid) => FeeBasis::ValidityCheck,
            (S::CrlCheck, R::Recorded) => match (&c.holder, c.hierarchy) {
                (Some(holder), Some(h)) if counted.insert((holder.clone(), h)) => FeeBasis::ValidityCheck,
                (Some(_), _) => FeeBasis::CountedThisYear,
                (None, _) => FeeBasis::NoCheck,
            },
            (S::Previous | S::Next, R::Found | R::None) | (S::Basic4, R::Found | R::Deceased | R::Emigrated) => {
                if c.day_key().is_some_and(|k| checked.contains(&k)) {
                    FeeBasis::CoveredByValidityCheck
                } else {
                    FeeBasis::ValidityCheck
                }
            }
            (S::Counterpart, R::Found | R::None) => FeeBasis::Counterpart,
            _ => FeeBasis::NoCheck,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::CallResult;

    #[test]
    fn call_result_names_round_trip() {
        for name in [
            "good",
            "revoked",
            "unknown",
            "unauthorized",
            "malformed",
            "error",
            "sent",
            "not-modified",
            "found",
            "none",
            "not-found",
            "consent-required",
            "valid",
            "invalid",
            "recorded",
            "deceased",
            "emigrated",
            "accepted",
            "refused",
        ] {
            let r = CallResult::from_name(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(r.as_str(), name);
        }
        assert_eq!(CallResult::from_name("Good"), None);
    }
}
