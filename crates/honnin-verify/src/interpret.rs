//! What a person's certificate statuses mean (総務省 2018, the seeds' table), and what a service
//! provider should do about it.

use honnin_profile::RevocationReason;
use serde::Serialize;

use crate::RevocationStatus;

/// What happened to the person or their card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// Auth certificate good: the person is alive and the card usable (生存確認).
    AliveAndUsable,
    /// Signing revoked, auth good: the 4 attributes changed (move, marriage, name change).
    Basic4Changed,
    /// Both revoked, affiliationChanged: the holder died or moved abroad.
    DeceasedOrEmigrated,
    /// cessationOfOperation: the card was abolished or returned, lost, or the holder moved abroad.
    CardAbolished,
    /// certificateHold: the card was reported lost or stolen.
    CardSuspended,
    /// superseded: the certificates were renewed or the card re-issued.
    Renewed,
    /// keyCompromise: the key is no longer safe.
    KeyCompromised,
    /// unspecified: the card was destroyed before delivery.
    NeverDelivered,
    /// The status could not be established; nothing may be concluded.
    Unknown,
}

/// What a service provider should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do.
    None,
    /// Ask for the latest 4 attributes (with the holder's consent) or a new signing certificate.
    RequestLatestBasic4,
    /// Stop the relationship's automatic processes and confirm the death or emigration.
    ConfirmDeathOrEmigration,
    /// Suspend logins until the holder presents a new card.
    SuspendLogins,
    /// Follow the serial link to the new certificate.
    FollowSerialLink,
    /// Ask the holder to show their new card.
    AskForNewCard,
    /// Check again later; do not treat the person as alive or changed.
    RetryLater,
}

/// A finding with its action and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Interpretation {
    pub finding: Finding,
    pub action: Action,
    pub meaning: &'static str,
}

fn of(finding: Finding) -> Interpretation {
    let (action, meaning) = match finding {
        Finding::AliveAndUsable => (Action::None, "the person is alive and the card is usable"),
        Finding::Basic4Changed => (
            Action::RequestLatestBasic4,
            "the 4 attributes changed (a move, marriage or name change)",
        ),
        Finding::DeceasedOrEmigrated => (Action::ConfirmDeathOrEmigration, "the holder died or moved abroad"),
        Finding::CardAbolished => (
            Action::AskForNewCard,
            "the card was abolished, returned or lost, or the holder moved abroad",
        ),
        Finding::CardSuspended => (Action::SuspendLogins, "the card was reported lost or stolen"),
        Finding::Renewed => (
            Action::FollowSerialLink,
            "the certificates were renewed or the card re-issued",
        ),
        Finding::KeyCompromised => (Action::SuspendLogins, "the card's key is no longer safe"),
        Finding::NeverDelivered => (Action::AskForNewCard, "the card was destroyed before delivery"),
        Finding::Unknown => (Action::RetryLater, "the revocation status could not be established"),
    };
    Interpretation {
        finding,
        action,
        meaning,
    }
}

/// Reads a person's statuses together. `signing` is `None` for holders without a signing
/// certificate (under 15, adult wards). The auth certificate decides for the card and the person;
/// the signing certificate alone tells that the 4 attributes changed.
pub fn interpret(signing: Option<&RevocationStatus>, auth: &RevocationStatus) -> Interpretation {
    match auth {
        RevocationStatus::Unknown { .. } => of(Finding::Unknown),
        RevocationStatus::Revoked { reason, .. } => of(match reason {
            RevocationReason::AffiliationChanged => Finding::DeceasedOrEmigrated,
            RevocationReason::CessationOfOperation => Finding::CardAbolished,
            RevocationReason::CertificateHold => Finding::CardSuspended,
            RevocationReason::Superseded => Finding::Renewed,
            RevocationReason::KeyCompromise | RevocationReason::CaCompromise => Finding::KeyCompromised,
            RevocationReason::Unspecified => Finding::NeverDelivered,
        }),
        RevocationStatus::Good { .. } => match signing {
            Some(RevocationStatus::Revoked {
                reason: RevocationReason::Superseded,
                ..
            }) => of(Finding::Renewed),
            Some(RevocationStatus::Revoked {
                reason: RevocationReason::KeyCompromise,
                ..
            }) => of(Finding::KeyCompromised),
            Some(RevocationStatus::Revoked { .. }) => of(Finding::Basic4Changed),
            _ => of(Finding::AliveAndUsable),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StatusSource;
    use time::OffsetDateTime;

    fn good() -> RevocationStatus {
        RevocationStatus::Good {
            source: StatusSource::Crl,
            checked_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn revoked(reason: RevocationReason) -> RevocationStatus {
        RevocationStatus::Revoked {
            source: StatusSource::Ocsp,
            reason,
            revoked_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_seeds_table() {
        use RevocationReason::*;
        let ac = revoked(AffiliationChanged);
        assert_eq!(interpret(Some(&ac), &good()).finding, Finding::Basic4Changed);
        assert_eq!(interpret(Some(&ac), &good()).action, Action::RequestLatestBasic4);
        assert_eq!(interpret(Some(&ac), &ac).finding, Finding::DeceasedOrEmigrated);
        assert_eq!(
            interpret(Some(&revoked(CessationOfOperation)), &revoked(CessationOfOperation)).finding,
            Finding::CardAbolished
        );
        assert_eq!(
            interpret(Some(&revoked(CertificateHold)), &revoked(CertificateHold)).action,
            Action::SuspendLogins
        );
        assert_eq!(
            interpret(Some(&revoked(Superseded)), &revoked(Superseded)).action,
            Action::FollowSerialLink
        );
        assert_eq!(
            interpret(Some(&revoked(KeyCompromise)), &revoked(KeyCompromise)).finding,
            Finding::KeyCompromised
        );
        assert_eq!(interpret(None, &good()).finding, Finding::AliveAndUsable);
        assert_eq!(interpret(Some(&good()), &good()).finding, Finding::AliveAndUsable);
        // Unknown never reads as alive.
        let unknown = RevocationStatus::unknown("stale CRL");
        assert_eq!(interpret(Some(&good()), &unknown).finding, Finding::Unknown);
        assert_eq!(interpret(Some(&good()), &unknown).action, Action::RetryLater);
    }
}
