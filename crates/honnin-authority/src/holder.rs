//! What a registered verifier may learn about a certificate's holder: the age check (年齢判定) and,
//! with the holder's consent, the latest 4 attributes (本人同意に基づく最新の基本4情報の提供).
//!
//! The age check answers the certificate's validity and whether its holder is N or older — never the
//! birth date. It needs no consent at the authority: the holder consents by presenting the card to
//! the verifier (seed 001: 「マイナンバーカードをタッチ(同時に年齢判定への同意)をいただく」). The latest
//! 4 attributes need a live `basic4` consent of the holder for this verifier.

use honnin_profile::dates::{age_on, jst_date};
use honnin_profile::{parse_end_entity, EndEntity, Hierarchy};
use honnin_proto::{AgeCheck, ConsentScope, LatestBasic4, Validity, MAX_AGE_THRESHOLD};
use sqlx::Row;
use time::OffsetDateTime;

use crate::register::{load_resident, ResidentStatus};
use crate::verifiers::{db_serial, CallResult, NewCall, VerifierService};
use crate::{Authority, AuthorityError};

/// How far ahead of the authority's clock an age check may ask: clocks differ a little, but the
/// authority does not foretell revocations.
pub const MAX_CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// What a verifier gets when it asks for a holder's latest 4 attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Basic4Outcome {
    Answer(LatestBasic4),
    /// The authority issued no certificate with that serial in that hierarchy.
    UnknownCertificate,
    /// The holder has no live `basic4` consent for this verifier.
    ConsentRequired,
    /// The holder has died: no attributes are given (answered only to a consented verifier).
    Deceased,
    /// The holder has moved abroad (国外転出): no current attributes (likewise).
    Emigrated,
}

impl Authority {
    /// The age check (年齢判定) of seed 001: whether `certificate` (DER, signing or auth) is valid at
    /// `at` (the authority's clock `now` when `None`) and whether its holder is `threshold` or older
    /// then, counted as Japanese law counts age (`honnin_profile::dates::age_on`, on the JST date).
    /// Records the call whatever the answer.
    ///
    /// *Valid* means issued by this authority (the very DER it issued under that serial), within its
    /// validity at `at`, and not revoked at or before `at`; *invalid* means issued here but not valid
    /// then; *unknown* means not issued here. `over` is given only for a valid certificate. The birth
    /// date is the signing certificate's own; an auth certificate carries none, so its holder's is
    /// read from the register. Bad input (not a DER certificate, a threshold over
    /// [`MAX_AGE_THRESHOLD`], `at` in the future) is [`AuthorityError::BadInput`] and not recorded.
    pub async fn age_check(
        &self,
        verifier: &str,
        certificate: &[u8],
        threshold: u8,
        at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<AgeCheck, AuthorityError> {
        if threshold > MAX_AGE_THRESHOLD {
            return Err(AuthorityError::BadInput(format!(
                "the threshold must be 0–{MAX_AGE_THRESHOLD} years"
            )));
        }
        let at = at.unwrap_or(now);
        if at > now + MAX_CLOCK_SKEW {
            return Err(AuthorityError::BadInput(
                "the age check's time is in the future; the authority judges only the present or the past".into(),
            ));
        }
        <x509_cert::Certificate as der::Decode>::from_der(certificate)
            .map_err(|e| AuthorityError::BadInput(format!("the certificate is not DER X.509: {e}")))?;
        let mut call = NewCall {
            service: VerifierService::AgeCheck,
            hierarchy: None,
            serial: None,
            linked_serial: None,
            result: CallResult::Unknown,
        };
        let mut over = None;
        // A certificate that is not a JPKI end-entity certificate is not one of ours: unknown.
        if let Ok(parsed) = parse_end_entity(certificate) {
            call.hierarchy = Some(parsed.hierarchy());
            call.serial = parsed.info().serial.to_u64();
            if let Some((valid, resident)) = self
                .issued_here(parsed.hierarchy(), call.serial, certificate, at)
                .await?
            {
                call.result = if valid { CallResult::Valid } else { CallResult::Invalid };
                if valid {
                    let birth = match &parsed {
                        EndEntity::Signing(c) => c.basic4.birth_date.date,
                        EndEntity::Authentication(_) => None,
                    };
                    let birth = match birth {
                        Some(b) => b,
                        None => load_resident(self.pool(), &resident).await?.birth_date,
                    };
                    over = Some(age_on(birth, jst_date(at)) >= i32::from(threshold));
                }
            }
        }
        self.record_calls(verifier, &[call], now).await?;
        let validity = match call.result {
            CallResult::Valid => Validity::Valid,
            CallResult::Invalid => Validity::Invalid,
            _ => Validity::Unknown,
        };
        Ok(AgeCheck {
            validity,
            over,
            threshold,
            at,
        })
    }

    /// Whether `der` is the certificate this authority issued as `serial` of `hierarchy` (`None` if
    /// not), and if so whether it was valid at `at` and whose it is.
    async fn issued_here(
        &self,
        hierarchy: Hierarchy,
        serial: Option<u64>,
        der: &[u8],
        at: OffsetDateTime,
    ) -> Result<Option<(bool, String)>, AuthorityError> {
        let Some(key) = serial.and_then(|s| i64::try_from(s).ok()) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT resident_id, der, not_before, not_after, revoked_at FROM certificates
             WHERE serial = ? AND hierarchy = ?",
        )
        .bind(key)
        .bind(hierarchy.short())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row.filter(|r| r.try_get::<Vec<u8>, _>(1).is_ok_and(|issued| issued == der)) else {
            return Ok(None);
        };
        let t = at.unix_timestamp();
        let (not_before, not_after): (i64, i64) = (row.try_get(2)?, row.try_get(3)?);
        let revoked_at: Option<i64> = row.try_get(4)?;
        let valid = not_before <= t && t <= not_after && revoked_at.is_none_or(|r| r > t);
        Ok(Some((valid, row.try_get(0)?)))
    }

    /// The latest 4 attributes of the holder of certificate `serial` of `hierarchy`, as the register
    /// holds them at `now`, and their current signing certificate; only if the holder gave this
    /// verifier a live `basic4` consent. Records the call whatever the answer.
    ///
    /// Any certificate the holder ever had finds them (that is the point: the attributes after moves
    /// and marriages). A deceased or emigrated holder's attributes are not given; the verifier learns
    /// which of the two only if it holds the consent.
    pub async fn latest_basic4(
        &self,
        verifier: &str,
        hierarchy: Hierarchy,
        serial: u64,
        now: OffsetDateTime,
    ) -> Result<Basic4Outcome, AuthorityError> {
        let outcome = self.basic4_answer(verifier, hierarchy, serial, now).await?;
        let (result, linked_serial) = match &outcome {
            Basic4Outcome::Answer(a) => (CallResult::Found, a.sign),
            Basic4Outcome::UnknownCertificate => (CallResult::NotFound, None),
            Basic4Outcome::ConsentRequired => (CallResult::ConsentRequired, None),
            Basic4Outcome::Deceased => (CallResult::Deceased, None),
            Basic4Outcome::Emigrated => (CallResult::Emigrated, None),
        };
        let call = NewCall {
            service: VerifierService::Basic4,
            hierarchy: Some(hierarchy),
            serial: Some(serial),
            linked_serial,
            result,
        };
        self.record_calls(verifier, &[call], now).await?;
        Ok(outcome)
    }

    async fn basic4_answer(
        &self,
        verifier: &str,
        hierarchy: Hierarchy,
        serial: u64,
        now: OffsetDateTime,
    ) -> Result<Basic4Outcome, AuthorityError> {
        let Ok(key) = i64::try_from(serial) else {
            return Ok(Basic4Outcome::UnknownCertificate);
        };
        let resident: Option<String> =
            sqlx::query_scalar("SELECT resident_id FROM certificates WHERE serial = ? AND hierarchy = ?")
                .bind(key)
                .bind(hierarchy.short())
                .fetch_optional(self.pool())
                .await?;
        let Some(resident) = resident else {
            return Ok(Basic4Outcome::UnknownCertificate);
        };
        if !self.has_live_consent(&resident, verifier, ConsentScope::Basic4).await? {
            return Ok(Basic4Outcome::ConsentRequired);
        }
        let r = load_resident(self.pool(), &resident).await?;
        match r.status {
            ResidentStatus::Deceased => return Ok(Basic4Outcome::Deceased),
            ResidentStatus::Emigrated => return Ok(Basic4Outcome::Emigrated),
            ResidentStatus::Living => {}
        }
        let t = now.unix_timestamp();
        let sign: Option<i64> = sqlx::query_scalar(
            "SELECT serial FROM certificates
             WHERE resident_id = ? AND hierarchy = 'sign' AND revoked_at IS NULL AND not_before <= ? AND not_after >= ?
             ORDER BY id DESC LIMIT 1",
        )
        .bind(&resident)
        .bind(t)
        .bind(t)
        .fetch_optional(self.pool())
        .await?;
        Ok(Basic4Outcome::Answer(LatestBasic4 {
            hierarchy,
            serial,
            name: r.name,
            address: r.address,
            birth_date: r.birth_date,
            sex: r.sex,
            as_of: now,
            sign: db_serial(sign),
        }))
    }
}
