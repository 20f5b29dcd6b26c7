//! One revocation status, whatever the source.

use honnin_profile::RevocationReason;
use serde::Serialize;
use time::OffsetDateTime;

/// Where a status came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusSource {
    Crl,
    Ocsp,
}

/// Good, revoked, or unknown — and unknown is never good: missing, stale or unverifiable revocation
/// data gives `Unknown` with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum RevocationStatus {
    Good {
        source: StatusSource,
        #[serde(with = "time::serde::rfc3339")]
        checked_at: OffsetDateTime,
    },
    Revoked {
        source: StatusSource,
        reason: RevocationReason,
        #[serde(with = "time::serde::rfc3339")]
        revoked_at: OffsetDateTime,
    },
    Unknown {
        why: String,
    },
}

impl RevocationStatus {
    pub fn unknown(why: impl Into<String>) -> Self {
        RevocationStatus::Unknown { why: why.into() }
    }

    pub fn is_good(&self) -> bool {
        matches!(self, RevocationStatus::Good { .. })
    }

    pub fn reason(&self) -> Option<RevocationReason> {
        match self {
            RevocationStatus::Revoked { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}
