//! Revocation reasons (RFC 5280 CRLReason) and what J-LIS means by each.

use serde::{Deserialize, Serialize};

/// Why J-LIS revoked a certificate (失効事由), with J-LIS's meaning per its CPS §4.9.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    /// 0: destroyed before delivery (交付前に破棄).
    Unspecified,
    /// 1: the holder's key is no longer safe (鍵の危殆化).
    KeyCompromise,
    /// 2: a CA key was compromised.
    CaCompromise,
    /// 3: the certificate's contents changed — a move, marriage or name change; death or emigration.
    AffiliationChanged,
    /// 4: renewed or re-issued (更新・再発行).
    Superseded,
    /// 5: no longer needed: the card was abolished or returned, or the holder stopped its use.
    CessationOfOperation,
    /// 6: held because the card was reported lost or stolen (一時停止). J-LIS never releases a hold.
    CertificateHold,
}

impl RevocationReason {
    /// The RFC 5280 `CRLReason` value.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => RevocationReason::Unspecified,
            1 => RevocationReason::KeyCompromise,
            2 => RevocationReason::CaCompromise,
            3 => RevocationReason::AffiliationChanged,
            4 => RevocationReason::Superseded,
            5 => RevocationReason::CessationOfOperation,
            6 => RevocationReason::CertificateHold,
            _ => return None,
        })
    }

    /// The RFC 5280 name, e.g. `affiliationChanged`.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in 0..=6u8 {
            assert_eq!(RevocationReason::from_code(code).map(|r| r.code()), Some(code));
        }
        assert_eq!(RevocationReason::from_code(7), None, "7 is unused in RFC 5280");
    }
}
